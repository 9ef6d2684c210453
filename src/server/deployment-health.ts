/**
 * The part of Nomad's deployment watcher the foundation needs, so a rolling update (max_parallel)
 * moves on: allocation health, progress evals, and completion. Pause, promote, fail and auto-revert
 * come with the rollouts issue; they belong next to this file.
 *
 *   client update ──► health known? (the client's DeploymentStatus, else: running with every task
 *   running = healthy, failed = unhealthy) ──► deployment counters (state) ──► a healthy alloc in a
 *   running deployment ──► eval "deployment-watcher" so the scheduler places the next batch
 *   every group has DesiredTotal healthy (and canaries promoted) ──► deployment successful, version stable
 *
 * Without checks on the client, health here ignores min_healthy_time: the client's health hook is the
 * place for it, and once it reports DeploymentStatus the fallback steps aside.
 */
import {
  AllocClientStatusFailed,
  AllocClientStatusRunning,
  DeploymentStatusRunning,
  DeploymentStatusSuccessful,
  EvalTriggerDeploymentWatcher,
  TaskStateRunning,
  type Evaluation,
} from '../structs/index.js';
import { updateJobInPlace, upsertEvals, type WriteTxn } from '../state/index.js';
import type { AllocClientUpdate } from '../client/rpc.js';
import { newEval, nowNs, type ServerContext } from './context.js';

/** Fills in DeploymentStatus for updates of deployment allocations whose health the client did not report. */
export function withFallbackHealth(txn: WriteTxn, updates: AllocClientUpdate[], nowMs: number): AllocClientUpdate[] {
  return updates.map((u) => {
    if (u.DeploymentStatus?.Healthy != null) return u;
    const a = txn.allocByID(u.ID);
    if (a == null || !a.DeploymentID || a.DeploymentStatus?.Healthy != null) return u;
    if (txn.deploymentByID(a.DeploymentID)?.Status !== DeploymentStatusRunning) return u;
    let healthy: boolean | undefined;
    const states = Object.values(u.TaskStates ?? {});
    if (u.ClientStatus === AllocClientStatusRunning && states.length > 0 && states.every((t) => t.State === TaskStateRunning)) healthy = true;
    else if (u.ClientStatus === AllocClientStatusFailed) healthy = false;
    if (healthy === undefined) return u;
    return {
      ...u,
      DeploymentStatus: { Healthy: healthy, Timestamp: new Date(nowMs).toISOString(), Canary: a.DeploymentStatus?.Canary ?? false, ModifyIndex: txn.writeIndex },
    };
  });
}

/**
 * After health changed in `deploymentIDs`: completes deployments that reached their goal (and marks the
 * job version stable), and creates one eval per still-running deployment so the rollout continues.
 */
export function advanceDeployments(ctx: ServerContext, txn: WriteTxn, deploymentIDs: Iterable<string>): Evaluation[] {
  const evals: Evaluation[] = [];
  for (const id of new Set(deploymentIDs)) {
    const d = txn.deploymentByID(id);
    if (d == null || d.Status !== DeploymentStatusRunning) continue;
    const groups = Object.values(d.TaskGroups);
    const done = groups.every((g) => g.HealthyAllocs >= g.DesiredTotal && (g.DesiredCanaries === 0 || g.Promoted));
    const job = txn.jobByID(d.Namespace, d.JobID);
    if (done) {
      txn.put('deployments', { ...d, Status: DeploymentStatusSuccessful, StatusDescription: 'Deployment completed successfully', ModifyIndex: txn.writeIndex, ModifyTime: nowNs(ctx) });
      if (job != null && (job.Version ?? 0) === d.JobVersion && !job.Stable) updateJobInPlace(txn, { ...job, Stable: true });
      continue;
    }
    if (job == null || job.Stop) continue;
    evals.push(newEval(ctx, job, EvalTriggerDeploymentWatcher, { DeploymentID: d.ID }));
  }
  return upsertEvals(txn, evals, nowNs(ctx));
}
