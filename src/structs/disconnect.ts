/**
 * A task group's behaviour when its client stops heartbeating (Nomad's `disconnect` block and the older
 * `max_client_disconnect` / `stop_after_client_disconnect`), and the allocation-side record of a disconnect.
 *
 *   running ──(node disconnected)──► unknown ──(client back within lost_after)──► running (reconnected)
 *                                       └──(lost_after passes)──► lost
 */
import type { Allocation, AllocState } from './alloc.js';
import type { TaskGroup } from './job.js';

export const AllocStateFieldClientStatus = 'ClientStatus';

export const ReconcileBestScore = 'best_score';
export const ReconcileKeepOriginal = 'keep_original';
export const ReconcileKeepReplacement = 'keep_replacement';
export const ReconcileLongestRunning = 'longest_running';

export interface DisconnectPolicy {
  /** How long an unreachable node's allocations stay `unknown` before they are lost (ns; 0: lost at once). */
  lostAfterNs: number;
  /** How long a client that cannot reach the servers keeps these allocations running (ns; 0: forever). */
  stopOnClientAfterNs: number;
  /** Place a replacement while the original is unknown. */
  replace: boolean;
  reconcile: string;
}

/** The group's disconnect settings; the disconnect block wins over the older group-level fields. */
export function disconnectPolicy(
  tg: Pick<TaskGroup, 'Disconnect' | 'MaxClientDisconnect' | 'StopAfterClientDisconnect'> | undefined,
): DisconnectPolicy {
  const d = tg?.Disconnect;
  return {
    lostAfterNs: (d?.LostAfter || tg?.MaxClientDisconnect) ?? 0,
    stopOnClientAfterNs: (d?.StopOnClientAfter || tg?.StopAfterClientDisconnect) ?? 0,
    replace: d?.Replace ?? true,
    reconcile: d?.Reconcile || ReconcileBestScore,
  };
}

/** The policy of the group this allocation was placed for (its own job version). */
export function allocDisconnectPolicy(a: Pick<Allocation, 'Job' | 'TaskGroup'>): DisconnectPolicy {
  return disconnectPolicy(a.Job?.TaskGroups.find((g) => g.Name === a.TaskGroup));
}

function lastClientStatusState(a: Pick<Allocation, 'AllocStates'>): AllocState | undefined {
  return a.AllocStates?.findLast((s) => s.Field === AllocStateFieldClientStatus);
}

/** When the server last marked the allocation unknown and has not seen it reconnect since (Unix ms), else undefined. */
export function allocUnknownSinceMs(a: Pick<Allocation, 'AllocStates'>): number | undefined {
  const s = lastClientStatusState(a);
  if (s?.Value !== 'unknown') return undefined;
  const t = Date.parse(s.Time);
  return Number.isFinite(t) ? t : undefined;
}

/** The allocation was disconnected and its reconnection has not been reconciled yet (Nomad's NeedsToReconnect). */
export function allocNeedsToReconnect(a: Pick<Allocation, 'AllocStates'>): boolean {
  return allocUnknownSinceMs(a) !== undefined;
}

/** An allocation's states with one more ClientStatus transition recorded. */
export function withClientStatusState(a: Pick<Allocation, 'AllocStates'>, value: string, nowMs: number): AllocState[] {
  return [
    ...(a.AllocStates ?? []),
    { Field: AllocStateFieldClientStatus, Value: value, Time: new Date(nowMs).toISOString() },
  ];
}
