/**
 * `alloc exec` for drivers that run a host process per command (raw_exec directly, exec through `runc exec`):
 * spawns it with piped stdio and turns it into an ExecSession.
 *
 * A terminal (`-t`) comes from util-linux `script`, which allocates a pseudo-terminal without a native Node
 * module: `script -q -e -c '<cmd>' /dev/null` runs the command on the pty's slave and copies our pipes to and from
 * its master. The pty echoes what is typed, as a terminal does. A resize sets the slave's size with coreutils
 * `stty -F /dev/pts/N rows H cols W` (the slave is the stdin of `script`'s child, found in /proc); the kernel then
 * sends SIGWINCH to the terminal's foreground process group itself, as it does for a resized xterm.
 *
 *   spawn ─► 'spawn' ─► session returned ─► stdout/stderr chunks ─► onOutput
 *     │                     write / closeStdin ─► child stdin       resize ─► stty on the slave (latest size wins)
 *     └─ 'error' (ENOENT) ─► BadRequest        'close' ─► exited {exitCode}
 *                                              abort (the caller went away) ─► SIGKILL to the whole process tree
 */
import { execFile, spawn } from 'node:child_process';
import { DroverError } from '../../errors/index.js';
import type { ExecSession, ExecStreamRequest } from '../types.js';
import { killTree, terminalInTree } from './proc.js';
import { signalNumber } from './util.js';

/** Bytes of stdin the agent holds for a command that has not read them yet. */
const MAX_PENDING_STDIN = 8 * 1024 * 1024;

export interface ExecSpawnOptions {
  cwd?: string;
  env: Record<string, string>;
  tty: boolean;
  /**
   * Where `script` runs for a terminal: by default on the host; a driver whose command runs elsewhere (runc exec,
   * which would hand the command pipes, not our terminal) wraps the `script` command line to run it there.
   */
  wrapScript?: { command: string[]; wrap: (scriptArgv: string[]) => [file: string, args: string[]] };
}

/** POSIX shell quoting of one word, for the command line `script -c` hands to /bin/sh. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Starts `file args` as an exec session; resolves once the process runs, rejects when it cannot start. */
export function spawnExecSession(
  file: string,
  args: string[],
  opts: ExecSpawnOptions,
  req: ExecStreamRequest,
): Promise<ExecSession> {
  if (req.signal.aborted) return Promise.reject(new DroverError('Aborted', 'exec aborted before it started'));
  const scriptFor = (cmd: string[]) => ['script', '-q', '-e', '-c', cmd.map(shellQuote).join(' '), '/dev/null'];
  const script = scriptFor([file, ...args]);
  const wrapped = opts.tty && opts.wrapScript ? opts.wrapScript.wrap(scriptFor(opts.wrapScript.command)) : undefined;
  const [bin, argv, env] = wrapped
    ? [wrapped[0], wrapped[1], opts.env]
    : opts.tty
      ? [script[0]!, script.slice(1), { TERM: 'xterm', ...opts.env, SHELL: '/bin/sh' }]
      : [file, args, opts.env];
  const child = spawn(bin, argv, { cwd: opts.cwd, env, stdio: 'pipe', detached: true });
  child.stdout.on('data', (b: Buffer) => req.onOutput('stdout', b));
  child.stderr.on('data', (b: Buffer) => req.onOutput('stderr', b));
  // The command may exit without reading its stdin: a write after that is EPIPE, which only means "gone".
  child.stdin.on('error', () => undefined);
  // The whole tree, not only the group: under `script` the command runs in a session of its own, and a
  // container process started by `runc exec` would outlive runc.
  const kill = () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      killTree(child.pid);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
  };
  req.signal.addEventListener('abort', kill, { once: true });
  const exited = new Promise<{ exitCode: number }>((resolve) => {
    child.once('close', (code, sig) => {
      req.signal.removeEventListener('abort', kill);
      resolve({ exitCode: code ?? (sig ? 128 + signalNumber(sig) : 1) });
    });
  });
  return new Promise((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      req.signal.removeEventListener('abort', kill);
      const what = opts.tty ? '"script" (util-linux, needed for -t)' : JSON.stringify(file);
      reject(
        e.code === 'ENOENT'
          ? new DroverError('BadRequest', `exec: ${what}: executable file not found`)
          : new DroverError('DriverError', `exec: ${file}: ${e.message}`, { cause: e }),
      );
    });
    child.once('spawn', () =>
      resolve({
        write: (data) => {
          if (!child.stdin.writable) return;
          // A command that does not read its stdin must not make the agent buffer without end.
          if (child.stdin.writableLength + data.length > MAX_PENDING_STDIN)
            throw new DroverError(
              'BadRequest',
              `exec: the command is not reading its stdin (${MAX_PENDING_STDIN} bytes pending)`,
            );
          child.stdin.write(data);
        },
        closeStdin: () => child.stdin.end(),
        resize: opts.tty && child.pid !== undefined ? ttyResizer(child.pid, req.signal) : () => undefined,
        exited,
      }),
    );
  });
}

/** How long a resize waits for `script` to have started the command on its terminal. */
const RESIZE_FIND_TRIES = 80;
const RESIZE_FIND_INTERVAL_MS = 25;

/**
 * Resizes the terminal `script` (pid `scriptPid`) made. The first size usually comes before `script` has forked
 * the command, so the slave is looked for until it appears; sizes are applied one at a time, the latest winning.
 */
function ttyResizer(scriptPid: number, signal: AbortSignal): (height: number, width: number) => void {
  let wanted: { height: number; width: number } | undefined;
  let busy = false;
  let slave: string | undefined;
  const apply = async (): Promise<void> => {
    busy = true;
    try {
      for (let i = 0; slave === undefined && i < RESIZE_FIND_TRIES && !signal.aborted; i++) {
        slave = terminalInTree(scriptPid);
        if (slave === undefined) await new Promise((r) => setTimeout(r, RESIZE_FIND_INTERVAL_MS));
      }
      while (wanted !== undefined && slave !== undefined && !signal.aborted) {
        const { height, width } = wanted;
        wanted = undefined;
        // Found again for each size: the process found before may have exited and its PID been reused.
        const dev = terminalInTree(scriptPid);
        if (dev === undefined) break;
        await new Promise<void>((resolve) => {
          execFile('stty', ['-F', dev, 'rows', String(height), 'cols', String(width)], { timeout: 5_000 }, () =>
            resolve(),
          );
        });
      }
    } finally {
      busy = false;
    }
  };
  return (height, width) => {
    wanted = { height, width };
    if (!busy) void apply();
  };
}
