/**
 * `drover alloc restart [-task T | -all-tasks] [-verbose] ALLOC [TASK]`: restarts an allocation's tasks in place,
 * as nomad does (a user restart, not counted against the restart policy; the allocation keeps its ID).
 */
import type { Allocation } from '../../structs/index.js';
import { command, bool, str, UsageError, VERBOSE_OPTION, taskOption } from '../command.js';
import { querying, resolveAlloc } from './common.js';

/** The task named by `-task` or the TASK argument (they must agree), checked against the allocation's group. */
export function taskArgument(a: Allocation, flag: string | undefined, arg: string | undefined): string | undefined {
  if (flag && arg && flag !== arg)
    throw new UsageError(`Error: -task "${flag}" and the task argument "${arg}" name different tasks`);
  const task = flag ?? arg;
  if (task === undefined) return undefined;
  const group = a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup);
  const names = (group?.Tasks ?? []).map((t) => t.Name);
  if (names.length > 0 && !names.includes(task)) {
    throw new UsageError(
      `Could not find task named: ${task}; allocation "${a.ID.slice(0, 8)}" has: ${names.join(', ')}`,
    );
  }
  return task;
}

export const allocRestart = command('alloc restart <alloc> [task]', {
  summary: "Restart an allocation's tasks in place",
  options: [
    taskOption('restart'),
    {
      flags: '--all-tasks',
      description: 'restart every task, finished prestart and poststart tasks included, in lifecycle order',
    },
    VERBOSE_OPTION,
  ],
  async run(ctx, [id, taskArg], opts) {
    const client = ctx.client();
    const stub = await resolveAlloc(ctx, client, id!, bool(opts.verbose));
    const alloc = (await querying('allocation', client.allocations.get(stub.ID, { signal: ctx.signal }))).value;
    const task = taskArgument(alloc, str(opts.task), taskArg);
    const allTasks = bool(opts.allTasks);
    if (task && allTasks) throw new UsageError('Error: the -all-tasks option cannot be used with a task name');
    try {
      await client.allocations.restart(alloc.ID, task, { allTasks, signal: ctx.signal });
    } catch (e) {
      ctx.out.error(`Failed to restart allocation:\n\n${(e as Error).message}`);
      return 1;
    }
    return 0;
  },
});
