/**
 * Deployments for groups with an update block: created when a job version starts rolling out,
 * limiting destructive updates to max_parallel minus the not-yet-healthy allocations of the
 * deployment, and holding old allocations until canaries are promoted.
 *
 *   no deployment for this version ──(placements or updates needed)──► new deployment (running)
 *   deployment of an older version, still active ─────────────────────► cancelled
 */
import type {
  Allocation,
  Deployment,
  DeploymentState,
  DeploymentStatusUpdate,
  Job,
  TaskGroup,
  UpdateStrategy,
} from '../../structs/index.js';
import {
  DeploymentStatusCancelled,
  DeploymentStatusFailed,
  DeploymentStatusPaused,
  DeploymentStatusPending,
  DeploymentStatusRunning,
  allocTerminalStatus,
} from '../../structs/index.js';

export const DeploymentRunning = 'Deployment is running';
export const DeploymentNeedsPromotion = 'Deployment is running but requires manual promotion';

function isActive(d: Deployment): boolean {
  return (
    d.Status === DeploymentStatusRunning || d.Status === DeploymentStatusPaused || d.Status === DeploymentStatusPending
  );
}

/**
 * Whether a deployment rolls out this very job version. A job purged and registered again starts over at
 * version 0 with a new CreateIndex: the old job's deployment (cancelled by the stop) is not its own, as in
 * Nomad's reconciler (`cancelUnneededDeployments`).
 */
function sameJobVersion(d: Deployment, job: Job): boolean {
  const createDiffers =
    (d.JobCreateIndex ?? 0) !== 0 && (job.CreateIndex ?? 0) !== 0 && d.JobCreateIndex !== job.CreateIndex;
  return d.JobVersion === (job.Version ?? 0) && !createDiffers;
}

/** An active deployment of another job version (or of a stopped job) is cancelled. */
export function cancelStaleDeployment(latest: Deployment | null, job: Job | null): DeploymentStatusUpdate | null {
  if (!latest || !isActive(latest)) return null;
  if (!job || job.Stop) {
    return {
      DeploymentID: latest.ID,
      Status: DeploymentStatusCancelled,
      StatusDescription: 'Cancelled because job is stopped',
    };
  }
  if (!sameJobVersion(latest, job)) {
    return {
      DeploymentID: latest.ID,
      Status: DeploymentStatusCancelled,
      StatusDescription: 'Cancelled due to newer version of job',
    };
  }
  return null;
}

export interface DeploymentGroup {
  promoted: boolean;
  isOwn(a: Allocation): boolean;
  destructiveLimit(allocs: Allocation[], strategy: UpdateStrategy | null): number;
  requireCanaries(n: number): void;
}

function copyDeployment(d: Deployment): Deployment {
  const groups: Record<string, DeploymentState> = {};
  for (const [k, s] of Object.entries(d.TaskGroups)) {
    groups[k] = { ...s, PlacedCanaries: s.PlacedCanaries ? s.PlacedCanaries.slice() : [] };
  }
  return { ...d, TaskGroups: groups };
}

function newState(tg: TaskGroup, s: UpdateStrategy): DeploymentState {
  return {
    AutoRevert: s.AutoRevert,
    AutoPromote: s.AutoPromote,
    ProgressDeadline: s.ProgressDeadline,
    RequireProgressBy: null,
    Promoted: false,
    PlacedCanaries: [],
    DesiredCanaries: 0,
    DesiredTotal: tg.Count,
    PlacedAllocs: 0,
    HealthyAllocs: 0,
    UnhealthyAllocs: 0,
  };
}

export class DeploymentPlanner {
  private dep: Deployment | null;
  private changed = false;

  constructor(
    private readonly job: Job,
    latest: Deployment | null,
    private readonly newID: () => string,
    private readonly nowMs: number,
  ) {
    this.dep = latest && sameJobVersion(latest, job) ? copyDeployment(latest) : null;
  }

  private create(): Deployment {
    const j = this.job;
    const now = this.nowMs * 1_000_000;
    this.dep = {
      ID: this.newID(),
      Namespace: j.Namespace,
      JobID: j.ID,
      JobVersion: j.Version ?? 0,
      JobModifyIndex: j.ModifyIndex ?? 0,
      JobSpecModifyIndex: j.JobModifyIndex ?? 0,
      JobCreateIndex: j.CreateIndex ?? 0,
      IsMultiregion: j.Multiregion != null,
      TaskGroups: {},
      Status: DeploymentStatusRunning,
      StatusDescription: DeploymentRunning,
      EvalPriority: j.Priority,
      CreateIndex: 0,
      ModifyIndex: 0,
      CreateTime: now,
      ModifyTime: now,
    };
    this.changed = true;
    return this.dep;
  }

  group(
    tg: TaskGroup,
    strategy: UpdateStrategy | null,
    facts: { hadCurrent: boolean; updating: boolean },
  ): DeploymentGroup {
    if (!strategy) return neutralGroup;
    let dep = this.dep;
    if (!dep && tg.Count > 0 && (!facts.hadCurrent || facts.updating)) dep = this.create();
    if (dep && !dep.TaskGroups[tg.Name] && isActive(dep)) {
      dep.TaskGroups[tg.Name] = newState(tg, strategy);
      this.changed = true;
    }
    const state = dep?.TaskGroups[tg.Name];
    const promoted = state?.Promoted ?? false;
    const isOwn = (a: Allocation) => dep !== null && a.DeploymentID === dep.ID;
    return {
      promoted,
      isOwn,
      destructiveLimit: (allocs, s) => {
        if (!dep || !s) return s ? s.MaxParallel : Infinity;
        if (dep.Status === DeploymentStatusPaused || (isActive(dep) === false && dep.Status !== 'successful')) return 0;
        let inflight = 0;
        for (const a of allocs) {
          if (!isOwn(a) || allocTerminalStatus(a) || a.DeploymentStatus?.Healthy === true) continue;
          if (a.DeploymentStatus?.Canary && !promoted) continue;
          inflight++;
        }
        return Math.max(0, s.MaxParallel - inflight);
      },
      requireCanaries: (n) => {
        if (!state || state.DesiredCanaries === n) return;
        state.DesiredCanaries = n;
        if (!state.AutoPromote && dep) dep.StatusDescription = DeploymentNeedsPromotion;
        this.changed = true;
      },
    };
  }

  finish(): { deployment: Deployment | null; changed: boolean } {
    return { deployment: this.dep, changed: this.changed };
  }
}

const neutralGroup: DeploymentGroup = {
  promoted: false,
  isOwn: () => false,
  destructiveLimit: () => Infinity,
  requireCanaries: () => {},
};

/**
 * Canaries that no deployment will promote any more: those of a group not promoted in the latest
 * deployment when it belongs to another job version (a newer one, or an auto-revert), or when it failed.
 * As in Nomad they are stopped and take no part in the group's count, so a revert does not hold a broken
 * canary, nor roll out a canary of its own to replace it.
 */
export function splitUnneededCanaries(
  latest: Deployment | null,
  job: Job,
  allocs: Allocation[],
): { stale: Allocation[]; rest: Allocation[] } {
  if (!latest) return { stale: [], rest: allocs };
  const otherVersion = latest.JobVersion !== (job.Version ?? 0);
  if (!otherVersion && latest.Status !== DeploymentStatusFailed) return { stale: [], rest: allocs };
  const ids = new Set<string>();
  for (const s of Object.values(latest.TaskGroups)) {
    if (!s.Promoted) for (const id of s.PlacedCanaries ?? []) ids.add(id);
  }
  if (ids.size === 0) return { stale: [], rest: allocs };
  return { stale: allocs.filter((a) => ids.has(a.ID)), rest: allocs.filter((a) => !ids.has(a.ID)) };
}
