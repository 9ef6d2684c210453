/** `drover job history [-p] [-version N] ID`: the kept versions of a job, newest first, with diffs. */
import type { JobDiff } from '../../api/index.js';
import type { Job } from '../../structs/index.js';
import { command, bool, int, UsageError } from '../command.js';
import { formatKV, formatTime, nsToMs } from '../format.js';
import { formatJobDiff } from '../plan-diff.js';
import { querying, resolveJob } from './common.js';

export function versionBlock(job: Job, diff: JobDiff | null | undefined, showDiff: boolean): string {
  const pairs: [string, string][] = [
    ['Version', String(job.Version ?? 0)],
    ['Stable', String(job.Stable ?? false)],
    ['Submit Date', job.SubmitTime ? formatTime(nsToMs(job.SubmitTime)) : 'N/A'],
  ];
  if (showDiff && diff) pairs.push(['Diff', '']);
  const head = formatKV(pairs);
  return showDiff && diff ? `${head}\n${formatJobDiff(diff).join('\n')}` : head;
}

export const jobHistory = command('job history <id>', {
  summary: 'List the versions of a job, with the changes between them',
  options: [
    { flags: '-p', description: 'show the diff between each version and the one before' },
    { flags: '--version <version>', description: 'only this version', int: true },
  ],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const stub = await resolveJob(ctx, client, id!);
    const res = (
      await querying(
        'job versions',
        client.jobs.versions(stub.ID, { diffs: true, namespace: stub.Namespace || undefined, signal: ctx.signal }),
      )
    ).value;
    if (ctx.out.json) {
      ctx.out.printJSON(res);
      return 0;
    }
    const only = int(opts.version);
    // Diffs[i] compares Versions[i] with the version before it (Versions[i + 1]).
    const blocks = res.Versions.map((v, i) => ({ v, diff: res.Diffs?.[i] })).filter(
      ({ v }) => only === undefined || v.Version === only,
    );
    if (only !== undefined && blocks.length === 0)
      throw new UsageError(`Error: job "${stub.ID}" has no version ${only}`);
    ctx.out.line(blocks.map(({ v, diff }) => versionBlock(v, diff, bool(opts.p))).join('\n\n'));
    return 0;
  },
});
