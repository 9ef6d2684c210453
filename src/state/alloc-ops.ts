/**
 * Allocation, evaluation and node writes as Nomad's state store does them: index fields, fields each
 * side owns (the server owns DesiredStatus, the client owns ClientStatus and TaskStates), and the
 * summary and job status that follow from them.
 */
import {
  allocClientTerminal,
  NodeSchedulingEligible,
  NodeStatusReady,
  type Allocation,
  type Evaluation,
  type Node,
} from '../structs/index.js';
import type { AllocClientUpdate } from '../structs/index.js';
import { AllocSummaryBatch, refreshJobStatus, setQueued } from './job-ops.js';
import type { WriteTxn } from './store.js';

/**
 * Upserts allocations written by the server (plan results). For an existing allocation the client's
 * fields are kept, unless the scheduler marks it lost or unknown (the client cannot say so itself).
 */
export function upsertAllocs(txn: WriteTxn, allocs: Allocation[], nowNs: number): Allocation[] {
  const index = txn.writeIndex;
  const out: Allocation[] = [];
  const jobs = new Map<string, [string, string]>();
  const summaries = new AllocSummaryBatch(txn);
  const deployments = new DeploymentBumps();
  for (const a of allocs) {
    const prev = txn.allocByID(a.ID);
    let next: Allocation;
    if (prev == null) {
      next = {
        ...a,
        CreateIndex: index,
        ModifyIndex: index,
        AllocModifyIndex: index,
        CreateTime: a.CreateTime || nowNs,
        ModifyTime: nowNs,
      };
    } else {
      const serverSetsClient = a.ClientStatus === 'lost' || a.ClientStatus === 'unknown';
      next = {
        ...a,
        Job: a.Job ?? prev.Job,
        CreateIndex: prev.CreateIndex,
        CreateTime: prev.CreateTime,
        ModifyIndex: index,
        AllocModifyIndex: index,
        ModifyTime: nowNs,
        TaskStates: prev.TaskStates,
        ClientStatus: serverSetsClient ? a.ClientStatus : prev.ClientStatus,
        ClientDescription: serverSetsClient ? a.ClientDescription : prev.ClientDescription,
        // An in-place update into a new deployment starts its health afresh; otherwise the client's report stays.
        DeploymentStatus:
          a.DeploymentID !== prev.DeploymentID
            ? (a.DeploymentStatus ?? null)
            : (a.DeploymentStatus ?? prev.DeploymentStatus),
        NetworkStatus: prev.NetworkStatus ?? a.NetworkStatus,
        // Set by the replacement's write (below), which the scheduler's copy of this allocation does not know.
        NextAllocation: a.NextAllocation || prev.NextAllocation,
      };
    }
    txn.put('allocs', next);
    if (prev == null && next.PreviousAllocation) linkPrevious(txn, next, index, nowNs);
    // A lost allocation's client will never deregister its instances: they leave the catalog with it.
    if (next.ClientStatus === 'lost' && prev?.ClientStatus !== 'lost') {
      for (const r of txn.serviceRegistrationsByAlloc(next.ID)) txn.delete('service_registrations', r.ID);
    }
    summaries.apply(prev, next);
    // Nomad counts an allocation moved into a deployment (in-place update) as placed in it.
    if (next.DeploymentID && (prev == null || prev.DeploymentID !== next.DeploymentID))
      deployments.bump(next, 'PlacedAllocs');
    jobs.set(`${next.Namespace}\u0000${next.JobID}`, [next.Namespace, next.JobID]);
    out.push(next);
  }
  summaries.flush();
  deployments.flush(txn);
  for (const [ns, id] of jobs.values()) refreshJobStatus(txn, ns, id);
  return out;
}

/** Nomad's chain: the allocation a replacement replaces points forward to it (`NextAllocation`). */
function linkPrevious(txn: WriteTxn, replacement: Allocation, index: number, nowNs: number): void {
  const p = txn.allocByID(replacement.PreviousAllocation);
  if (!p || p.NextAllocation === replacement.ID) return;
  txn.put('allocs', { ...p, NextAllocation: replacement.ID, ModifyIndex: index, ModifyTime: nowNs });
}

export interface ClientAllocChange {
  prev: Allocation;
  next: Allocation;
}

/** Applies what clients report. Unknown allocation IDs are skipped (they may have been GC'd). */
export function updateAllocsFromClient(
  txn: WriteTxn,
  updates: AllocClientUpdate[],
  nowNs: number,
): ClientAllocChange[] {
  const index = txn.writeIndex;
  const out: ClientAllocChange[] = [];
  const jobs = new Map<string, [string, string]>();
  const summaries = new AllocSummaryBatch(txn);
  const deployments = new DeploymentBumps();
  for (const u of updates) {
    const prev = txn.allocByID(u.ID);
    if (prev == null) continue;
    const next: Allocation = {
      ...prev,
      ClientStatus: u.ClientStatus,
      ClientDescription: u.ClientDescription,
      TaskStates: u.TaskStates,
      DeploymentStatus: u.DeploymentStatus ?? prev.DeploymentStatus,
      NetworkStatus: u.NetworkStatus ?? prev.NetworkStatus,
      ModifyIndex: index,
      ModifyTime: nowNs,
    };
    txn.put('allocs', next);
    // A lost allocation's client will never deregister its instances: they leave the catalog with it.
    if (next.ClientStatus === 'lost' && prev?.ClientStatus !== 'lost') {
      for (const r of txn.serviceRegistrationsByAlloc(next.ID)) txn.delete('service_registrations', r.ID);
    }
    summaries.apply(prev, next);
    if (next.DeploymentID && prev.DeploymentStatus?.Healthy == null && next.DeploymentStatus?.Healthy != null) {
      deployments.bump(next, next.DeploymentStatus.Healthy ? 'HealthyAllocs' : 'UnhealthyAllocs');
    }
    jobs.set(`${next.Namespace}\u0000${next.JobID}`, [next.Namespace, next.JobID]);
    out.push({ prev, next });
  }
  summaries.flush();
  deployments.flush(txn);
  for (const [ns, id] of jobs.values()) refreshJobStatus(txn, ns, id);
  return out;
}

type DeploymentCounter = 'PlacedAllocs' | 'HealthyAllocs' | 'UnhealthyAllocs';

/**
 * Counts allocations into their deployments' per-group progress (placed, healthy, unhealthy), stored once
 * per deployment at `flush` rather than once per allocation.
 */
class DeploymentBumps {
  private readonly counts = new Map<string, Map<string, Record<DeploymentCounter, number>>>();

  bump(a: Allocation, field: DeploymentCounter): void {
    let groups = this.counts.get(a.DeploymentID);
    if (groups === undefined) this.counts.set(a.DeploymentID, (groups = new Map()));
    let c = groups.get(a.TaskGroup);
    if (c === undefined) groups.set(a.TaskGroup, (c = { PlacedAllocs: 0, HealthyAllocs: 0, UnhealthyAllocs: 0 }));
    c[field]++;
  }

  flush(txn: WriteTxn): void {
    for (const [id, groups] of this.counts) {
      const d = txn.deploymentByID(id);
      if (d == null) continue;
      const taskGroups = { ...d.TaskGroups };
      let changed = false;
      for (const [name, c] of groups) {
        const tg = taskGroups[name];
        if (tg == null) continue;
        taskGroups[name] = {
          ...tg,
          PlacedAllocs: tg.PlacedAllocs + c.PlacedAllocs,
          HealthyAllocs: tg.HealthyAllocs + c.HealthyAllocs,
          UnhealthyAllocs: tg.UnhealthyAllocs + c.UnhealthyAllocs,
        };
        changed = true;
      }
      if (changed) txn.put('deployments', { ...d, TaskGroups: taskGroups, ModifyIndex: txn.writeIndex });
    }
    this.counts.clear();
  }
}

/** True when this change is the moment the client finished the allocation. */
export function becameClientTerminal(c: ClientAllocChange): boolean {
  return !allocClientTerminal(c.prev) && allocClientTerminal(c.next);
}

/** Upserts evaluations, keeping CreateIndex/CreateTime, and applies their QueuedAllocations to the summary. */
export function upsertEvals(txn: WriteTxn, evals: Evaluation[], nowNs: number): Evaluation[] {
  const index = txn.writeIndex;
  const out: Evaluation[] = [];
  for (const e of evals) {
    const prev = txn.evalByID(e.ID);
    const next: Evaluation = {
      ...e,
      CreateIndex: prev?.CreateIndex ?? index,
      CreateTime: prev?.CreateTime ?? (e.CreateTime || nowNs),
      ModifyIndex: index,
      ModifyTime: nowNs,
    };
    txn.put('evals', next);
    if (next.QueuedAllocations != null && next.JobID !== '')
      setQueued(txn, next.Namespace, next.JobID, next.QueuedAllocations);
    // An eval write leaves the job's allocations as they were (see refreshJobStatus).
    if (next.JobID !== '') refreshJobStatus(txn, next.Namespace, next.JobID, { allocsUnchanged: true });
    out.push(next);
  }
  return out;
}

/**
 * Registers or re-registers a node. The server owns Status on register (ready), the indexes and,
 * on re-register, the scheduling eligibility and drain set by operators.
 */
export function upsertNode(txn: WriteTxn, node: Node, computedClass: string, nowS: number): Node {
  const index = txn.writeIndex;
  const prev = txn.nodeByID(node.ID);
  const next: Node = {
    ...node,
    Status: NodeStatusReady,
    StatusUpdatedAt: nowS,
    ComputedClass: computedClass,
    SchedulingEligibility: prev?.SchedulingEligibility ?? node.SchedulingEligibility ?? NodeSchedulingEligible,
    DrainStrategy: prev?.DrainStrategy ?? node.DrainStrategy ?? null,
    CreateIndex: prev?.CreateIndex ?? index,
    ModifyIndex: index,
  };
  txn.put('nodes', next);
  return next;
}

/** Sets a node's status; returns the stored node, or undefined when the node does not exist. */
export function updateNodeStatus(
  txn: WriteTxn,
  nodeID: string,
  status: string,
  description: string,
  nowS: number,
): Node | undefined {
  const prev = txn.nodeByID(nodeID);
  if (prev == null) return undefined;
  if (prev.Status === status) return prev;
  const next: Node = {
    ...prev,
    Status: status,
    StatusDescription: description,
    StatusUpdatedAt: nowS,
    ModifyIndex: txn.writeIndex,
  };
  txn.put('nodes', next);
  return next;
}
