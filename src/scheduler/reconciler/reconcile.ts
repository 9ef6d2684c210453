/**
 * The reconciler: compares what a job wants (count per group, job version) with the allocations
 * that exist, and says what to place, stop, update in place or replace. It reads nodes only to see
 * which are down or disconnected; it never picks nodes (that is the placement stack's job).
 *
 *   existing alloc ──► terminal? ── already replaced ─────────────────────────► skip
 *        │                 └─ failed ─► reschedule now | later (follow-up eval) | never (kept)
 *        ├─ DesiredTransition.Migrate ─► migrate (stop + place elsewhere)
 *        ├─ node down / gone ──────────► lost (stop as lost + place a replacement; with stop_on_client_after
 *        │                                 the replacement waits until the cut-off client has stopped it)
 *        ├─ node disconnected, or reconnect pending ─► disconnect.ts: unknown (held, replaced) │ reconnecting │ lost
 *        └─ untainted ─► same version: ignore │ in-place update │ destructive update (rolling)
 *   then: too many → stop highest indexes; too few → place with the lowest free names.
 */
import type { Allocation, Evaluation, Job, Node, TaskGroup, UpdateStrategy } from '../../structs/index.js';
import { newJobEvaluation } from '../../structs/index.js';
import {
  AllocClientStatusComplete,
  AllocClientStatusFailed,
  AllocClientStatusLost,
  AllocDesiredStatusEvict,
  AllocDesiredStatusRun,
  disconnectPolicy,
  AllocDesiredStatusStop,
  EvalTriggerRetryFailedAlloc,
  JobTypeBatch,
  JobTypeSysBatch,
  NodeStatusDown,
  allocTerminalStatus,
} from '../../structs/index.js';
import type { SchedulerState } from '../types.js';
import { cancelStaleDeployment, DeploymentPlanner, splitUnneededCanaries } from './deployment.js';
import {
  AllocReconnected,
  classifyDisconnect,
  clientStopDeadlineMs,
  disconnectTimeoutEval,
  markReconnected,
  markUnknown,
  pickReconnectWinner,
} from './disconnect.js';
import { byIndexAsc, byIndexDesc, NameIndex } from './names.js';
import { RescheduleBatchWindowMs, rescheduleDecision } from './reschedule.js';
import {
  AllocLost,
  AllocMigrating,
  AllocNotNeeded,
  AllocUpdating,
  emptyGroupChanges,
  type GroupChanges,
  type PlaceRequest,
  type ReconcileResult,
} from './types.js';
import { sameJobVersion, tasksUpdated } from './update.js';

export interface ReconcileInput {
  job: Job | null;
  namespace: string;
  jobID: string;
  /** Every allocation of the job, terminal ones included. */
  allocs: Allocation[];
  state: SchedulerState;
  eval: Evaluation;
  nowMs: number;
  newID: () => string;
}

interface Buckets {
  untainted: Allocation[];
  migrate: Allocation[];
  lost: Allocation[];
  rescheduleNow: { alloc: Allocation; delayNs: number }[];
  rescheduleLater: { alloc: Allocation; atMs: number }[];
  /** Running on a disconnected node: to be marked unknown in this pass. */
  disconnecting: Allocation[];
  /** Already unknown, within lost_after. */
  unknown: Allocation[];
  /** Unknown until its client reported again from a ready node: original vs replacement to settle. */
  reconnecting: Allocation[];
  /** Lost, but its cut-off client may still run it until it stops it itself (stop_on_client_after). */
  lostLater: { alloc: Allocation; atMs: number }[];
}

interface Ctx extends ReconcileInput {
  job: Job;
  batch: boolean;
  deployments: DeploymentPlanner;
  later: { alloc: Allocation; atMs: number }[];
  /** Disconnect timeout evals of this pass, by due time (Unix ms). */
  timeouts: Map<number, Evaluation>;
  /** Evals that replace lost allocs once their clients have stopped them (stop_on_client_after), by due time. */
  clientStops: Map<number, Evaluation>;
}

export function reconcile(input: ReconcileInput): ReconcileResult {
  const result: ReconcileResult = {
    groups: new Map(),
    deployment: null,
    deploymentChanged: false,
    deploymentUpdates: [],
    followupEvals: [],
  };
  const byGroup = new Map<string, Allocation[]>();
  for (const a of input.allocs) {
    let l = byGroup.get(a.TaskGroup);
    if (!l) byGroup.set(a.TaskGroup, (l = []));
    l.push(a);
  }
  const latest = input.state.latestDeploymentByJobID(input.namespace, input.jobID) ?? null;
  const job = input.job;
  if (!job || job.Stop) {
    const cancel = cancelStaleDeployment(latest, job);
    if (cancel) result.deploymentUpdates.push(cancel);
    for (const [name, allocs] of byGroup) result.groups.set(name, stopAll(allocs, AllocNotNeeded));
    return result;
  }
  const cancel = cancelStaleDeployment(latest, job);
  if (cancel) result.deploymentUpdates.push(cancel);
  const ctx: Ctx = {
    ...input,
    job,
    batch: job.Type === JobTypeBatch || job.Type === JobTypeSysBatch,
    deployments: new DeploymentPlanner(job, cancel ? null : latest, input.newID, input.nowMs),
    later: [],
    timeouts: new Map(),
    clientStops: new Map(),
  };
  for (const tg of job.TaskGroups) {
    const { stale, rest } = splitUnneededCanaries(latest, job, byGroup.get(tg.Name) ?? []);
    const ch = computeGroup(ctx, tg, rest);
    for (const a of stale.filter((x) => x.DesiredStatus === AllocDesiredStatusRun)) {
      ch.stop.push({ alloc: a, description: AllocNotNeeded });
      ch.desired.Stop++;
    }
    result.groups.set(tg.Name, ch);
    byGroup.delete(tg.Name);
  }
  for (const [name, allocs] of byGroup) result.groups.set(name, stopAll(allocs, AllocNotNeeded));
  const dep = ctx.deployments.finish();
  result.deployment = dep.deployment;
  result.deploymentChanged = dep.changed;
  result.followupEvals = [...followupEvals(ctx, result), ...ctx.timeouts.values(), ...ctx.clientStops.values()];
  return result;
}

function stopAll(allocs: Allocation[], description: string): GroupChanges {
  const ch = emptyGroupChanges();
  for (const a of allocs) {
    if (allocTerminalStatus(a)) continue;
    ch.stop.push({ alloc: a, description });
    ch.desired.Stop++;
  }
  return ch;
}

/** Should a terminal allocation count as present (untainted), be skipped, or be considered for reschedule? */
function terminalDisposition(a: Allocation, batch: boolean): 'untainted' | 'skip' | 'reschedule' {
  const stopped = a.DesiredStatus === AllocDesiredStatusStop || a.DesiredStatus === AllocDesiredStatusEvict;
  if (batch) {
    if (stopped) return a.ClientStatus === AllocClientStatusComplete ? 'untainted' : 'skip';
    return a.ClientStatus === AllocClientStatusFailed ? 'reschedule' : 'untainted';
  }
  if (stopped) return 'skip';
  if (a.ClientStatus === AllocClientStatusComplete || a.ClientStatus === AllocClientStatusLost) return 'skip';
  return 'reschedule';
}

function classify(ctx: Ctx, tg: TaskGroup, allocs: Allocation[]): Buckets {
  const b: Buckets = {
    untainted: [],
    migrate: [],
    lost: [],
    rescheduleNow: [],
    rescheduleLater: [],
    disconnecting: [],
    unknown: [],
    reconnecting: [],
    lostLater: [],
  };
  for (const a of allocs) {
    if (allocTerminalStatus(a)) {
      if (a.NextAllocation) continue;
      const until =
        a.ClientStatus === AllocClientStatusLost ? clientStopDeadlineMs(a, ctx.state.nodeByID(a.NodeID)) : undefined;
      if (until !== undefined && until > ctx.nowMs) {
        b.lostLater.push({ alloc: a, atMs: until });
        continue;
      }
      const d = terminalDisposition(a, ctx.batch);
      if (d === 'skip') continue;
      if (d === 'untainted') {
        b.untainted.push(a);
        continue;
      }
      const r = rescheduleDecision(ctx.job, tg, a, ctx.nowMs);
      if (r.kind === 'now') b.rescheduleNow.push({ alloc: a, delayNs: r.delayNs });
      else {
        b.untainted.push(a);
        if (r.kind === 'later' && !a.FollowupEvalID) b.rescheduleLater.push({ alloc: a, atMs: r.atMs });
      }
      continue;
    }
    if (a.DesiredTransition?.Migrate) {
      b.migrate.push(a);
      continue;
    }
    const node = ctx.state.nodeByID(a.NodeID);
    if (!node || node.Status === NodeStatusDown) {
      lost(ctx, b, a, node);
      continue;
    }
    const d = classifyDisconnect(a, node, ctx.nowMs);
    if (d === 'lost') lost(ctx, b, a, node);
    else if (d) b[d].push(a);
    else b.untainted.push(a);
  }
  return b;
}

/** A lost alloc is replaced now, or (stop_on_client_after) only once its client has surely stopped it. */
function lost(ctx: Ctx, b: Buckets, a: Allocation, node: Node | undefined): void {
  const until = clientStopDeadlineMs(a, node);
  if (until !== undefined && until > ctx.nowMs) b.lostLater.push({ alloc: a, atMs: until });
  else b.lost.push(a);
}

function computeGroup(ctx: Ctx, tg: TaskGroup, allocs: Allocation[]): GroupChanges {
  const ch = emptyGroupChanges();
  const b = classify(ctx, tg, allocs);
  for (const a of b.lost) {
    ch.stop.push({ alloc: a, description: AllocLost, clientStatus: AllocClientStatusLost });
    ch.desired.Stop++;
  }
  holdLostLater(ctx, ch, b);
  const disc = settleDisconnects(ctx, tg, ch, b);
  ctx.later.push(...b.rescheduleLater);
  ch.desired.RescheduleLater = b.rescheduleLater.length;

  const current: Allocation[] = [];
  const inplace: Allocation[] = [];
  let destructive: Allocation[] = [];
  for (const a of b.untainted) {
    if (sameJobVersion(a.Job, ctx.job)) current.push(a);
    // A failed alloc that will not be rescheduled holds its slot only for its own spec: a new version (or a
    // revert) replaces it like any destructive update, as Nomad does, or the rollout could never finish.
    else if (
      allocTerminalStatus(a) &&
      !(a.ClientStatus === AllocClientStatusFailed && tasksUpdated(a.Job, ctx.job, tg.Name))
    )
      current.push(a);
    else if (tasksUpdated(a.Job, ctx.job, tg.Name)) destructive.push(a);
    else inplace.push(a);
  }
  const strategy = ctx.batch ? null : activeStrategy(tg);
  const dg = ctx.deployments.group(tg, strategy, {
    hadCurrent: allocs.some((a) => sameJobVersion(a.Job, ctx.job)),
    updating: destructive.length + inplace.length > 0,
  });
  const canaries = dg.promoted ? [] : current.filter((a) => a.DeploymentStatus?.Canary && dg.isOwn(a));
  const regular = current.filter((a) => !canaries.includes(a));
  if (dg.promoted) destructive = stopReplacedByCanaries(ch, current, destructive, dg.isOwn);
  const requireCanary = strategy !== null && strategy.Canary > 0 && destructive.length > 0 && !dg.promoted;

  const names = new NameIndex(ctx.job.ID, tg.Name, tg.Count);
  for (const a of [...regular, ...inplace, ...destructive, ...canaries, ...b.migrate, ...b.lost])
    names.markUsed(a.Name);
  for (const r of b.rescheduleNow) names.markUsed(r.alloc.Name);
  for (const a of [...disc.replace, ...disc.held, ...b.lostLater.map((l) => l.alloc)]) names.markUsed(a.Name);

  const keepers = [...regular, ...inplace, ...destructive];
  // A lost alloc whose name another allocation already holds was replaced before (while it was unknown).
  const replaceLost = (tg.PreventRescheduleOnLost ? [] : b.lost.filter((a) => !disc.taken.has(a.Name))).concat(
    disc.replace,
  );
  const kept = trimToCount(
    ch,
    tg.Count,
    keepers,
    b.migrate,
    b.rescheduleNow,
    replaceLost,
    new Set(inplace.concat(destructive)),
  );
  placeReplacements(ch, tg, kept);
  // Lost allocs that may not be replaced still hold their names (prevent_reschedule_on_lost).
  const heldLost = tg.PreventRescheduleOnLost ? b.lost.length : kept.lost.length;
  const present =
    kept.keepers.length +
    kept.migrate.length +
    kept.rescheduleNow.length +
    heldLost +
    disc.held.length +
    b.lostLater.length;
  for (const name of names.next(Math.max(0, tg.Count - present))) {
    ch.place.push(placeRequest(name, tg.Name));
    ch.desired.Place++;
  }
  const stillDestructive = destructive.filter((a) => kept.keepers.includes(a));
  const stillInplace = inplace.filter((a) => kept.keepers.includes(a));
  if (requireCanary) placeCanaries(ch, tg, strategy!, canaries, stillDestructive, names, dg);
  else rollDestructive(ch, tg, stillDestructive, dg.destructiveLimit(allocs, strategy));
  ch.inplace = stillInplace;
  ch.desired.InPlaceUpdate += stillInplace.length;
  ch.desired.Ignore +=
    kept.keepers.filter((a) => !inplace.includes(a) && !destructive.includes(a)).length + canaries.length;
  return ch;
}

/**
 * Lost allocs whose client stops them itself (stop_on_client_after) hold their names until then: they are
 * marked lost now (once), and a follow-up eval at that time places their replacements.
 */
function holdLostLater(ctx: Ctx, ch: GroupChanges, b: Buckets): void {
  for (const { alloc, atMs } of b.lostLater) {
    // Already marked, with its eval pending (an eval that is that one, run early, schedules another).
    if (alloc.FollowupEvalID && allocTerminalStatus(alloc) && alloc.FollowupEvalID !== ctx.eval.ID) continue;
    let ev = ctx.clientStops.get(atMs);
    if (!ev) ctx.clientStops.set(atMs, (ev = followupEval(ctx, atMs)));
    ch.stop.push({
      alloc: { ...alloc, FollowupEvalID: ev.ID },
      description: AllocLost,
      clientStatus: AllocClientStatusLost,
    });
    if (!allocTerminalStatus(alloc)) ch.desired.Stop++;
  }
}

interface Disconnects {
  /** Unknown allocations with no replacement yet, to be replaced (their names are reused). */
  replace: Allocation[];
  /** Unknown allocations that stand in for themselves (replace = false): they count toward the group. */
  held: Allocation[];
  /** Names held by live (or about to be rescheduled) allocations of the group. */
  taken: Set<string>;
}

/**
 * Settles this group's disconnect buckets: reconnecting originals against their replacements (the loser
 * stops), newly disconnected allocs marked unknown (with a timeout eval at lost_after), and which unknown
 * allocs need a replacement. Winners of a reconnect join `b.untainted`; replaced unknowns count no more.
 */
function settleDisconnects(ctx: Ctx, tg: TaskGroup, ch: GroupChanges, b: Buckets): Disconnects {
  for (const o of b.reconnecting) {
    const rivals = b.untainted.filter((x) => x.Name === o.Name && !allocTerminalStatus(x));
    const rival = rivals[0];
    const winner = rival === undefined ? o : pickReconnectWinner(tg, o, rival);
    if (winner !== o) {
      ch.stop.push({ alloc: o, description: AllocReconnected });
      ch.desired.Stop++;
      continue;
    }
    for (const r of rivals) {
      ch.stop.push({ alloc: r, description: AllocReconnected });
      ch.desired.Stop++;
    }
    b.untainted = b.untainted.filter((x) => !rivals.includes(x));
    const back = markReconnected(o, ctx.nowMs);
    ch.attributeUpdates.push(back);
    b.untainted.push(back);
    ch.desired.Reconnect = (ch.desired.Reconnect ?? 0) + 1;
  }
  const unknown = b.unknown.slice();
  for (const a of b.disconnecting) {
    const atMs = ctx.nowMs + disconnectPolicy(tg).lostAfterNs / 1_000_000;
    let ev = ctx.timeouts.get(atMs);
    if (!ev)
      ctx.timeouts.set(
        atMs,
        (ev = disconnectTimeoutEval(ctx.job, ctx.jobID, ctx.namespace, ctx.eval.ID, ctx.newID(), ctx.nowMs, atMs)),
      );
    const marked = markUnknown(a, ctx.nowMs, ev.ID);
    ch.attributeUpdates.push(marked);
    ch.desired.Disconnect = (ch.desired.Disconnect ?? 0) + 1;
    unknown.push(marked);
  }
  // An unknown alloc is replaced while another allocation holds its name (its replacement, or that one's).
  const live = b.untainted.filter((a) => !allocTerminalStatus(a));
  const taken = new Set([
    ...live.map((a) => a.Name),
    ...b.migrate.map((a) => a.Name),
    ...b.rescheduleNow.map((r) => r.alloc.Name),
  ]);
  const out: Disconnects = { replace: [], held: [], taken };
  const replace = disconnectPolicy(tg).replace;
  for (const a of unknown) {
    if (taken.has(a.Name)) continue;
    (replace ? out.replace : out.held).push(a);
  }
  return out;
}

function activeStrategy(tg: TaskGroup): UpdateStrategy | null {
  const u = tg.Update;
  return u && u.MaxParallel > 0 ? u : null;
}

function placeRequest(name: string, group: string, extra: Partial<PlaceRequest> = {}): PlaceRequest {
  return { name, group, previous: null, reschedule: null, canary: false, stopPrevious: null, ...extra };
}

/** After promotion, the old allocations whose names the canaries took are stopped. */
function stopReplacedByCanaries(
  ch: GroupChanges,
  current: Allocation[],
  destructive: Allocation[],
  isOwn: (a: Allocation) => boolean,
): Allocation[] {
  const canaryNames = new Set(current.filter((a) => a.DeploymentStatus?.Canary && isOwn(a)).map((a) => a.Name));
  const rest: Allocation[] = [];
  for (const a of destructive) {
    if (canaryNames.has(a.Name)) {
      ch.stop.push({ alloc: a, description: AllocNotNeeded });
      ch.desired.Stop++;
    } else rest.push(a);
  }
  return rest;
}

interface Kept {
  keepers: Allocation[];
  migrate: Allocation[];
  rescheduleNow: { alloc: Allocation; delayNs: number }[];
  lost: Allocation[];
}

/**
 * When more allocations exist than the count: drop replacements first (lost, rescheduled,
 * migrating), then stop running allocations, old versions and highest indexes first.
 */
function trimToCount(
  ch: GroupChanges,
  count: number,
  keepers: Allocation[],
  migrate: Allocation[],
  rescheduleNow: Kept['rescheduleNow'],
  lost: Allocation[],
  oldVersion: Set<Allocation>,
): Kept {
  const k: Kept = {
    keepers: keepers.slice(),
    migrate: migrate.slice(),
    rescheduleNow: rescheduleNow.slice(),
    lost: lost.slice(),
  };
  let excess = k.keepers.length + k.migrate.length + k.rescheduleNow.length + k.lost.length - count;
  while (excess > 0 && k.lost.length > 0) {
    k.lost.pop();
    excess--;
  }
  while (excess > 0 && k.rescheduleNow.length > 0) {
    k.rescheduleNow.pop();
    excess--;
  }
  while (excess > 0 && k.migrate.length > 0) {
    ch.stop.push({ alloc: k.migrate.pop()!, description: AllocNotNeeded });
    ch.desired.Stop++;
    excess--;
  }
  if (excess <= 0) return k;
  const candidates = k.keepers
    .filter((a) => !allocTerminalStatus(a))
    .sort((a, b) => (oldVersion.has(a) === oldVersion.has(b) ? byIndexDesc(a, b) : oldVersion.has(a) ? -1 : 1));
  const stopped = new Set<Allocation>();
  for (const a of candidates) {
    if (excess <= 0) break;
    ch.stop.push({ alloc: a, description: AllocNotNeeded });
    ch.desired.Stop++;
    stopped.add(a);
    excess--;
  }
  k.keepers = k.keepers.filter((a) => !stopped.has(a));
  return k;
}

function placeReplacements(ch: GroupChanges, tg: TaskGroup, k: Kept): void {
  for (const a of k.migrate) {
    // A migrating alloc is stopped even when no replacement fits: its node is going away.
    ch.stop.push({ alloc: a, description: AllocMigrating });
    ch.place.push(placeRequest(a.Name, tg.Name, { previous: a }));
    ch.desired.Migrate++;
  }
  for (const r of k.rescheduleNow) {
    ch.place.push(placeRequest(r.alloc.Name, tg.Name, { previous: r.alloc, reschedule: { delayNs: r.delayNs } }));
    ch.desired.Place++;
    ch.desired.RescheduleNow!++;
  }
  for (const a of k.lost) {
    ch.place.push(placeRequest(a.Name, tg.Name, { previous: a }));
    ch.desired.Place++;
  }
}

function placeCanaries(
  ch: GroupChanges,
  tg: TaskGroup,
  strategy: UpdateStrategy,
  canaries: Allocation[],
  destructive: Allocation[],
  names: NameIndex,
  dg: { requireCanaries(n: number): void },
): void {
  dg.requireCanaries(strategy.Canary);
  const need = strategy.Canary - canaries.length;
  const taken = new Set(canaries.map((a) => a.Name));
  const fromOld = [
    ...new Set(
      destructive
        .slice()
        .sort(byIndexAsc)
        .map((a) => a.Name),
    ),
  ].filter((n) => !taken.has(n));
  const chosen = fromOld.slice(0, Math.max(0, need));
  if (chosen.length < need) chosen.push(...names.next(need - chosen.length));
  for (const name of chosen) {
    ch.place.push(placeRequest(name, tg.Name, { canary: true }));
    ch.desired.Canary++;
  }
  ch.desired.Ignore += destructive.length;
}

function rollDestructive(ch: GroupChanges, tg: TaskGroup, destructive: Allocation[], limit: number): void {
  const ordered = destructive.slice().sort(byIndexAsc);
  for (const [i, a] of ordered.entries()) {
    if (i < limit) {
      ch.place.push(placeRequest(a.Name, tg.Name, { previous: a, stopPrevious: AllocUpdating }));
      ch.desired.DestructiveUpdate++;
    } else ch.desired.Ignore++;
  }
}

/** One pending eval per batch of failures whose reschedule times are close together. */
function followupEvals(ctx: Ctx, result: ReconcileResult): Evaluation[] {
  const later = ctx.later.slice().sort((a, b) => a.atMs - b.atMs);
  const evals: Evaluation[] = [];
  let i = 0;
  while (i < later.length) {
    const start = later[i]!.atMs;
    let j = i;
    while (j < later.length && later[j]!.atMs - start <= RescheduleBatchWindowMs) j++;
    const batch = later.slice(i, j);
    const ev = followupEval(ctx, later[j - 1]!.atMs); // j > i: later[i] itself is within the window
    evals.push(ev);
    for (const { alloc } of batch) {
      const ch = result.groups.get(alloc.TaskGroup);
      ch?.attributeUpdates.push({ ...alloc, FollowupEvalID: ev.ID });
    }
    i = j;
  }
  return evals;
}

function followupEval(ctx: Ctx, atMs: number): Evaluation {
  return newJobEvaluation(
    { ...ctx.job, ID: ctx.jobID, Namespace: ctx.namespace },
    EvalTriggerRetryFailedAlloc,
    ctx.nowMs * 1_000_000,
    {
      ID: ctx.newID(),
      StatusDescription: 'created for delayed rescheduling',
      WaitUntil: new Date(atMs).toISOString(),
      PreviousEval: ctx.eval.ID,
    },
  );
}
