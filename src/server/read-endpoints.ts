/**
 * Reads, each a blocking query on the tables its answer depends on: wait until one of them passes
 * `minIndex` (or the wait runs out), then answer from one snapshot with the highest of their indexes,
 * which is what `X-Nomad-Index` carries.
 */
import {
  allocListStub,
  nodeListStub,
  type AllocListStub,
  type Allocation,
  type Job,
  type JobListStub,
  type JobSummary,
} from '../structs/index.js';
import type { StateSnapshot, TableName } from '../state/index.js';
import {
  allocNotFound,
  badRequest,
  DroverError,
  deploymentNotFound,
  evalNotFound,
  jobNotFound,
  nodeNotFound,
  notFound,
} from '../errors/index.js';
import type { QueryOptions, QueryResult } from './types.js';
import type { ServerContext } from './context.js';

/** Nomad's default and maximum blocking-query waits. */
export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;

export async function blockingQuery<T>(
  ctx: ServerContext,
  tables: readonly TableName[],
  q: QueryOptions | undefined,
  answer: (snap: StateSnapshot) => T,
): Promise<QueryResult<T>> {
  if (q?.minIndex != null && q.minIndex > 0) {
    const wait = Math.min(q.waitMs ?? DEFAULT_WAIT_MS, MAX_WAIT_MS);
    // Tables nobody wrote yet are answered as index 1 (below); a query coming back with that 1 must wake
    // on their first write, even when that write commits at index 1.
    const minIndex = q.minIndex === 1 && ctx.store.snapshot().maxTableIndex(tables) === 0 ? 0 : q.minIndex;
    await waitForChange(ctx, tables, minIndex, wait, q.signal);
  }
  const snap = ctx.store.snapshot();
  // Index 0 would make a client's next blocking query return at once; Nomad answers at least 1.
  return { value: answer(snap), index: Math.max(1, snap.maxTableIndex(tables)) };
}

/**
 * Waits as a blocking query does; throws ServerStopped when the wait ended because this server's store closed
 * (an HA server that lost its lease stops its Server): answering then would return the unchanged index before
 * the wait ran out. The HTTP layer answers the query again from what the agent is now (http/server.ts).
 */
export async function waitForChange(
  ctx: ServerContext,
  tables: readonly TableName[],
  minIndex: number,
  waitMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  await ctx.store.waitForIndex(tables, minIndex, waitMs, signal);
  if (ctx.store.isClosed && signal?.aborted !== true)
    throw new DroverError('ServerStopped', 'the server stopped while this blocking query waited; ask again');
}

export function jobListStub(job: Job, summary: JobSummary | null): JobListStub {
  return {
    ID: job.ID,
    ParentID: job.ParentID ?? '',
    Name: job.Name,
    Namespace: job.Namespace,
    Datacenters: job.Datacenters,
    NodePool: job.NodePool ?? 'default',
    Multiregion: job.Multiregion ?? null,
    Type: job.Type,
    Priority: job.Priority,
    Periodic: job.Periodic?.Enabled ?? false,
    // A dispatched child keeps the block but is not itself parameterized (Nomad's IsParameterized).
    ParameterizedJob: job.ParameterizedJob != null && job.Dispatched !== true,
    Stop: job.Stop ?? false,
    Status: job.Status ?? 'pending',
    StatusDescription: job.StatusDescription ?? '',
    JobSummary: summary,
    CreateIndex: job.CreateIndex ?? 0,
    ModifyIndex: job.ModifyIndex ?? 0,
    JobModifyIndex: job.JobModifyIndex ?? 0,
    SubmitTime: job.SubmitTime ?? 0,
    Meta: job.Meta ?? null,
    Version: job.Version ?? 0,
  };
}

/**
 * One frozen list stub per stored allocation version: a stored allocation is a new object whenever it
 * changes (its ModifyIndex moves with it), so the stub is built once per version and kept only as long as
 * that version is referenced. Frozen, so the HTTP layer may also keep its JSON text (http/reply.ts).
 */
const stubs = new WeakMap<Allocation, AllocListStub>();

export function cachedAllocListStub(a: Allocation): AllocListStub {
  let s = stubs.get(a);
  if (s === undefined || s.ModifyIndex !== a.ModifyIndex) stubs.set(a, (s = Object.freeze(allocListStub(a))));
  return s;
}

/**
 * The same for jobs: a stub depends on the stored job and its stored summary (both replaced, never changed,
 * on a write), so it is built once per pair. 10,000 blocking queries woken by one change then share the
 * serialised text of every unchanged job (http/reply.ts).
 */
const jobStubs = new WeakMap<Job, { summary: JobSummary | null; stub: JobListStub }>();

function cachedJobListStub(job: Job, summary: JobSummary | null): JobListStub {
  const hit = jobStubs.get(job);
  if (hit !== undefined && hit.summary === summary) return hit.stub;
  const stub = Object.freeze(jobListStub(job, summary));
  jobStubs.set(job, { summary, stub });
  return stub;
}

/** '*' means every namespace, as in Nomad's `?namespace=*`. */
function nsMatches(q: QueryOptions | undefined, ns: string): boolean {
  const want = q?.namespace ?? 'default';
  return want === '*' || want === ns;
}

function byID<T extends { ID: string }>(a: T, b: T): number {
  return a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0;
}

export function jobList(ctx: ServerContext, q: QueryOptions) {
  return blockingQuery(ctx, ['jobs', 'job_summaries'], q, (s) =>
    s
      .jobs()
      .filter((j) => nsMatches(q, j.Namespace) && (q.prefix == null || j.ID.startsWith(q.prefix)))
      .sort(byID)
      .map((j) => cachedJobListStub(j, s.jobSummary(j.Namespace, j.ID) ?? null)),
  );
}

function requireJob(s: StateSnapshot, ns: string, id: string): Job {
  const j = s.jobByID(ns, id);
  if (j == null) throw jobNotFound(ns, id);
  return j;
}

export function jobGet(ctx: ServerContext, ns: string, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['jobs'], q, (s) => requireJob(s, ns, id));
}

export function jobVersions(ctx: ServerContext, ns: string, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['job_versions'], q, (s) => {
    const v = s.jobVersions(ns, id);
    if (v.length === 0) throw jobNotFound(ns, id);
    return v;
  });
}

export function jobSummary(ctx: ServerContext, ns: string, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['job_summaries'], q, (s) => {
    const sum = s.jobSummary(ns, id);
    if (sum == null) throw jobNotFound(ns, id);
    return sum;
  });
}

export function jobAllocations(ctx: ServerContext, ns: string, id: string, all: boolean, q?: QueryOptions) {
  return blockingQuery(ctx, ['allocs'], q, (s) => {
    const job = s.jobByID(ns, id);
    let allocs = s.allocsByJob(ns, id);
    // Without `all`, allocations of an earlier incarnation of the job (before a purge) are hidden.
    if (!all && job != null) allocs = allocs.filter((a) => (a.Job?.CreateIndex ?? 0) === (job.CreateIndex ?? 0));
    return allocs.sort((a, b) => b.CreateIndex - a.CreateIndex).map(cachedAllocListStub);
  });
}

export function jobEvaluations(ctx: ServerContext, ns: string, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['evals'], q, (s) => s.evalsByJob(ns, id).sort((a, b) => b.CreateIndex - a.CreateIndex));
}

export function jobDeployments(ctx: ServerContext, ns: string, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['deployments'], q, (s) => s.deploymentsByJob(ns, id));
}

/**
 * The last answer of each alloc-list query (namespace, prefix), valid while the allocs table is at the same
 * index: clients polling the list between two allocation writes share one frozen answer, and with it one
 * encoding of its bytes (http/reply.ts). Bounded: prefix lookups from the CLI add keys, and the map is simply
 * cleared when it grows past a few dozen.
 */
const allocListMemo = new Map<string, { index: number; value: AllocListStub[] }>();
const ALLOC_LIST_MEMO_MAX = 32;

export function allocList(ctx: ServerContext, q: QueryOptions) {
  return blockingQuery(ctx, ['allocs'], q, (s) => {
    const key = `${q.namespace ?? 'default'}\u0000${q.prefix ?? ''}`;
    const index = s.tableIndex('allocs');
    const hit = allocListMemo.get(key);
    if (hit !== undefined && hit.index === index) return hit.value;
    const out: AllocListStub[] = [];
    for (const a of s.allocs())
      if (nsMatches(q, a.Namespace) && (q.prefix == null || a.ID.startsWith(q.prefix)))
        out.push(cachedAllocListStub(a));
    // Frozen at run time (shared by every request at this index); typed as the API returns it.
    const value = Object.freeze(out.sort(byID)) as AllocListStub[];
    if (allocListMemo.size >= ALLOC_LIST_MEMO_MAX) allocListMemo.clear();
    allocListMemo.set(key, { index, value });
    return value;
  });
}

export function allocGet(ctx: ServerContext, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['allocs'], q, (s) => {
    const a = s.allocByID(id);
    if (a == null) throw allocNotFound(id);
    return a;
  });
}

export function evalList(ctx: ServerContext, q: QueryOptions) {
  return blockingQuery(ctx, ['evals'], q, (s) =>
    [...s.evals()]
      .filter((e) => nsMatches(q, e.Namespace) && (q.prefix == null || e.ID.startsWith(q.prefix)))
      .sort(byID),
  );
}

export function evalGet(ctx: ServerContext, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['evals'], q, (s) => {
    const e = s.evalByID(id);
    if (e == null) throw evalNotFound(id);
    return e;
  });
}

export function evalAllocations(ctx: ServerContext, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['allocs'], q, (s) => s.allocsByEval(id).sort(byID).map(cachedAllocListStub));
}

export function nodeList(ctx: ServerContext, q: QueryOptions) {
  return blockingQuery(ctx, ['nodes'], q, (s) =>
    [...s.nodes()]
      .filter((n) => q.prefix == null || n.ID.startsWith(q.prefix))
      .sort(byID)
      .map(nodeListStub),
  );
}

export function nodeGet(ctx: ServerContext, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['nodes'], q, (s) => {
    const n = s.nodeByID(id);
    if (n == null) throw nodeNotFound(id);
    // The secret is the node's credential; it never leaves through the API.
    return { ...n, SecretID: '' };
  });
}

export function nodeAllocations(ctx: ServerContext, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['allocs'], q, (s) => s.allocsByNode(id).sort(byID));
}

/** A unique ID prefix → the full ID; NotFound when none matches, BadRequest when several do. */
export function resolvePrefix(
  ctx: ServerContext,
  kind: 'alloc' | 'eval' | 'node' | 'deployment' | 'job',
  prefix: string,
  namespace = 'default',
): string {
  const s = ctx.store.snapshot();
  let ids: string[];
  switch (kind) {
    case 'job':
      if (s.jobByID(namespace, prefix)) return prefix;
      ids = s
        .jobs()
        .filter((j) => j.Namespace === namespace && j.ID.startsWith(prefix))
        .map((j) => j.ID);
      break;
    case 'alloc':
      if (s.allocByID(prefix)) return prefix;
      ids = [...s.tables.keysWithPrefix('allocs', prefix)];
      break;
    case 'eval':
      if (s.evalByID(prefix)) return prefix;
      ids = [...s.tables.keysWithPrefix('evals', prefix)];
      break;
    case 'node':
      if (s.nodeByID(prefix)) return prefix;
      ids = [...s.tables.keysWithPrefix('nodes', prefix)];
      break;
    case 'deployment':
      if (s.deploymentByID(prefix)) return prefix;
      ids = [...s.tables.keysWithPrefix('deployments', prefix)];
      break;
  }
  if (ids.length === 1) return ids[0]!;
  if (ids.length === 0) {
    if (kind === 'alloc') throw allocNotFound(prefix);
    if (kind === 'eval') throw evalNotFound(prefix);
    if (kind === 'node') throw nodeNotFound(prefix);
    if (kind === 'deployment') throw deploymentNotFound(prefix);
    if (kind === 'job') throw jobNotFound(namespace, prefix);
    throw notFound(prefix);
  }
  throw badRequest(
    `prefix "${prefix}" matches ${ids.length} ${kind}s: ${ids.sort().slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`,
  );
}
