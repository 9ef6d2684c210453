/**
 * An in-memory SchedulerState + Planner for tests and benchmarks. Plans are applied to its own maps
 * the way the server's plan applier would (indexes, NextAllocation links, deployments, preemptions);
 * nodes can be made to refuse their part of a plan, to exercise the scheduler's retry path.
 */
import {
  sumNodeUsage,
  type Allocation,
  type Deployment,
  type Evaluation,
  type Job,
  type Node,
  type NodeResourceUsage,
  type Plan,
  type PlanResult,
} from '../../structs/index.js';
import { nullLogger } from '../../logging/index.js';
import { allocsFit } from '../feasible/resources.js';
import { newScheduler } from '../factory.js';
import {
  defaultSchedulerConfiguration,
  type Clock,
  type Planner,
  type SchedulerConfiguration,
  type SchedulerState,
} from '../types.js';

const jobKey = (ns: string, id: string) => ns + '\u0000' + id;

export class Harness implements SchedulerState, Planner {
  private idx = 1000;
  readonly nodesByID = new Map<string, Node>();
  readonly jobs = new Map<string, Job>();
  readonly allocs = new Map<string, Allocation>();
  private readonly byNode = new Map<string, Map<string, Allocation>>();
  private readonly byJob = new Map<string, Map<string, Allocation>>();
  readonly deployments = new Map<string, Deployment>();
  readonly evals = new Map<string, Evaluation>();

  /** Every plan submitted, in order. */
  readonly plans: Plan[] = [];
  /** Evals the scheduler created (blocked, follow-up) and evals it updated. */
  readonly createdEvals: Evaluation[] = [];
  readonly updatedEvals: Evaluation[] = [];
  readonly reblockedEvals: Evaluation[] = [];
  /** Nodes whose part of the next plans is refused; cleared by the test. */
  readonly rejectNodes = new Set<string>();
  /** When true, refuse nodes that a plan would over-commit (as the real applier does). */
  enforceFit = false;
  config: SchedulerConfiguration = defaultSchedulerConfiguration();
  clock: Clock = { now: () => 1_700_000_000_000 };

  nextIndex(): number {
    return ++this.idx;
  }

  // --- SchedulerState ---
  index(): number {
    return this.idx;
  }
  nodes(): Iterable<Node> {
    return this.nodesByID.values();
  }
  nodeByID(id: string): Node | undefined {
    return this.nodesByID.get(id);
  }
  jobByID(ns: string, id: string): Job | undefined {
    return this.jobs.get(jobKey(ns, id));
  }
  allocsByJob(ns: string, jobID: string): Allocation[] {
    const m = this.byJob.get(jobKey(ns, jobID));
    return m ? [...m.values()] : [];
  }
  allocsByNode(nodeID: string): Allocation[] {
    const m = this.byNode.get(nodeID);
    return m ? [...m.values()] : [];
  }
  allocByID(id: string): Allocation | undefined {
    return this.allocs.get(id);
  }
  /** Recomputed on every call (the state store maintains it incrementally): the scheduler reads it as it would the store's. */
  nodeUsage(nodeID: string): NodeResourceUsage | undefined {
    const u = sumNodeUsage(this.allocsByNode(nodeID));
    return u.allocs === 0 ? undefined : u;
  }
  *nodeUsages(): Iterable<[string, NodeResourceUsage]> {
    for (const id of this.nodesByID.keys()) {
      const u = this.nodeUsage(id);
      if (u) yield [id, u];
    }
  }
  latestDeploymentByJobID(ns: string, jobID: string): Deployment | undefined {
    let best: Deployment | undefined;
    for (const d of this.deployments.values()) {
      if (d.Namespace !== ns || d.JobID !== jobID) continue;
      if (!best || d.CreateIndex > best.CreateIndex) best = d;
    }
    return best;
  }
  deploymentByID(id: string): Deployment | undefined {
    return this.deployments.get(id);
  }
  schedulerConfig(): SchedulerConfiguration {
    return this.config;
  }

  // --- writes ---
  upsertNode(n: Node): Node {
    const i = this.nextIndex();
    const stored = { ...n, CreateIndex: this.nodesByID.get(n.ID)?.CreateIndex ?? i, ModifyIndex: i };
    this.nodesByID.set(n.ID, stored);
    return stored;
  }

  /** Stores a job; a job that already exists gets the next Version, as a register does. */
  upsertJob(j: Job): Job {
    const i = this.nextIndex();
    const prev = this.jobs.get(jobKey(j.Namespace, j.ID));
    const stored: Job = {
      ...j,
      Version: prev ? (prev.Version ?? 0) + 1 : (j.Version ?? 0),
      CreateIndex: prev?.CreateIndex ?? i,
      ModifyIndex: i,
      JobModifyIndex: i,
    };
    this.jobs.set(jobKey(j.Namespace, j.ID), stored);
    return stored;
  }

  upsertAllocs(list: Allocation[]): void {
    const i = this.nextIndex();
    for (const a of list)
      this.putAlloc({
        ...a,
        CreateIndex: this.allocs.get(a.ID)?.CreateIndex ?? i,
        ModifyIndex: i,
        AllocModifyIndex: i,
      });
  }

  upsertDeployment(d: Deployment): void {
    const i = this.nextIndex();
    this.deployments.set(d.ID, { ...d, CreateIndex: this.deployments.get(d.ID)?.CreateIndex ?? i, ModifyIndex: i });
  }

  private putAlloc(a: Allocation): void {
    const old = this.allocs.get(a.ID);
    if (old && old.NodeID !== a.NodeID) this.byNode.get(old.NodeID)?.delete(a.ID);
    this.allocs.set(a.ID, a);
    let n = this.byNode.get(a.NodeID);
    if (!n) this.byNode.set(a.NodeID, (n = new Map()));
    n.set(a.ID, a);
    const k = jobKey(a.Namespace, a.JobID);
    let j = this.byJob.get(k);
    if (!j) this.byJob.set(k, (j = new Map()));
    j.set(a.ID, a);
  }

  // --- Planner ---
  async submitPlan(plan: Plan): Promise<{ result: PlanResult; state?: SchedulerState }> {
    this.plans.push(plan);
    const refused = new Set<string>();
    for (const nodeID of new Set([
      ...Object.keys(plan.NodeAllocation),
      ...Object.keys(plan.NodeUpdate),
      ...Object.keys(plan.NodePreemptions),
    ])) {
      if (this.rejectNodes.has(nodeID) || (this.enforceFit && !this.planFits(plan, nodeID))) refused.add(nodeID);
    }
    const i = this.nextIndex();
    const keep = (m: Record<string, Allocation[]>) =>
      refused.size === 0 ? m : Object.fromEntries(Object.entries(m).filter(([n]) => !refused.has(n)));
    const result: PlanResult = {
      NodeUpdate: keep(plan.NodeUpdate),
      NodeAllocation: keep(plan.NodeAllocation),
      NodePreemptions: keep(plan.NodePreemptions),
      Deployment: plan.Deployment,
      DeploymentUpdates: plan.DeploymentUpdates,
      RejectedNodes: [...refused],
      RefreshIndex: refused.size > 0 ? i : 0,
      AllocIndex: i,
    };
    this.apply(result, i);
    return { result, state: this };
  }

  private planFits(plan: Plan, nodeID: string): boolean {
    const node = this.nodesByID.get(nodeID);
    if (!node) return false;
    const removed = new Set(
      [...(plan.NodeUpdate[nodeID] ?? []), ...(plan.NodePreemptions[nodeID] ?? [])].map((a) => a.ID),
    );
    const added = plan.NodeAllocation[nodeID] ?? [];
    const addedIDs = new Set(added.map((a) => a.ID));
    const existing = this.allocsByNode(nodeID).filter((a) => !removed.has(a.ID) && !addedIDs.has(a.ID));
    return allocsFit(node, [...existing, ...added]).fit;
  }

  private apply(r: PlanResult, i: number): void {
    for (const list of Object.values(r.NodeUpdate))
      for (const a of list) this.putAlloc({ ...a, ModifyIndex: i, AllocModifyIndex: i });
    for (const list of Object.values(r.NodePreemptions))
      for (const a of list) this.putAlloc({ ...a, ModifyIndex: i, AllocModifyIndex: i });
    for (const list of Object.values(r.NodeAllocation)) {
      for (const a of list) {
        const old = this.allocs.get(a.ID);
        // New allocs in a submitted plan belong to the harness now: stamp them in place (cheap for benchmarks).
        if (!old) {
          a.CreateIndex = i;
          a.ModifyIndex = i;
          a.AllocModifyIndex = i;
          this.putAlloc(a);
        } else this.putAlloc({ ...a, CreateIndex: old.CreateIndex, ModifyIndex: i, AllocModifyIndex: i });
        const prev = a.PreviousAllocation ? this.allocs.get(a.PreviousAllocation) : undefined;
        if (!old && prev) this.putAlloc({ ...prev, NextAllocation: a.ID, ModifyIndex: i });
      }
    }
    if (r.Deployment) this.upsertDeployment(r.Deployment);
    for (const u of r.DeploymentUpdates ?? []) {
      const d = this.deployments.get(u.DeploymentID);
      if (d)
        this.deployments.set(d.ID, { ...d, Status: u.Status, StatusDescription: u.StatusDescription, ModifyIndex: i });
    }
  }

  async updateEval(ev: Evaluation): Promise<void> {
    this.updatedEvals.push(ev);
    this.evals.set(ev.ID, ev);
  }
  async createEval(ev: Evaluation): Promise<void> {
    this.createdEvals.push(ev);
    this.evals.set(ev.ID, { ...ev, CreateIndex: this.nextIndex() });
  }
  async reblockEval(ev: Evaluation): Promise<void> {
    this.reblockedEvals.push(ev);
    this.evals.set(ev.ID, ev);
  }

  /** Runs the scheduler for the eval's type against this harness. */
  async process(ev: Evaluation, rng?: () => number): Promise<void> {
    this.evals.set(ev.ID, ev);
    const s = newScheduler(ev.Type, this, this, { logger: nullLogger, clock: this.clock, rng });
    await s.process(ev);
  }

  /** Non-terminal allocations of the job. */
  liveAllocs(ns: string, jobID: string): Allocation[] {
    return this.allocsByJob(ns, jobID).filter(
      (a) => a.DesiredStatus === 'run' && !['complete', 'failed', 'lost'].includes(a.ClientStatus),
    );
  }

  /** The i-th submitted plan; fails the test, saying how many there were, when there is no such plan. */
  plan(i = 0): Plan {
    const plan = this.plans[i];
    if (plan === undefined) throw new Error(`expected plan #${i}, but the scheduler submitted ${this.plans.length}`);
    return plan;
  }

  /** The i-th evaluation the scheduler created (follow-ups, blocked evals); fails the test when there is none. */
  createdEval(i = 0): Evaluation {
    const ev = this.createdEvals[i];
    if (ev === undefined)
      throw new Error(`expected created evaluation #${i}, but the scheduler created ${this.createdEvals.length}`);
    return ev;
  }

  lastPlan(): Plan | undefined {
    return this.plans[this.plans.length - 1];
  }

  lastEval(): Evaluation | undefined {
    return this.updatedEvals[this.updatedEvals.length - 1];
  }
}

/** Counts the allocations in a plan map (NodeAllocation / NodeUpdate / NodePreemptions). */
export function countPlanned(m: Record<string, Allocation[]>): number {
  let n = 0;
  for (const l of Object.values(m)) n += l.length;
  return n;
}

export function flattenPlanned(m: Record<string, Allocation[]>): Allocation[] {
  return Object.values(m).flat();
}
