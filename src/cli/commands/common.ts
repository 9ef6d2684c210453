/** Pieces several commands share: allocation tables, job lookups by prefix, and error wording. */
import { isNotFound, type DroverClient } from '../../api/index.js';
import type { AllocListStub, JobListStub } from '../../structs/index.js';
import { UsageError, type CommandContext } from '../command.js';
import { formatRelative, formatTime, nsToMs, shortId } from '../format.js';
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

/** A job by exact ID or unique prefix. */
export async function resolveJob(ctx: CommandContext, client: DroverClient, id: string): Promise<JobListStub> {
  return resolvePrefix(
    ctx.out,
    'job',
    id,
    async (prefix) => (await client.jobs.list({ prefix, signal: ctx.signal })).value ?? [],
    (jobs) => jobListRows(jobs, false),
  );
}

/** An allocation by exact ID or unique prefix. */
export async function resolveAlloc(
  ctx: CommandContext,
  client: DroverClient,
  id: string,
  verbose: boolean,
): Promise<AllocListStub> {
  return resolvePrefix(
    ctx.out,
    'allocation',
    id,
    async (prefix) => (await client.allocations.list({ prefix, signal: ctx.signal })).value ?? [],
    (allocs) => [
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
}

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
