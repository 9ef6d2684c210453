/** HAProxy's runtime API (the stats socket) and master CLI: one command per connection, answer read to the end. */
import { closeSync, constants, openSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname } from 'node:path';

/** The longest path a unix socket address holds (sun_path, 108 bytes with its NUL). */
const SUN_PATH_MAX = 107;

/**
 * Connects to a unix socket; a path longer than sun_path is reached through its directory's descriptor
 * (/proc/self/fd/N/name), so sockets may live deep in an allocation dir.
 */
function connectUnix(socketPath: string) {
  if (Buffer.byteLength(socketPath) <= SUN_PATH_MAX) return connect(socketPath);
  const fd = openSync(dirname(socketPath), constants.O_RDONLY | constants.O_DIRECTORY);
  const s = connect(`/proc/self/fd/${fd}/${basename(socketPath)}`);
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  s.once('connect', close);
  s.once('close', close);
  return s;
}

/** Sends one command and returns HAProxy's answer; rejects if the socket fails or `signal` aborts. */
export function haproxyCommand(
  socketPath: string,
  command: string,
  signal?: AbortSignal,
  timeoutMs = 5000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connectUnix(socketPath);
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
