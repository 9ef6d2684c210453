/** HAProxy's runtime API (the stats socket) and master CLI: one command per connection, answer read to the end. */
import { connect } from 'node:net';

/** Sends one command and returns HAProxy's answer; rejects if the socket fails or `signal` aborts. */
export function haproxyCommand(
  socketPath: string,
  command: string,
  signal?: AbortSignal,
  timeoutMs = 5000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => s.destroy(new Error(`HAProxy did not answer "${command}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => s.destroy(new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (err) => {
      done();
      reject(err);
    });
    s.on('end', () => {
      done();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    s.end(command + '\n');
  });
}

/** Runs several commands on one connection (`;`-separated is not allowed for all commands, so prompt mode). */
export async function haproxyCommands(
  socketPath: string,
  commands: readonly string[],
  signal?: AbortSignal,
): Promise<string[]> {
  const answers: string[] = [];
  for (const c of commands) answers.push(await haproxyCommand(socketPath, c, signal));
  return answers;
}

/** Parses `show stat` CSV into rows keyed by column name. */
export function parseShowStat(csv: string): Record<string, string>[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const head = lines[0];
  if (head === undefined || !head.startsWith('# ')) return [];
  const cols = head.slice(2).split(',');
  return lines.slice(1).map((l) => {
    const cells = l.split(',');
    const row: Record<string, string> = {};
    cols.forEach((c, i) => (row[c] = cells[i] ?? ''));
    return row;
  });
}
