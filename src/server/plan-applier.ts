/**
 * The plan queue and its single applier. Workers plan on snapshots, so two plans may both want the
 * last free capacity of a node; the applier re-checks every plan against the LATEST state, inside the
 * same write transaction that commits it, so no interleaving can over-commit a node.
 *
 *   submit(plan) ──► queue (by priority) ──► applier: for each node in the plan
 *        node exists, ready (for placements), and existing live allocs − plan's stops + plan's
 *        placements fit? ──► accepted : rejected (RefreshIndex set; AllAtOnce rejects all)
 *   ──► one write: stops, placements, preemptions, deployment ──► result to the worker once durable
 *
 * Up to `maxInFlight` plans are evaluated ahead of their commits (see `pump`).
 */
import {
  AllocClientStatusUnknown,
  emptyNodeUsage,
  AllocDesiredStatusEvict,
  NodeStatusDisconnected,
  NodeSchedulingIneligible,
  NodeStatusReady,
  type Allocation,
  type Node,
  type Plan,
  type PlanResult,
} from '../structs/index.js';
import { upsertAllocs, type StateStore, type WriteTxn } from '../state/index.js';
import { DroverError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { allocsFit as schedulerAllocsFit, usageFits, type Clock } from '../scheduler/index.js';
import type { AllocsFitFn } from './plan-fit.js';
import { PriorityQueue } from './priority-queue.js';

export interface PlanApplierOptions {
  store: StateStore;
  logger: Logger;
  clock: Clock;
  allocsFit: AllocsFitFn;
  /** The token of the eval's current delivery; a plan from a stale delivery is refused. */
  outstandingToken(evalID: string): string | undefined;
  /** Called after a commit with the nodes where allocations were stopped (capacity may have freed). */
  onCommitted(result: PlanResult, stoppedOnNodes: string[]): void;
}

interface QueuedPlan {
  plan: Plan;
  seq: number;
  /** The store epoch the plan was made in (`submitApplied`): refused if the tip was dropped since. */
  epoch?: number;
  resolve: (r: PlanResult) => void;
  reject: (e: unknown) => void;
  /** Set by `submitApplied`: told as soon as the plan is evaluated and applied to the store's tip. */
  applied?: (a: AppliedPlan) => void;
}

/** A plan applied to the store's tip: what it placed, and its commit (which settles later, in index order). */
export interface AppliedPlan {
  result: PlanResult;
  /** Resolves once the plan's write is durable; rejects if it was not made durable. */
  committed: Promise<void>;
}

export class PlanApplier {
  private readonly queue = new PriorityQueue<QueuedPlan>((a, b) =>
    a.plan.Priority !== b.plan.Priority ? a.plan.Priority > b.plan.Priority : a.seq < b.seq,
  );
  /** Plans evaluated whose commit has not been acknowledged yet, at most. */
  static maxInFlight = 4;
  private seq = 0;
  private inFlight = 0;
  private enabled = true;

  constructor(private readonly opts: PlanApplierOptions) {}

  setEnabled(on: boolean): void {
    this.enabled = on;
    if (!on) {
      for (;;) {
        const q = this.queue.pop();
        if (q == null) break;
        q.reject(new DroverError('Unavailable', 'plan queue is disabled'));
      }
    }
  }

  /** Queues a plan; resolves with what was committed, once it is durable. */
  submit(plan: Plan): Promise<PlanResult> {
    if (!this.enabled) return Promise.reject(new DroverError('Unavailable', 'plan queue is disabled'));
    return new Promise<PlanResult>((resolve, reject) => {
      this.queue.push({ plan, seq: this.seq++, resolve, reject });
      this.pump();
    });
  }

  /**
   * Queues a plan made on `store.tipSnapshot()` in store epoch `epoch`; resolves as soon as the plan is
   * evaluated and applied to the store's tip, before it is durable, with its commit to wait for. For the
   * scheduler worker: it goes on with the eval (the next one sees the placements on the tip) while the plan
   * commits, and everything durable it does after (the eval's status update, acked only once durable) is
   * committed after the plan, or refused if the plan's batch fails. Refused if the tip was dropped since
   * `epoch` (the plan may rest on writes that were lost).
   */
  submitApplied(plan: Plan, epoch: number): Promise<AppliedPlan> {
    if (!this.enabled) return Promise.reject(new DroverError('Unavailable', 'plan queue is disabled'));
    return new Promise<AppliedPlan>((applied, reject) => {
      // Until applied, a failure rejects the outer promise; after, only `committed`.
      const q: QueuedPlan = { plan, seq: this.seq++, epoch, resolve: () => undefined, reject, applied };
      this.queue.push(q);
      this.pump();
    });
  }

  /**
   * Evaluates queued plans while earlier ones are still committing, as Nomad applies plan N while it
   * evaluates N+1. Evaluation runs synchronously inside `store.write` against the store's tip, which holds
   * every earlier plan even before it is durable, so no node is over-committed; the result of each plan is
   * handed back only after its own commit (the store acknowledges in index order). Bounded, so a slow disk
   * applies back-pressure to the workers instead of an unbounded backlog of uncommitted plans.
   */
  private pump(): void {
    while (this.inFlight < PlanApplier.maxInFlight) {
      const q = this.queue.pop();
      if (q == null) return;
      this.inFlight++;
      let p: Promise<PlanResult>;
      try {
        if (q.epoch !== undefined && q.epoch !== this.opts.store.epoch)
          throw new DroverError('Conflict', `plan for evaluation ${q.plan.EvalID} rests on writes that were lost`);
        p = this.apply(q.plan, q.applied);
      } catch (e) {
        p = Promise.reject(e);
      }
      void p.then(q.resolve, q.reject).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /**
   * Checks and evaluates the plan now (synchronously); the promise settles once its write is durable.
   * `applied`, if given, is called synchronously once the plan is on the store's tip (or has changed nothing).
   */
  private apply(plan: Plan, applied?: (a: AppliedPlan) => void): Promise<PlanResult> {
    if (plan.EvalToken !== undefined && this.opts.outstandingToken(plan.EvalID) !== plan.EvalToken) {
      throw new DroverError('Conflict', `plan for evaluation ${plan.EvalID} has a stale token`);
    }
    const nowNs = this.opts.clock.now() * 1e6;
    const store = this.opts.store;
    const epoch = store.epoch;
    let evaluated: PlanResult | undefined;
    const write = store.write((txn) => (evaluated = evaluateAndCommit(txn, plan, this.opts.allocsFit, nowNs)));
    // Not applied if the evaluation threw or the store refused the write (a failed write's tip is being dropped,
    // so the epoch moved). A backend that throws synchronously keeps the epoch (no reader saw that tip): the worker
    // then gets the result, but `committed` rejects, so the eval is nacked and planned again.
    if (applied !== undefined && evaluated !== undefined && store.epoch === epoch) {
      const committed = write.then(() => undefined);
      committed.catch(() => undefined); // the caller observes it; this only keeps it from being "unhandled"
      applied({ result: evaluated, committed });
    }
    return write.then(({ result }) => {
      if (result.RejectedNodes.length > 0) {
        this.opts.logger.debug('plan partially rejected', {
          eval_id: plan.EvalID,
          rejected: result.RejectedNodes.length,
        });
      }
      const stopped = Object.entries(result.NodeUpdate).flatMap(([n, allocs]) => (allocs.length > 0 ? [n] : []));
      this.opts.onCommitted(result, stopped);
      return result;
    });
  }
}

/**
 * Does the plan's part for `nodeID` fit on the node as it is in `txn`? With the default check the plan's
 * delta (its stops, preemptions and in-place replacements out, its placements in) is checked against the
 * state store's per-node sum, so the cost does not grow with the allocations already on the node; an
 * injected `allocsFit` gets the node's whole proposed allocation list, as before.
 */
export function nodeFits(txn: WriteTxn, plan: Plan, nodeID: string, allocsFit: AllocsFitFn): boolean {
  const placing = plan.NodeAllocation[nodeID] ?? [];
  if (placing.length === 0) return true; // only stops and preemptions: always allowed
  const node = txn.nodeByID(nodeID);
  if (node == null) return false;
  // A disconnected node takes only the scheduler marking its allocations unknown (as Nomad's applier does).
  if (node.Status === NodeStatusDisconnected)
    return placing.every((a) => a.ClientStatus === AllocClientStatusUnknown && txn.allocByID(a.ID)?.NodeID === nodeID);
  if (node.Status !== NodeStatusReady) return false;
  if (node.SchedulingEligibility === NodeSchedulingIneligible) {
    // Only in-place updates of allocations already there may land on an ineligible node.
    if (placing.some((a) => txn.allocByID(a.ID)?.NodeID !== nodeID)) return false;
  }
  if (allocsFit === schedulerAllocsFit) return deltaFits(txn, plan, node, placing);
  const existing = txn.allocsByNode(nodeID);
  const removed = new Set<string>();
  for (const a of plan.NodeUpdate[nodeID] ?? []) removed.add(a.ID);
  for (const a of plan.NodePreemptions[nodeID] ?? []) removed.add(a.ID);
  for (const a of placing) removed.add(a.ID); // in-place updates replace the existing alloc
  const proposed: Allocation[] = existing.filter((a) => !removed.has(a.ID));
  proposed.push(...placing);
  return allocsFit(node, proposed).fit;
}

/** The delta form of the default check: what leaves the node is read back from `txn` (the plan's copy may be stale). */
function deltaFits(txn: WriteTxn, plan: Plan, node: Node, placing: Allocation[]): boolean {
  const leaving: Allocation[] = [];
  const seen = new Set<string>();
  const take = (id: string): void => {
    if (seen.has(id)) return;
    seen.add(id);
    const cur = txn.allocByID(id);
    if (cur != null && cur.NodeID === node.ID) leaving.push(cur);
  };
  for (const a of plan.NodeUpdate[node.ID] ?? []) take(a.ID);
  for (const a of plan.NodePreemptions[node.ID] ?? []) take(a.ID);
  for (const a of placing) take(a.ID); // in-place updates replace the existing alloc
  return usageFits(node, txn.nodeUsage(node.ID) ?? emptyNodeUsage, leaving, placing).fit;
}

function emptyResult(): PlanResult {
  return {
    NodeUpdate: {},
    NodeAllocation: {},
    NodePreemptions: {},
    Deployment: null,
    DeploymentUpdates: null,
    RejectedNodes: [],
    RefreshIndex: 0,
    AllocIndex: 0,
  };
}

/** Evaluates the plan against `txn` and commits the accepted part into it. */
export function evaluateAndCommit(txn: WriteTxn, plan: Plan, allocsFit: AllocsFitFn, nowNs: number): PlanResult {
  const result = emptyResult();
  const nodeIDs = new Set([
    ...Object.keys(plan.NodeAllocation),
    ...Object.keys(plan.NodeUpdate),
    ...Object.keys(plan.NodePreemptions),
  ]);
  const accepted: string[] = [];
  for (const id of nodeIDs) {
    if (nodeFits(txn, plan, id, allocsFit)) accepted.push(id);
    else result.RejectedNodes.push(id);
  }
  if (result.RejectedNodes.length > 0) {
    result.RefreshIndex = txn.writeIndex - 1;
    if (plan.AllAtOnce) return result;
  }
  // The deployment first: placements count themselves into it as they are stored.
  if (plan.Deployment != null) {
    const prev = txn.deploymentByID(plan.Deployment.ID);
    const d = {
      ...plan.Deployment,
      CreateIndex: prev?.CreateIndex ?? txn.writeIndex,
      ModifyIndex: txn.writeIndex,
      ModifyTime: nowNs,
    };
    if (prev != null) {
      // The scheduler's copy is from its snapshot: the progress counters in state are newer.
      d.TaskGroups = Object.fromEntries(
        Object.entries(d.TaskGroups).map(([name, g]) => {
          const p = prev.TaskGroups[name];
          return [
            name,
            p == null
              ? g
              : {
                  ...g,
                  PlacedAllocs: p.PlacedAllocs,
                  HealthyAllocs: p.HealthyAllocs,
                  UnhealthyAllocs: p.UnhealthyAllocs,
                },
          ];
        }),
      );
    }
    txn.put('deployments', d);
    result.Deployment = d;
  }
  if (plan.DeploymentUpdates != null && plan.DeploymentUpdates.length > 0) {
    for (const u of plan.DeploymentUpdates) {
      const d = txn.deploymentByID(u.DeploymentID);
      if (d == null) continue;
      txn.put('deployments', {
        ...d,
        Status: u.Status,
        StatusDescription: u.StatusDescription,
        ModifyIndex: txn.writeIndex,
        ModifyTime: nowNs,
      });
    }
    result.DeploymentUpdates = plan.DeploymentUpdates;
  }
  const writes: Allocation[] = [];
  for (const id of accepted) {
    const stops = (plan.NodeUpdate[id] ?? [])
      .map((a) => stoppedAlloc(txn, a))
      .filter((a): a is Allocation => a != null);
    const preempted = (plan.NodePreemptions[id] ?? [])
      .map((a) => preemptedAlloc(txn, a))
      .filter((a): a is Allocation => a != null);
    const placed = (plan.NodeAllocation[id] ?? []).map((a) =>
      a.Job == null && plan.Job != null ? { ...a, Job: plan.Job } : a,
    );
    if (stops.length > 0) result.NodeUpdate[id] = stops;
    if (preempted.length > 0) result.NodePreemptions[id] = preempted;
    if (placed.length > 0) result.NodeAllocation[id] = placed;
    writes.push(...stops, ...preempted, ...placed);
  }
  const stored = new Map(upsertAllocs(txn, writes, nowNs).map((a) => [a.ID, a]));
  for (const m of [result.NodeUpdate, result.NodeAllocation, result.NodePreemptions]) {
    for (const [id, allocs] of Object.entries(m)) m[id] = allocs.map((a) => stored.get(a.ID) ?? a);
  }
  result.AllocIndex = txn.writeIndex;
  return result;
}

/** The stored alloc with the plan's stop applied (the plan's copy may be stale or denormalised). */
function stoppedAlloc(txn: WriteTxn, a: Allocation): Allocation | undefined {
  const cur = txn.allocByID(a.ID);
  if (cur == null) return undefined;
  return {
    ...cur,
    DesiredStatus: a.DesiredStatus,
    DesiredDescription: a.DesiredDescription,
    DesiredTransition: a.DesiredTransition ?? cur.DesiredTransition,
    ClientStatus: a.ClientStatus || cur.ClientStatus,
    ClientDescription: a.ClientDescription || cur.ClientDescription,
    FollowupEvalID: a.FollowupEvalID || cur.FollowupEvalID,
  };
}

function preemptedAlloc(txn: WriteTxn, a: Allocation): Allocation | undefined {
  const cur = txn.allocByID(a.ID);
  if (cur == null) return undefined;
  return {
    ...cur,
    DesiredStatus: AllocDesiredStatusEvict,
    DesiredDescription: a.DesiredDescription || `Preempted by alloc ID ${a.PreemptedByAllocation}`,
    PreemptedByAllocation: a.PreemptedByAllocation,
  };
}
