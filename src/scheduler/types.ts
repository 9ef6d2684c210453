/**
 * The scheduler's seam (as in Nomad): a read-only State, a Planner, and Scheduler.process(eval).
 * The scheduler sees only these and `structs`; never the server, client or HTTP. So it is tested and
 * benchmarked alone with the harness in `scheduler/testing/`.
 */
import type {
  Allocation,
  Deployment,
  Evaluation,
  Job,
  Node,
  NodeResourceUsage,
  Plan,
  PlanResult,
} from '../structs/index.js';
import type { Logger } from '../logging/index.js';

export interface SchedulerConfiguration {
  /** 'binpack' (default) or 'spread'. */
  SchedulerAlgorithm: 'binpack' | 'spread';
  PreemptionConfig: {
    SystemSchedulerEnabled: boolean;
    SysBatchSchedulerEnabled: boolean;
    BatchSchedulerEnabled: boolean;
    ServiceSchedulerEnabled: boolean;
  };
  MemoryOversubscriptionEnabled: boolean;
}

export const defaultSchedulerConfiguration = (): SchedulerConfiguration => ({
  SchedulerAlgorithm: 'binpack',
  PreemptionConfig: {
    SystemSchedulerEnabled: true,
    SysBatchSchedulerEnabled: false,
    BatchSchedulerEnabled: false,
    ServiceSchedulerEnabled: false,
  },
  MemoryOversubscriptionEnabled: true,
});

/** A consistent, read-only view of the cluster at one index. Objects it returns must not be mutated. */
export interface SchedulerState {
  /** The state index this view is at. */
  index(): number;
  nodes(): Iterable<Node>;
  /**
   * Optional: an object that stays the same exactly as long as the set of nodes (and every node) is
   * unchanged, so the scheduler can reuse what it derived from `nodes()` across evaluations.
   */
  nodesVersion?(): object;
  nodeByID(id: string): Node | undefined;
  jobByID(namespace: string, id: string): Job | undefined;
  /** Every allocation of the job, terminal ones included. */
  allocsByJob(namespace: string, jobID: string): Allocation[];
  /** Every allocation on the node, terminal ones included. */
  allocsByNode(nodeID: string): Allocation[];
  allocByID(id: string): Allocation | undefined;
  /**
   * The summed resources of the node's live allocations (undefined when it has none), as the state
   * store maintains them. Optional: without it the scheduler sums `allocsByNode` itself.
   */
  nodeUsage?(nodeID: string): NodeResourceUsage | undefined;
  /** Optional, with `nodeUsage`: every node that holds live allocations, with its sum. */
  nodeUsages?(): Iterable<[string, NodeResourceUsage]>;
  latestDeploymentByJobID(namespace: string, jobID: string): Deployment | undefined;
  deploymentByID(id: string): Deployment | undefined;
  schedulerConfig(): SchedulerConfiguration;
}

export interface Planner {
  /**
   * Submits a plan to the plan applier. When part of it was refused, `result.RefreshIndex` is set and
   * `state` is a fresher view to plan against again.
   */
  submitPlan(plan: Plan): Promise<{ result: PlanResult; state?: SchedulerState }>;
  updateEval(ev: Evaluation): Promise<void>;
  createEval(ev: Evaluation): Promise<void>;
  /** Blocks an eval again that was already blocked (its class eligibility changed). */
  reblockEval(ev: Evaluation): Promise<void>;
}

export interface Clock {
  /** Unix milliseconds. */
  now(): number;
}

export interface Scheduler {
  process(ev: Evaluation): Promise<void>;
}

export interface SchedulerOptions {
  logger: Logger;
  clock: Clock;
  /** Seeded from the eval ID by default, so runs are reproducible. */
  rng?: () => number;
}

export type SchedulerFactory = (state: SchedulerState, planner: Planner, opts: SchedulerOptions) => Scheduler;
