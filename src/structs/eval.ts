/**
 * Evaluations: a request to reconcile one job (or one node's system jobs) against the cluster.
 *
 *   pending ──(broker dequeue)──► scheduler ──► complete
 *      │                             ├────────► blocked (a new eval, retried when capacity frees up)
 *      └── WaitUntil in the future: delayed in the broker until then
 *                                    └────────► failed (delivery limit reached)   canceled (superseded)
 */
import type { AllocMetric } from './alloc.js';
import type { Job } from './job.js';
import { generateUUID } from './ids.js';

export const EvalStatusBlocked = 'blocked';
export const EvalStatusPending = 'pending';
export const EvalStatusComplete = 'complete';
export const EvalStatusFailed = 'failed';
export const EvalStatusCancelled = 'canceled';

export const EvalTriggerJobRegister = 'job-register';
export const EvalTriggerJobDeregister = 'job-deregister';
export const EvalTriggerPeriodicJob = 'periodic-job';
export const EvalTriggerNodeDrain = 'node-drain';
export const EvalTriggerNodeUpdate = 'node-update';
export const EvalTriggerAllocStop = 'alloc-stop';
export const EvalTriggerScheduled = 'scheduled';
export const EvalTriggerRollingUpdate = 'rolling-update';
export const EvalTriggerDeploymentWatcher = 'deployment-watcher';
export const EvalTriggerFailedFollowUp = 'failed-follow-up';
export const EvalTriggerMaxPlans = 'max-plan-attempts';
export const EvalTriggerRetryFailedAlloc = 'alloc-failure';
export const EvalTriggerQueuedAllocs = 'queued-allocs';
export const EvalTriggerPreemption = 'preemption';
export const EvalTriggerScaling = 'job-scaling';
export const EvalTriggerReconnect = 'reconnect';
export const EvalTriggerMaxDisconnectTimeout = 'max-disconnect-timeout';

export interface DesiredUpdates {
  Ignore: number;
  Place: number;
  Migrate: number;
  Stop: number;
  InPlaceUpdate: number;
  DestructiveUpdate: number;
  Canary: number;
  Preemptions: number;
  Reconnect?: number;
  Disconnect?: number;
  RescheduleNow?: number;
  RescheduleLater?: number;
}

/** A group's DesiredUpdates with Nomad's eight counts at zero, then `over` (the optional counts only when given). */
export function newDesiredUpdates(over: Partial<DesiredUpdates> = {}): DesiredUpdates {
  return {
    Ignore: 0,
    Place: 0,
    Migrate: 0,
    Stop: 0,
    InPlaceUpdate: 0,
    DestructiveUpdate: 0,
    Canary: 0,
    Preemptions: 0,
    ...over,
  };
}

export interface PlanAnnotations {
  DesiredTGUpdates: Record<string, DesiredUpdates>;
  PreemptedAllocs?: unknown[] | null;
}

export interface Evaluation {
  ID: string;
  Namespace: string;
  Priority: number;
  Type: string;
  TriggeredBy: string;
  JobID: string;
  JobModifyIndex: number;
  NodeID: string;
  NodeModifyIndex: number;
  DeploymentID: string;
  Status: string;
  StatusDescription: string;
  /** nanoseconds */
  Wait: number;
  /** RFC3339, or null/"" for none */
  WaitUntil: string | null;
  NextEval: string;
  PreviousEval: string;
  BlockedEval: string;
  FailedTGAllocs: Record<string, AllocMetric> | null;
  ClassEligibility: Record<string, boolean> | null;
  EscapedComputedClass: boolean;
  QuotaLimitReached?: string;
  AnnotatePlan: boolean;
  PlanAnnotations?: PlanAnnotations | null;
  QueuedAllocations: Record<string, number> | null;
  LeaderACL?: string;
  SnapshotIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export function evalTerminal(e: Pick<Evaluation, 'Status'>): boolean {
  return e.Status === EvalStatusComplete || e.Status === EvalStatusFailed || e.Status === EvalStatusCancelled;
}

/**
 * A pending evaluation of `job`, every other field at its zero value; `fields` override (ID included, for
 * schedulers that draw IDs from their seeded RNG). The one constructor the server, scheduler and tests share.
 */
export function newJobEvaluation(
  job: Pick<Job, 'Namespace' | 'ID' | 'Priority' | 'Type' | 'JobModifyIndex'>,
  triggeredBy: string,
  nowNs: number,
  fields: Partial<Evaluation> = {},
): Evaluation {
  return {
    ID: generateUUID(),
    Namespace: job.Namespace,
    Priority: job.Priority,
    Type: job.Type,
    TriggeredBy: triggeredBy,
    JobID: job.ID,
    JobModifyIndex: job.JobModifyIndex ?? 0,
    NodeID: '',
    NodeModifyIndex: 0,
    DeploymentID: '',
    Status: EvalStatusPending,
    StatusDescription: '',
    Wait: 0,
    WaitUntil: null,
    NextEval: '',
    PreviousEval: '',
    BlockedEval: '',
    FailedTGAllocs: null,
    ClassEligibility: null,
    EscapedComputedClass: false,
    AnnotatePlan: false,
    QueuedAllocations: null,
    SnapshotIndex: 0,
    CreateIndex: 0,
    ModifyIndex: 0,
    CreateTime: nowNs,
    ModifyTime: nowNs,
    ...fields,
  };
}
