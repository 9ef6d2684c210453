/**
 * The `drover` executable (bin/drover runs dist/cli/main.js). Ctrl-C or SIGTERM aborts the running command
 * (monitors and log streams stop; `drover agent` shuts down gracefully); a second one exits at once.
 */
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

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }, { signal: controller.signal }).catch(
  (e: unknown) => {
    process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  },
);
// Let piped output drain before exiting.
process.stdout.write('', () => process.exit(code));
