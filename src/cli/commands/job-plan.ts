/** `drover job plan [-var ...] [-verbose] FILE`: exit 0 no change, 1 changes, 255 error, as nomad. */
import { command, bool, verboseOption } from '../command.js';
import { formatPlan, planExitCode } from '../plan-diff.js';
import { loadJobFile, VAR_OPTIONS } from './job-load.js';

export const PLAN_ERROR_EXIT = 255;

export const jobPlan = command('job plan <file>', {
  legacy: [['plan']],
  summary: 'Show what running a job file would change (a dry run)',
  options: [verboseOption('show unchanged fields and full IDs'), ...VAR_OPTIONS],
  help: 'Exit codes: 0 no allocations created or destroyed, 1 allocations created or destroyed, 255 error.',
  async run(ctx, [file], opts) {
    try {
      const loaded = await loadJobFile(ctx, file!, opts);
      if (!loaded) return PLAN_ERROR_EXIT;
      let res;
      try {
        res = await ctx.client().jobs.plan(loaded.job, true, { signal: ctx.signal });
      } catch (e) {
        ctx.out.error(`Error during plan: ${(e as Error).message}`);
        return PLAN_ERROR_EXIT;
      }
      if (ctx.out.json) ctx.out.printJSON(res);
      else for (const l of formatPlan(res, file!, bool(opts.verbose))) ctx.out.line(l);
      return planExitCode(res);
    } catch (e) {
      ctx.out.error((e as Error).message);
      return PLAN_ERROR_EXIT;
    }
  },
});
