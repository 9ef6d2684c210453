/**
 * The deployment watcher (Nomad's deploymentwatcher): what moves a running deployment along, decided
 * inside the same write as the allocation health that caused it, plus one background loop for what
 * time alone decides (the progress deadline).
 *
 *   alloc health reported ──► unhealthy? ──► failed ("Failed due to unhealthy allocations")
 *                                 │              └─ auto_revert ──► job re-registered as the latest stable version
 *                                 ▼ healthy
 *          canaries all healthy and auto_promote ──► promoted
 *          every group DesiredTotal healthy (canaries promoted) ──► successful, job version Stable
 *          otherwise ──► eval "deployment-watcher" (the scheduler places the next max_parallel batch)
 *
 *   progress loop: first placement ──► RequireProgressBy = now + progress_deadline;
 *                  RequireProgressBy passed while still running ──► failed ("Failed due to progress deadline")
 */
import {
  DeploymentStatusFailed,
  DeploymentStatusRunning,
  DeploymentStatusSuccessful,
  EvalTriggerDeploymentWatcher,
  EvalTriggerJobRegister,
  type Deployment,
  type DeploymentState,
  type Evaluation,
  type Job,
} from '../structs/index.js';
import {
  jobSpecChanged,
  refreshJobStatus,
  updateJobInPlace,
  upsertEvals,
  upsertJob,
  type ClientAllocChange,
  type StateView,
  type WriteTxn,
} from '../state/index.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';

/** Nomad's deployment status descriptions, word for word: the CLI and users match on them. */
export const DeploymentDescription = {
  Running: 'Deployment is running',
  RunningNeedsPromotion: 'Deployment is running but requires manual promotion',
  RunningAutoPromotion: 'Deployment is running pending automatic promotion',
  Paused: 'Deployment is paused',
  Successful: 'Deployment completed successfully',
  FailedAllocations: 'Failed due to unhealthy allocations',
  ProgressDeadline: 'Failed due to progress deadline',
  FailedByUser: 'Deployment marked as failed',
} as const;

export const rollbackDescription = (base: string, version: number) =>
  `${base} - rolling back to job version ${version}`;
export const rollbackNoopDescription = (base: string, version: number) =>
  `${base} - not rolling back to stable job version ${version} as current job has same specification`;
export const noRollbackTargetDescription = (base: string) => `${base} - no stable job version to auto revert to`;

type Groups = Record<string, DeploymentState>;

function putDeployment(ctx: ServerContext, txn: WriteTxn, d: Deployment, change: Partial<Deployment>): Deployment {
  const next = { ...d, ...change, ModifyIndex: txn.writeIndex, ModifyTime: nowNs(ctx) };
  txn.put('deployments', next);
  return next;
}

/** Every group has its canaries placed and healthy, so promotion may go ahead. */
export function canariesHealthy(view: StateView, d: Deployment, group: string): boolean {
  const s = d.TaskGroups[group];
  if (s == null || s.DesiredCanaries === 0) return true;
  const placed = s.PlacedCanaries ?? [];
  if (placed.length < s.DesiredCanaries) return false;
  return placed.every((id) => view.allocByID(id)?.DeploymentStatus?.Healthy === true);
}

function isDone(d: Deployment): boolean {
  return Object.values(d.TaskGroups).every(
    (g) => g.HealthyAllocs >= g.DesiredTotal && (g.DesiredCanaries === 0 || g.Promoted),
  );
}

/** Promotes the groups named (every canary group when null); the caller checked they may be. */
export function promoteInTxn(ctx: ServerContext, txn: WriteTxn, d: Deployment, groups: string[] | null): Deployment {
  const tg: Groups = {};
  for (const [name, s] of Object.entries(d.TaskGroups)) {
    const promote = s.DesiredCanaries > 0 && (groups == null || groups.includes(name));
    tg[name] = promote ? { ...s, Promoted: true } : s;
  }
  const waiting = Object.values(tg).some((s) => s.DesiredCanaries > 0 && !s.Promoted);
  return putDeployment(ctx, txn, d, {
    TaskGroups: tg,
    StatusDescription: waiting ? DeploymentDescription.RunningNeedsPromotion : DeploymentDescription.Running,
  });
}

/**
 * Marks `d` failed and, when a group asks for auto_revert, re-registers the job's latest stable
 * version. Returns the evals to route (the revert's register eval, or one for the failed deployment).
 */
export function failInTxn(
  ctx: ServerContext,
  txn: WriteTxn,
  d: Deployment,
  base: string,
  opts: { allowRevert: boolean },
): { evals: Evaluation[]; revertedTo?: number } {
  const job = txn.jobByID(d.Namespace, d.JobID);
  let description = base;
  let revertTo: Job | undefined;
  if (opts.allowRevert && job != null && Object.values(d.TaskGroups).some((g) => g.AutoRevert)) {
    const stable = txn.jobVersions(d.Namespace, d.JobID).find((v) => v.Stable && (v.Version ?? 0) < d.JobVersion);
    if (stable == null) description = noRollbackTargetDescription(base);
    else if (!jobSpecChanged(stable, job)) description = rollbackNoopDescription(base, stable.Version ?? 0);
    else {
      description = rollbackDescription(base, stable.Version ?? 0);
      revertTo = stable;
    }
  }
  putDeployment(ctx, txn, d, { Status: DeploymentStatusFailed, StatusDescription: description });
  if (job == null) return { evals: [] };
  if (revertTo != null) {
    const { job: stored } = revertJob(ctx, txn, job, revertTo);
    return {
      evals: upsertEvals(txn, [newEval(ctx, stored, EvalTriggerJobRegister)], nowNs(ctx)),
      revertedTo: revertTo.Version ?? 0,
    };
  }
  return {
    evals: upsertEvals(txn, [newEval(ctx, job, EvalTriggerDeploymentWatcher, { DeploymentID: d.ID })], nowNs(ctx)),
  };
}

/** Registers `target`'s spec as a new version of `current` (a revert never rewrites history). */
export function revertJob(ctx: ServerContext, txn: WriteTxn, current: Job, target: Job): { job: Job } {
  const spec: Job = {
    ...target,
    Stop: false,
    Stable: false,
    Status: current.Status,
    StatusDescription: current.StatusDescription,
  };
  const { job } = upsertJob(txn, spec, { nowNs: nowNs(ctx), trackedVersions: ctx.jobTrackedVersions });
  refreshJobStatus(txn, job.Namespace, job.ID);
  return { job };
}

/**
 * After client updates: fails deployments with a newly unhealthy allocation, auto-promotes canaries,
 * completes finished deployments (marking the version stable) and asks the scheduler for the next
 * batch of the others. Runs inside the client update's write; returns the evals it stored.
 */
export function deploymentsAfterHealth(ctx: ServerContext, txn: WriteTxn, changes: ClientAllocChange[]): Evaluation[] {
  const unhealthy = new Set<string>();
  const touched = new Set<string>();
  for (const c of changes) {
    const id = c.next.DeploymentID;
    if (!id || c.prev.DeploymentStatus?.Healthy != null || c.next.DeploymentStatus?.Healthy == null) continue;
    touched.add(id);
    if (c.next.DeploymentStatus.Healthy === false) unhealthy.add(id);
  }
  const evals: Evaluation[] = [];
  for (const id of touched) {
    let d = txn.deploymentByID(id);
    if (d == null || d.Status !== DeploymentStatusRunning) continue;
    if (unhealthy.has(id)) {
      evals.push(...failInTxn(ctx, txn, d, DeploymentDescription.FailedAllocations, { allowRevert: true }).evals);
      continue;
    }
    for (const c of changes) {
      if (
        c.next.DeploymentID !== id ||
        c.prev.DeploymentStatus?.Healthy != null ||
        c.next.DeploymentStatus?.Healthy !== true
      )
        continue;
      const at = Date.parse(c.next.DeploymentStatus.Timestamp ?? '') || ctx.clock.now();
      const extended = extendProgressDeadline(d, c.next.TaskGroup, at);
      if (extended !== d) d = putDeployment(ctx, txn, d, { TaskGroups: extended.TaskGroups });
    }
    const auto = Object.entries(d.TaskGroups).filter(
      ([name, s]) => s.AutoPromote && s.DesiredCanaries > 0 && !s.Promoted && canariesHealthy(txn, d!, name),
    );
    // Nomad promotes only when every canary group may be promoted at once.
    const waiting = Object.entries(d.TaskGroups).filter(([, s]) => s.DesiredCanaries > 0 && !s.Promoted);
    if (auto.length > 0 && auto.length === waiting.length)
      d = promoteInTxn(
        ctx,
        txn,
        d,
        auto.map(([n]) => n),
      );
    evals.push(...progressInTxn(ctx, txn, d));
  }
  return evals;
}

/** Completes `d` when it reached its goal, else stores one eval so the rollout continues. */
export function progressInTxn(ctx: ServerContext, txn: WriteTxn, d: Deployment): Evaluation[] {
  const job = txn.jobByID(d.Namespace, d.JobID);
  if (isDone(d)) {
    putDeployment(ctx, txn, d, {
      Status: DeploymentStatusSuccessful,
      StatusDescription: DeploymentDescription.Successful,
    });
    const version = txn.jobVersion(d.Namespace, d.JobID, d.JobVersion);
    if (version != null && !version.Stable) {
      if (job != null && (job.Version ?? 0) === d.JobVersion) updateJobInPlace(txn, { ...job, Stable: true });
      else txn.put('job_versions', { ...version, Stable: true });
    }
    return [];
  }
  if (job == null || job.Stop) return [];
  return upsertEvals(txn, [newEval(ctx, job, EvalTriggerDeploymentWatcher, { DeploymentID: d.ID })], nowNs(ctx));
}

export interface DeploymentWatcherOptions {
  /** Longest sleep between looks at the deadlines (ms); a store change wakes it earlier. */
  maxSleepMs?: number;
}

/**
 * The time-driven half: starts each group's progress deadline at its first placement and fails a
 * running deployment whose deadline passed. A paused deployment's deadline does not run out.
 */
export class DeploymentWatcher {
  private loop: Promise<void> | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly opts: DeploymentWatcherOptions = {},
  ) {}

  start(signal: AbortSignal): void {
    this.loop ??= this.run(signal);
    this.ctx.background('deployment watcher', this.loop);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { store } = this.ctx;
    let cursor = 0;
    while (!signal.aborted) {
      const next = await this.tick();
      const nowMs = this.ctx.clock.now();
      const sleep = Math.max(10, Math.min(this.opts.maxSleepMs ?? 5_000, next === undefined ? Infinity : next - nowMs));
      // Placements and health count themselves into the deployment rows, so these alone say when to look.
      cursor = await store.waitForIndex(['deployments'], cursor, sleep, signal);
      if (signal.aborted) return;
    }
  }

  /** One pass: starts deadlines, fails expired deployments; returns the next deadline (ms) to wake for. */
  async tick(): Promise<number | undefined> {
    const snap = this.ctx.store.snapshot();
    const nowMs = this.ctx.clock.now();
    let next: number | undefined;
    let work = false;
    for (const d of snap.deployments()) {
      if (d.Status !== DeploymentStatusRunning) continue;
      for (const s of Object.values(d.TaskGroups)) {
        if (s.ProgressDeadline <= 0) continue;
        if (s.RequireProgressBy == null) {
          if (s.PlacedAllocs > 0) work = true;
          continue;
        }
        const at = Date.parse(s.RequireProgressBy);
        if (at <= nowMs && s.HealthyAllocs < s.DesiredTotal) work = true;
        else if (at > nowMs) next = next === undefined ? at : Math.min(next, at);
      }
    }
    if (!work) return next;
    const { result } = await this.ctx.store.write((txn) => this.apply(txn, nowMs));
    for (const ev of result) routeEval(this.ctx, ev);
    return nowMs + 1;
  }

  private apply(txn: WriteTxn, nowMs: number): Evaluation[] {
    const evals: Evaluation[] = [];
    for (const d of [...txn.deployments()]) {
      if (d.Status !== DeploymentStatusRunning) continue;
      let expired = false;
      let started = false;
      const tg: Groups = {};
      for (const [name, s] of Object.entries(d.TaskGroups)) {
        tg[name] = s;
        if (s.ProgressDeadline <= 0) continue;
        if (s.RequireProgressBy == null && s.PlacedAllocs > 0) {
          tg[name] = { ...s, RequireProgressBy: new Date(nowMs + s.ProgressDeadline / 1e6).toISOString() };
          started = true;
        } else if (
          s.RequireProgressBy != null &&
          Date.parse(s.RequireProgressBy) <= nowMs &&
          s.HealthyAllocs < s.DesiredTotal
        )
          expired = true;
      }
      const cur = started ? putDeployment(this.ctx, txn, d, { TaskGroups: tg }) : d;
      if (expired) {
        this.ctx.logger.info('deployment missed its progress deadline', { deployment_id: d.ID, job_id: d.JobID });
        evals.push(
          ...failInTxn(this.ctx, txn, cur, DeploymentDescription.ProgressDeadline, { allowRevert: true }).evals,
        );
      }
    }
    return evals;
  }
}

/** A healthy allocation moves the progress deadline out, as Nomad's state store does. */
export function extendProgressDeadline(d: Deployment, group: string, healthyAtMs: number): Deployment {
  const s = d.TaskGroups[group];
  if (s == null || s.ProgressDeadline <= 0) return d;
  const by = healthyAtMs + s.ProgressDeadline / 1e6;
  if (s.RequireProgressBy != null && Date.parse(s.RequireProgressBy) >= by) return d;
  return { ...d, TaskGroups: { ...d.TaskGroups, [group]: { ...s, RequireProgressBy: new Date(by).toISOString() } } };
}
