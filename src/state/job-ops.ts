/**
 * Job writes as Nomad's state store does them: versions, the kept history, summaries and the job
 * status derived from its allocations and evaluations. All run inside one write transaction.
 */
import {
  allocTerminalStatus,
  JobStatusDead,
  JobStatusPending,
  JobStatusRunning,
  JobTypeSystem,
  type Allocation,
  type Job,
  type JobSummary,
  type TaskGroupSummary,
} from '../structs/index.js';
import { jobVersionKey, nsKey } from './schema.js';
import type { WriteTxn } from './store.js';
import type { StateView } from './view.js';

/** Nomad keeps the last 6 versions of a job. */
export const DEFAULT_JOB_TRACKED_VERSIONS = 6;

/** Fields the server sets: a change to them alone is not a change of the job's spec. */
const NON_SPEC_FIELDS = new Set([
  'Status',
  'StatusDescription',
  'Stable',
  'Version',
  'SubmitTime',
  'CreateIndex',
  'ModifyIndex',
  'JobModifyIndex',
  'VersionTag',
]);

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined;
}

// Runs on every register (twice with a plan): no key sets or spread arrays, as it compares whole jobs.
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // null, undefined and missing are the same thing in a job spec.
  if (a == null || b == null) return a == null && b == null;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  return sameFields(a as Record<string, unknown>, b as Record<string, unknown>, undefined);
}

/** Every key of either object holds equal values (a key missing on one side equals null), `skip` aside. */
function sameFields(ao: Record<string, unknown>, bo: Record<string, unknown>, skip: Set<string> | undefined): boolean {
  for (const k in ao) {
    if (skip?.has(k) === true || !Object.hasOwn(ao, k)) continue;
    if (!deepEqual(ao[k], bo[k])) return false;
  }
  for (const k in bo) {
    if (skip?.has(k) === true || !Object.hasOwn(bo, k) || Object.hasOwn(ao, k)) continue;
    if (!isEmpty(bo[k])) return false;
  }
  return true;
}

/** True when the two jobs differ in anything but the fields the server manages. */
export function jobSpecChanged(prev: Job, next: Job): boolean {
  return !sameFields(
    prev as unknown as Record<string, unknown>,
    next as unknown as Record<string, unknown>,
    NON_SPEC_FIELDS,
  );
}

export function isPeriodicOrParameterized(job: Job): boolean {
  // A dispatched child keeps its parent's ParameterizedJob block (as in Nomad) but is a job to run.
  return (job.Periodic?.Enabled ?? false) || (job.ParameterizedJob != null && job.Dispatched !== true);
}

/** Nomad's job status: running while any allocation is live, pending while an eval is open, else dead. */
export function computeJobStatus(view: StateView, job: Job): string {
  if (job.Type === JobTypeSystem || isPeriodicOrParameterized(job)) return job.Stop ? JobStatusDead : JobStatusRunning;
  // Runs on every job, eval and allocation write, while a job's terminal evals and allocations pile up until
  // GC: open evals have their own index (O(1)); a live allocation is looked for in place, stopping at the first.
  const key = nsKey(job.Namespace, job.ID);
  if (view.tables.someByIndex('allocs', 'job', key, (a) => !allocTerminalStatus(a))) return JobStatusRunning;
  if (view.tables.countByIndex('evals', 'open_job', key) > 0) return JobStatusPending;
  return view.tables.countByIndex('allocs', 'job', key) > 0 || view.tables.countByIndex('evals', 'job', key) > 0
    ? JobStatusDead
    : JobStatusPending;
}

export interface UpsertJobResult {
  job: Job;
  /** False when the spec equals the current version's: the version number was kept. */
  specChanged: boolean;
}

/**
 * Stores a registered job: version 0 when new, +1 when its spec changed, kept otherwise. The
 * `job_versions` history is capped at `trackedVersions`, never dropping the newest stable version.
 */
export function upsertJob(
  txn: WriteTxn,
  input: Job,
  opts: { nowNs: number; trackedVersions?: number },
): UpsertJobResult {
  const index = txn.writeIndex;
  const prev = txn.jobByID(input.Namespace, input.ID);
  const changed = prev == null || jobSpecChanged(prev, input);
  const job: Job = {
    ...input,
    CreateIndex: prev?.CreateIndex ?? index,
    ModifyIndex: index,
    JobModifyIndex: changed ? index : (prev!.JobModifyIndex ?? index),
    Version: prev == null ? 0 : changed ? (prev.Version ?? 0) + 1 : (prev.Version ?? 0),
    Stable: changed ? false : (prev!.Stable ?? false),
    SubmitTime: opts.nowNs,
  };
  // Status depends on allocs and evals; the caller refreshes it after adding the eval.
  job.Status = prev?.Status ?? JobStatusPending;
  job.StatusDescription = job.StatusDescription ?? '';
  txn.put('jobs', job);
  txn.put('job_versions', job);
  pruneVersions(txn, job, opts.trackedVersions ?? DEFAULT_JOB_TRACKED_VERSIONS);
  ensureSummary(txn, job);
  return { job, specChanged: changed };
}

function pruneVersions(txn: WriteTxn, job: Job, keep: number): void {
  const key = nsKey(job.Namespace, job.ID);
  const n = txn.tables.countByIndex('job_versions', 'job', key);
  if (n <= keep) return;
  if (n === keep + 1 && keep > 0) {
    // The common case, once a job has its full history: each new version puts it one over the cap. The oldest
    // goes, unless it is the only stable version (the newest stable one is kept), when the next oldest goes.
    // One pass over the job's bucket: no sorted copy of every version per register.
    let oldest: Job | undefined;
    let second: Job | undefined;
    let stableElsewhere = false;
    txn.tables.forEachByIndex('job_versions', 'job', key, (j) => {
      const v = j.Version ?? 0;
      if (oldest === undefined || v < (oldest.Version ?? 0)) {
        if (oldest?.Stable) stableElsewhere = true;
        second = oldest;
        oldest = j;
      } else {
        if (j.Stable) stableElsewhere = true;
        if (second === undefined || v < (second.Version ?? 0)) second = j;
      }
    });
    const drop = oldest!.Stable && !stableElsewhere ? second! : oldest!;
    txn.delete('job_versions', jobVersionKey(drop.Namespace, drop.ID, drop.Version ?? 0));
    return;
  }
  const all = txn.jobVersions(job.Namespace, job.ID); // newest first
  const kept = all.slice(0, keep);
  const dropped = all.slice(keep);
  // Keep the newest stable version even when it is older than the window: it is what a revert needs.
  const stable = all.find((j) => j.Stable);
  if (stable != null && !kept.includes(stable)) {
    const evicted = kept.pop()!;
    dropped.push(evicted);
    dropped.splice(dropped.indexOf(stable), 1);
  }
  for (const j of dropped) txn.delete('job_versions', jobVersionKey(j.Namespace, j.ID, j.Version ?? 0));
}

/** Replaces the stored job (and its current version entry) with a server-side change, e.g. Stop or Stable. */
export function updateJobInPlace(txn: WriteTxn, job: Job): Job {
  const updated: Job = { ...job, ModifyIndex: txn.writeIndex };
  txn.put('jobs', updated);
  txn.put('job_versions', updated);
  return updated;
}

/** Deletes the job, its versions and its summary. Allocations and evaluations stay until GC. */
export function purgeJob(txn: WriteTxn, namespace: string, id: string): boolean {
  const existed = txn.delete('jobs', nsKey(namespace, id));
  for (const v of txn.jobVersions(namespace, id))
    txn.delete('job_versions', jobVersionKey(namespace, id, v.Version ?? 0));
  txn.delete('job_summaries', nsKey(namespace, id));
  return existed;
}

/**
 * Recomputes the job's Status and stores it when it changed. `allocsUnchanged`: the caller wrote evaluations
 * (or the job) but none of the job's allocations since the status was last refreshed. A running job then
 * stays running whatever its evaluations say (a live allocation decides first), and since every allocation
 * write refreshes the status, the stored one is current: the walk over the job's allocations and evaluations
 * (which pile up until GC) is skipped on the register and eval-update paths.
 */
export function refreshJobStatus(
  txn: WriteTxn,
  namespace: string,
  id: string,
  hint: { allocsUnchanged?: boolean } = {},
): void {
  const job = txn.jobByID(namespace, id);
  if (job == null) return;
  const keptRunning =
    hint.allocsUnchanged === true &&
    job.Status === JobStatusRunning &&
    job.Type !== JobTypeSystem &&
    !isPeriodicOrParameterized(job);
  const status = keptRunning ? JobStatusRunning : computeJobStatus(txn, job);
  if (status === job.Status) return;
  txn.put('jobs', { ...job, Status: status, ModifyIndex: txn.writeIndex });
}

function emptyTGSummary(): TaskGroupSummary {
  return { Queued: 0, Complete: 0, Failed: 0, Running: 0, Starting: 0, Lost: 0, Unknown: 0 };
}

/** Creates the job's summary, or adds entries for task groups it did not have. */
export function ensureSummary(txn: WriteTxn, job: Job): void {
  const prev = txn.jobSummary(job.Namespace, job.ID);
  const missing = job.TaskGroups.filter((tg) => prev?.Summary[tg.Name] == null);
  if (prev != null && missing.length === 0) return;
  const summary: Record<string, TaskGroupSummary> = { ...(prev?.Summary ?? {}) };
  for (const tg of missing) summary[tg.Name] = emptyTGSummary();
  txn.put('job_summaries', {
    JobID: job.ID,
    Namespace: job.Namespace,
    Summary: summary,
    Children: prev?.Children ?? (isPeriodicOrParameterized(job) ? { Pending: 0, Running: 0, Dead: 0 } : null),
    CreateIndex: prev?.CreateIndex ?? txn.writeIndex,
    ModifyIndex: txn.writeIndex,
  });
}

const STATUS_FIELD: Record<string, keyof TaskGroupSummary> = {
  pending: 'Starting',
  running: 'Running',
  complete: 'Complete',
  failed: 'Failed',
  lost: 'Lost',
  unknown: 'Unknown',
};

/**
 * Moves one allocation between summary counters: `prev` undefined for a new allocation (which also
 * takes one off Queued, as it was queued until now).
 */
export function applyAllocToSummary(txn: WriteTxn, prev: Allocation | undefined, next: Allocation): void {
  if (prev != null && prev.ClientStatus === next.ClientStatus) return;
  const s = txn.jobSummary(next.Namespace, next.JobID);
  if (s == null) return;
  const tg = { ...(s.Summary[next.TaskGroup] ?? emptyTGSummary()) };
  moveAllocCounter(tg, prev, next);
  putSummary(txn, s, { ...s.Summary, [next.TaskGroup]: tg });
}

/** Moves one allocation from its previous status counter (or Queued, when new) to its next one. */
function moveAllocCounter(tg: TaskGroupSummary, prev: Allocation | undefined, next: Allocation): void {
  if (prev != null) {
    const f = STATUS_FIELD[prev.ClientStatus];
    if (f != null && tg[f] > 0) tg[f]--;
  } else if (tg.Queued > 0) {
    tg.Queued--;
  }
  const f = STATUS_FIELD[next.ClientStatus];
  if (f != null) tg[f]++;
}

/**
 * `applyAllocToSummary` for many allocations in one write: the same counter moves, in the same order,
 * on one working copy per job, stored once at `flush`. A plan of 1,000 placements otherwise copied and
 * re-stored the job's summary 1,000 times.
 */
export class AllocSummaryBatch {
  private readonly work = new Map<
    string,
    { base: JobSummary; summary: Record<string, TaskGroupSummary>; copied: Set<string> }
  >();

  constructor(private readonly txn: WriteTxn) {}

  apply(prev: Allocation | undefined, next: Allocation): void {
    if (prev != null && prev.ClientStatus === next.ClientStatus) return;
    const key = nsKey(next.Namespace, next.JobID);
    let w = this.work.get(key);
    if (w === undefined) {
      const base = this.txn.jobSummary(next.Namespace, next.JobID);
      if (base == null) return;
      w = { base, summary: { ...base.Summary }, copied: new Set() };
      this.work.set(key, w);
    }
    let tg = w.summary[next.TaskGroup];
    if (tg === undefined || !w.copied.has(next.TaskGroup)) {
      tg = { ...(tg ?? emptyTGSummary()) };
      w.summary[next.TaskGroup] = tg;
      w.copied.add(next.TaskGroup);
    }
    moveAllocCounter(tg, prev, next);
  }

  flush(): void {
    for (const w of this.work.values()) putSummary(this.txn, w.base, w.summary);
    this.work.clear();
  }
}

/** Sets Queued per task group from a scheduler's `QueuedAllocations`. */
export function setQueued(txn: WriteTxn, namespace: string, jobID: string, queued: Record<string, number>): void {
  const s = txn.jobSummary(namespace, jobID);
  if (s == null) return;
  const next = { ...s.Summary };
  let changed = false;
  for (const [name, n] of Object.entries(queued)) {
    const tg = next[name] ?? emptyTGSummary();
    if (tg.Queued === n) continue;
    next[name] = { ...tg, Queued: n };
    changed = true;
  }
  if (changed) putSummary(txn, s, next);
}

function putSummary(txn: WriteTxn, s: JobSummary, summary: Record<string, TaskGroupSummary>): void {
  txn.put('job_summaries', { ...s, Summary: summary, ModifyIndex: txn.writeIndex });
}
