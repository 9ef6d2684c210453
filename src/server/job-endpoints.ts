/**
 * Job register, deregister and plan, with Nomad's semantics: a version per spec change, an eval in
 * the same write as the job, `-check-index`, stop versus purge, and a dry-run plan with a diff.
 */
import {
  EvalTriggerJobDeregister,
  EvalTriggerJobRegister,
  type Evaluation,
  type Job,
  type Plan,
  type PlanResult,
} from '../structs/index.js';
import {
  isPeriodicOrParameterized,
  jobSpecChanged,
  purgeJob,
  refreshJobStatus,
  upsertEvals,
  upsertJob,
} from '../state/index.js';
import {
  badRequest,
  checkIndexMismatch,
  jobNotFound,
  jobValidationError,
  unknownNamespace,
  type Problem,
} from '../errors/index.js';
import type { Planner, SchedulerState } from '../scheduler/types.js';
import type { JobDeregisterResult, JobPlanResult, JobRegisterResult } from '../structs/index.js';
import type { RegisterOptions } from './types.js';
import { cancelEvals, newEval, nowNs, routeEval, type ServerContext } from './context.js';
import { annotateJobDiff, jobDiff } from './job-diff.js';
import { schedulerStateOf } from './scheduler-state.js';
import { nextLaunch, periodicSchedules } from './periodic.js';

/** For `job plan` of a periodic job: when it would launch next if submitted now (RFC 3339), else null. */
function nextPeriodicLaunchText(ctx: ServerContext, job: Job): string | null {
  if (!job.Periodic?.Enabled) return null;
  const t = nextLaunch(periodicSchedules(job), ctx.clock.now());
  return t === undefined ? null : new Date(t).toISOString();
}

const JOB_TYPES = new Set(['service', 'batch', 'system', 'sysbatch']);

/** The minimal shape the endpoints rely on. Admission (admission.ts) validates fully before; this is a guard. */
export function guardJob(job: Job): void {
  const problems: Problem[] = [];
  if (job == null || typeof job !== 'object') throw jobValidationError([{ message: 'job is missing' }]);
  if (typeof job.ID !== 'string' || job.ID === '') problems.push({ message: 'job ID is required', path: 'ID' });
  else if (/\s/.test(job.ID) || job.ID.includes('\u0000'))
    problems.push({ message: 'job ID contains a space or NUL', path: 'ID' });
  if (typeof job.Namespace !== 'string' || job.Namespace === '')
    problems.push({ message: 'namespace is required', path: 'Namespace' });
  if (!JOB_TYPES.has(job.Type))
    problems.push({ message: `job type "${job.Type}" is not one of service, batch, system, sysbatch`, path: 'Type' });
  if (typeof job.Priority !== 'number' || job.Priority < 1 || job.Priority > 100)
    problems.push({ message: 'priority must be between 1 and 100', path: 'Priority' });
  if (!Array.isArray(job.TaskGroups) || job.TaskGroups.length === 0)
    problems.push({ message: 'job has no task groups', path: 'TaskGroups' });
  const names = new Set<string>();
  (Array.isArray(job.TaskGroups) ? job.TaskGroups : []).forEach((tg, i) => {
    if (!tg?.Name) problems.push({ message: 'task group name is required', path: `TaskGroups[${i}].Name` });
    else if (names.has(tg.Name))
      problems.push({ message: `task group "${tg.Name}" is defined twice`, path: `TaskGroups[${i}].Name` });
    names.add(tg?.Name);
    if (typeof tg?.Count !== 'number' || tg.Count < 0)
      problems.push({ message: 'count must be a number ≥ 0', path: `TaskGroups[${i}].Count` });
    if (!Array.isArray(tg?.Tasks) || tg.Tasks.length === 0)
      problems.push({ message: 'task group has no tasks', path: `TaskGroups[${i}].Tasks` });
  });
  if (problems.length > 0) throw jobValidationError(problems);
}

export async function jobRegister(
  ctx: ServerContext,
  input: Job,
  opts: RegisterOptions = {},
): Promise<JobRegisterResult> {
  guardJob(input);
  // upsertJob stores a copy: the input is copied here only when a default has to be filled in.
  const job: Job =
    input.Region && input.Stop != null
      ? input
      : { ...input, Region: input.Region || ctx.region, Stop: input.Stop ?? false };
  const { result, index } = await ctx.store.write((txn) => {
    // Namespaces are real objects: a job may not create one by naming it.
    if (job.Namespace !== 'default' && !txn.tables.get('namespaces', job.Namespace))
      throw unknownNamespace(job.Namespace);
    const prev = txn.jobByID(job.Namespace, job.ID);
    if (opts.enforceIndex !== undefined) {
      const cur = prev?.JobModifyIndex ?? 0;
      if (cur !== opts.enforceIndex) throw checkIndexMismatch(opts.enforceIndex, cur);
    }
    const { job: stored } = upsertJob(txn, job, { nowNs: nowNs(ctx), trackedVersions: ctx.jobTrackedVersions });
    let ev: Evaluation | undefined;
    // Periodic and parameterized parents only launch children; they are never scheduled themselves.
    if (!isPeriodicOrParameterized(stored)) {
      [ev] = upsertEvals(txn, [newEval(ctx, stored, EvalTriggerJobRegister)], nowNs(ctx));
    }
    refreshJobStatus(txn, job.Namespace, job.ID, { allocsUnchanged: true });
    return { job: stored, ev };
  });
  if (result.ev) routeEval(ctx, result.ev);
  return {
    EvalID: result.ev?.ID ?? '',
    EvalCreateIndex: result.ev?.CreateIndex ?? 0,
    JobModifyIndex: result.job.JobModifyIndex ?? index,
    Warnings: (opts.warnings ?? []).join('\n'),
    Index: index,
  };
}

export async function jobDeregister(
  ctx: ServerContext,
  namespace: string,
  jobID: string,
  purge: boolean,
): Promise<JobDeregisterResult> {
  // Nomad's deregister is idempotent: stopping (or purging) a job that is not there is done already. Nothing
  // is written, so no evaluation either.
  if (ctx.store.snapshot().jobByID(namespace, jobID) == null) {
    const index = ctx.store.latestIndex();
    return { EvalID: '', EvalCreateIndex: 0, JobModifyIndex: 0, Index: index };
  }
  const { result, index } = await ctx.store.write((txn) => {
    const job = txn.jobByID(namespace, jobID);
    if (job == null) throw jobNotFound(namespace, jobID);
    let jobModifyIndex = job.JobModifyIndex ?? 0;
    if (purge) purgeJob(txn, namespace, jobID);
    else
      jobModifyIndex =
        upsertJob(txn, { ...job, Stop: true }, { nowNs: nowNs(ctx), trackedVersions: ctx.jobTrackedVersions }).job
          .JobModifyIndex ?? 0;
    let ev: Evaluation | undefined;
    if (!isPeriodicOrParameterized(job)) {
      [ev] = upsertEvals(
        txn,
        [newEval(ctx, { ...job, JobModifyIndex: jobModifyIndex }, EvalTriggerJobDeregister)],
        nowNs(ctx),
      );
    }
    refreshJobStatus(txn, namespace, jobID);
    return { ev, jobModifyIndex };
  });
  // A stopped job has nothing left to place: its blocked eval is of no use any more.
  const blocked = ctx.blocked.untrackJob(namespace, jobID);
  if (blocked) cancelEvals(ctx, [blocked], 'job was stopped');
  if (result.ev) routeEval(ctx, result.ev);
  return {
    EvalID: result.ev?.ID ?? '',
    EvalCreateIndex: result.ev?.CreateIndex ?? 0,
    JobModifyIndex: result.jobModifyIndex || index,
    Index: index,
  };
}

/**
 * `POST /v1/job/:id/evaluate`: a fresh evaluation of the job as it stands (Nomad's Job.Evaluate), for example
 * after a node came back. Periodic and parameterized parents are never scheduled themselves, so refused.
 */
export async function jobEvaluate(ctx: ServerContext, namespace: string, jobID: string): Promise<JobDeregisterResult> {
  const { result, index } = await ctx.store.write((txn) => {
    const job = txn.jobByID(namespace, jobID);
    if (job == null) throw jobNotFound(namespace, jobID);
    if (isPeriodicOrParameterized(job)) throw badRequest(`can't evaluate periodic or parameterized job "${jobID}"`);
    const [ev] = upsertEvals(txn, [newEval(ctx, job, EvalTriggerJobRegister)], nowNs(ctx));
    return { ev: ev!, jobModifyIndex: job.JobModifyIndex ?? 0 };
  });
  routeEval(ctx, result.ev);
  return {
    EvalID: result.ev.ID,
    EvalCreateIndex: result.ev.CreateIndex ?? index,
    JobModifyIndex: result.jobModifyIndex,
    Index: index,
  };
}

/** A Planner that records what the scheduler would do and changes nothing. */
class RecordingPlanner implements Planner {
  plan: Plan | undefined;
  evals: Evaluation[] = [];
  created: Evaluation[] = [];

  async submitPlan(plan: Plan): Promise<{ result: PlanResult; state?: SchedulerState }> {
    this.plan = plan;
    return {
      result: {
        NodeUpdate: plan.NodeUpdate,
        NodeAllocation: plan.NodeAllocation,
        NodePreemptions: plan.NodePreemptions,
        Deployment: plan.Deployment,
        DeploymentUpdates: plan.DeploymentUpdates,
        RejectedNodes: [],
        RefreshIndex: 0,
        AllocIndex: plan.SnapshotIndex,
      },
    };
  }
  async updateEval(ev: Evaluation): Promise<void> {
    this.evals.push(ev);
  }
  async createEval(ev: Evaluation): Promise<void> {
    this.created.push(ev);
  }
  async reblockEval(ev: Evaluation): Promise<void> {
    this.evals.push(ev);
  }
}

/** Runs the scheduler on a snapshot as if `input` were registered, and diffs it against the current job. */
export async function jobPlan(ctx: ServerContext, input: Job, wantDiff: boolean): Promise<JobPlanResult> {
  guardJob(input);
  const snap = ctx.store.snapshot();
  const prev = snap.jobByID(input.Namespace, input.ID);
  const base: Job = { ...input, Region: input.Region || ctx.region, Stop: input.Stop ?? false };
  const changed = prev == null || jobSpecChanged(prev, base);
  const next = snap.index() + 1;
  const proposed: Job = {
    ...base,
    Version: prev == null ? 0 : changed ? (prev.Version ?? 0) + 1 : (prev.Version ?? 0),
    CreateIndex: prev?.CreateIndex ?? next,
    ModifyIndex: next,
    JobModifyIndex: changed ? next : prev!.JobModifyIndex,
    Status: prev?.Status ?? 'pending',
    SubmitTime: nowNs(ctx),
  };
  const ev = newEval(ctx, proposed, EvalTriggerJobRegister, {
    AnnotatePlan: true,
    ModifyIndex: snap.index(),
    SnapshotIndex: snap.index(),
  });
  const planner = new RecordingPlanner();
  if (!isPeriodicOrParameterized(proposed)) {
    const state = schedulerStateOf(snap, { config: ctx.schedulerConfig(), jobOverride: proposed });
    const sched = ctx.newScheduler(proposed.Type, state, planner, {
      logger: ctx.logger.child({ plan: proposed.ID }),
      clock: ctx.clock,
    });
    await sched.process(ev);
  }
  const annotations = planner.plan?.Annotations ?? null;
  const lastEval = planner.evals[planner.evals.length - 1];
  const failed =
    lastEval?.FailedTGAllocs ?? planner.created.find((e) => e.FailedTGAllocs != null)?.FailedTGAllocs ?? null;
  let diff = null;
  if (wantDiff) {
    diff = jobDiff(prev ?? null, proposed, true);
    annotateJobDiff(diff, annotations);
  }
  return {
    Index: snap.index(),
    JobModifyIndex: prev?.JobModifyIndex ?? 0,
    Diff: diff,
    Annotations: annotations,
    FailedTGAllocs: failed != null && Object.keys(failed).length > 0 ? failed : null,
    CreatedEvals: planner.created.length > 0 ? planner.created : null,
    NextPeriodicLaunch: nextPeriodicLaunchText(ctx, proposed),
    Warnings: '',
  };
}
