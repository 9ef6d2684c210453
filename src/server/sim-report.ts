/**
 * The report of a simulation (sim.ts): each evaluated group before and after with the scheduler's own reasons for
 * what did not fit, per-node use before and after, and what was preempted. Pure: reads two views and the plans.
 */
import {
  NodeSchedulingIneligible,
  NodeStatusReady,
  allocTerminalStatus,
  type AllocMetric,
  type Allocation,
  type Job,
  type Node,
  type PlanResult,
  type SimNodePlacement,
  type SimNodeUsage,
  type SimPreemption,
  type SimResult,
} from '../structs/index.js';
import { nodeCapacity } from '../scheduler/index.js';
import type { StateView } from '../state/index.js';

/** What the simulation's evaluations produced. */
export interface SimRun {
  results: PlanResult[];
  /** Per `ns\0job\0group`: the metrics of the placements that failed. */
  failed: Map<string, AllocMetric>;
  evals: number;
}

/** All nodes are listed up to this many; beyond, only the nodes the simulation touched. */
const LIST_ALL_NODES = 100;

export interface SimReportInput {
  before: StateView;
  after: StateView;
  changes: string[];
  groups: { job: Job; group: string }[];
  addedNodes: Set<string>;
  touchedNodes: Set<string>;
  run: SimRun;
  maxCount: SimResult['MaxCount'];
  durationMs: number;
}

const gkey = (ns: string, job: string, group: string) => `${ns}\u0000${job}\u0000${group}`;

/** Live allocations per group of a job, one walk of its allocations per job and view. */
function liveByGroup(view: StateView, cache: Map<string, Map<string, number>>, job: Job): Map<string, number> {
  const k = `${job.Namespace}\u0000${job.ID}`;
  let m = cache.get(k);
  if (m) return m;
  m = new Map();
  for (const a of view.allocsByJob(job.Namespace, job.ID))
    if (!allocTerminalStatus(a)) m.set(a.TaskGroup, (m.get(a.TaskGroup) ?? 0) + 1);
  cache.set(k, m);
  return m;
}

/** What the plans did to each node: placements per group with their reservations, stops, preemptions. */
interface NodeEffects {
  placed: Map<string, SimNodePlacement>;
  stopped: number;
  preempted: number;
}

function allocAsk(a: Allocation) {
  let cpu = 0;
  let mem = 0;
  for (const t of Object.values(a.AllocatedResources?.Tasks ?? {})) {
    cpu += t.Cpu?.CpuShares ?? 0;
    mem += t.Memory?.MemoryMB ?? 0;
  }
  return { cpu, mem };
}

export function buildSimReport(i: SimReportInput): SimResult {
  const placed = new Map<string, number>();
  const stopped = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const effects = new Map<string, NodeEffects>();
  const effectsOf = (node: string) => {
    let e = effects.get(node);
    if (!e) effects.set(node, (e = { placed: new Map(), stopped: 0, preempted: 0 }));
    return e;
  };
  const preemptions: SimPreemption[] = [];
  for (const r of i.run.results) {
    for (const [node, list] of Object.entries(r.NodeAllocation)) {
      const e = effectsOf(node);
      for (const a of list) {
        if (i.before.allocByID(a.ID) != null) continue;
        const k = gkey(a.Namespace, a.JobID, a.TaskGroup);
        bump(placed, k);
        const ask = allocAsk(a);
        const p = e.placed.get(k);
        if (p) {
          p.Count++;
          p.CPU += ask.cpu;
          p.MemoryMB += ask.mem;
        } else
          e.placed.set(k, {
            Namespace: a.Namespace,
            JobID: a.JobID,
            TaskGroup: a.TaskGroup,
            Count: 1,
            CPU: ask.cpu,
            MemoryMB: ask.mem,
          });
      }
    }
    for (const [node, list] of Object.entries(r.NodeUpdate)) {
      effectsOf(node).stopped += list.length;
      for (const a of list) bump(stopped, gkey(a.Namespace, a.JobID, a.TaskGroup));
    }
    for (const [node, list] of Object.entries(r.NodePreemptions)) {
      effectsOf(node).preempted += list.length;
      for (const a of list)
        preemptions.push({
          AllocID: a.ID,
          Namespace: a.Namespace,
          JobID: a.JobID,
          TaskGroup: a.TaskGroup,
          NodeID: node,
          PreemptedByAllocation: a.PreemptedByAllocation,
        });
    }
  }
  const liveBefore = new Map<string, Map<string, number>>();
  const liveAfter = new Map<string, Map<string, number>>();
  const groups = i.groups.map(({ job, group }) => {
    const k = gkey(job.Namespace, job.ID, group);
    const m = i.run.failed.get(k) ?? null;
    const current = i.after.jobByID(job.Namespace, job.ID) ?? job;
    return {
      Namespace: job.Namespace,
      JobID: job.ID,
      TaskGroup: group,
      Desired: current.TaskGroups.find((g) => g.Name === group)?.Count ?? 0,
      RunningBefore: liveByGroup(i.before, liveBefore, job).get(group) ?? 0,
      Running: liveByGroup(i.after, liveAfter, job).get(group) ?? 0,
      Placed: placed.get(k) ?? 0,
      Stopped: stopped.get(k) ?? 0,
      Unplaced: m == null ? 0 : m.CoalescedFailures + 1,
      Metrics: m,
    };
  });
  const all = [...i.after.nodes()];
  const listed =
    all.length <= LIST_ALL_NODES
      ? all
      : all.filter((n) => i.addedNodes.has(n.ID) || i.touchedNodes.has(n.ID) || effects.has(n.ID));
  const nodes = listed.map((n) => nodeUsage(i, n, effects.get(n.ID))).sort((a, b) => a.Name.localeCompare(b.Name));
  const cap = { Nodes: 0, CPU: { Used: 0, Total: 0 }, MemoryMB: { Used: 0, Total: 0 } };
  for (const n of all) {
    if (n.Status !== NodeStatusReady || n.SchedulingEligibility === NodeSchedulingIneligible) continue;
    const c = nodeCapacity(n);
    const u = i.after.nodeUsage(n.ID);
    cap.Nodes++;
    cap.CPU.Total += c.cpu;
    cap.CPU.Used += u?.cpu ?? 0;
    cap.MemoryMB.Total += c.memoryMB;
    cap.MemoryMB.Used += u?.memoryMB ?? 0;
  }
  return {
    Index: i.before.index(),
    Changes: i.changes,
    Groups: groups,
    Nodes: nodes,
    Capacity: cap,
    Preemptions: preemptions,
    MaxCount: i.maxCount,
    Evaluations: i.run.evals,
    DurationMs: Math.round(i.durationMs),
  };
}

function nodeUsage(i: SimReportInput, n: Node, e: NodeEffects | undefined): SimNodeUsage {
  const c = nodeCapacity(n);
  const u = i.after.nodeUsage(n.ID);
  const b = i.before.nodeUsage(n.ID);
  return {
    ID: n.ID,
    Name: n.Name,
    Datacenter: n.Datacenter,
    NodeClass: n.NodeClass,
    Status: n.Status,
    SchedulingEligibility: n.SchedulingEligibility,
    Added: i.addedNodes.has(n.ID),
    Allocs: u?.allocs ?? 0,
    CPU: { Used: u?.cpu ?? 0, Total: c.cpu },
    MemoryMB: { Used: u?.memoryMB ?? 0, Total: c.memoryMB },
    DiskMB: { Used: u?.diskMB ?? 0, Total: c.diskMB },
    CPUBefore: b?.cpu ?? 0,
    MemoryMBBefore: b?.memoryMB ?? 0,
    Placed: e
      ? [...e.placed.values()].sort((x, y) => x.JobID.localeCompare(y.JobID) || x.TaskGroup.localeCompare(y.TaskGroup))
      : [],
    Stopped: e?.stopped ?? 0,
    Preempted: e?.preempted ?? 0,
  };
}
