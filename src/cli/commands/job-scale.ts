/** `drover job scale [-detach] ID [GROUP] COUNT`: changes a group's count (GROUP may be left out with one group). */
import { command, bool, str, UsageError, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { monitorEval } from '../monitor.js';
import { querying, resolveJob } from './common.js';

export const jobScale = command('job scale <id> <group-or-count> [count]', {
  summary: "Change the count of a job's task group",
  options: [
    DETACH_OPTION,
    VERBOSE_OPTION,
    { flags: '--message <text>', description: 'recorded with the scaling event' },
  ],
  async run(ctx, [id, a, b], opts) {
    const countText = b ?? a!;
    if (!/^\d+$/.test(countText))
      throw new UsageError(`Error: the count must be a non-negative integer, got "${countText}"`);
    const client = ctx.client();
    const stub = await resolveJob(ctx, client, id!);
    const ns = stub.Namespace || undefined;
    let group = b !== undefined ? a! : undefined;
    if (group === undefined) {
      const job = (await querying('job', client.jobs.get(stub.ID, { namespace: ns, signal: ctx.signal }))).value;
      if (job.TaskGroups.length !== 1)
        throw new UsageError(`Error: job "${job.ID}" has ${job.TaskGroups.length} groups; name the group to scale`);
      group = job.TaskGroups[0]!.Name;
    }
    const res = await client.jobs.scale(stub.ID, group, Number(countText), {
      message: str(opts.message),
      namespace: ns,
      signal: ctx.signal,
    });
    if (ctx.out.json) ctx.out.printJSON(res);
    else if (bool(opts.detach) && res.EvalID) ctx.out.line(res.EvalID);
    if (ctx.out.json || bool(opts.detach) || !res.EvalID) return 0;
    return monitorEval(client, ctx.out, res.EvalID, { verbose: bool(opts.verbose), signal: ctx.signal });
  },
});
