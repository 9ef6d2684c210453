/** `drover job status [-verbose] [ID]` (also `drover status`): the job list, or one job in detail. */
import type { DroverClient } from '../../api/index.js';
import type { Deployment, Job, JobSummary } from '../../structs/index.js';
import { command, bool, type CommandContext, verboseOption } from '../command.js';
import { formatKV, formatTable, formatTime, nsToMs, shortId, sortedEntries } from '../format.js';
import { allocRows, jobListRows, optional, querying, resolveJob } from './common.js';
import { formatFailedPlacements } from '../placement.js';

const SUMMARY_COLUMNS = ['Queued', 'Starting', 'Running', 'Failed', 'Complete', 'Lost'] as const;

export function summaryRows(s: JobSummary): string[][] {
  const groups = sortedEntries(s.Summary ?? {});
  const withUnknown = groups.some(([, t]) => (t.Unknown ?? 0) > 0);
  const head = ['Task Group', ...SUMMARY_COLUMNS, ...(withUnknown ? ['Unknown'] : [])];
  return [
    head,
    ...groups.map(([g, t]) => [
      g,
      ...SUMMARY_COLUMNS.map((c) => String(t[c] ?? 0)),
      ...(withUnknown ? [String(t.Unknown ?? 0)] : []),
    ]),
  ];
}

function jobStatusText(job: Job): string {
  return job.Stop ? `${job.Status ?? 'dead'} (stopped)` : (job.Status ?? '');
}

export function jobDetailPairs(job: Job): [string, string][] {
  return [
    ['ID', job.ID],
    ['Name', job.Name],
    ['Submit Date', job.SubmitTime ? formatTime(nsToMs(job.SubmitTime)) : 'N/A'],
    ['Type', job.Type],
    ['Priority', String(job.Priority)],
    ['Datacenters', (job.Datacenters ?? []).join(',')],
    ['Namespace', job.Namespace],
    ['Node Pool', job.NodePool || 'default'],
    ['Status', jobStatusText(job)],
    ['Periodic', String(job.Periodic?.Enabled === true)],
    ['Parameterized', String(job.ParameterizedJob != null)],
  ];
}

/** The "Latest Deployment" block. */
export function deploymentSection(d: Deployment, verbose: boolean): string {
  const kv = formatKV([
    ['ID', shortId(d.ID, verbose)],
    ['Status', d.Status],
    ['Description', d.StatusDescription],
  ]);
  const groups = sortedEntries(d.TaskGroups ?? {});
  if (groups.length === 0) return kv;
  const rows = [['Task Group', 'Desired', 'Placed', 'Healthy', 'Unhealthy']];
  for (const [g, s] of groups) {
    rows.push([g, String(s.DesiredTotal), String(s.PlacedAllocs), String(s.HealthyAllocs), String(s.UnhealthyAllocs)]);
  }
  return `${kv}\n\nDeployed\n${formatTable(rows)}`;
}

async function listJobs(ctx: CommandContext, client: DroverClient): Promise<number> {
  const jobs = (await client.jobs.list({ signal: ctx.signal })).value ?? [];
  ctx.out.list(jobs, 'No running jobs', (js) => jobListRows(js, ctx.globals.namespace === '*'));
  return 0;
}

async function showJob(ctx: CommandContext, client: DroverClient, id: string, verbose: boolean): Promise<number> {
  const stub = await resolveJob(ctx, client, id);
  const opts = { namespace: stub.Namespace || undefined, signal: ctx.signal };
  const job = (await querying('job', client.jobs.get(stub.ID, opts))).value;
  if (ctx.out.json) {
    ctx.out.printJSON(job);
    return 0;
  }
  const [summary, allocs, deployment] = await Promise.all([
    optional(client.jobs.summary(job.ID, opts)),
    client.jobs.allocations(job.ID, { ...opts, all: verbose }),
    optional(client.jobs.latestDeployment(job.ID, opts)),
  ]);
  ctx.out.kv(jobDetailPairs(job));
  if ((job.Periodic?.Enabled || (job.ParameterizedJob && !job.Dispatched)) && !job.ParentID) {
    await childrenSections(ctx, client, job, opts);
    return 0;
  }
  if (summary?.value) ctx.out.section('Summary', formatTable(summaryRows(summary.value)));
  await placementFailures(ctx, client, job.ID, opts);
  if (deployment?.value) ctx.out.section('Latest Deployment', deploymentSection(deployment.value, verbose));
  await multiregionSection(ctx, client, job, opts, verbose);
  const list = allocs.value ?? [];
  if (list.length === 0) ctx.out.section('Allocations', 'No allocations placed');
  else ctx.out.section('Allocations', formatTable(allocRows(list, ctx, verbose)));
  return 0;
}

/**
 * Nomad's "Multiregion Deployment" section: each region of the block with its latest deployment, asked of that
 * region (`?region=`); a region the rollout has not started (or stopped before) has none.
 */
async function multiregionSection(
  ctx: CommandContext,
  client: DroverClient,
  job: Job,
  opts: { namespace?: string; signal: AbortSignal },
  verbose: boolean,
): Promise<void> {
  const regions = (job.Multiregion as { Regions?: Array<{ Name: string }> | null } | null | undefined)?.Regions ?? [];
  if (regions.length === 0) return;
  const rows = await Promise.all(
    regions.map(async (r) => {
      const d = (await optional(client.jobs.latestDeployment(job.ID, { ...opts, region: r.Name })))?.value;
      return [r.Name, d ? (verbose ? d.ID : shortId(d.ID)) : '<none>', d ? d.Status : 'not started'];
    }),
  );
  ctx.out.section('Multiregion Deployment', formatTable([['Region', 'ID', 'Status'], ...rows]));
}

/** Nomad's "Placement Failure" section: the latest eval that could not place everything, while its blocked eval waits. */
async function placementFailures(
  ctx: CommandContext,
  client: DroverClient,
  jobID: string,
  opts: { namespace?: string; signal: AbortSignal },
): Promise<void> {
  const evals = (await optional(client.jobs.evaluations(jobID, opts)))?.value ?? [];
  const blocked = evals.find((e) => e.Status === 'blocked');
  if (blocked == null) return;
  const failed = evals
    .filter((e) => e.FailedTGAllocs != null && e.BlockedEval === blocked.ID)
    .sort((a, b) => b.CreateIndex - a.CreateIndex)[0];
  if (failed?.FailedTGAllocs)
    ctx.out.section('Placement Failure', formatFailedPlacements(failed.FailedTGAllocs).join('\n'));
}

/** For a periodic or parameterized parent: its children, as nomad lists them. */
async function childrenSections(
  ctx: CommandContext,
  client: DroverClient,
  job: Job,
  opts: { namespace?: string; signal: AbortSignal },
): Promise<void> {
  const all = (await client.jobs.list({ ...opts, prefix: `${job.ID}/` })).value ?? [];
  const kids = all.filter((j) => j.ParentID === job.ID).sort((a, b) => b.CreateIndex - a.CreateIndex);
  const count = (st: string) => String(kids.filter((k) => k.Status === st).length);
  ctx.out.section(
    'Children Job Summary',
    formatTable([
      ['Pending', 'Running', 'Dead'],
      [count('pending'), count('running'), count('dead')],
    ]),
  );
  const title = job.Periodic?.Enabled ? 'Previously Launched Jobs' : 'Dispatched Jobs';
  ctx.out.section(
    title,
    kids.length === 0
      ? `No ${job.Periodic?.Enabled ? 'instances of periodic' : 'dispatched instances of parameterized'} job found`
      : formatTable([['ID', 'Status'], ...kids.map((k) => [k.ID, k.Status])]),
  );
}

export const jobStatus = command('job status [id]', {
  legacy: [['status']],
  summary: 'List jobs, or show one job with its summary and allocations',
  options: [verboseOption('full IDs and absolute times')],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    return id ? showJob(ctx, client, id, bool(opts.verbose)) : listJobs(ctx, client);
  },
});
