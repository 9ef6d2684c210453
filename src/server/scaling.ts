/**
 * `POST /v1/job/:id/scale` and `GET /v1/job/:id/scale`: change one group's count within its scaling
 * block's min and max (a new job version and a `job-scaling` eval), or record an event only (Count
 * null, e.g. an autoscaler reporting an error). Events are kept per group, newest first.
 */
import {
  allocTerminalStatus,
  AllocClientStatusRunning,
  EvalTriggerScaling,
  type Evaluation,
  type Job,
  type ScalingEvent,
  type TaskGroup,
} from '../structs/index.js';
import { nsKey, refreshJobStatus, upsertEvals, upsertJob, type StateView, type WriteTxn } from '../state/index.js';
import { badRequest, jobNotFound } from '../errors/index.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';
import { blockingQuery } from './read-endpoints.js';
import type {
  EvalCreatedResult,
  JobScaleRequest,
  JobScaleStatus,
  QueryOptions,
  QueryResult,
  TaskGroupScaleStatus,
} from './types.js';

/** Nomad keeps the last 20 scaling events per group. */
export const TRACKED_SCALING_EVENTS = 20;

/** Why `count` is not allowed for the group, or undefined when it is. */
export function scaleBoundsProblem(tg: TaskGroup, count: number): string | undefined {
  if (!Number.isInteger(count) || count < 0) return `count must be a non-negative integer, got ${count}`;
  const min = tg.Scaling?.Min;
  const max = tg.Scaling?.Max;
  if (min != null && count < min)
    return `group "${tg.Name}" count ${count} is less than the scaling policy minimum ${min}`;
  if (max != null && count > max)
    return `group "${tg.Name}" count ${count} is greater than the scaling policy maximum ${max}`;
  return undefined;
}

function targetGroup(job: Job, req: JobScaleRequest): TaskGroup {
  const name = req.Target?.Group;
  if (!name) throw badRequest('scaling request needs Target.Group: the task group to scale');
  const tg = job.TaskGroups.find((g) => g.Name === name);
  if (tg == null) throw badRequest(`job "${job.ID}" has no task group "${name}"`);
  return tg;
}

function recordEvent(txn: WriteTxn, job: Job, group: string, ev: Omit<ScalingEvent, 'CreateIndex'>): void {
  const prev = txn.tables.get('scaling_events', nsKey(job.Namespace, job.ID));
  const events = { ...(prev?.ScalingEvents ?? {}) };
  events[group] = [{ ...ev, CreateIndex: txn.writeIndex }, ...(events[group] ?? [])].slice(0, TRACKED_SCALING_EVENTS);
  txn.put('scaling_events', {
    Namespace: job.Namespace,
    JobID: job.ID,
    ScalingEvents: events,
    ModifyIndex: txn.writeIndex,
  });
}

export async function jobScale(
  ctx: ServerContext,
  namespace: string,
  jobID: string,
  req: JobScaleRequest,
): Promise<EvalCreatedResult> {
  const snap = ctx.store.snapshot();
  const job = snap.jobByID(namespace, jobID);
  if (job == null) throw jobNotFound(namespace, jobID);
  const tg = targetGroup(job, req);
  const count = req.Count;
  if (count != null) {
    if (job.Type === 'system' || job.Type === 'sysbatch')
      throw badRequest(`cannot scale a ${job.Type} job: it runs one allocation per node`);
    if (job.Periodic?.Enabled || (job.ParameterizedJob != null && !job.Dispatched))
      throw badRequest('cannot scale a periodic or parameterized job');
    const problem = scaleBoundsProblem(tg, count);
    if (problem) throw badRequest(problem);
  }
  if (count == null && !req.Error && !req.Message)
    throw badRequest('scaling request needs a Count, or a Message / Error to record');
  const { result, index } = await ctx.store.write((txn) => {
    const cur = txn.jobByID(namespace, jobID) ?? job;
    const prevCount = cur.TaskGroups.find((g) => g.Name === tg.Name)?.Count ?? tg.Count;
    let ev: Evaluation | undefined;
    let stored = cur;
    if (count != null && !job.Stop) {
      const next: Job = {
        ...cur,
        TaskGroups: cur.TaskGroups.map((g) => (g.Name === tg.Name ? { ...g, Count: count } : g)),
      };
      stored = upsertJob(txn, next, { nowNs: nowNs(ctx), trackedVersions: ctx.jobTrackedVersions }).job;
      [ev] = upsertEvals(txn, [newEval(ctx, stored, EvalTriggerScaling)], nowNs(ctx));
      refreshJobStatus(txn, namespace, jobID);
    }
    recordEvent(txn, cur, tg.Name, {
      Time: nowNs(ctx),
      Count: count ?? null,
      PreviousCount: prevCount,
      Message: req.Message ?? '',
      Error: req.Error ?? false,
      Meta: req.Meta ?? null,
      EvalID: ev?.ID ?? null,
    });
    return { ev, stored };
  });
  if (result.ev) routeEval(ctx, result.ev);
  return {
    EvalID: result.ev?.ID ?? '',
    EvalCreateIndex: result.ev?.CreateIndex ?? 0,
    JobModifyIndex: result.stored.JobModifyIndex ?? index,
    Index: index,
    Warnings: '',
  };
}

function groupStatus(
  view: StateView,
  job: Job,
  tg: TaskGroup,
  events: ScalingEvent[] | undefined,
): TaskGroupScaleStatus {
  const s: TaskGroupScaleStatus = {
    Desired: tg.Count,
    Placed: 0,
    Running: 0,
    Healthy: 0,
    Unhealthy: 0,
    Events: events ?? null,
  };
  for (const a of view.allocsByJob(job.Namespace, job.ID)) {
    if (a.TaskGroup !== tg.Name || allocTerminalStatus(a)) continue;
    s.Placed++;
    if (a.ClientStatus === AllocClientStatusRunning) s.Running++;
    if (a.DeploymentStatus?.Healthy === true) s.Healthy++;
    else if (a.DeploymentStatus?.Healthy === false) s.Unhealthy++;
  }
  return s;
}

export function scaleStatus(view: StateView, namespace: string, jobID: string): JobScaleStatus {
  const job = view.jobByID(namespace, jobID);
  if (job == null) throw jobNotFound(namespace, jobID);
  const events = view.tables.get('scaling_events', nsKey(namespace, jobID));
  const groups: Record<string, TaskGroupScaleStatus> = {};
  for (const tg of job.TaskGroups) groups[tg.Name] = groupStatus(view, job, tg, events?.ScalingEvents[tg.Name]);
  return {
    JobID: job.ID,
    Namespace: job.Namespace,
    JobCreateIndex: job.CreateIndex ?? 0,
    JobModifyIndex: job.JobModifyIndex ?? 0,
    JobStopped: job.Stop ?? false,
    TaskGroups: groups,
  };
}

export async function jobScaleStatus(
  ctx: ServerContext,
  namespace: string,
  jobID: string,
  q: QueryOptions = {},
): Promise<QueryResult<JobScaleStatus>> {
  return blockingQuery(ctx, ['jobs', 'allocs', 'scaling_events'], q, (snap) => scaleStatus(snap, namespace, jobID));
}
