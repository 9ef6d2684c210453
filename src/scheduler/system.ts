/**
 * The system and sysbatch scheduler: one allocation of each group on every eligible node.
 *
 *   for each ready node in the job's datacenters and pool × group:
 *     no alloc ─► feasible? place (named <job>.<group>[0]) : record why (one metric per group)
 *                 └─ no room and preemption enabled ─► evict lower-priority allocs, then place
 *     alloc of an older version ─► in-place or destructive update
 *   allocs on nodes that went down, left, or drained ─► stopped (lost when down)
 *   allocs on a disconnected node whose group has lost_after ─► unknown (kept), reconciled when it is back
 * A sysbatch alloc that completed is not run again. No blocked evals: a new node triggers its own eval.
 *
 * Rolling updates (an update block with max_parallel and stagger, as Nomad's system scheduler): at most
 * max_parallel destructive updates per group per eval; the rest wait for a follow-up eval at now + stagger.
 */
import type { AllocMetric, Allocation, DesiredUpdates, Evaluation, Job, Node } from '../structs/index.js';
import {
  AllocClientStatusComplete,
  AllocClientStatusLost,
  AllocClientStatusUnknown,
  EvalTriggerMaxDisconnectTimeout,
  EvalTriggerRollingUpdate,
  NodeStatusDisconnected,
  allocDisconnectPolicy,
  allocNeedsToReconnect,
  newJobEvaluation,
  EvalStatusComplete,
  EvalStatusFailed,
  NodeStatusDown,
  NS_PER_MS,
  allocName,
  allocTerminalStatus,
  generateUUID,
  planIsNoOp,
} from '../structs/index.js';
import { EvalEligibility, nodeFeasible } from './feasible/feasibility.js';
import { buildGroupSpec, type GroupSpec } from './feasible/group-spec.js';
import { mergeMetric } from './feasible/metrics.js';
import { assignPorts, PlacementStack } from './feasible/select.js';
import { newAllocation, PlanBuilder, readyNodes } from './plan-builder.js';
import { findPreemptions } from './preempt.js';
import {
  AllocInPlace,
  AllocLost,
  AllocMigrating,
  AllocNotNeeded,
  AllocUpdating,
  emptyDesiredUpdates,
} from './reconciler/types.js';
import { classifyDisconnect, disconnectTimeoutEval, markReconnected, markUnknown } from './reconciler/disconnect.js';
import { sameJobVersion, tasksUpdated } from './reconciler/update.js';
import { seededRng } from './rng.js';
import type { Planner, Scheduler, SchedulerOptions, SchedulerState } from './types.js';

interface SystemPass {
  builder: PlanBuilder;
  failed: Record<string, AllocMetric>;
  queued: Record<string, number>;
  desired: Record<string, DesiredUpdates>;
  /** Evals to create with the plan: disconnect timeouts, and the next batch of a rolling update. */
  followups: Evaluation[];
  /** Destructive updates made per group in this pass (the rolling-update limit counts them). */
  destructive: Map<string, number>;
  /** Groups with destructive updates left waiting for the next batch. */
  limited: Set<string>;
}

export class SystemScheduler implements Scheduler {
  constructor(
    private state: SchedulerState,
    private readonly planner: Planner,
    private readonly opts: SchedulerOptions,
    private readonly sysbatch: boolean,
  ) {}

  async process(ev: Evaluation): Promise<void> {
    const maxAttempts = 5;
    let attempts = 0;
    let out: SystemPass;
    for (;;) {
      out = this.pass(ev);
      const plan = out.builder.plan;
      if (ev.AnnotatePlan) plan.Annotations = { DesiredTGUpdates: out.desired };
      if (planIsNoOp(plan) && !ev.AnnotatePlan) break;
      const { result, state } = await this.planner.submitPlan(plan);
      if (!result.RefreshIndex) break;
      if (state) this.state = state;
      if (++attempts >= maxAttempts) {
        await this.planner.updateEval({
          ...this.outcome(ev, out),
          Status: EvalStatusFailed,
          StatusDescription: `maximum attempts reached (${maxAttempts})`,
        });
        return;
      }
    }
    this.opts.logger.debug('eval processed', {
      eval_id: ev.ID,
      job_id: ev.JobID,
      failed_groups: Object.keys(out.failed),
    });
    // Only the last pass's follow-ups: a refused plan's retry must not leave a second rolling-update chain.
    for (const f of out.followups) await this.planner.createEval(f);
    const next = out.followups.find((f) => f.TriggeredBy === EvalTriggerRollingUpdate);
    await this.planner.updateEval({
      ...this.outcome(ev, out),
      Status: EvalStatusComplete,
      ...(next ? { NextEval: next.ID } : {}),
    });
  }

  private outcome(ev: Evaluation, out: SystemPass): Evaluation {
    return {
      ...ev,
      FailedTGAllocs: Object.keys(out.failed).length > 0 ? out.failed : null,
      QueuedAllocations: out.queued,
      PlanAnnotations: { DesiredTGUpdates: out.desired },
      SnapshotIndex: out.builder.plan.SnapshotIndex,
      ModifyTime: this.opts.clock.now() * NS_PER_MS,
    };
  }

  private rng: () => number = Math.random;

  pass(ev: Evaluation): SystemPass {
    const state = this.state;
    this.rng = this.opts.rng ?? seededRng(ev.ID);
    const job = state.jobByID(ev.Namespace, ev.JobID) ?? null;
    const b = new PlanBuilder(state, ev, job, ev.Namespace, ev.JobID);
    const out: SystemPass = {
      builder: b,
      failed: {},
      queued: {},
      desired: {},
      followups: [],
      destructive: new Map(),
      limited: new Set(),
    };
    const allocs = state.allocsByJob(ev.Namespace, ev.JobID);
    const desired = (g: string) => (out.desired[g] ??= emptyDesiredUpdates());
    if (!job || job.Stop) {
      for (const a of allocs) {
        if (allocTerminalStatus(a)) continue;
        b.stop(a, AllocNotNeeded);
        desired(a.TaskGroup).Stop++;
      }
      return out;
    }
    const pass = readyNodes(state, job, null);
    const eligible = new Set(pass.nodes.map((n) => n.ID));
    const existing = this.stopUnneeded(b, job, allocs, eligible, desired, out);
    const stack = new PlacementStack(pass, b.usage, b.jobs, new EvalEligibility(), {
      batch: this.sysbatch,
      algorithm: 'binpack',
    });
    for (const tg of job.TaskGroups) {
      out.queued[tg.Name] = 0;
      const spec = buildGroupSpec(job, tg);
      for (const node of pass.nodes) {
        const have = existing.get(node.ID + '\u0000' + tg.Name);
        if (have) this.update(b, job, spec, node, have, stack, out, desired(tg.Name));
        else this.placeOn(b, job, spec, node, stack, out, desired(tg.Name), null);
      }
    }
    this.scheduleNextBatch(ev, job, out);
    return out;
  }

  /** The rolling-update limit of a group: max_parallel when the update block rolls (max_parallel and stagger set). */
  private rolling(job: Job, group: string): { maxParallel: number; staggerNs: number } | null {
    const u = job.TaskGroups.find((g) => g.Name === group)?.Update ?? job.Update;
    return u && u.MaxParallel > 0 && u.Stagger > 0 ? { maxParallel: u.MaxParallel, staggerNs: u.Stagger } : null;
  }

  /** When some group reached its max_parallel, one follow-up eval picks up the rest after the stagger. */
  private scheduleNextBatch(ev: Evaluation, job: Job, out: SystemPass): void {
    let staggerNs = -1;
    for (const group of out.limited) staggerNs = Math.max(staggerNs, this.rolling(job, group)?.staggerNs ?? -1);
    if (staggerNs < 0) return;
    const nowMs = this.opts.clock.now();
    out.followups.push(
      newJobEvaluation(job, EvalTriggerRollingUpdate, nowMs * NS_PER_MS, {
        ID: generateUUID(),
        StatusDescription: 'created for the next batch of a rolling update',
        WaitUntil: new Date(nowMs + staggerNs / NS_PER_MS).toISOString(),
        PreviousEval: ev.ID,
      }),
    );
  }

  /** Stops allocs that should no longer run; returns the rest, keyed by node and group. */
  private stopUnneeded(
    b: PlanBuilder,
    job: Job,
    allocs: Allocation[],
    eligible: Set<string>,
    desired: (g: string) => DesiredUpdates,
    out: SystemPass,
  ): Map<string, Allocation> {
    const existing = new Map<string, Allocation>();
    const groups = new Set(job.TaskGroups.map((g) => g.Name));
    for (const a of allocs) {
      const key = a.NodeID + '\u0000' + a.TaskGroup;
      if (allocTerminalStatus(a)) {
        // A finished sysbatch alloc of this version counts as done on its node.
        if (
          this.sysbatch &&
          a.ClientStatus === AllocClientStatusComplete &&
          sameJobVersion(a.Job, job) &&
          !existing.has(key)
        )
          existing.set(key, a);
        continue;
      }
      const node = b.state.nodeByID(a.NodeID);
      const disc =
        node && (node.Status === NodeStatusDisconnected || allocNeedsToReconnect(a))
          ? classifyDisconnect(a, node, this.opts.clock.now())
          : null;
      if (!node || node.Status === NodeStatusDown || disc === 'lost') {
        b.stop(a, AllocLost, AllocClientStatusLost);
        desired(a.TaskGroup).Stop++;
      } else if (disc) {
        // A system alloc is tied to its node: it is never replaced elsewhere, only held until the node returns.
        const kept = this.settleDisconnect(b, job, a, disc, out);
        if (node.Status === NodeStatusDisconnected) desired(a.TaskGroup).Ignore++;
        existing.set(key, kept);
      } else if (a.DesiredTransition?.Migrate) {
        b.stop(a, AllocMigrating);
        desired(a.TaskGroup).Migrate++;
      } else if (
        !groups.has(a.TaskGroup) ||
        (!eligible.has(a.NodeID) && node.SchedulingEligibility === 'eligible' && !node.DrainStrategy)
      ) {
        b.stop(a, AllocNotNeeded);
        desired(a.TaskGroup).Stop++;
      } else if (existing.has(key) && !allocTerminalStatus(existing.get(key)!)) {
        b.stop(a, AllocNotNeeded);
        desired(a.TaskGroup).Stop++;
      } else existing.set(key, a);
    }
    return existing;
  }

  private settleDisconnect(
    b: PlanBuilder,
    job: Job,
    a: Allocation,
    disc: 'disconnecting' | 'unknown' | 'reconnecting',
    out: SystemPass,
  ): Allocation {
    const nowMs = this.opts.clock.now();
    if (disc === 'unknown') return a;
    if (disc === 'reconnecting') {
      const back = markReconnected(a, nowMs);
      b.update(back);
      return back;
    }
    const atMs = nowMs + allocDisconnectPolicy(a).lostAfterNs / NS_PER_MS;
    const due = new Date(atMs).toISOString();
    let ev = out.followups.find((f) => f.TriggeredBy === EvalTriggerMaxDisconnectTimeout && f.WaitUntil === due);
    if (!ev)
      out.followups.push(
        (ev = disconnectTimeoutEval(job, job.ID, job.Namespace, b.ev.ID, generateUUID(), nowMs, atMs)),
      );
    const marked = markUnknown(a, nowMs, ev.ID);
    b.update(marked);
    return marked;
  }

  private update(
    b: PlanBuilder,
    job: Job,
    spec: GroupSpec,
    node: Node,
    a: Allocation,
    stack: PlacementStack,
    out: SystemPass,
    d: DesiredUpdates,
  ): void {
    // An unknown alloc (its node away, or back but not yet reporting) is left as it is until it reconnects.
    if (allocTerminalStatus(a) || sameJobVersion(a.Job, job) || a.ClientStatus === AllocClientStatusUnknown) {
      d.Ignore++;
      return;
    }
    const m = stack.newMetric();
    if (!tasksUpdated(a.Job, job, spec.tg.Name) && nodeFeasible(spec, node, m, new EvalEligibility(), b.jobs)) {
      b.update({ ...a, Job: job, EvalID: b.ev.ID, DesiredDescription: AllocInPlace });
      d.InPlaceUpdate++;
      return;
    }
    const g = spec.tg.Name;
    const done = out.destructive.get(g) ?? 0;
    const r = this.rolling(job, g);
    if (r && done >= r.maxParallel) {
      out.limited.add(g);
      d.Ignore++;
      return;
    }
    out.destructive.set(g, done + 1);
    b.stop(a, AllocUpdating);
    d.DestructiveUpdate++;
    if (!this.placeOn(b, job, spec, node, stack, out, null, a)) b.unstop(a);
  }

  /** Places one alloc of the group on this node; false (with the reason recorded) when it cannot. */
  private placeOn(
    b: PlanBuilder,
    job: Job,
    spec: GroupSpec,
    node: Node,
    stack: PlacementStack,
    out: SystemPass,
    d: DesiredUpdates | null,
    previous: Allocation | null,
  ): boolean {
    const g = spec.tg.Name;
    const m = stack.newMetric();
    let cand = stack.evaluate(spec, node, m, {});
    let preempted: Allocation[] | null = null;
    if (!cand && m.NodesExhausted > 0 && this.preemptionEnabled()) {
      preempted = findPreemptions(spec, node, job, b.usage);
      if (preempted) {
        for (const p of preempted) b.usage.remove(p);
        cand = stack.evaluate(spec, node, stack.newMetric(), {});
        if (!cand) for (const p of preempted) b.usage.unremove(p);
      }
    }
    const networks = cand ? assignPorts(spec, node, cand.usage, this.rng) : null;
    if (!cand || !networks) {
      this.recordFailure(out, g, m);
      return false;
    }
    const alloc = newAllocation({
      id: generateUUID(),
      ev: b.ev,
      job,
      spec,
      node,
      name: allocName(job.Name || job.ID, g, 0),
      networks,
      metric: m,
      deployment: null,
      canary: false,
      previous,
      tracker: null,
      nowNs: this.opts.clock.now() * NS_PER_MS,
      memoryOversubscription: b.state.schedulerConfig().MemoryOversubscriptionEnabled,
    });
    if (preempted) {
      for (const p of preempted) b.preempt(p, alloc.ID);
      alloc.PreemptedAllocations = preempted.map((p) => p.ID);
      (out.desired[g] ??= emptyDesiredUpdates()).Preemptions += preempted.length;
    }
    b.place(node, alloc);
    if (d) d.Place++;
    return true;
  }

  private recordFailure(out: SystemPass, g: string, m: AllocMetric): void {
    const prev = out.failed[g];
    if (prev) {
      mergeMetric(prev, m);
      prev.CoalescedFailures++;
    } else out.failed[g] = m;
    if (m.NodesExhausted > 0) out.queued[g] = (out.queued[g] ?? 0) + 1;
  }

  private preemptionEnabled(): boolean {
    const c = this.state.schedulerConfig().PreemptionConfig;
    return this.sysbatch ? c.SysBatchSchedulerEnabled : c.SystemSchedulerEnabled;
  }
}
