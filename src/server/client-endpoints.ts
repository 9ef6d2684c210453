/**
 * What client agents call: register, heartbeat, fetch their allocations (blocking), report alloc
 * status. Also the server's reaction to a missed heartbeat.
 *
 * getClientAllocs returns every allocation on the node except those finished on both sides (client
 * terminal AND no longer desired to run): those need nothing more from the client. A client should
 * stop and collect any allocation it runs that is not in the answer. The index is the highest
 * AllocModifyIndex among the node's allocations, which moves only on server-side changes, so a
 * client's own status reports do not wake its own blocking query.
 */
import {
  allocClientTerminal,
  AllocDesiredStatusRun,
  EvalTriggerDeploymentWatcher,
  EvalTriggerNodeUpdate,
  EvalTriggerRetryFailedAlloc,
  JobTypeBatch,
  JobTypeService,
  JobTypeSysBatch,
  JobTypeSystem,
  NodeStatusDisconnected,
  NodeStatusDown,
  NodeStatusReady,
  AllocClientStatusFailed,
  AllocClientStatusUnknown,
  EvalTriggerReconnect,
  disconnectPolicy,
  type Allocation,
  type Evaluation,
  type Job,
  type Node,
  type ServiceRegistration,
} from '../structs/index.js';
import {
  becameClientTerminal,
  updateAllocsFromClient,
  updateNodeStatus,
  upsertEvals,
  upsertNode,
  type StateView,
  type WriteTxn,
} from '../state/index.js';
import { badRequest, nodeNotFound } from '../errors/index.js';
import type { AllocClientUpdate, NodeRegisterResponse } from '../structs/index.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';
import { withFallbackHealth } from './deployment-health.js';
import { deploymentsAfterHealth } from './deployment-watcher.js';

/** Evals for every job with live allocations on the node, plus every system job (they follow nodes). */
function nodeEvals(ctx: ServerContext, txn: StateView, nodeID: string): Evaluation[] {
  const jobs = new Map<string, Job>();
  for (const a of txn.allocsByNode(nodeID)) {
    if (allocClientTerminal(a)) continue;
    const j = txn.jobByID(a.Namespace, a.JobID) ?? a.Job;
    if (j != null) jobs.set(`${j.Namespace}\u0000${j.ID}`, j);
  }
  for (const j of txn.jobs()) {
    if ((j.Type === JobTypeSystem || j.Type === JobTypeSysBatch) && !j.Stop) jobs.set(`${j.Namespace}\u0000${j.ID}`, j);
  }
  const node = txn.nodeByID(nodeID);
  return [...jobs.values()].map((j) =>
    newEval(ctx, j, EvalTriggerNodeUpdate, { NodeID: nodeID, NodeModifyIndex: node?.ModifyIndex ?? 0 }),
  );
}

function writeNodeEvals(ctx: ServerContext, txn: WriteTxn, nodeID: string): Evaluation[] {
  return upsertEvals(txn, nodeEvals(ctx, txn, nodeID), nowNs(ctx));
}

export async function nodeRegister(ctx: ServerContext, node: Node): Promise<NodeRegisterResponse> {
  if (node == null || typeof node.ID !== 'string' || node.ID === '') throw badRequest('node ID is required');
  const cls = ctx.computeNodeClass(node);
  const { result, index } = await ctx.store.write((txn) => {
    const prev = txn.nodeByID(node.ID);
    const stored = upsertNode(txn, node, cls, Math.floor(ctx.clock.now() / 1000));
    // A new node, or one coming back, changes where work can go.
    const evals = prev == null || prev.Status !== NodeStatusReady ? writeNodeEvals(ctx, txn, node.ID) : [];
    return { stored, evals };
  });
  ctx.blocked.unblock(cls, index);
  for (const ev of result.evals) routeEval(ctx, ev);
  const ttl = ctx.heartbeats.reset(node.ID, ctx.store.snapshot().nodeCount());
  return { heartbeatTTLms: ttl, index };
}

export async function nodeUpdateStatus(
  ctx: ServerContext,
  nodeID: string,
  status: string,
): Promise<NodeRegisterResponse> {
  const snap = ctx.store.snapshot();
  const cur = snap.nodeByID(nodeID);
  if (cur == null) throw nodeNotFound(nodeID);
  let index = snap.index();
  if (cur.Status !== status) {
    const w = await ctx.store.write((txn) => {
      const prev = txn.nodeByID(nodeID);
      const stored = updateNodeStatus(txn, nodeID, status, '', Math.floor(ctx.clock.now() / 1000));
      const transition =
        prev != null && prev.Status !== status && (status === NodeStatusReady || status === NodeStatusDown);
      return { stored, evals: transition ? writeNodeEvals(ctx, txn, nodeID) : [] };
    });
    index = w.index;
    if (status === NodeStatusReady && w.result.stored?.ComputedClass)
      ctx.blocked.unblock(w.result.stored.ComputedClass, index);
    for (const ev of w.result.evals) routeEval(ctx, ev);
  }
  if (status === NodeStatusDown) {
    ctx.heartbeats.clear(nodeID);
    return { heartbeatTTLms: 0, index };
  }
  return { heartbeatTTLms: ctx.heartbeats.reset(nodeID, snap.nodeCount()), index };
}

/**
 * The longest lost_after (ms) among the live allocations on the node: how long it may stay disconnected
 * before it is down. 0 when none of its allocations' groups tolerate a disconnect.
 */
function disconnectWindowMs(txn: StateView, nodeID: string): number {
  let ms = 0;
  for (const a of txn.allocsByNode(nodeID)) {
    if (allocClientTerminal(a) || a.DesiredStatus !== AllocDesiredStatusRun) continue;
    const job = txn.jobByID(a.Namespace, a.JobID) ?? a.Job;
    ms = Math.max(ms, disconnectPolicy(job?.TaskGroups.find((g) => g.Name === a.TaskGroup)).lostAfterNs / 1e6);
  }
  return ms;
}

/**
 * A missed heartbeat. A node running work that tolerates a disconnect (lost_after) becomes `disconnected`:
 * the scheduler marks that work unknown and replaces it, and the node is down only if it stays away for
 * the longest lost_after. Any other node is down at once: its allocations are lost and replaced.
 */
export async function nodeHeartbeatExpired(ctx: ServerContext, nodeID: string): Promise<void> {
  const { result } = await ctx.store.write((txn) => {
    const prev = txn.nodeByID(nodeID);
    if (prev == null || prev.Status === NodeStatusDown) return { evals: [], status: '', windowMs: 0 };
    const windowMs = prev.Status === NodeStatusDisconnected ? 0 : disconnectWindowMs(txn, nodeID);
    const nowS = Math.floor(ctx.clock.now() / 1000);
    if (windowMs > 0) {
      updateNodeStatus(txn, nodeID, NodeStatusDisconnected, 'node heartbeat missed', nowS);
      return { evals: writeNodeEvals(ctx, txn, nodeID), status: NodeStatusDisconnected, windowMs };
    }
    updateNodeStatus(
      txn,
      nodeID,
      NodeStatusDown,
      prev.Status === NodeStatusDisconnected ? 'node did not reconnect within lost_after' : 'node heartbeat missed',
      nowS,
    );
    // A dead client never deregisters its instances: they leave the catalog now (as Nomad deletes a down
    // node's services), so discovery and the gateway stop sending traffic to them before replacements run.
    for (const r of txn.serviceRegistrationsByNode(nodeID)) txn.delete('service_registrations', r.ID);
    return { evals: writeNodeEvals(ctx, txn, nodeID), status: NodeStatusDown, windowMs };
  });
  if (result.status === NodeStatusDisconnected) {
    ctx.heartbeats.expireAfter(nodeID, result.windowMs);
    ctx.logger.info('node marked disconnected', {
      node_id: nodeID,
      evals: result.evals.length,
      lost_after_ms: result.windowMs,
    });
  } else if (result.status === NodeStatusDown)
    ctx.logger.info('node marked down', { node_id: nodeID, evals: result.evals.length });
  for (const ev of result.evals) routeEval(ctx, ev);
}

function clientWants(a: Allocation): boolean {
  return !(allocClientTerminal(a) && a.DesiredStatus !== AllocDesiredStatusRun);
}

function clientAllocs(view: StateView, nodeID: string): { allocs: Allocation[]; index: number } {
  // One pass: under API load the node holds thousands of finished allocations until the server's GC.
  let index = 0;
  const allocs: Allocation[] = [];
  for (const a of view.allocsByNode(nodeID)) {
    if (a.AllocModifyIndex > index) index = a.AllocModifyIndex;
    if (clientWants(a)) allocs.push(a);
  }
  return { allocs, index };
}

/**
 * One copy per stored allocation version. The client pulls every allocation of its node after any change
 * to one of them; cloning them all (each with its job) every time was the largest item of the dev agent's
 * profile under API load. A version is copied once; the client ignores a version it already has.
 */
const clientCopies = new WeakMap<Allocation, Allocation>();

function clientCopy(a: Allocation): Allocation {
  let c = clientCopies.get(a);
  if (c === undefined) clientCopies.set(a, (c = structuredClone(a)));
  return c;
}

export async function getClientAllocs(
  ctx: ServerContext,
  nodeID: string,
  minIndex: number,
  waitMs: number,
  signal?: AbortSignal,
): Promise<{ allocs: Allocation[]; index: number }> {
  const deadline = Date.now() + Math.max(0, waitMs);
  let cursor = ctx.store.snapshot().tableIndex('allocs');
  for (;;) {
    const snap = ctx.store.snapshot();
    const r = clientAllocs(snap, nodeID);
    const left = deadline - Date.now();
    if (r.index > minIndex || left <= 0 || signal?.aborted) {
      // Copies: an in-process client (dev agent) must never be able to mutate the server's state.
      return { allocs: r.allocs.map(clientCopy), index: Math.max(1, r.index) };
    }
    // Wake on any allocation write, then check whether it concerned this node.
    await ctx.store.waitForIndex(['allocs'], cursor, left, signal);
    cursor = ctx.store.snapshot().tableIndex('allocs');
  }
}

function isReschedulable(job: Job | undefined): job is Job {
  return job != null && !job.Stop && (job.Type === JobTypeService || job.Type === JobTypeBatch);
}

export async function updateAllocs(ctx: ServerContext, updates: AllocClientUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  const { result, index } = await ctx.store.write((txn) => {
    const changes = updateAllocsFromClient(txn, withFallbackHealth(txn, updates, ctx.clock.now()), nowNs(ctx));
    // One alloc-failure eval per job, whatever the number of failed allocations, as Nomad does.
    const failedJobs = new Map<string, Job>();
    for (const c of changes) {
      if (c.next.ClientStatus !== AllocClientStatusFailed || c.prev.ClientStatus === AllocClientStatusFailed) continue;
      if (c.next.DesiredStatus !== AllocDesiredStatusRun) continue;
      const job = txn.jobByID(c.next.Namespace, c.next.JobID);
      if (isReschedulable(job)) failedJobs.set(`${job.Namespace}\u0000${job.ID}`, job);
    }
    // An unknown allocation its client reports again: original and replacement are settled by a reconnect eval.
    const reconnected = new Map<string, Job>();
    for (const c of changes) {
      if (c.prev.ClientStatus !== AllocClientStatusUnknown || c.next.ClientStatus === AllocClientStatusUnknown)
        continue;
      const job = txn.jobByID(c.next.Namespace, c.next.JobID);
      const key = `${c.next.Namespace}\u0000${c.next.JobID}`;
      if (job != null && !job.Stop && !failedJobs.has(key)) reconnected.set(key, job);
    }
    const evals = upsertEvals(
      txn,
      [
        ...[...failedJobs.values()].map((j) => newEval(ctx, j, EvalTriggerRetryFailedAlloc)),
        ...[...reconnected.values()].map((j) => newEval(ctx, j, EvalTriggerReconnect)),
      ],
      nowNs(ctx),
    );
    // A failed alloc already got its eval above; a deployment eval for the same job would be redundant
    // (a revert's register eval is not: it schedules another job version).
    const progress = deploymentsAfterHealth(ctx, txn, changes).filter(
      (e) => e.TriggeredBy !== EvalTriggerDeploymentWatcher || !failedJobs.has(`${e.Namespace}\u0000${e.JobID}`),
    );
    evals.push(...progress);
    const freedNodes = new Set(changes.filter(becameClientTerminal).map((c) => c.next.NodeID));
    // A finished allocation serves nothing: its instances leave the catalog even if its client never said so.
    for (const c of changes.filter(becameClientTerminal))
      for (const r of txn.serviceRegistrationsByAlloc(c.next.ID)) txn.delete('service_registrations', r.ID);
    const classes = [...freedNodes].map((id) => txn.nodeByID(id)?.ComputedClass).filter((c): c is string => !!c);
    return { evals, classes };
  });
  for (const cls of new Set(result.classes)) ctx.blocked.unblock(cls, index);
  for (const ev of result.evals) routeEval(ctx, ev);
}

/** Service registrations of the built-in (`provider = "nomad"`) catalog, written by clients. */
export async function upsertServiceRegistrations(ctx: ServerContext, regs: ServiceRegistration[]): Promise<void> {
  if (regs.length === 0) return;
  await ctx.store.write((txn) => {
    for (const r of regs) {
      const prev = txn.tables.get('service_registrations', r.ID);
      txn.put('service_registrations', {
        ...r,
        CreateIndex: prev?.CreateIndex ?? txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      });
    }
  });
}

export async function deleteServiceRegistrations(ctx: ServerContext, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await ctx.store.write((txn) => {
    for (const id of ids) txn.delete('service_registrations', id);
  });
}
