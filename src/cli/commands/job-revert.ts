/** `drover job revert [-detach] [-verbose] ID VERSION`: registers an older version again. */
import { command, bool, UsageError, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { monitorEval } from '../monitor.js';
import { resolveJob } from './common.js';
import { monitorDeployment } from './deployment-monitor.js';

export const jobRevert = command('job revert <id> <version>', {
  summary: 'Revert a job to an earlier version',
  options: [DETACH_OPTION, VERBOSE_OPTION],
  async run(ctx, [id, versionText], opts) {
    if (!/^\d+$/.test(versionText!))
      throw new UsageError(`Error: the version must be a non-negative integer, got "${versionText}"`);
    const client = ctx.client();
    const job = await resolveJob(ctx, client, id!);
    const res = await client.jobs.revert(job.ID, Number(versionText), {
      namespace: job.Namespace || undefined,
      signal: ctx.signal,
    });
    if (ctx.out.json) ctx.out.printJSON(res);
    else if (bool(opts.detach) && res.EvalID) ctx.out.line(res.EvalID);
    if (ctx.out.json || bool(opts.detach) || !res.EvalID) return 0;
    const verbose = bool(opts.verbose);
    return monitorEval(client, ctx.out, res.EvalID, {
      verbose,
      signal: ctx.signal,
      afterEval: async (ev) =>
        ev.DeploymentID
          ? monitorDeployment(client, ctx.out, ev.DeploymentID, { verbose, signal: ctx.signal })
          : undefined,
    });
  },
});
