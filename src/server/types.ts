/**
 * The server's public surface: what the HTTP API (and the in-process client RPC) call. The HTTP layer
 * sees only this interface. Reads take an optional blocking-query spec: they wait until the state index
 * passes `minIndex` (or `waitMs` passes) and always return the index the answer is from.
 */
import type {
  AllocListStub,
  Allocation,
  Deployment,
  Evaluation,
  Job,
  JobListStub,
  JobSummary,
  Node,
  NodeListStub,
  PlanAnnotations,
  AllocMetric,
} from '../structs/index.js';
import type { ServerRPC } from '../client/rpc.js';

export interface QueryOptions {
  namespace?: string;
  /** Blocking query: wait until the relevant index is greater than this. */
  minIndex?: number;
  /** Milliseconds to wait at most (Nomad caps at 10 minutes; default 5 minutes). */
  waitMs?: number;
  prefix?: string;
  signal?: AbortSignal;
}

export interface QueryResult<T> {
  value: T;
  index: number;
}

export interface JobRegisterResult {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Warnings: string;
  Index: number;
}

export interface JobDeregisterResult {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Index: number;
}

export interface JobPlanResult {
  Index: number;
  /** The job's JobModifyIndex, for `job run -check-index`. */
  JobModifyIndex: number;
  Diff: JobDiff | null;
  Annotations: PlanAnnotations | null;
  FailedTGAllocs: Record<string, AllocMetric> | null;
  CreatedEvals: Evaluation[] | null;
  NextPeriodicLaunch?: string | null;
  Warnings: string;
}

export interface FieldDiff {
  Type: 'None' | 'Added' | 'Deleted' | 'Edited';
  Name: string;
  Old: string;
  New: string;
  Annotations: string[] | null;
}
export interface ObjectDiff {
  Type: FieldDiff['Type'];
  Name: string;
  Fields: FieldDiff[] | null;
  Objects: ObjectDiff[] | null;
}
export interface TaskDiff {
  Type: FieldDiff['Type'];
  Name: string;
  Fields: FieldDiff[] | null;
  Objects: ObjectDiff[] | null;
  Annotations: string[] | null;
}
export interface TaskGroupDiff {
  Type: FieldDiff['Type'];
  Name: string;
  Fields: FieldDiff[] | null;
  Objects: ObjectDiff[] | null;
  Tasks: TaskDiff[] | null;
  Updates: Record<string, number> | null;
}
export interface JobDiff {
  Type: FieldDiff['Type'];
  ID: string;
  Fields: FieldDiff[] | null;
  Objects: ObjectDiff[] | null;
  TaskGroups: TaskGroupDiff[] | null;
}

export interface RegisterOptions {
  /** `job run -check-index`: register only if the job's JobModifyIndex equals this (0: must not exist). */
  enforceIndex?: number;
  /** Warnings the caller already has (e.g. blocks parsed but not built yet) to pass back. */
  warnings?: string[];
  /** The job file as submitted, kept for `job inspect` / history. */
  submission?: { Source: string; Format: string; VariableFlags?: Record<string, string> };
}

export interface ServerAPI extends ServerRPC {
  // Jobs
  jobRegister(job: Job, opts?: RegisterOptions): Promise<JobRegisterResult>;
  jobDeregister(namespace: string, jobID: string, purge: boolean): Promise<JobDeregisterResult>;
  jobPlan(job: Job, diff: boolean): Promise<JobPlanResult>;
  jobList(q: QueryOptions): Promise<QueryResult<JobListStub[]>>;
  jobGet(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Job>>;
  jobVersions(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Job[]>>;
  jobSummary(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<JobSummary>>;
  jobAllocations(namespace: string, jobID: string, all: boolean, q?: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  jobEvaluations(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Evaluation[]>>;
  jobDeployments(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Deployment[]>>;
  // Allocations, evaluations, nodes
  allocList(q: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  allocGet(id: string, q?: QueryOptions): Promise<QueryResult<Allocation>>;
  evalList(q: QueryOptions): Promise<QueryResult<Evaluation[]>>;
  evalGet(id: string, q?: QueryOptions): Promise<QueryResult<Evaluation>>;
  evalAllocations(id: string, q?: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  nodeList(q: QueryOptions): Promise<QueryResult<NodeListStub[]>>;
  nodeGet(id: string, q?: QueryOptions): Promise<QueryResult<Node>>;
  nodeAllocations(id: string, q?: QueryOptions): Promise<QueryResult<Allocation[]>>;
  /** Resolves a unique ID prefix (as the CLI allows) to the full ID, or throws NotFound / BadRequest (ambiguous). */
  resolvePrefix(kind: 'alloc' | 'eval' | 'node' | 'deployment' | 'job', prefix: string, namespace?: string): string;
  leaderAddress(): string;
  stop(): Promise<void>;
}
