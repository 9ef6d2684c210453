/**
 * `PUT /v1/operator/sim` (`drover sim`): "what if" questions answered by the real scheduler on a copy of the
 * state. Drover's own endpoint (Nomad has none), in Nomad's JSON naming.
 */
import type { AllocMetric } from './alloc.js';
import type { Job } from './job.js';

/** Add `Count` nodes copied from node `Like` (ID or name), optionally with another class, CPU or memory. */
export interface SimAddNodes {
  Count: number;
  Like: string;
  NodeClass?: string;
  /** MHz of CPU shares the new nodes offer (before their reserved part). */
  CPU?: number;
  MemoryMB?: number;
}

export interface SimScale {
  JobID: string;
  /** Empty when the job has exactly one group. */
  Group: string;
  Count: number;
}

export interface SimMaxCount {
  JobID: string;
  /** Empty when the job has exactly one group. */
  Group: string;
}

export interface SimRequest {
  /** Namespace of JobIDs in Scale and MaxCount, and of Jobs without one; "default" when empty. */
  Namespace?: string;
  AddNodes?: SimAddNodes[] | null;
  /** Node IDs, ID prefixes or names: the nodes go away (their allocations are lost and rescheduled). */
  RemoveNodes?: string[] | null;
  /** Nodes drained: ineligible, every service and batch allocation on them migrated at once. */
  DrainNodes?: string[] | null;
  /** Every node of these datacenters goes down. */
  FailDatacenters?: string[] | null;
  /** Jobs registered (new) or updated, as `job run` would. */
  Jobs?: Job[] | null;
  Scale?: SimScale[] | null;
  /** The largest count of this group that fits, after the other what-ifs. */
  MaxCount?: SimMaxCount | null;
}

/** One task group the simulation evaluated, before and after. */
export interface SimGroupOutcome {
  Namespace: string;
  JobID: string;
  TaskGroup: string;
  /** The group's count after the what-ifs. */
  Desired: number;
  /** Live (not terminal) allocations before the what-ifs, in the live state. */
  RunningBefore: number;
  /** Live allocations after the simulated evaluations. */
  Running: number;
  /** Allocations placed by the simulation (new or replacements). */
  Placed: number;
  Stopped: number;
  /** Placements the scheduler could not make. */
  Unplaced: number;
  /** Why not: the scheduler's own metrics (DimensionExhausted, ConstraintFiltered, ...). */
  Metrics: AllocMetric | null;
}

export interface SimResourceUse {
  Used: number;
  Total: number;
}

export interface SimNodeUsage {
  ID: string;
  Name: string;
  Datacenter: string;
  NodeClass: string;
  Status: string;
  SchedulingEligibility: string;
  /** Created by an AddNodes what-if. */
  Added: boolean;
  Allocs: number;
  CPU: SimResourceUse;
  MemoryMB: SimResourceUse;
  DiskMB: SimResourceUse;
  /** CPU and memory used before the what-ifs. */
  CPUBefore: number;
  MemoryMBBefore: number;
  /** What the simulation placed on this node, per job and group (the UI draws these as new blocks). */
  Placed: SimNodePlacement[];
  /** Allocations the simulation stopped (or marked lost) on this node, and those it preempted. */
  Stopped: number;
  Preempted: number;
}

/** Instances of one group the simulation placed on one node, and what they reserve in all. */
export interface SimNodePlacement {
  Namespace: string;
  JobID: string;
  TaskGroup: string;
  Count: number;
  CPU: number;
  MemoryMB: number;
}

export interface SimPreemption {
  AllocID: string;
  Namespace: string;
  JobID: string;
  TaskGroup: string;
  NodeID: string;
  PreemptedByAllocation: string;
}

export interface SimMaxCountResult {
  Namespace: string;
  JobID: string;
  TaskGroup: string;
  /** The largest count with every instance placed. */
  Count: number;
  /** The group's count before the search. */
  Current: number;
  /** Scheduler runs the binary search made. */
  Probes: number;
  /** The probe limit stopped the search first: Count fits, but a larger count may too. */
  Truncated: boolean;
  /** Why one more does not fit: the scheduler's metrics at Count + 1. */
  Metrics: AllocMetric | null;
}

export interface SimCapacity {
  Nodes: number;
  CPU: SimResourceUse;
  MemoryMB: SimResourceUse;
}

export interface SimResult {
  /** The state index the simulation copied; the live state is never written. */
  Index: number;
  /** The what-ifs applied, one sentence each. */
  Changes: string[];
  Groups: SimGroupOutcome[];
  /** Every node when there are at most 100, otherwise the nodes the what-ifs touched. */
  Nodes: SimNodeUsage[];
  /** Ready, eligible nodes and their use after the simulation. */
  Capacity: SimCapacity;
  Preemptions: SimPreemption[];
  MaxCount: SimMaxCountResult | null;
  /** Evaluations the simulation ran (the max-count search's included). */
  Evaluations: number;
  DurationMs: number;
}
