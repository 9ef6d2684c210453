/** `drover job run [-check-index N] [-detach] [-var k=v] [-var-file F] [-verbose] FILE` */
import { isDroverError } from '../../errors/index.js';
import { command, bool, int, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { loadJobFile, VAR_OPTIONS } from './job-load.js';

export const jobRun = command('job run <file>', {
  legacy: [['run']],
  summary: 'Run a new job or update an existing one, then monitor its evaluation',
  options: [
    {
      flags: '--check-index <index>',
      description: 'run only if the job modify index matches (0: the job must not exist)',
      int: true,
    },
    DETACH_OPTION,
    VERBOSE_OPTION,
    { flags: '--output', description: 'print the JSON of the parsed job instead of running it' },
    ...VAR_OPTIONS,
  ],
  async run(ctx, [file], opts) {
    const loaded = await loadJobFile(ctx, file!, opts);
    if (!loaded) return 1;
    const { job } = loaded;
    if (bool(opts.output)) {
      ctx.out.printJSON({ Job: job });
      return 0;
    }
    // As nomad: without -region, the job's own region is asked (its evaluation lives there); a multiregion job
    // answers with its first region's registration.
    const first = (job.Multiregion as { Regions?: Array<{ Name: string }> | null } | null | undefined)?.Regions?.[0];
    ctx.globals.region ??= first?.Name ?? (job.Region || undefined);
    const checkIndex = int(opts.checkIndex);
    let res;
    try {
      res = await ctx.client().jobs.register(job, {
        enforceIndex: checkIndex !== undefined,
        jobModifyIndex: checkIndex,
        submission: loaded.submission,
        signal: ctx.signal,
      });
    } catch (e) {
      if (isDroverError(e) && e.status !== 0) {
        ctx.out.error(`Error submitting job: ${e.message}`);
        return 1;
      }
      throw e;
    }
    const warnings = [
      ...new Set(
        [...loaded.warnings, ...(res.Warnings ? res.Warnings.split('\n') : [])].map((w) => w.trim()).filter(Boolean),
      ),
    ];
    if (ctx.out.json) {
      ctx.out.printJSON(res);
      return 0;
    }
    if (warnings.length > 0) {
      ctx.out.line('Job Warnings:');
      for (const w of warnings) ctx.out.line(`* ${w}`);
      ctx.out.line();
    }
    // Periodic and parameterized jobs only register a template; nothing is placed now.
    if ((job.Periodic && job.Periodic.Enabled !== false) || job.ParameterizedJob || !res.EvalID) {
      ctx.out.line('Job registration successful');
      return 0;
    }
    if (bool(opts.detach)) {
      ctx.out.line(res.EvalID);
      return 0;
    }
    const verbose = bool(opts.verbose);
    const client = ctx.client();
    // Loaded only here: `-detach` (scripts, the time-to-running benchmark) never monitors.
    const [{ monitorEval }, { monitorDeployment }] = await Promise.all([
      import('../monitor.js'),
      import('./deployment-monitor.js'),
    ]);
    // As nomad: once the evaluation is done, follow the rollout it started to its end.
    return monitorEval(client, ctx.out, res.EvalID, {
      verbose,
      signal: ctx.signal,
      afterEval: async (ev) => {
        if (!ev.DeploymentID) return undefined;
        ctx.out.line();
        return monitorDeployment(client, ctx.out, ev.DeploymentID, { verbose, signal: ctx.signal });
      },
    });
  },
});
