/**
 * `drover alloc logs [-f] [-stderr] [-tail] [-n lines] [-c bytes] ID [TASK]`: a task's output, from the
 * client's log files. `-tail` reads the end; `-f` keeps following until Ctrl-C.
 */
import type { DroverClient, LogType } from '../../api/index.js';
import type { Allocation } from '../../structs/index.js';
import { command, bool, int, UsageError, type CommandContext, VERBOSE_OPTION, FOLLOW_OPTION } from '../command.js';
import { querying, resolveAlloc } from './common.js';

const DEFAULT_TAIL_LINES = 10;
/** How many bytes from the end to read to find the last N lines (lines longer than this are cut). */
const BYTES_PER_LINE_GUESS = 1024;

/** The task to read: the one named, or the group's only task. */
export function pickTask(a: Allocation, task: string | undefined): string {
  const group = a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup);
  const names = (group?.Tasks ?? []).map((t) => t.Name);
  if (names.length === 0) names.push(...Object.keys(a.TaskStates ?? {}).sort());
  if (task) {
    if (names.length > 0 && !names.includes(task))
      throw new UsageError(`Could not find task named: ${task}; the allocation has: ${names.join(', ')}`);
    return task;
  }
  if (names.length === 1) return names[0]!;
  throw new UsageError(
    `Allocation "${a.ID.slice(0, 8)}" is running the following tasks:\n  * ${names.join('\n  * ')}\n\nPlease specify the task.`,
  );
}

/** The last `n` lines of `text` (a trailing newline does not count as an empty line). */
export function lastLines(text: string, n: number): string {
  if (n <= 0) return '';
  const trailing = text.endsWith('\n');
  const lines = (trailing ? text.slice(0, -1) : text).split('\n');
  const kept = lines.slice(Math.max(0, lines.length - n)).join('\n');
  return kept + (trailing ? '\n' : '');
}

async function tail(
  ctx: CommandContext,
  client: DroverClient,
  id: string,
  task: string,
  type: LogType,
  bytes: number | undefined,
  lines: number | undefined,
) {
  const offset = bytes ?? (lines ?? DEFAULT_TAIL_LINES) * BYTES_PER_LINE_GUESS;
  let text = '';
  for await (const chunk of client.allocations.logs(id, task, type, { origin: 'end', offset, signal: ctx.signal }))
    text += chunk;
  if (lines !== undefined || bytes === undefined) text = lastLines(text, lines ?? DEFAULT_TAIL_LINES);
  ctx.out.raw(text);
}

export const allocLogs = command('alloc logs <id> [task]', {
  summary: "Print a task's stdout or stderr",
  options: [
    FOLLOW_OPTION,
    { flags: '--stderr', description: 'read stderr instead of stdout' },
    { flags: '--tail', description: 'start from the end (10 lines unless -n or -c)' },
    { flags: '-n <lines>', description: 'number of lines to show from the end (implies -tail)', int: true },
    { flags: '-c <bytes>', description: 'number of bytes to show from the end (implies -tail)', int: true },
    VERBOSE_OPTION,
  ],
  async run(ctx, [id, taskArg], opts) {
    const client = ctx.client();
    const stub = await resolveAlloc(ctx, client, id!, bool(opts.verbose));
    const alloc = (await querying('allocation', client.allocations.get(stub.ID, { signal: ctx.signal }))).value;
    const task = pickTask(alloc, taskArg);
    const type: LogType = bool(opts.stderr) ? 'stderr' : 'stdout';
    const lines = int(opts.n);
    const bytes = int(opts.c);
    const follow = bool(opts.follow);
    try {
      if (bool(opts.tail) || lines !== undefined || bytes !== undefined) {
        await tail(ctx, client, alloc.ID, task, type, bytes, lines);
        if (!follow) return 0;
        for await (const chunk of client.allocations.logs(alloc.ID, task, type, {
          follow: true,
          origin: 'end',
          offset: 0,
          signal: ctx.signal,
        }))
          ctx.out.raw(chunk);
        return 0;
      }
      for await (const chunk of client.allocations.logs(alloc.ID, task, type, { follow, signal: ctx.signal }))
        ctx.out.raw(chunk);
      return 0;
    } catch (e) {
      // Ctrl-C while following is the normal way out.
      if (ctx.signal.aborted) return 0;
      throw e;
    }
  },
});
