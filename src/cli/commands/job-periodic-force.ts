/** `drover job periodic force [-detach] JOB`: launches a periodic job's child now, whatever its schedule. */
import { command, bool, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { monitorEval } from '../monitor.js';
import { resolveJob } from './common.js';

export const jobPeriodicForce = command('job periodic force <id>', {
  summary: 'Force the launch of a periodic job now',
  options: [DETACH_OPTION, VERBOSE_OPTION],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const stub = await resolveJob(ctx, client, id!);
    const res = await client.jobs.periodicForce(stub.ID, {
      namespace: stub.Namespace || undefined,
      signal: ctx.signal,
    });
    if (ctx.out.json) ctx.out.printJSON(res);
    else if (bool(opts.detach)) ctx.out.line(res.EvalID);
    if (ctx.out.json || bool(opts.detach)) return 0;
    return monitorEval(client, ctx.out, res.EvalID, { verbose: bool(opts.verbose), signal: ctx.signal });
  },
});
