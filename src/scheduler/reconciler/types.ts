import type {
  Allocation,
  Deployment,
  DeploymentStatusUpdate,
  DesiredUpdates,
  Evaluation,
} from '../../structs/index.js';
import { newDesiredUpdates } from '../../structs/index.js';

export const AllocNotNeeded = 'alloc not needed due to job update';
export const AllocUpdating = 'alloc is being updated due to job update';
export const AllocLost = 'alloc is lost since its node is down';
export const AllocMigrating = 'alloc is being migrated';
export const AllocRescheduled = 'alloc was rescheduled because it failed';
export const AllocInPlace = 'alloc updating in-place';
export const AllocNodeTainted = 'alloc not needed as node is tainted';

/** One allocation to place. */
export interface PlaceRequest {
  name: string;
  group: string;
  /** The allocation this one replaces (reschedule, lost, migration, destructive update). */
  previous: Allocation | null;
  /** Set when replacing a failed allocation: adds a RescheduleTracker event and penalises its node. */
  reschedule: { delayNs: number } | null;
  canary: boolean;
  /** Stop `previous` in the same plan; backed out if no node is found (migration, destructive update). */
  stopPrevious: string | null;
}

export interface StopRequest {
  alloc: Allocation;
  description: string;
  clientStatus?: string;
}

export interface GroupChanges {
  place: PlaceRequest[];
  stop: StopRequest[];
  /** Allocations to move to the new job version without a restart (the scheduler re-checks the node). */
  inplace: Allocation[];
  /** Allocations changed only in attributes (FollowupEvalID), written back as updates. */
  attributeUpdates: Allocation[];
  desired: DesiredUpdates;
}

export interface ReconcileResult {
  groups: Map<string, GroupChanges>;
  /** The deployment new and updated allocs belong to (created by this pass or already running). */
  deployment: Deployment | null;
  /** True when `deployment` is new or changed and must go into the plan. */
  deploymentChanged: boolean;
  deploymentUpdates: DeploymentStatusUpdate[];
  followupEvals: Evaluation[];
}

export function emptyDesiredUpdates(): DesiredUpdates {
  return newDesiredUpdates({ RescheduleNow: 0, RescheduleLater: 0 });
}

export function emptyGroupChanges(): GroupChanges {
  return { place: [], stop: [], inplace: [], attributeUpdates: [], desired: emptyDesiredUpdates() };
}
