/**
 * A plan is the scheduler's one proposed change set for an evaluation. The plan applier on the
 * leader re-checks it against the latest state and commits the part that still fits.
 */
import type { Allocation } from './alloc.js';
import type { Deployment, DeploymentStatusUpdate } from './deployment.js';
import type { PlanAnnotations } from './eval.js';
import type { Job } from './job.js';

export interface Plan {
  EvalID: string;
  EvalToken?: string;
  Priority: number;
  AllAtOnce: boolean;
  Job: Job | null;
  /** Stops and evictions, keyed by node ID. */
  NodeUpdate: Record<string, Allocation[]>;
  /** Placements and in-place updates, keyed by node ID. */
  NodeAllocation: Record<string, Allocation[]>;
  NodePreemptions: Record<string, Allocation[]>;
  Annotations: PlanAnnotations | null;
  Deployment: Deployment | null;
  DeploymentUpdates: DeploymentStatusUpdate[] | null;
  /** The state index the scheduler planned against. */
  SnapshotIndex: number;
}

export interface PlanResult {
  NodeUpdate: Record<string, Allocation[]>;
  NodeAllocation: Record<string, Allocation[]>;
  NodePreemptions: Record<string, Allocation[]>;
  Deployment: Deployment | null;
  DeploymentUpdates: DeploymentStatusUpdate[] | null;
  /** Nodes whose part of the plan did not fit any more; the scheduler must refresh and retry. */
  RejectedNodes: string[];
  /** When the applier refused part of the plan: the index to refresh the snapshot to. */
  RefreshIndex: number;
  AllocIndex: number;
}

export function newPlan(evalID: string, priority: number, job: Job | null, snapshotIndex: number): Plan {
  return {
    EvalID: evalID,
    Priority: priority,
    AllAtOnce: job?.AllAtOnce ?? false,
    Job: job,
    NodeUpdate: {},
    NodeAllocation: {},
    NodePreemptions: {},
    Annotations: null,
    Deployment: null,
    DeploymentUpdates: null,
    SnapshotIndex: snapshotIndex,
  };
}

export function planIsNoOp(p: Plan): boolean {
  return (
    Object.keys(p.NodeUpdate).length === 0 &&
    Object.keys(p.NodeAllocation).length === 0 &&
    Object.keys(p.NodePreemptions).length === 0 &&
    p.Deployment == null &&
    (p.DeploymentUpdates == null || p.DeploymentUpdates.length === 0)
  );
}
