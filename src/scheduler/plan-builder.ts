/**
 * Builds one plan while keeping the pass's usage and job trackers in step with it: every stop frees
 * resources for later placements and every placement consumes them, so feasibility within a pass
 * sees the plan as if it were already applied.
 */
import type {
  AllocMetric,
  Allocation,
  AllocatedResources,
  AllocatedTaskResources,
  Deployment,
  Evaluation,
  Job,
  NetworkResource,
  Node,
  Plan,
  RescheduleTracker,
} from '../structs/index.js';
import {
  AllocDesiredStatusEvict,
  AllocDesiredStatusStop,
  datacenterMatchesAny,
  newAllocation as newAllocationStruct,
  newPlan,
  nodeSchedulable,
} from './structs-helpers.js';
import type { SchedulerState } from './types.js';
import type { GroupSpec } from './feasible/group-spec.js';
import type { PassNodes } from './feasible/select.js';
import { JobTracker, UsageTracker } from './feasible/usage.js';
import type { AllocUsage } from './feasible/resources.js';
import { shuffleInPlace } from './rng.js';

export class PlanBuilder {
  readonly plan: Plan;
  readonly usage: UsageTracker;
  readonly jobs: JobTracker;

  constructor(
    readonly state: SchedulerState,
    readonly ev: Evaluation,
    readonly job: Job | null,
    namespace: string,
    jobID: string,
  ) {
    this.plan = newPlan(ev.ID, job?.Priority ?? ev.Priority, job, state.index());
    this.usage = new UsageTracker(state);
    this.jobs = new JobTracker(state, namespace, jobID, (id) => this.usage.isRemoved(id));
  }

  /** Stops (or, with clientStatus 'lost', marks lost) an allocation. */
  stop(a: Allocation, description: string, clientStatus?: string): void {
    const copy: Allocation = { ...a, DesiredStatus: AllocDesiredStatusStop, DesiredDescription: description };
    if (clientStatus) copy.ClientStatus = clientStatus;
    push(this.plan.NodeUpdate, a.NodeID, copy);
    this.usage.remove(a);
    this.jobs.remove(a.ID, a.NodeID);
  }

  /** Backs out a stop made in this pass (its replacement found no node). */
  unstop(a: Allocation): void {
    const list = this.plan.NodeUpdate[a.NodeID];
    if (list) {
      const i = list.findIndex((x) => x.ID === a.ID);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) delete this.plan.NodeUpdate[a.NodeID];
    }
    this.usage.unremove(a);
    this.jobs.add(a.ID, this.state.nodeByID(a.NodeID), a.NodeID, a.TaskGroup);
  }

  /** `u` is what the alloc uses, when the caller already knows it (saves recomputing per placement). */
  place(node: Node, a: Allocation, u?: AllocUsage): void {
    push(this.plan.NodeAllocation, node.ID, a);
    this.usage.place(node, a, u);
    this.jobs.add(a.ID, node, node.ID, a.TaskGroup);
  }

  /** An in-place or attribute update: same ID, same node, same resources. */
  update(a: Allocation): void {
    push(this.plan.NodeAllocation, a.NodeID, a);
  }

  preempt(a: Allocation, byAllocID: string): void {
    const copy: Allocation = {
      ...a,
      DesiredStatus: AllocDesiredStatusEvict,
      DesiredDescription: `Preempted by alloc ID ${byAllocID}`,
      PreemptedByAllocation: byAllocID,
    };
    push(this.plan.NodePreemptions, a.NodeID, copy);
    this.usage.remove(a);
  }
}

function push(m: Record<string, Allocation[]>, key: string, a: Allocation): void {
  const l = m[key];
  if (l) l.push(a);
  else m[key] = [a];
}

/** Per nodes-table version, per pool and datacenter list: the filtered (unshuffled) pass nodes. */
const readyCache = new WeakMap<object, Map<string, CachedReady>>();

interface CachedReady extends PassNodes {
  /** Node ID → position in `nodes` (the unshuffled list); built on first use. */
  pos?: Map<string, number>;
}

/**
 * Ready, eligible nodes in the job's node pool and datacenters, shuffled with the pass's RNG. The
 * filtered list is cached while the nodes table is unchanged: walking 5,000 nodes of the state's
 * persistent map for every evaluation was the largest per-evaluation cost at C1M scale.
 */
export function readyNodes(state: SchedulerState, job: Job, rng: (() => number) | null): PassNodes {
  const pool = job.NodePool || 'default';
  const dcs = job.Datacenters && job.Datacenters.length > 0 ? job.Datacenters : ['*'];
  const version = state.nodesVersion?.();
  const key = `${pool}\u0000${dcs.join('\u0000')}`;
  let cached = version === undefined ? undefined : readyCache.get(version)?.get(key);
  if (cached === undefined) {
    cached = filterReadyNodes(state, pool, dcs);
    if (version !== undefined) {
      let m = readyCache.get(version);
      if (m === undefined) readyCache.set(version, (m = new Map()));
      m.set(key, cached);
    }
  }
  const base = cached;
  const n = base.nodes.length;
  // Shuffle positions rather than nodes (the same RNG draws, so the same order), keeping the inverse so
  // that a node's place in the pass is found without a per-evaluation map of every node.
  const perm = new Array<number>(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  if (rng) shuffleInPlace(perm, rng);
  const nodes = new Array<Node>(n);
  const inv = new Int32Array(n);
  for (const [i, p] of perm.entries()) {
    nodes[i] = base.nodes[p]!; // perm is a permutation of 0..n-1
    inv[p] = i;
  }
  const indexOf = (id: string): number => {
    base.pos ??= new Map(base.nodes.map((node, i) => [node.ID, i]));
    const p = base.pos.get(id);
    return p === undefined ? -1 : inv[p]!;
  };
  return { nodes, nodesAvailable: { ...base.nodesAvailable }, nodesInPool: base.nodesInPool, nodePool: pool, indexOf };
}

function filterReadyNodes(state: SchedulerState, pool: string, dcs: string[]): CachedReady {
  const nodes: Node[] = [];
  const available: Record<string, number> = {};
  let inPool = 0;
  for (const n of state.nodes()) {
    if (pool !== 'all' && (n.NodePool || 'default') !== pool) continue;
    if (!nodeSchedulable(n)) continue;
    inPool++;
    if (!datacenterMatchesAny(dcs, n.Datacenter)) continue;
    available[n.Datacenter] = (available[n.Datacenter] ?? 0) + 1;
    nodes.push(n);
  }
  return { nodes, nodesAvailable: available, nodesInPool: inPool, nodePool: pool };
}

export interface NewAllocArgs {
  id: string;
  ev: Evaluation;
  job: Job;
  spec: GroupSpec;
  node: Node;
  name: string;
  networks: NetworkResource[];
  metric: AllocMetric;
  deployment: Deployment | null;
  canary: boolean;
  previous: Allocation | null;
  tracker: RescheduleTracker | null;
  nowNs: number;
  memoryOversubscription: boolean;
}

/**
 * Shared by every placement of a group spec without networks (the resources are then the same for each): one
 * object instead of one per allocation (≈ 320 bytes each in the heap, ≈ 0.3 GB at a million allocations),
 * and the per-object resource-usage cache (`allocResourceUsage`) computes it once. Frozen: allocations are
 * copied on write, never changed in place, and a shared object must not be either.
 */
const sharedResources = new WeakMap<GroupSpec, { plain?: AllocatedResources; oversubscribed?: AllocatedResources }>();
/** The empty DesiredTransition of every new allocation (a change is a new object: copy on write). */
const NO_TRANSITION: Allocation['DesiredTransition'] = Object.freeze({});

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function allocatedResources(a: NewAllocArgs): AllocatedResources {
  if (a.networks.length > 0) return buildAllocatedResources(a);
  let byMode = sharedResources.get(a.spec);
  if (byMode === undefined) sharedResources.set(a.spec, (byMode = {}));
  const k = a.memoryOversubscription ? 'oversubscribed' : 'plain';
  return (byMode[k] ??= deepFreeze(buildAllocatedResources(a)));
}

function buildAllocatedResources(a: NewAllocArgs): AllocatedResources {
  const tasks: Record<string, AllocatedTaskResources> = {};
  for (const t of a.spec.tasks) {
    tasks[t.name] = {
      Cpu: { CpuShares: t.cpu },
      Memory: { MemoryMB: t.memoryMB, MemoryMaxMB: a.memoryOversubscription ? t.memoryMaxMB : 0 },
      Networks: null,
    };
  }
  const ports = [];
  for (const n of a.networks) {
    for (const p of n.ReservedPorts ?? []) ports.push({ Label: p.Label, Value: p.Value, To: p.To, HostIP: n.IP });
    for (const p of n.DynamicPorts ?? []) ports.push({ Label: p.Label, Value: p.Value, To: p.To, HostIP: n.IP });
  }
  return {
    Tasks: tasks,
    TaskLifecycles: null,
    Shared: {
      DiskMB: a.spec.diskMB,
      Networks: a.networks.length > 0 ? a.networks : null,
      Ports: ports.length > 0 ? ports : null,
    },
  };
}

export function newAllocation(a: NewAllocArgs): Allocation {
  return newAllocationStruct(
    {
      ID: a.id,
      EvalID: a.ev.ID,
      Name: a.name,
      NodeID: a.node.ID,
      NodeName: a.node.Name,
      Job: a.job,
      TaskGroup: a.spec.tg.Name,
      AllocatedResources: allocatedResources(a),
    },
    a.nowNs,
    {
      Metrics: a.metric,
      DeploymentID: a.deployment?.ID ?? '',
      DeploymentStatus: a.canary ? { Healthy: null, Timestamp: null, Canary: true, ModifyIndex: 0 } : null,
      PreviousAllocation: a.previous?.ID ?? '',
      RescheduleTracker: a.tracker,
      DesiredTransition: NO_TRANSITION,
    },
  );
}
