/** `drover job stop [-purge] [-detach] [-verbose] ID` */
import { command, bool, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { monitorEval } from '../monitor.js';
import { resolveJob } from './common.js';

export const jobStop = command('job stop <id>', {
  legacy: [['stop']],
  summary: 'Stop a job and its allocations (and remove it with -purge)',
  options: [
    { flags: '--purge', description: 'remove the job from the state entirely' },
    DETACH_OPTION,
    VERBOSE_OPTION,
    { flags: '-y, --yes', description: 'accepted for nomad compatibility; no question is asked' },
  ],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const job = await resolveJob(ctx, client, id!);
    let res;
    try {
      res = await client.jobs.deregister(job.ID, {
        purge: bool(opts.purge),
        namespace: job.Namespace || undefined,
        signal: ctx.signal,
      });
    } catch (e) {
      ctx.out.error(`Error deregistering job: ${(e as Error).message}`);
      return 1;
    }
    if (ctx.out.json) {
      ctx.out.printJSON(res);
      return 0;
    }
    if (!res.EvalID) return 0;
    if (bool(opts.detach)) {
      ctx.out.line(res.EvalID);
      return 0;
    }
    return monitorEval(client, ctx.out, res.EvalID, { verbose: bool(opts.verbose), signal: ctx.signal });
  },
});
