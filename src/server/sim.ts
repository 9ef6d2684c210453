/**
 * `drover sim` / `PUT /v1/operator/sim`: "what if" on a copy of the state, answered by the real scheduler.
 *
 *   snapshot (O(1)) ──► fork: an in-memory StateStore that persists nothing (StateStore.fork)
 *     ──► what-ifs written to the fork (nodes added / down / drained, jobs registered / scaled)
 *     ──► one evaluation per affected job, highest priority first: the real scheduler plans on the fork,
 *         the plan applier's own check (`evaluateAndCommit`) commits each plan into the fork
 *     ──► max-count: probes at count N, each a fresh fork of the result; a failing probe's placed count is the next N
 *     ──► report (sim-report.ts): per group before/after and why not, per node use, preemptions
 *
 * The live store is only read (one snapshot), so its index never moves because of a simulation.
 * Simplifications (docs/operations.md): a drain migrates every allocation at once (no max_parallel pacing),
 * follow-up evaluations the scheduler creates (delayed reschedules, rolling-update batches) are not run.
 */
import {
  AllocDesiredStatusRun,
  EvalTriggerJobRegister,
  EvalTriggerNodeDrain,
  EvalTriggerNodeUpdate,
  EvalStatusBlocked,
  NodeSchedulingIneligible,
  NodeStatusDown,
  NodeStatusReady,
  NodeSchedulingEligible,
  allocTerminalStatus,
  generateUUID,
  newJobEvaluation,
  type AllocMetric,
  type Evaluation,
  type Job,
  type Node,
  type Plan,
  type PlanResult,
  type SimRequest,
  type SimResult,
  type TaskGroup,
} from '../structs/index.js';
import { badRequest, type Problem } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import {
  StateStore,
  isPeriodicOrParameterized,
  upsertAllocs,
  upsertJob,
  upsertNode,
  updateNodeStatus,
  type StateSnapshot,
  type StateView,
  type WriteTxn,
} from '../state/index.js';
import {
  nodeCapacity,
  type Clock,
  type Planner,
  type SchedulerConfiguration,
  type SchedulerState,
} from '../scheduler/index.js';
import { evaluateAndCommit } from './plan-applier.js';
import type { AllocsFitFn } from './plan-fit.js';
import { schedulerStateOf } from './scheduler-state.js';
import type { NewSchedulerFn } from './worker.js';
import { buildSimReport, type SimRun } from './sim-report.js';

export interface SimDeps {
  logger: Logger;
  clock: Clock;
  newScheduler: NewSchedulerFn;
  allocsFit: AllocsFitFn;
  computeNodeClass(node: Node): string;
  schedulerConfig(): SchedulerConfiguration;
  /** Admission of a submitted job, as `job run` does (defaults, validation); throws on a bad job. */
  admit(job: Job, namespace: string): Job;
}

/**
 * Bounds that keep one request from wedging the server: nodes added in all, a group's count (Scale, Jobs and the
 * max-count search), placements asked in all (the group counts of the jobs registered or scaled; the max-count
 * search's highest probe), probes of a search. Between evaluations the simulation yields to the event loop, so
 * heartbeats and other requests are served while a long what-if runs; a server runs one simulation at a time.
 */
export const SIM_MAX_ADD_NODES = 10_000;
export const SIM_MAX_COUNT = 100_000;
export const SIM_MAX_PLACEMENTS = 20_000;
const MAX_PROBES = 40;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const key = (ns: string, id: string) => `${ns}\u0000${id}`;

/** Runs the what-ifs of `req` on a copy of `snap`; `snap`'s store is never written. */
export async function simulate(
  deps: SimDeps,
  snap: StateSnapshot,
  req: SimRequest,
  signal?: AbortSignal,
): Promise<SimResult> {
  const started = performance.now();
  const ns = req.Namespace || 'default';
  const fork = StateStore.fork(snap, deps.logger);
  const nowNs = deps.clock.now() * 1e6;
  const plan = planWhatIfs(deps, snap, req, ns);
  await fork.write((txn) => applyWhatIfs(deps, txn, plan, nowNs));
  const run: SimRun = { results: [], failed: new Map(), evals: 0 };
  const todo = plan.evaluate(fork.snapshot());
  for (const [job, trigger] of todo) {
    signal?.throwIfAborted();
    await yieldToLoop();
    await evaluate(deps, fork, job, trigger, run);
  }
  const maxCount = req.MaxCount ? await searchMaxCount(deps, fork.snapshot(), plan.maxCount!, run, signal) : null;
  return buildSimReport({
    before: snap,
    after: fork.snapshot(),
    changes: plan.changes,
    groups: todo.flatMap(([job]) => job.TaskGroups.map((tg) => ({ job, group: tg.Name }))),
    addedNodes: plan.addedNodes,
    touchedNodes: plan.touchedNodes,
    run,
    maxCount,
    durationMs: performance.now() - started,
  });
}

/** What the request asks for, checked against the snapshot; every problem is reported with its field path. */
interface WhatIfPlan {
  changes: string[];
  newNodes: Node[];
  addedNodes: Set<string>;
  downNodes: string[];
  drainNodes: string[];
  touchedNodes: Set<string>;
  jobs: Job[];
  maxCount: { job: Job; group: string } | undefined;
  /** The jobs to evaluate on the fork after the what-ifs, highest priority first. */
  evaluate(view: StateView): [Job, string][];
}

function planWhatIfs(deps: SimDeps, snap: StateSnapshot, req: SimRequest, ns: string): WhatIfPlan {
  const problems: Problem[] = [];
  const changes: string[] = [];
  const newNodes: Node[] = [];
  const downNodes: string[] = [];
  const drainNodes: string[] = [];
  const touched = new Set<string>();
  const jobs = new Map<string, Job>();
  let overPlacements = false;
  const checkPlacements = (path: string) => {
    if (overPlacements) return;
    let total = 0;
    for (const j of jobs.values()) for (const g of j.TaskGroups) total += g.Count;
    if (total <= SIM_MAX_PLACEMENTS) return;
    overPlacements = true;
    problems.push({
      path,
      message: `the jobs registered or scaled ask for ${total} instances in all; at most ${SIM_MAX_PLACEMENTS} per simulation`,
    });
  };
  (req.AddNodes ?? []).forEach((a, i) => {
    const path = `AddNodes[${i}]`;
    if (!Number.isInteger(a.Count) || a.Count < 1 || a.Count + newNodes.length > SIM_MAX_ADD_NODES)
      problems.push({
        path: `${path}.Count`,
        message: `must be a whole number from 1 to ${SIM_MAX_ADD_NODES} (nodes added in all)`,
      });
    for (const f of ['CPU', 'MemoryMB'] as const) {
      const v = a[f];
      if (v != null && (!Number.isInteger(v) || v < 1))
        problems.push({ path: `${path}.${f}`, message: 'must be a positive whole number' });
    }
    const like = resolveNode(snap, a.Like, `${path}.Like`, problems);
    if (like == null || problems.length > 0) return;
    for (let k = 1; k <= a.Count; k++) newNodes.push(copyNode(like, a, k, newNodes.length));
    const size = [
      a.NodeClass != null ? `class ${a.NodeClass}` : '',
      a.CPU ? `${a.CPU} MHz` : '',
      a.MemoryMB ? `${a.MemoryMB} MB` : '',
    ]
      .filter(Boolean)
      .join(', ');
    changes.push(`add ${a.Count} node${a.Count === 1 ? '' : 's'} like ${like.Name}${size ? ` (${size})` : ''}`);
  });
  (req.RemoveNodes ?? []).forEach((ref, i) => {
    const n = resolveNode(snap, ref, `RemoveNodes[${i}]`, problems);
    if (n == null) return;
    downNodes.push(n.ID);
    changes.push(`remove node ${n.Name}`);
  });
  (req.FailDatacenters ?? []).forEach((dc, i) => {
    const ids = [...snap.nodes()].filter((n) => n.Datacenter === dc && n.Status !== NodeStatusDown).map((n) => n.ID);
    if (ids.length === 0)
      problems.push({ path: `FailDatacenters[${i}]`, message: `no live node in datacenter "${dc}"` });
    downNodes.push(...ids);
    changes.push(`fail datacenter ${dc} (${ids.length} node${ids.length === 1 ? '' : 's'})`);
  });
  (req.DrainNodes ?? []).forEach((ref, i) => {
    const n = resolveNode(snap, ref, `DrainNodes[${i}]`, problems);
    if (n == null) return;
    drainNodes.push(n.ID);
    changes.push(`drain node ${n.Name}`);
  });
  for (const id of [...downNodes, ...drainNodes]) touched.add(id);
  (req.Jobs ?? []).forEach((input, i) => {
    try {
      const job = deps.admit(input, input.Namespace || ns);
      job.TaskGroups.forEach((g, k) => {
        if (g.Count > SIM_MAX_COUNT)
          problems.push({
            path: `Jobs[${i}].TaskGroups[${k}].Count`,
            message: `must be a whole number from 0 to ${SIM_MAX_COUNT}`,
          });
      });
      jobs.set(key(job.Namespace, job.ID), job);
      checkPlacements(`Jobs[${i}]`);
      const prev = snap.jobByID(job.Namespace, job.ID);
      changes.push(`${prev ? 'update' : 'register'} job ${job.ID}`);
    } catch (e) {
      const err = e as { message?: string; problems?: Problem[] };
      const inner = err.problems ?? [];
      if (inner.length === 0) problems.push({ path: `Jobs[${i}]`, message: err.message ?? String(e) });
      for (const p of inner) problems.push({ ...p, path: `Jobs[${i}]${p.path ? `.${p.path}` : ''}` });
    }
  });
  (req.Scale ?? []).forEach((s, i) => {
    const path = `Scale[${i}]`;
    if (!Number.isInteger(s.Count) || s.Count < 0 || s.Count > SIM_MAX_COUNT)
      return problems.push({ path: `${path}.Count`, message: `must be a whole number from 0 to ${SIM_MAX_COUNT}` });
    const found = findGroup(snap, jobs, ns, s.JobID, s.Group, path, problems);
    if (found == null) return;
    const job = withCount(found.job, found.group, s.Count);
    jobs.set(key(job.Namespace, job.ID), job);
    checkPlacements(`${path}.Count`);
    changes.push(`scale ${job.ID}/${found.group} to ${s.Count}`);
  });
  let maxCount: WhatIfPlan['maxCount'];
  if (req.MaxCount) {
    const found = findGroup(snap, jobs, ns, req.MaxCount.JobID, req.MaxCount.Group, 'MaxCount', problems);
    if (found != null) maxCount = found;
  }
  if (problems.length > 0)
    throw badRequest(`invalid simulation: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  const addedNodes = new Set(newNodes.map((n) => n.ID));
  return {
    changes,
    newNodes,
    addedNodes,
    downNodes,
    drainNodes,
    touchedNodes: touched,
    jobs: [...jobs.values()],
    maxCount,
    evaluate: (view) => affectedJobs(view, jobs, [...downNodes, ...drainNodes], newNodes.length > 0),
  };
}

/** A node by ID, unique name, or unique ID prefix; a problem when none or several match. */
function resolveNode(snap: StateSnapshot, ref: string, path: string, problems: Problem[]): Node | undefined {
  if (typeof ref !== 'string' || ref === '') {
    problems.push({ path, message: 'a node ID or name is required' });
    return undefined;
  }
  const byID = snap.nodeByID(ref);
  if (byID) return byID;
  const all = [...snap.nodes()];
  const byName = all.filter((n) => n.Name === ref);
  const matches = byName.length > 0 ? byName : all.filter((n) => n.ID.startsWith(ref));
  if (matches.length === 1) return matches[0];
  problems.push({
    path,
    message: matches.length === 0 ? `no node "${ref}"` : `"${ref}" matches ${matches.length} nodes: give the node ID`,
  });
  return undefined;
}

function findGroup(
  snap: StateSnapshot,
  jobs: Map<string, Job>,
  ns: string,
  jobID: string,
  group: string,
  path: string,
  problems: Problem[],
): { job: Job; group: string } | undefined {
  const job = jobs.get(key(ns, jobID)) ?? snap.jobByID(ns, jobID);
  if (job == null) {
    problems.push({ path: `${path}.JobID`, message: `no job "${jobID}" in namespace "${ns}"` });
    return undefined;
  }
  if (!group) {
    if (job.TaskGroups.length === 1) return { job, group: job.TaskGroups[0]!.Name };
    problems.push({
      path: `${path}.Group`,
      message: `job "${jobID}" has ${job.TaskGroups.length} groups: name one (${job.TaskGroups.map((g) => g.Name).join(', ')})`,
    });
    return undefined;
  }
  if (!job.TaskGroups.some((g) => g.Name === group)) {
    problems.push({ path: `${path}.Group`, message: `job "${jobID}" has no group "${group}"` });
    return undefined;
  }
  return { job, group };
}

function withCount(job: Job, group: string, count: number): Job {
  return { ...job, TaskGroups: job.TaskGroups.map((g) => (g.Name === group ? { ...g, Count: count } : g)) };
}

function copyNode(
  like: Node,
  a: { NodeClass?: string; CPU?: number; MemoryMB?: number },
  k: number,
  seq: number,
): Node {
  const r = like.NodeResources;
  return {
    ...like,
    ID: generateUUID(),
    Name: `${like.Name}-sim-${seq + 1}`,
    NodeClass: a.NodeClass ?? like.NodeClass,
    NodeResources: {
      ...r,
      Cpu: { ...r.Cpu, CpuShares: a.CPU ?? r.Cpu.CpuShares },
      Memory: { MemoryMB: a.MemoryMB ?? r.Memory.MemoryMB },
    },
    Status: NodeStatusReady,
    StatusDescription: `simulated (copy ${k} of ${like.Name})`,
    SchedulingEligibility: NodeSchedulingEligible,
    Drain: false,
    DrainStrategy: null,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

function applyWhatIfs(deps: SimDeps, txn: WriteTxn, plan: WhatIfPlan, nowNs: number): void {
  const nowS = Math.floor(nowNs / 1e9);
  for (const n of plan.newNodes) upsertNode(txn, n, deps.computeNodeClass(n), nowS);
  for (const id of plan.downNodes) updateNodeStatus(txn, id, NodeStatusDown, 'down in a simulation', nowS);
  for (const id of plan.drainNodes) {
    const n = txn.nodeByID(id)!;
    txn.put('nodes', {
      ...n,
      SchedulingEligibility: NodeSchedulingIneligible,
      Drain: true,
      DrainStrategy: {
        Deadline: 0,
        IgnoreSystemJobs: false,
        ForceDeadline: '',
        StartedAt: new Date(nowNs / 1e6).toISOString(),
      },
      ModifyIndex: txn.writeIndex,
    });
    const migrating = txn
      .allocsByNode(id)
      .filter((a) => !allocTerminalStatus(a) && a.Job?.Type !== 'system' && a.Job?.Type !== 'sysbatch')
      .map((a) => ({ ...a, DesiredTransition: { ...a.DesiredTransition, Migrate: true } }));
    upsertAllocs(txn, migrating, nowNs);
  }
  for (const j of plan.jobs) upsertJob(txn, j, { nowNs });
}

/**
 * The jobs an evaluation runs for, as the server would create them: registered or scaled jobs, jobs with live
 * allocations on nodes that went down or drain, system jobs when nodes were added, and the jobs blocked today
 * when capacity may have grown.
 */
function affectedJobs(
  view: StateView,
  changed: Map<string, Job>,
  nodes: string[],
  nodesAdded: boolean,
): [Job, string][] {
  const out = new Map<string, [Job, string]>();
  const add = (ns: string, id: string, trigger: string) => {
    const k = key(ns, id);
    if (out.has(k)) return;
    const j = view.jobByID(ns, id);
    if (j == null || j.Stop || isPeriodicOrParameterized(j)) return;
    out.set(k, [j, trigger]);
  };
  for (const j of changed.values()) add(j.Namespace, j.ID, EvalTriggerJobRegister);
  for (const id of nodes) {
    const trigger = view.nodeByID(id)?.Status === NodeStatusDown ? EvalTriggerNodeUpdate : EvalTriggerNodeDrain;
    for (const a of view.allocsByNode(id)) if (!allocTerminalStatus(a)) add(a.Namespace, a.JobID, trigger);
  }
  // Blocked jobs get another chance when capacity may have grown: nodes added, or jobs changed (scaled down).
  if (nodesAdded || changed.size > 0)
    for (const e of view.evals()) if (e.Status === EvalStatusBlocked) add(e.Namespace, e.JobID, EvalTriggerNodeUpdate);
  if (nodesAdded)
    for (const j of view.jobs())
      if (j.Type === 'system' || j.Type === 'sysbatch') add(j.Namespace, j.ID, EvalTriggerNodeUpdate);
  return [...out.values()].sort((a, b) => b[0].Priority - a[0].Priority);
}

/** The planner of a simulation: plans go through the plan applier's own check into the fork. */
class SimPlanner implements Planner {
  failed: Record<string, AllocMetric> | null = null;
  constructor(
    private readonly deps: SimDeps,
    private readonly fork: StateStore,
    private readonly evalID: string,
    private readonly run: SimRun,
  ) {}
  async submitPlan(plan: Plan): Promise<{ result: PlanResult; state?: SchedulerState }> {
    const nowNs = this.deps.clock.now() * 1e6;
    const { result } = await this.fork.write((txn) => evaluateAndCommit(txn, plan, this.deps.allocsFit, nowNs));
    this.run.results.push(result);
    if (result.RefreshIndex === 0) return { result };
    return { result, state: schedulerStateOf(this.fork.snapshot(), { config: this.deps.schedulerConfig() }) };
  }
  async updateEval(ev: Evaluation): Promise<void> {
    if (ev.ID === this.evalID) this.failed = ev.FailedTGAllocs;
  }
  async createEval(): Promise<void> {}
  async reblockEval(): Promise<void> {}
}

async function evaluate(
  deps: SimDeps,
  fork: StateStore,
  job: Job,
  trigger: string,
  run: SimRun,
): Promise<Record<string, AllocMetric> | null> {
  const snap = fork.snapshot();
  const ev = newJobEvaluation(job, trigger, deps.clock.now() * 1e6, {
    ModifyIndex: snap.index(),
    SnapshotIndex: snap.index(),
  });
  const planner = new SimPlanner(deps, fork, ev.ID, run);
  const state = schedulerStateOf(snap, { config: deps.schedulerConfig() });
  const sched = deps.newScheduler(job.Type, state, planner, { logger: deps.logger, clock: deps.clock });
  await sched.process(ev);
  run.evals++;
  for (const [g, m] of Object.entries(planner.failed ?? {}))
    run.failed.set(`${key(job.Namespace, job.ID)}\u0000${g}`, m);
  return planner.failed;
}

/**
 * The largest count of the group with every instance placed. Each probe is a real scheduler run on a fresh fork
 * (O(1)) at that count; `lo` is always a count seen to fit (0 always does), `hi` one seen not to. A probe that
 * does not fit still placed some instances before the scheduler gave up: that count is the next guess, so the
 * usual search is three probes (the capacity bound, the count placed there, one more) instead of a bisection
 * of ~14 over the whole range. Bisection takes over when a guess is wrong (constraints, spread, ports).
 */
async function searchMaxCount(
  deps: SimDeps,
  base: StateSnapshot,
  target: { job: Job; group: string },
  run: SimRun,
  signal?: AbortSignal,
): Promise<NonNullable<SimResult['MaxCount']>> {
  const job = base.jobByID(target.job.Namespace, target.job.ID) ?? target.job;
  const tg = job.TaskGroups.find((g) => g.Name === target.group)!;
  let probes = 0;
  let lastFail: { count: number; metrics: AllocMetric } | undefined;
  /** Whether `count` fits; when not, how many the scheduler did place. */
  const probe = async (count: number): Promise<{ fits: boolean; placed: number }> => {
    signal?.throwIfAborted();
    await yieldToLoop();
    probes++;
    const f = StateStore.fork(base, deps.logger);
    const nowNs = deps.clock.now() * 1e6;
    await f.write((txn) => upsertJob(txn, withCount(job, target.group, count), { nowNs }));
    const scratch: SimRun = { results: [], failed: new Map(), evals: 0 };
    const stored = f.snapshot().jobByID(job.Namespace, job.ID)!;
    const failed = await evaluate(deps, f, stored, EvalTriggerJobRegister, scratch);
    run.evals++;
    const m = failed?.[target.group];
    if (m == null) return { fits: true, placed: count };
    if (lastFail == null || count <= lastFail.count) lastFail = { count, metrics: m };
    return { fits: false, placed: liveCount(f.snapshot(), job, tg.Name) };
  };
  const bound = Math.min(upperBound(base, job, tg), SIM_MAX_COUNT, SIM_MAX_PLACEMENTS) + 1;
  const found = await maxFitSearch(bound, probe, MAX_PROBES);
  const lo = found.count;
  // The metrics of the first count that does not fit, for the report's "why not".
  if (lo < bound && lastFail?.count !== lo + 1 && probes < MAX_PROBES) await probe(lo + 1);
  return {
    Namespace: job.Namespace,
    JobID: job.ID,
    TaskGroup: tg.Name,
    Count: lo,
    Current: tg.Count,
    Probes: probes,
    Truncated: found.truncated,
    Metrics: lastFail?.metrics ?? null,
  };
}

/**
 * The largest count in [0, bound] that fits, given `probe` (0 is taken to fit; `bound` is probed first). A count
 * that does not fit suggests the next guess (how many the scheduler placed); when that guess fits, one more is
 * tried to confirm it is the answer; when that confirmation fits too, the guess was low and bisection takes
 * over (never a count-by-count scan). `truncated`: `maxProbes` ran out before the answer was pinned down, so
 * `count` fits but a larger one may too.
 */
export async function maxFitSearch(
  bound: number,
  probe: (count: number) => Promise<{ fits: boolean; placed: number }>,
  maxProbes: number,
): Promise<{ count: number; probes: number; truncated: boolean }> {
  let lo = 0;
  let hi = bound;
  let probes = 1;
  const first = await probe(hi);
  if (first.fits) return { count: hi, probes, truncated: false }; // nothing it asks runs out, or the bound was capped
  let guess: { count: number; kind: 'placed' | 'confirm' } | undefined = { count: first.placed, kind: 'placed' };
  while (hi - lo > 1 && probes < maxProbes) {
    const g: typeof guess = guess != null && guess.count > lo && guess.count < hi ? guess : undefined;
    const mid: number = g?.count ?? Math.floor((lo + hi) / 2);
    guess = undefined;
    probes++;
    const r = await probe(mid);
    if (r.fits) {
      lo = mid;
      // Most often the placed count is the answer: confirm one more does not fit. A confirmation that fits
      // means the placed count was low: bisect.
      if (g?.kind === 'placed' && mid + 1 < hi) guess = { count: mid + 1, kind: 'confirm' };
    } else {
      hi = mid;
      guess = { count: r.placed, kind: 'placed' };
    }
  }
  return { count: lo, probes, truncated: hi - lo > 1 };
}

function liveCount(view: StateView, job: Job, group: string): number {
  let n = 0;
  for (const a of view.allocsByJob(job.Namespace, job.ID))
    if (a.TaskGroup === group && a.DesiredStatus === AllocDesiredStatusRun && !allocTerminalStatus(a)) n++;
  return n;
}

/** Live instances of the group plus how many more its ask fits into the free capacity of schedulable nodes. */
function upperBound(view: StateView, job: Job, tg: TaskGroup): number {
  let cpu = 0;
  let mem = 0;
  for (const t of tg.Tasks) {
    cpu += t.Resources?.CPU ?? 0;
    mem += t.Resources?.MemoryMB ?? 0;
  }
  const disk = tg.EphemeralDisk?.SizeMB ?? 0;
  let n = liveCount(view, job, tg.Name);
  if (cpu <= 0 && mem <= 0 && disk <= 0) return n + 1000;
  for (const node of view.nodes()) {
    if (node.Status !== NodeStatusReady || node.SchedulingEligibility === NodeSchedulingIneligible) continue;
    const c = nodeCapacity(node);
    const u = view.nodeUsage(node.ID);
    const fits = [
      cpu > 0 ? (c.cpu - (u?.cpu ?? 0)) / cpu : Infinity,
      mem > 0 ? (c.memoryMB - (u?.memoryMB ?? 0)) / mem : Infinity,
      disk > 0 ? (c.diskMB - (u?.diskMB ?? 0)) / disk : Infinity,
    ];
    n += Math.max(0, Math.floor(Math.min(...fits)));
  }
  return n;
}
