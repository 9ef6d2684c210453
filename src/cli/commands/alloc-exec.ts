/**
 * `drover alloc exec [-i] [-t] [-task NAME] ALLOC COMMAND [ARGS...]`: runs a command inside a running task over
 * Nomad's websocket protocol and exits with the command's exit code, as `nomad alloc exec`. `-i` (default on)
 * passes stdin; `-t` (default: on when stdin is a terminal) runs it on a terminal, with this terminal in raw mode
 * and its size sent on start and on every resize. Words after ALLOC are the command's own, flags included; put
 * `--` before a command whose flags look like drover's (`-json`, `-verbose`).
 */
import { openExec } from '../../api/index.js';
import { command, str, UsageError } from '../command.js';
import { tlsOptions } from '../tls-fetch.js';
import { querying, resolveAlloc } from './common.js';

const TRUE = ['1', 't', 'T', 'true', 'TRUE', 'True'];
const FALSE = ['0', 'f', 'F', 'false', 'FALSE', 'False'];

/**
 * `-i`, `-i=false`, `-i false`. Commander hands an optional value over as given, so `-i ALLOC` arrives as
 * `-i` = ALLOC: a value that is no boolean is the first argument, given back through `spill`.
 */
function flagValue(v: unknown, fallback: boolean, spill: string[]): boolean {
  if (v === undefined) return fallback;
  if (v === true) return true;
  const s = String(v).replace(/^=/, '');
  if (TRUE.includes(s)) return true;
  if (FALSE.includes(s)) return false;
  spill.push(String(v));
  return true;
}

export const allocExec = command('alloc exec <alloc> [command...]', {
  summary: 'Run a command in a running allocation',
  passThrough: true,
  options: [
    { flags: '--task <task>', description: 'the task to run the command in (needed when the group has several)' },
    { flags: '-i [bool]', description: 'pass stdin to the command (default true)' },
    { flags: '-t [bool]', description: 'run the command on a terminal (default: when stdin is a terminal)' },
  ],
  async run(ctx, args, opts) {
    const stdin = process.stdin;
    const spill: string[] = [];
    const interactive = flagValue(opts.i, true, spill);
    const tty = flagValue(opts.t, stdin.isTTY === true, spill);
    const [id, ...command] = [...spill, ...args];
    if (command.length === 0) throw new UsageError('Error: a command to run is required after the allocation ID');
    const client = ctx.client();
    const stub = await resolveAlloc(ctx, client, id!, false);
    const alloc = (await querying('allocation', client.allocations.get(stub.ID, { signal: ctx.signal }))).value;
    let task = str(opts.task);
    if (!task) {
      const tasks = Object.keys(alloc.TaskStates ?? {});
      if (tasks.length !== 1)
        throw new UsageError(
          `Error: allocation "${alloc.ID}" runs ${tasks.length} tasks (${tasks.join(', ')}): choose one with -task`,
        );
      task = tasks[0]!;
    }
    const write = (stream: 'stdout' | 'stderr', data: Buffer) =>
      ctx.out.bytes ? ctx.out.bytes(stream, data) : ctx.out.raw(data.toString('utf8'));
    let stream;
    try {
      stream = await openExec(client.http, alloc.ID, {
        task,
        command,
        tty,
        onOutput: write,
        signal: ctx.signal,
        tls: tlsOptions(ctx.globals.tls ?? {}),
      });
    } catch (e) {
      ctx.out.error(`failed to exec into task: ${(e as Error).message}`);
      return 1;
    }
    const out = process.stdout;
    const rawMode = tty && stdin.isTTY === true;
    const sendSize = () => {
      if (out.isTTY) stream.resize(out.rows, out.columns);
    };
    const onData = (b: Buffer) => stream.stdin(b);
    const onEnd = () => stream.closeStdin();
    if (tty) {
      sendSize();
      out.on('resize', sendSize);
    }
    if (interactive) {
      if (rawMode) stdin.setRawMode(true);
      stdin.on('data', onData);
      stdin.once('end', onEnd);
      stdin.resume();
    } else stream.closeStdin();
    try {
      return await stream.result;
    } catch (e) {
      ctx.out.error(`failed to exec into task: ${(e as Error).message}`);
      return 1;
    } finally {
      out.off('resize', sendSize);
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      if (rawMode) stdin.setRawMode(false);
      stdin.pause();
    }
  },
});
