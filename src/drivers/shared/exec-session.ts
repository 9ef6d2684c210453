/**
 * `alloc exec` for drivers that run a host process per command (raw_exec directly, exec through `runc exec`):
 * spawns it with piped stdio and turns it into an ExecSession.
 *
 * A terminal (`-t`) comes from util-linux `script`, which allocates a pseudo-terminal without a native Node
 * module: `script -q -e -c '<cmd>' /dev/null` runs the command on the pty's slave and copies our pipes to and from
 * its master. The pty echoes what is typed, as a terminal does. Its size cannot be changed from here (that needs an
 * ioctl on the master, which `script` owns), so `resize` is a no-op for these drivers; docker resizes for real.
 *
 *   spawn ─► 'spawn' ─► session returned ─► stdout/stderr chunks ─► onOutput
 *     │                     write / closeStdin ─► child stdin
 *     └─ 'error' (ENOENT) ─► BadRequest        'close' ─► exited {exitCode}      abort ─► SIGKILL to its group
 */
import { spawn } from 'node:child_process';
import { DroverError } from '../../errors/index.js';
import type { ExecSession, ExecStreamRequest } from '../types.js';
import { signalNumber } from './util.js';

/** Bytes of stdin the agent holds for a command that has not read them yet. */
const MAX_PENDING_STDIN = 8 * 1024 * 1024;

export interface ExecSpawnOptions {
  cwd?: string;
  env: Record<string, string>;
  tty: boolean;
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
  const [bin, argv, env] = opts.tty
    ? [
        'script',
        ['-q', '-e', '-c', [file, ...args].map(shellQuote).join(' '), '/dev/null'],
        { TERM: 'xterm', ...opts.env, SHELL: '/bin/sh' },
      ]
    : [file, args, opts.env];
  const child = spawn(bin, argv, { cwd: opts.cwd, env, stdio: 'pipe', detached: true });
  child.stdout.on('data', (b: Buffer) => req.onOutput('stdout', b));
  child.stderr.on('data', (b: Buffer) => req.onOutput('stderr', b));
  // The command may exit without reading its stdin: a write after that is EPIPE, which only means "gone".
  child.stdin.on('error', () => undefined);
  const kill = () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
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
        resize: () => undefined,
        exited,
      }),
    );
  });
}
