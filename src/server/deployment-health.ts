/**
 * Allocation health for clients that do not watch it themselves (a client without the health
 * watcher, or a test double): running with every task running = healthy, failed = unhealthy. It
 * ignores min_healthy_time; Drover's own client reports DeploymentStatus (null until it knows), and
 * then this steps aside. What the health then does to the deployment is deployment-watcher.ts.
 */
import {
  AllocClientStatusFailed,
  AllocClientStatusRunning,
  DeploymentStatusRunning,
  TaskStateRunning,
} from '../structs/index.js';
import type { WriteTxn } from '../state/index.js';
import type { AllocClientUpdate } from '../structs/index.js';

/**
 * Fills in DeploymentStatus for updates of deployment allocations, and of replacements (migrations), whose
 * health the client did not report.
 */
export function withFallbackHealth(txn: WriteTxn, updates: AllocClientUpdate[], nowMs: number): AllocClientUpdate[] {
  return updates.map((u) => {
    // A client that watches health itself says so with DeploymentStatus (null until it knows).
    if (u.DeploymentStatus !== undefined) return u;
    const a = txn.allocByID(u.ID);
    if (a == null || a.DeploymentStatus?.Healthy != null) return u;
    // A replacement outside any deployment (a drained allocation's new home) needs health for the drainer.
    if (a.DeploymentID ? txn.deploymentByID(a.DeploymentID)?.Status !== DeploymentStatusRunning : !a.PreviousAllocation)
      return u;
    let healthy: boolean | undefined;
    const states = Object.values(u.TaskStates ?? {});
    if (
      u.ClientStatus === AllocClientStatusRunning &&
      states.length > 0 &&
      states.every((t) => t.State === TaskStateRunning)
    )
      healthy = true;
    else if (u.ClientStatus === AllocClientStatusFailed) healthy = false;
    if (healthy === undefined) return u;
    return {
      ...u,
      DeploymentStatus: {
        Healthy: healthy,
        Timestamp: new Date(nowMs).toISOString(),
        Canary: a.DeploymentStatus?.Canary ?? false,
        ModifyIndex: txn.writeIndex,
      },
    };
  });
}
