/**
 * The `drover` executable (bin/drover runs dist/cli/main.js). Ctrl-C or SIGTERM aborts the running command
 * (monitors and log streams stop; `drover agent` shuts down gracefully); a second one exits at once.
 */
import { createInterface } from 'node:readline/promises';
import { runCli } from './run.js';

const controller = new AbortController();
let signals = 0;
const onSignal = (sig: NodeJS.Signals) => {
  signals++;
  if (signals > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** Questions only on a terminal: piped or closed stdin means nobody can answer, and commands treat that as "no". */
const ask = process.stdin.isTTY
  ? async (question: string): Promise<string | undefined> => {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return await rl.question(question, { signal: controller.signal });
      } catch {
        return undefined;
      } finally {
        rl.close();
      }
    }
  : undefined;

const code = await runCli(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env },
  { signal: controller.signal, ask },
).catch((e: unknown) => {
  process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  return 1;
});
// Let piped output drain before exiting.
process.stdout.write('', () => process.exit(code));
