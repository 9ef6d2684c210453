/**
 * Node drain and eligibility, as Nomad's node drainer does them.
 *
 *   drain -enable ─► DrainStrategy set, node ineligible ─► drainer steps on every alloc/node change:
 *     service groups: mark DesiredTransition.Migrate on at most what keeps (count - max_parallel)
 *                     healthy allocations of the group running (healthy: running, and the deployment
 *                     health when a health watcher set it) ─► node-drain evals ─► scheduler replaces
 *     batch allocs:   left to finish until the deadline
 *     system allocs:  marked last, once nothing else is left (unless IgnoreSystemJobs)
 *     deadline passed (or -force): everything left is marked at once
 *   nothing left ─► DrainStrategy cleared (node stays ineligible), event "Node drain complete"
 *   drain -disable ─► DrainStrategy cleared; MarkEligible makes the node eligible again
 */
import {
  allocTerminalStatus,
  AllocClientStatusRunning,
  AllocDesiredStatusRun,
  EvalTriggerNodeDrain,
  EvalTriggerNodeUpdate,
  JobTypeBatch,
  JobTypeSysBatch,
  JobTypeSystem,
  NodeSchedulingEligible,
  NodeSchedulingIneligible,
  type Allocation,
  type DrainStrategy,
  type Evaluation,
  type Job,
  type Node,
  type NodeEvent,
} from '../structs/index.js';
import { upsertAllocs, upsertEvals, type StateView, type TableName, type WriteTxn } from '../state/index.js';
import { badRequest, nodeNotFound } from '../errors/index.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';
import type { NodeDrainRequest, NodeUpdateResult } from './types.js';

/** Nomad keeps the last 10 events of a node. */
const MAX_NODE_EVENTS = 10;
const ZERO_TIME = '0001-01-01T00:00:00Z';

function withEvent(
  node: Node,
  message: string,
  index: number,
  nowMs: number,
  details: Record<string, string> | null = null,
): Node {
  const ev: NodeEvent = {
    Message: message,
    Subsystem: 'Drain',
    Details: details,
    Timestamp: new Date(nowMs).toISOString(),
    CreateIndex: index,
  };
  return { ...node, Events: [...(node.Events ?? []), ev].slice(-MAX_NODE_EVENTS) };
}

function putNode(txn: WriteTxn, node: Node): Node {
  const next = { ...node, ModifyIndex: txn.writeIndex };
  txn.put('nodes', next);
  return next;
}

/** Node-update evals for every job with live work on the node, plus system jobs (they follow eligibility). */
function nodeJobEvals(ctx: ServerContext, view: StateView, node: Node, trigger: string): Evaluation[] {
  const jobs = new Map<string, Job>();
  for (const a of view.allocsByNode(node.ID)) {
    if (allocTerminalStatus(a)) continue;
    const j = view.jobByID(a.Namespace, a.JobID);
    if (j && !j.Stop) jobs.set(`${j.Namespace}\u0000${j.ID}`, j);
  }
  for (const j of view.jobs())
    if ((j.Type === JobTypeSystem || j.Type === JobTypeSysBatch) && !j.Stop) jobs.set(`${j.Namespace}\u0000${j.ID}`, j);
  return [...jobs.values()].map((j) =>
    newEval(ctx, j, trigger, { NodeID: node.ID, NodeModifyIndex: node.ModifyIndex }),
  );
}

function result(evals: Evaluation[], node: Node | undefined, index: number): NodeUpdateResult {
  return {
    EvalIDs: evals.length > 0 ? evals.map((e) => e.ID) : null,
    EvalCreateIndex: evals[0]?.CreateIndex ?? 0,
    NodeModifyIndex: node?.ModifyIndex ?? index,
    Index: index,
  };
}

function afterNodeWrite(ctx: ServerContext, node: Node | undefined, evals: Evaluation[], index: number): void {
  if (node?.SchedulingEligibility === NodeSchedulingEligible && node.DrainStrategy == null && node.ComputedClass)
    ctx.blocked.unblock(node.ComputedClass, index);
  for (const ev of evals) routeEval(ctx, ev);
}

/** `POST /v1/node/:id/evaluate`: node-update evaluations of every job with work on the node (Nomad's Node.Evaluate). */
export async function nodeEvaluate(ctx: ServerContext, nodeID: string): Promise<NodeUpdateResult> {
  const { result: r, index } = await ctx.store.write((txn) => {
    const node = txn.nodeByID(nodeID);
    if (node == null) throw nodeNotFound(nodeID);
    return { node, evals: upsertEvals(txn, nodeJobEvals(ctx, txn, node, EvalTriggerNodeUpdate), nowNs(ctx)) };
  });
  for (const ev of r.evals) routeEval(ctx, ev);
  return result(r.evals, r.node, index);
}

/** `POST /v1/node/:id/drain`: starts (DrainSpec) or ends (null) a drain. */
export async function nodeUpdateDrain(
  ctx: ServerContext,
  nodeID: string,
  req: NodeDrainRequest,
): Promise<NodeUpdateResult> {
  const given = req.DrainSpec ?? null;
  if (given != null && (typeof given !== 'object' || Array.isArray(given)))
    throw badRequest('DrainSpec must be an object');
  // As Nomad (a Go zero value): a spec without Deadline drains with no deadline.
  if (
    given != null &&
    given.Deadline != null &&
    (typeof given.Deadline !== 'number' || !Number.isFinite(given.Deadline))
  )
    throw badRequest('DrainSpec.Deadline must be a number of nanoseconds');
  if (given != null && given.IgnoreSystemJobs != null && typeof given.IgnoreSystemJobs !== 'boolean')
    throw badRequest('DrainSpec.IgnoreSystemJobs must be a boolean');
  const spec =
    given == null ? null : { Deadline: given.Deadline ?? 0, IgnoreSystemJobs: given.IgnoreSystemJobs ?? false };
  const now = ctx.clock.now();
  const { result: r, index } = await ctx.store.write((txn) => {
    const prev = txn.nodeByID(nodeID);
    if (prev == null) throw nodeNotFound(nodeID);
    let next: Node;
    let evals: Evaluation[] = [];
    if (spec != null) {
      const force = spec.Deadline < 0;
      const strategy: DrainStrategy = {
        Deadline: force ? -1 : spec.Deadline,
        IgnoreSystemJobs: spec.IgnoreSystemJobs ?? false,
        ForceDeadline: force
          ? new Date(now).toISOString()
          : spec.Deadline > 0
            ? new Date(now + spec.Deadline / 1e6).toISOString()
            : ZERO_TIME,
        StartedAt: prev.DrainStrategy?.StartedAt ?? new Date(now).toISOString(),
      };
      next = withEvent(
        { ...prev, DrainStrategy: strategy, Drain: true, SchedulingEligibility: NodeSchedulingIneligible },
        'Node drain strategy set',
        txn.writeIndex,
        now,
      );
    } else {
      const eligible = req.MarkEligible ? NodeSchedulingEligible : prev.SchedulingEligibility;
      next = withEvent(
        { ...prev, DrainStrategy: null, Drain: false, SchedulingEligibility: eligible },
        'Node drain disabled',
        txn.writeIndex,
        now,
      );
      if (eligible === NodeSchedulingEligible && prev.SchedulingEligibility !== NodeSchedulingEligible)
        evals = nodeJobEvals(ctx, txn, next, EvalTriggerNodeUpdate);
    }
    const stored = putNode(txn, next);
    return { stored, evals: upsertEvals(txn, evals, nowNs(ctx)) };
  });
  afterNodeWrite(ctx, r.stored, r.evals, index);
  ctx.logger.info(spec ? 'node drain started' : 'node drain stopped', { node_id: nodeID, deadline_ns: spec?.Deadline });
  return result(r.evals, r.stored, index);
}

/** `POST /v1/node/:id/eligibility`. */
export async function nodeUpdateEligibility(
  ctx: ServerContext,
  nodeID: string,
  eligibility: string,
): Promise<NodeUpdateResult> {
  if (eligibility !== NodeSchedulingEligible && eligibility !== NodeSchedulingIneligible) {
    throw badRequest(
      `Eligibility must be "${NodeSchedulingEligible}" or "${NodeSchedulingIneligible}", got "${eligibility}"`,
    );
  }
  const { result: r, index } = await ctx.store.write((txn) => {
    const prev = txn.nodeByID(nodeID);
    if (prev == null) throw nodeNotFound(nodeID);
    if (prev.DrainStrategy != null && eligibility === NodeSchedulingEligible)
      throw badRequest('can not set a node eligible while it is draining: disable the drain first');
    if (prev.SchedulingEligibility === eligibility) return { stored: prev, evals: [] as Evaluation[] };
    const msg =
      eligibility === NodeSchedulingEligible
        ? 'Node marked as eligible for scheduling'
        : 'Node marked as ineligible for scheduling';
    const stored = putNode(txn, {
      ...withEvent(prev, msg, txn.writeIndex, ctx.clock.now()),
      SchedulingEligibility: eligibility,
    });
    // Becoming eligible may let blocked work and system jobs land here.
    const evals =
      eligibility === NodeSchedulingEligible
        ? upsertEvals(txn, nodeJobEvals(ctx, txn, stored, EvalTriggerNodeUpdate), nowNs(ctx))
        : [];
    return { stored, evals };
  });
  afterNodeWrite(ctx, r.stored, r.evals, index);
  return result(r.evals, r.stored, index);
}

/**
 * Healthy from a migration's point of view: running, wanted, not leaving, and healthy. A replacement
 * (a drained allocation's new home) or a deployment's allocation has its health watched by its client
 * (the migrate block: checks and min_healthy_time), so only a reported Healthy counts; merely running
 * would let the next batch leave before the last one can serve. Others (running before the drain) count
 * unless reported unhealthy.
 */
function migrationHealthy(a: Allocation): boolean {
  if (
    a.ClientStatus !== AllocClientStatusRunning ||
    a.DesiredStatus !== AllocDesiredStatusRun ||
    a.DesiredTransition?.Migrate
  )
    return false;
  const watched = Boolean(a.PreviousAllocation) || Boolean(a.DeploymentID);
  return watched ? a.DeploymentStatus?.Healthy === true : a.DeploymentStatus?.Healthy !== false;
}

function deadlinePassed(s: DrainStrategy, nowMs: number): boolean {
  if (s.Deadline < 0) return true;
  if (s.Deadline === 0 || !s.ForceDeadline || s.ForceDeadline === ZERO_TIME) return false;
  return Date.parse(s.ForceDeadline) <= nowMs;
}

/** What one pass of the drainer decides: allocs to mark and nodes whose drain is complete. */
export interface DrainDecision {
  migrate: Allocation[];
  done: string[];
}

/** The allocations of a service group on draining nodes that may be migrated now (max_parallel). */
function serviceGroupBatch(view: StateView, job: Job, group: string, draining: Set<string>): Allocation[] {
  const tg = job.TaskGroups.find((g) => g.Name === group);
  const maxParallel = Math.max(1, tg?.Migrate?.MaxParallel ?? job.Migrate?.MaxParallel ?? 1);
  let healthy = 0;
  const drainable: Allocation[] = [];
  for (const a of view.allocsByJob(job.Namespace, job.ID)) {
    if (a.TaskGroup !== group) continue;
    if (migrationHealthy(a)) healthy++;
    if (!draining.has(a.NodeID) || allocTerminalStatus(a) || a.DesiredTransition?.Migrate) continue;
    drainable.push(a);
  }
  // Keep (count - max_parallel) healthy allocations running at all times.
  const n = Math.min(drainable.length, healthy - ((tg?.Count ?? 0) - maxParallel));
  return n > 0 ? drainable.sort((a, b) => a.CreateIndex - b.CreateIndex).slice(0, n) : [];
}

/** One pass over every draining node: pure, so tests check batching without timers. */
export function decideDrain(view: StateView, nowMs: number): DrainDecision {
  const nodes = view.drainingNodes();
  const draining = new Set(nodes.map((n) => n.ID));
  const migrate = new Map<string, Allocation>();
  const done: string[] = [];
  const groupsSeen = new Set<string>();
  for (const node of nodes) {
    const s = node.DrainStrategy!;
    const force = deadlinePassed(s, nowMs);
    const live = view.allocsByNode(node.ID).filter((a) => !allocTerminalStatus(a));
    const isSystem = (a: Allocation) => {
      const t = (view.jobByID(a.Namespace, a.JobID) ?? a.Job)?.Type;
      return t === JobTypeSystem || t === JobTypeSysBatch;
    };
    const others = live.filter((a) => !isSystem(a));
    const system = s.IgnoreSystemJobs ? [] : live.filter(isSystem);
    if (others.length === 0 && system.length === 0) {
      done.push(node.ID);
      continue;
    }
    const pending = (a: Allocation) => !a.DesiredTransition?.Migrate;
    if (force) {
      for (const a of [...others, ...system].filter(pending)) migrate.set(a.ID, a);
      continue;
    }
    for (const a of others.filter(pending)) {
      const job = view.jobByID(a.Namespace, a.JobID) ?? a.Job;
      // A stopped or purged job's allocs go with the job; batch work is left to finish until the deadline.
      if (job == null || job.Type === JobTypeBatch) continue;
      const key = `${job.Namespace}\u0000${job.ID}\u0000${a.TaskGroup}`;
      if (groupsSeen.has(key)) continue;
      groupsSeen.add(key);
      for (const m of serviceGroupBatch(view, job, a.TaskGroup, draining)) migrate.set(m.ID, m);
    }
    if (others.length === 0) for (const a of system.filter(pending)) migrate.set(a.ID, a);
  }
  return { migrate: [...migrate.values()], done };
}

/**
 * The background drainer: a pass after every change to allocations or nodes (and at least every
 * `pollMs`, so deadlines fire), writing migrate marks with their evals and completing drains.
 */
export class NodeDrainer {
  constructor(
    private readonly ctx: ServerContext,
    private readonly opts: { pollMs?: number } = {},
  ) {}

  /** One pass; returns what it did. */
  async step(): Promise<DrainDecision> {
    const d = decideDrain(this.ctx.store.snapshot(), this.ctx.clock.now());
    if (d.migrate.length === 0 && d.done.length === 0) return d;
    const now = this.ctx.clock.now();
    const { result: evals, index } = await this.ctx.store.write((txn) => {
      const marked = d.migrate
        .map((a) => txn.allocByID(a.ID))
        .filter((a): a is Allocation => a != null && !allocTerminalStatus(a) && !a.DesiredTransition?.Migrate)
        .map((a) => ({ ...a, DesiredTransition: { ...a.DesiredTransition, Migrate: true } }));
      upsertAllocs(txn, marked, nowNs(this.ctx));
      const jobs = new Map<string, Job>();
      for (const a of marked) {
        const j = txn.jobByID(a.Namespace, a.JobID);
        if (j) jobs.set(`${j.Namespace}\u0000${j.ID}`, j);
      }
      for (const id of d.done) {
        const n = txn.nodeByID(id);
        if (n?.DrainStrategy == null) continue;
        putNode(
          txn,
          withEvent({ ...n, DrainStrategy: null, Drain: false }, 'Node drain complete', txn.writeIndex, now),
        );
      }
      return upsertEvals(
        txn,
        [...jobs.values()].map((j) => newEval(this.ctx, j, EvalTriggerNodeDrain)),
        nowNs(this.ctx),
      );
    });
    for (const ev of evals) routeEval(this.ctx, ev);
    if (d.migrate.length > 0)
      this.ctx.logger.info('drain: allocations marked for migration', { count: d.migrate.length, index });
    for (const id of d.done) this.ctx.logger.info('node drain complete', { node_id: id });
    return d;
  }

  /**
   * Runs until `signal` aborts. Whether any node drains is an index lookup (the nodes table's `draining`
   * index), not a scan, so a write costs O(1) here when nothing drains; and while nothing drains only node
   * writes can change that, so allocation writes (every plan) do not wake the loop at all.
   */
  async run(signal: AbortSignal): Promise<void> {
    const poll = this.opts.pollMs ?? 1000;
    while (!signal.aborted) {
      const snap = this.ctx.store.snapshot();
      const anyDraining = snap.drainingNodeCount() > 0;
      const tables: TableName[] = anyDraining ? ['allocs', 'nodes'] : ['nodes'];
      const cursor = snap.maxTableIndex(tables);
      if (anyDraining) {
        await this.step().catch((e: unknown) =>
          this.ctx.logger.error('drain step failed', { error: (e as Error).message }),
        );
      }
      await this.ctx.store.waitForIndex(tables, cursor, anyDraining ? poll : 60_000, signal).catch(() => undefined);
    }
  }
}
