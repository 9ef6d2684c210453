/**
 * The service and batch scheduler.
 *
 *   process(eval) ─► pass: reconcile ─► stops, in-place updates ─► placements (stack) ─► plan
 *        ▲                                                                           │
 *        └──── applier refused part of it (RefreshIndex): retry on fresher state ◄───┘
 *   then: follow-up evals, ONE blocked eval for failed placements, eval ─► complete
 *   (too many refused plans ─► eval failed + blocked eval triggered by max-plan-attempts)
 */
import type {
  AllocMetric,
  Allocation,
  DesiredUpdates,
  Evaluation,
  Job,
  NetworkResource,
  Node,
} from '../structs/index.js';
import {
  AllocClientStatusLost,
  AllocClientStatusPending,
  AllocClientStatusRunning,
  AllocDesiredStatusEvict,
  AllocDesiredStatusStop,
  EvalStatusBlocked,
  EvalStatusComplete,
  EvalStatusFailed,
  EvalTriggerMaxPlans,
  EvalTriggerQueuedAllocs,
  NodeStatusDown,
  NS_PER_MS,
  generateUUID,
  planIsNoOp,
} from '../structs/index.js';
import { EvalEligibility, nodeFeasible } from './feasible/feasibility.js';
import { buildGroupSpec, type GroupSpec } from './feasible/group-spec.js';
import { assignPorts, PlacementStack } from './feasible/select.js';
import { newAllocation, PlanBuilder, readyNodes } from './plan-builder.js';
import { reconcile } from './reconciler/reconcile.js';
import { nextRescheduleTracker } from './reconciler/reschedule.js';
import { AllocInPlace, AllocLost, AllocUpdating, type PlaceRequest, type ReconcileResult } from './reconciler/types.js';
import { seededRng } from './rng.js';
import type { Planner, Scheduler, SchedulerOptions, SchedulerState } from './types.js';

export interface PassOutcome {
  builder: PlanBuilder;
  failed: Record<string, AllocMetric>;
  queued: Record<string, number>;
  desired: Record<string, DesiredUpdates>;
  followups: Evaluation[];
  elig: EvalEligibility;
  deploymentID: string;
}

export class GenericScheduler implements Scheduler {
  constructor(
    private state: SchedulerState,
    private readonly planner: Planner,
    private readonly opts: SchedulerOptions,
    private readonly batch: boolean,
  ) {}

  async process(ev: Evaluation): Promise<void> {
    const maxAttempts = this.batch ? 2 : 5;
    let attempts = 0;
    let out: PassOutcome;
    for (;;) {
      out = this.pass(ev);
      for (const f of out.followups) await this.planner.createEval(f);
      const plan = out.builder.plan;
      if (ev.AnnotatePlan) plan.Annotations = { DesiredTGUpdates: out.desired };
      if (planIsNoOp(plan) && !ev.AnnotatePlan) break;
      const { result, state } = await this.planner.submitPlan(plan);
      if (!result.RefreshIndex) break;
      if (state) this.state = state;
      const progress = Object.keys(result.NodeAllocation).length + Object.keys(result.NodeUpdate).length > 0;
      attempts = progress ? 0 : attempts + 1;
      if (attempts >= maxAttempts) return this.failMaxPlans(ev, out, maxAttempts);
    }
    await this.finish(ev, out);
  }

  private async finish(ev: Evaluation, out: PassOutcome): Promise<void> {
    const updated = outcomeEval(ev, out, this.opts.clock.now());
    if (Object.keys(out.failed).length > 0) {
      if (ev.Status === EvalStatusBlocked) {
        await this.planner.reblockEval({
          ...updated,
          Status: EvalStatusBlocked,
          ClassEligibility: out.elig.classEligibility(),
          EscapedComputedClass: out.elig.escaped,
        });
        return;
      }
      const blocked = blockedEval(
        ev,
        out,
        EvalTriggerQueuedAllocs,
        'created to place remaining allocations',
        this.opts.clock.now(),
      );
      await this.planner.createEval(blocked);
      updated.BlockedEval = blocked.ID;
    }
    updated.Status = EvalStatusComplete;
    this.opts.logger.debug('eval processed', {
      eval_id: ev.ID,
      job_id: ev.JobID,
      placed: countAllocs(out.builder.plan.NodeAllocation),
      stopped: countAllocs(out.builder.plan.NodeUpdate),
      failed_groups: Object.keys(out.failed),
      blocked_eval: updated.BlockedEval,
    });
    await this.planner.updateEval(updated);
  }

  private async failMaxPlans(ev: Evaluation, out: PassOutcome, max: number): Promise<void> {
    const updated = outcomeEval(ev, out, this.opts.clock.now());
    const blocked = blockedEval(
      ev,
      out,
      EvalTriggerMaxPlans,
      'created due to placement conflicts',
      this.opts.clock.now(),
    );
    await this.planner.createEval(blocked);
    updated.BlockedEval = blocked.ID;
    updated.Status = EvalStatusFailed;
    updated.StatusDescription = `maximum attempts reached (${max})`;
    this.opts.logger.warn('eval failed: plan refused too often', { eval_id: ev.ID, job_id: ev.JobID, attempts: max });
    await this.planner.updateEval(updated);
  }

  /** One scheduling pass against the current state. Pure apart from the RNG and ID generation. */
  pass(ev: Evaluation): PassOutcome {
    const state = this.state;
    const job = state.jobByID(ev.Namespace, ev.JobID) ?? null;
    const allocs = state.allocsByJob(ev.Namespace, ev.JobID);
    const nowMs = this.opts.clock.now();
    const b = new PlanBuilder(state, ev, job, ev.Namespace, ev.JobID);
    const res = reconcile({
      job,
      namespace: ev.Namespace,
      jobID: ev.JobID,
      allocs,
      state,
      eval: ev,
      nowMs,
      newID: generateUUID,
    });
    const out: PassOutcome = {
      builder: b,
      failed: {},
      queued: {},
      desired: {},
      followups: res.followupEvals,
      elig: new EvalEligibility(),
      deploymentID: res.deployment?.ID ?? '',
    };
    for (const tg of job?.TaskGroups ?? []) out.queued[tg.Name] = 0;
    markStoppedAllocsLost(b, allocs);
    for (const [name, ch] of res.groups) {
      out.desired[name] = ch.desired;
      for (const s of ch.stop) b.stop(s.alloc, s.description, s.clientStatus);
      for (const a of ch.attributeUpdates) b.update(a);
    }
    if (job && !job.Stop) new Placer(this.opts, b, job, res, out, nowMs, this.batch).run();
    if (res.deploymentChanged && res.deployment) b.plan.Deployment = res.deployment;
    if (res.deploymentUpdates.length > 0) b.plan.DeploymentUpdates = res.deploymentUpdates;
    return out;
  }
}

/** Allocs the server already stopped but whose node went down before the client confirmed: lost. */
function markStoppedAllocsLost(b: PlanBuilder, allocs: Allocation[]): void {
  for (const a of allocs) {
    if (a.DesiredStatus !== AllocDesiredStatusStop && a.DesiredStatus !== AllocDesiredStatusEvict) continue;
    if (a.ClientStatus !== AllocClientStatusRunning && a.ClientStatus !== AllocClientStatusPending) continue;
    const node = b.state.nodeByID(a.NodeID);
    if (node && node.Status !== NodeStatusDown) continue;
    b.stop(a, AllocLost, AllocClientStatusLost);
  }
}

/** Turns the reconciler's place requests and in-place updates into plan entries. */
class Placer {
  private stack: PlacementStack | null = null;
  private readonly specs = new Map<string, GroupSpec>();
  private readonly rng: () => number;

  constructor(
    private readonly opts: SchedulerOptions,
    private readonly builder: PlanBuilder,
    private readonly job: Job,
    private readonly res: ReconcileResult,
    private readonly out: PassOutcome,
    private readonly nowMs: number,
    private readonly batch: boolean,
  ) {
    this.rng = opts.rng ?? seededRng(builder.ev.ID);
  }

  private spec(group: string): GroupSpec {
    let s = this.specs.get(group);
    if (!s) {
      const tg = this.job.TaskGroups.find((g) => g.Name === group)!;
      this.specs.set(group, (s = buildGroupSpec(this.job, tg)));
    }
    return s;
  }

  private getStack(): PlacementStack {
    if (!this.stack) {
      const cfg = this.builder.state.schedulerConfig();
      const pass = readyNodes(this.builder.state, this.job, this.rng);
      this.stack = new PlacementStack(pass, this.builder.usage, this.builder.jobs, this.out.elig, {
        batch: this.batch,
        algorithm: cfg.SchedulerAlgorithm,
      });
    }
    return this.stack;
  }

  run(): void {
    for (const [group, ch] of this.res.groups) {
      if (!this.job.TaskGroups.some((g) => g.Name === group)) continue;
      const place = ch.place.slice();
      for (const a of ch.inplace) {
        const asDestructive = this.inplace(a);
        if (asDestructive) {
          place.push(asDestructive);
          ch.desired.InPlaceUpdate--;
          ch.desired.DestructiveUpdate++;
        }
      }
      for (const req of place) this.placeOne(req);
    }
  }

  /** Applies an in-place update, or returns a destructive place request when the node no longer fits. */
  private inplace(a: Allocation): PlaceRequest | null {
    const node = this.builder.state.nodeByID(a.NodeID);
    const spec = this.spec(a.TaskGroup);
    const m = this.getStack().newMetric();
    if (!node || !nodeFeasible(spec, node, m, this.out.elig, this.builder.jobs)) {
      return {
        name: a.Name,
        group: a.TaskGroup,
        previous: a,
        reschedule: null,
        canary: false,
        stopPrevious: AllocUpdating,
      };
    }
    const dep = this.res.deployment;
    const moved = dep !== null && a.DeploymentID !== dep.ID;
    this.builder.update({
      ...a,
      Job: this.job,
      EvalID: this.builder.ev.ID,
      DesiredDescription: AllocInPlace,
      DeploymentID: dep?.ID ?? a.DeploymentID,
      DeploymentStatus: moved ? null : a.DeploymentStatus,
      ModifyTime: this.nowMs * NS_PER_MS,
    });
    return null;
  }

  private placeOne(req: PlaceRequest): void {
    const group = req.group;
    const failed = this.out.failed[group];
    if (failed) {
      failed.CoalescedFailures++;
      this.out.queued[group] = (this.out.queued[group] ?? 0) + 1;
      this.backOut(req);
      return;
    }
    const spec = this.spec(group);
    if (req.stopPrevious && req.previous) this.builder.stop(req.previous, req.stopPrevious);
    const stack = this.getStack();
    const start = performance.now();
    const { best, metric } = stack.select(spec, { penaltyNodes: penaltyNodes(req) });
    const networks = best ? assignPorts(spec, best.node, best.usage, this.rng) : null;
    metric.AllocationTime = Math.round((performance.now() - start) * NS_PER_MS);
    if (!best || !networks) {
      this.out.failed[group] = metric;
      this.out.queued[group] = (this.out.queued[group] ?? 0) + 1;
      if (req.stopPrevious && req.previous) this.builder.unstop(req.previous);
      this.backOut(req);
      return;
    }
    this.commit(req, spec, best.node, networks, metric);
  }

  /** A reschedule that found no node is recorded on the failed alloc, so the next eval retries it. */
  private backOut(req: PlaceRequest): void {
    if (!req.reschedule || !req.previous) return;
    const prev = req.previous;
    this.builder.update({
      ...prev,
      RescheduleTracker: { Events: prev.RescheduleTracker?.Events ?? null, LastReschedule: 'failed' },
    });
  }

  private commit(
    req: PlaceRequest,
    spec: GroupSpec,
    node: Node,
    networks: ReturnType<typeof assignPorts> & object,
    metric: AllocMetric,
  ): void {
    const dep = this.batch ? null : this.res.deployment;
    const tracker =
      req.reschedule && req.previous
        ? nextRescheduleTracker(this.job, spec.tg, req.previous, this.nowMs, req.reschedule.delayNs)
        : null;
    const alloc = newAllocation({
      id: generateUUID(),
      ev: this.builder.ev,
      job: this.job,
      spec,
      node,
      name: req.name,
      networks,
      metric,
      deployment: dep && dep.TaskGroups[spec.tg.Name] ? dep : null,
      canary: req.canary,
      previous: req.previous,
      tracker,
      nowNs: this.nowMs * NS_PER_MS,
      memoryOversubscription: this.builder.state.schedulerConfig().MemoryOversubscriptionEnabled,
    });
    this.builder.place(node, alloc, {
      cpu: spec.cpu,
      memoryMB: spec.memoryMB,
      diskMB: spec.diskMB,
      ports: hostPorts(networks),
    });
    if (req.canary && dep) {
      const st = dep.TaskGroups[spec.tg.Name];
      if (st) {
        st.PlacedCanaries = [...(st.PlacedCanaries ?? []), alloc.ID];
        this.res.deploymentChanged = true;
      }
    }
  }
}

function countAllocs(m: Record<string, Allocation[]>): number {
  let n = 0;
  for (const allocs of Object.values(m)) n += allocs.length;
  return n;
}

function hostPorts(nets: NetworkResource[]): number[] {
  const out: number[] = [];
  for (const n of nets) {
    for (const p of n.ReservedPorts ?? []) if (p.Value > 0) out.push(p.Value);
    for (const p of n.DynamicPorts ?? []) if (p.Value > 0) out.push(p.Value);
  }
  return out;
}

function penaltyNodes(req: PlaceRequest): Set<string> | null {
  if (!req.reschedule || !req.previous) return null;
  const s = new Set<string>([req.previous.NodeID]);
  for (const e of req.previous.RescheduleTracker?.Events ?? []) s.add(e.PrevNodeID);
  return s;
}

function outcomeEval(ev: Evaluation, out: PassOutcome, nowMs: number): Evaluation {
  const failed = Object.keys(out.failed).length > 0 ? out.failed : null;
  return {
    ...ev,
    FailedTGAllocs: failed,
    QueuedAllocations: out.queued,
    PlanAnnotations: { DesiredTGUpdates: out.desired },
    DeploymentID: out.deploymentID || ev.DeploymentID,
    SnapshotIndex: out.builder.plan.SnapshotIndex,
    ModifyTime: nowMs * NS_PER_MS,
  };
}

function blockedEval(
  ev: Evaluation,
  out: PassOutcome,
  trigger: string,
  description: string,
  nowMs: number,
): Evaluation {
  return {
    ...ev,
    ID: generateUUID(),
    TriggeredBy: trigger,
    Status: EvalStatusBlocked,
    StatusDescription: description,
    PreviousEval: ev.ID,
    NextEval: '',
    BlockedEval: '',
    WaitUntil: null,
    Wait: 0,
    FailedTGAllocs: null,
    ClassEligibility: out.elig.classEligibility(),
    EscapedComputedClass: out.elig.escaped,
    AnnotatePlan: false,
    PlanAnnotations: null,
    QueuedAllocations: null,
    SnapshotIndex: out.builder.plan.SnapshotIndex,
    CreateIndex: 0,
    ModifyIndex: 0,
    CreateTime: nowMs * NS_PER_MS,
    ModifyTime: nowMs * NS_PER_MS,
  };
}
