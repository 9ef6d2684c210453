/**
 * Allocations of disconnected clients (Nomad's `disconnect` block / `max_client_disconnect`).
 *
 *   node disconnected, alloc running ──► disconnecting: marked unknown now, a timeout eval at + lost_after,
 *                                        and (replace = true) a replacement with the same name elsewhere
 *   alloc unknown, within lost_after ──► held: keeps its name; counts toward the group only without a replacement
 *   alloc unknown, lost_after passed ──► lost (stopped as lost, as on a down node)
 *   node ready again, alloc reported ──► reconnecting: original vs replacement, by `reconcile`; the loser stops
 */
import type { Allocation, Evaluation, Job, Node, TaskGroup } from '../../structs/index.js';
import {
  AllocClientStatusRunning,
  AllocClientStatusUnknown,
  EvalTriggerMaxDisconnectTimeout,
  NodeStatusDisconnected,
  NodeStatusDown,
  NS_PER_MS,
  ReconcileKeepOriginal,
  ReconcileKeepReplacement,
  ReconcileLongestRunning,
  allocDisconnectPolicy,
  allocNeedsToReconnect,
  allocUnknownSinceMs,
  disconnectPolicy,
  newJobEvaluation,
  withClientStatusState,
} from '../../structs/index.js';

export const AllocUnknown = 'alloc is unknown since its node is disconnected';
export const AllocReconnected = 'alloc not needed due to disconnected client reconnect';
export const DisconnectTimeoutEvalDesc = 'created for delayed disconnect timeout';

/** Where a live allocation stands with respect to a disconnect; null when the disconnect logic does not apply. */
export type DisconnectClass = 'disconnecting' | 'unknown' | 'reconnecting' | 'lost';

/** True when the allocation's unknown period (lost_after from when it was marked unknown) has run out. */
export function disconnectExpired(a: Allocation, nowMs: number): boolean {
  const since = allocUnknownSinceMs(a);
  if (since === undefined) return false;
  const lostAfterMs = allocDisconnectPolicy(a).lostAfterNs / NS_PER_MS;
  return lostAfterMs <= 0 || since + lostAfterMs <= nowMs;
}

/**
 * Classifies a live (not terminal) allocation on a node that is disconnected, or on a ready node while its
 * reconnect is pending; null for everything else (normal handling). Groups without lost_after are lost on a
 * disconnected node, exactly as on a down one.
 */
export function classifyDisconnect(a: Allocation, node: Node, nowMs: number): DisconnectClass | null {
  if (node.Status === NodeStatusDisconnected) {
    if (allocDisconnectPolicy(a).lostAfterNs <= 0) return 'lost';
    if (a.ClientStatus === AllocClientStatusUnknown) return disconnectExpired(a, nowMs) ? 'lost' : 'unknown';
    return a.ClientStatus === AllocClientStatusRunning ? 'disconnecting' : 'lost';
  }
  if (!allocNeedsToReconnect(a)) return null;
  if (disconnectExpired(a, nowMs)) return 'lost';
  // Back on a ready node but its client has not reported yet: keep holding it.
  return a.ClientStatus === AllocClientStatusUnknown ? 'unknown' : 'reconnecting';
}

/** Nomad's default kill_timeout, the least a client takes to stop a task. */
const DefaultKillTimeoutMs = 5000;

/**
 * Until when (Unix ms) a lost allocation may still run on its cut-off client, which stops it by itself after
 * stop_on_client_after (plus the time its tasks take to die): its replacement waits until then, so the work
 * never runs twice. Undefined when nothing needs waiting for (no stop_on_client_after, or the node is back).
 */
export function clientStopDeadlineMs(a: Allocation, node: Node | undefined): number | undefined {
  if (!node || (node.Status !== NodeStatusDown && node.Status !== NodeStatusDisconnected)) return undefined;
  const stopMs = allocDisconnectPolicy(a).stopOnClientAfterNs / NS_PER_MS;
  if (stopMs <= 0) return undefined;
  let killMs = DefaultKillTimeoutMs;
  for (const t of a.Job?.TaskGroups.find((g) => g.Name === a.TaskGroup)?.Tasks ?? [])
    killMs = Math.max(killMs, (t.KillTimeout ?? 0) / NS_PER_MS);
  return (node.StatusUpdatedAt ?? 0) * 1000 + stopMs + killMs;
}

/** The plan's copy of an allocation the scheduler now marks unknown, pointing at its timeout eval. */
export function markUnknown(a: Allocation, nowMs: number, followupEvalID: string): Allocation {
  return {
    ...a,
    ClientStatus: AllocClientStatusUnknown,
    ClientDescription: AllocUnknown,
    AllocStates: withClientStatusState(a, AllocClientStatusUnknown, nowMs),
    FollowupEvalID: followupEvalID,
    ModifyTime: nowMs * NS_PER_MS,
  };
}

/** The reconnected allocation, its reconnect recorded so later passes treat it as an ordinary one. */
export function markReconnected(a: Allocation, nowMs: number): Allocation {
  return { ...a, AllocStates: withClientStatusState(a, a.ClientStatus, nowMs), ModifyTime: nowMs * NS_PER_MS };
}

/** The eval that turns still-unknown allocations lost once lost_after has passed. */
export function disconnectTimeoutEval(
  job: Job,
  jobID: string,
  namespace: string,
  prevEvalID: string,
  id: string,
  nowMs: number,
  atMs: number,
): Evaluation {
  return newJobEvaluation(
    { ...job, ID: jobID, Namespace: namespace },
    EvalTriggerMaxDisconnectTimeout,
    nowMs * NS_PER_MS,
    {
      ID: id,
      StatusDescription: DisconnectTimeoutEvalDesc,
      WaitUntil: new Date(atMs).toISOString(),
      PreviousEval: prevEvalID,
    },
  );
}

/** The normalised placement score of an allocation on its node (Nomad keeps it in the alloc's metrics). */
export function placementScore(a: Allocation): number {
  const metas = a.Metrics?.ScoreMetaData ?? [];
  const own = metas.find((m) => m.NodeID === a.NodeID);
  if (own) return own.NormScore;
  return metas.reduce((best, m) => Math.max(best, m.NormScore), Number.NEGATIVE_INFINITY);
}

/** Since when the allocation has run without interruption: its latest task start (Unix ms; Infinity if never). */
export function runningSinceMs(a: Allocation): number {
  let latest = Number.NEGATIVE_INFINITY;
  for (const s of Object.values(a.TaskStates ?? {})) {
    const t = s.StartedAt ? Date.parse(s.StartedAt) : NaN;
    const restarted = s.LastRestart ? Date.parse(s.LastRestart) : NaN;
    for (const v of [t, restarted]) if (Number.isFinite(v) && v > latest) latest = v;
  }
  return latest === Number.NEGATIVE_INFINITY ? Number.POSITIVE_INFINITY : latest;
}

/** Which of a reconnecting original and its replacement keeps running, by the group's `reconcile` mode. */
export function pickReconnectWinner(
  tg: TaskGroup | undefined,
  original: Allocation,
  replacement: Allocation,
): Allocation {
  const mode = tg ? disconnectPolicy(tg).reconcile : allocDisconnectPolicy(original).reconcile;
  switch (mode) {
    case ReconcileKeepOriginal:
      return original;
    case ReconcileKeepReplacement:
      return replacement;
    case ReconcileLongestRunning:
      // Ties go to the original: it needs no new work.
      return runningSinceMs(replacement) < runningSinceMs(original) ? replacement : original;
    default:
      return placementScore(replacement) > placementScore(original) ? replacement : original;
  }
}
