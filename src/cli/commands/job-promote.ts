/** `drover job promote [-group G ...] [-detach] [-verbose] ID`: promotes the canaries of the job's latest deployment. */
import { command, bool, UsageError, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { shortId } from '../format.js';
import { monitorEval } from '../monitor.js';
import { resolveJob } from './common.js';
import { monitorDeployment } from './deployment-monitor.js';

export const jobPromote = command('job promote <id>', {
  summary: "Promote the canaries of a job's latest deployment",
  options: [
    { flags: '--group <group...>', description: 'promote only these task groups (default: all)' },
    DETACH_OPTION,
    VERBOSE_OPTION,
  ],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const job = await resolveJob(ctx, client, id!);
    const ns = job.Namespace || undefined;
    const d = (await client.jobs.latestDeployment(job.ID, { namespace: ns, signal: ctx.signal })).value;
    if (d == null) throw new UsageError(`Error: job "${job.ID}" has no deployment to promote`);
    if (d.Status !== 'running' && d.Status !== 'paused')
      throw new UsageError(`Error: deployment "${shortId(d.ID)}" is ${d.Status}: nothing to promote`);
    const groups = Array.isArray(opts.group)
      ? (opts.group as string[])
      : typeof opts.group === 'string'
        ? [opts.group]
        : null;
    const res = await client.deployments.promote(d.ID, groups, { namespace: ns, signal: ctx.signal });
    if (ctx.out.json) {
      ctx.out.printJSON(res);
      return 0;
    }
    if (bool(opts.detach) || !res.EvalID) {
      ctx.out.line(res.EvalID || `Deployment "${shortId(d.ID)}" promoted`);
      return 0;
    }
    const verbose = bool(opts.verbose);
    return monitorEval(client, ctx.out, res.EvalID, {
      verbose,
      signal: ctx.signal,
      afterEval: async () => monitorDeployment(client, ctx.out, d.ID, { verbose, signal: ctx.signal }),
    });
  },
});
