/** Pieces several commands share: allocation tables, lookups by prefix, and error wording. */
import { isNotFound, type DroverClient } from '../../api/index.js';
import type { AllocListStub, Deployment, Evaluation, JobListStub, NodeListStub } from '../../structs/index.js';
import { UsageError, type CommandContext } from '../command.js';
import { formatRelative, formatTime, nsToMs, orNone, shortId } from '../format.js';
import { resolvePrefix } from '../resolve.js';

/** Relative ("5m ago"), or absolute with `-verbose`, as nomad's tables. */
export function when(ns: number, ctx: CommandContext, verbose: boolean): string {
  const ms = nsToMs(ns);
  return verbose ? formatTime(ms) : formatRelative(ms, ctx.now());
}

/** Newest first, as nomad lists allocations. */
export function byNewest<T extends { CreateIndex: number; CreateTime?: number }>(xs: T[]): T[] {
  return [...xs].sort((a, b) => b.CreateIndex - a.CreateIndex || (b.CreateTime ?? 0) - (a.CreateTime ?? 0));
}

/** The allocations table of `job status` (ID, Node ID, Task Group, Version, Desired, Status, Created, Modified). */
export function allocRows(allocs: AllocListStub[], ctx: CommandContext, verbose: boolean): string[][] {
  const rows = [['ID', 'Node ID', 'Task Group', 'Version', 'Desired', 'Status', 'Created', 'Modified']];
  for (const a of byNewest(allocs)) {
    rows.push([
      shortId(a.ID, verbose),
      shortId(a.NodeID, verbose),
      a.TaskGroup,
      String(a.JobVersion ?? 0),
      a.DesiredStatus,
      a.ClientStatus,
      when(a.CreateTime, ctx, verbose),
      when(a.ModifyTime, ctx, verbose),
    ]);
  }
  return rows;
}

export function jobListRows(jobs: JobListStub[], showNamespace: boolean): string[][] {
  const head = ['ID', 'Type', 'Priority', 'Status', 'Submit Date'];
  const rows = [showNamespace ? ['ID', 'Namespace', ...head.slice(1)] : head];
  for (const j of jobs) {
    const status = j.Stop && j.Status !== 'dead' ? `${j.Status} (stopped)` : j.Stop ? 'dead (stopped)' : j.Status;
    const cells = [j.ID, j.Type, String(j.Priority), status, j.SubmitTime ? formatTime(nsToMs(j.SubmitTime)) : 'N/A'];
    rows.push(showNamespace ? [j.ID, j.Namespace, ...cells.slice(1)] : cells);
  }
  return rows;
}

/** What every list endpoint the resolvers use accepts and returns. */
type PrefixList<T> = (
  client: DroverClient,
  q: { prefix: string; signal: AbortSignal },
) => Promise<{ value: T[] | null | undefined }>;

/**
 * A lookup by exact ID or unique prefix (`resolvePrefix`) over one list endpoint; `rows` is the table of the
 * matches printed when a prefix is ambiguous.
 */
function prefixResolver<T extends { ID: string }>(
  what: string,
  list: PrefixList<T>,
  rows: (matches: T[], verbose: boolean) => string[][],
): (ctx: CommandContext, client: DroverClient, id: string, verbose?: boolean) => Promise<T> {
  return (ctx, client, id, verbose = false) =>
    resolvePrefix(
      ctx.out,
      what,
      id,
      async (prefix) => (await list(client, { prefix, signal: ctx.signal })).value ?? [],
      (matches) => rows(matches, verbose),
    );
}

/** The node table of `node status` (ID, Node Pool, DC, Name, Class, Drain, Eligibility, Status). */
export function nodeListRows(nodes: NodeListStub[], verbose: boolean): string[][] {
  const rows = [['ID', 'Node Pool', 'DC', 'Name', 'Class', 'Drain', 'Eligibility', 'Status']];
  for (const n of [...nodes].sort((a, b) => a.Name.localeCompare(b.Name) || a.ID.localeCompare(b.ID))) {
    rows.push([
      shortId(n.ID, verbose),
      n.NodePool || 'default',
      n.Datacenter,
      n.Name,
      orNone(n.NodeClass),
      String(n.Drain),
      n.SchedulingEligibility,
      n.Status,
    ]);
  }
  return rows;
}

/** A job by exact ID or unique prefix. */
export const resolveJob = prefixResolver<JobListStub>(
  'job',
  (c, q) => c.jobs.list(q),
  (jobs) => jobListRows(jobs, false),
);

/** An allocation by exact ID or unique prefix. */
export const resolveAlloc = prefixResolver<AllocListStub>(
  'allocation',
  (c, q) => c.allocations.list(q),
  (allocs, verbose) => [
    ['ID', 'Eval ID', 'Job ID', 'Task Group', 'Desired Status', 'Client Status'],
    ...allocs.map((a) => [
      shortId(a.ID, verbose),
      shortId(a.EvalID, verbose),
      a.JobID,
      a.TaskGroup,
      a.DesiredStatus,
      a.ClientStatus,
    ]),
  ],
);

/** A deployment by exact ID or unique prefix. */
export const resolveDeployment = prefixResolver<Deployment>(
  'deployment',
  (c, q) => c.deployments.list(q),
  (ds, verbose) => [
    ['ID', 'Job ID', 'Job Version', 'Status', 'Description'],
    ...ds.map((d) => [shortId(d.ID, verbose), d.JobID, String(d.JobVersion), d.Status, d.StatusDescription]),
  ],
);

/** An evaluation by exact ID or unique prefix. */
export const resolveEval = prefixResolver<Evaluation>(
  'evaluation',
  (c, q) => c.evaluations.list(q),
  (evals, verbose) => [
    ['ID', 'Priority', 'Triggered By', 'Job ID', 'Status'],
    ...evals.map((e) => [shortId(e.ID, verbose), String(e.Priority), e.TriggeredBy, e.JobID, e.Status]),
  ],
);

/** A node by exact ID or unique prefix. */
export const resolveNode = prefixResolver<NodeListStub>(
  'node',
  (c, q) => c.nodes.list(q),
  (nodes, verbose) => nodeListRows(nodes, verbose),
);

/** Turns a failed lookup into nomad's wording ("Error querying job: ..."), keeping the code for callers. */
export async function querying<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (isNotFound(e)) throw new UsageError(`Error querying ${what}: ${(e as Error).message}`);
    throw e;
  }
}

/** Reads an optional part of a view (latest deployment, stats): missing or failing, it is simply left out. */
export async function optional<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}
