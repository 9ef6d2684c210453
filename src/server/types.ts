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
  ServiceRegistration,
  ServiceRegistrationListStub,
  Variable,
  VariableMetadata,
  JobRegisterResult,
  JobDeregisterResult,
  JobPlanResult,
  JobVersionsResult,
  ServerRPC,
  JobScaleStatus,
} from '../structs/index.js';
import type { AdmissionOptions } from './admission.js';

export type { AdmissionOptions } from './admission.js';

import type { NodeRequest } from './node-identity.js';
import type { RootKeyMeta } from './keyring.js';

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

/** Nomad's DeploymentUpdateResponse. */
export interface DeploymentUpdateResult {
  EvalID: string;
  EvalCreateIndex: number;
  DeploymentModifyIndex: number;
  RevertedJobVersion?: number | null;
  Index: number;
}

/** Register options; the admission ones say how the job was given (see admission.ts). */
export interface RegisterOptions extends AdmissionOptions {
  /** `job run -check-index`: register only if the job's JobModifyIndex equals this (0: must not exist). */
  enforceIndex?: number;
  /** Warnings the caller already has (e.g. blocks parsed but not built yet) to pass back. */
  warnings?: string[];
  /** The job file as submitted, kept for `job inspect` / history. */
  submission?: { Source: string; Format: string; VariableFlags?: Record<string, string> };
}

/** `POST /v1/job/:id/dispatch` body (Payload is base64). */
export interface JobDispatchRequest {
  Payload?: string | null;
  Meta?: Record<string, string> | null;
  IdempotencyToken?: string;
}
export interface JobDispatchResult {
  DispatchedJobID: string;
  EvalID: string;
  EvalCreateIndex: number;
  JobCreateIndex: number;
  Index: number;
}
/** An answer that created (at most) one evaluation: periodic force, scale. */
export interface EvalCreatedResult {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Index: number;
  Warnings?: string;
}
/** `POST /v1/job/:id/scale` body, as Nomad's ScalingRequest. */
export interface JobScaleRequest {
  Count?: number | null;
  Target?: Record<string, string> | null;
  Message?: string;
  Error?: boolean;
  Meta?: Record<string, unknown> | null;
  PolicyOverride?: boolean;
}
export type { JobScaleStatus, TaskGroupScaleStatus } from '../structs/index.js';
/** `POST /v1/node/:id/drain` body. */
export interface NodeDrainRequest {
  DrainSpec?: { Deadline?: number; IgnoreSystemJobs?: boolean } | null;
  MarkEligible?: boolean;
  Meta?: Record<string, string> | null;
}
export interface NodeUpdateResult {
  EvalIDs: string[] | null;
  EvalCreateIndex: number;
  NodeModifyIndex: number;
  Index: number;
}

/** `POST /v1/allocation/:id/stop`: Nomad's AllocStopResponse. */
export interface AllocStopResult {
  EvalID: string;
  Index: number;
}

/** A variable write or delete: done, or a check-and-set conflict carrying the current variable (HTTP 409). */
export type VariableWriteResult =
  { ok: true; variable: Variable | null; index: number } | { ok: false; conflict: Variable; index: number };

/** What `/v1/metrics` reports of the server. */
export interface ServerStats {
  broker: { ready: number; unacked: number; pending: number; delayed: number; byType: Record<string, number> };
  blocked: { totalBlocked: number; totalEscaped: number };
  heartbeats: number;
  stateIndex: number;
}

export type { EventBatch, EventFilter, EventTopic, StreamEvent } from './event-broker.js';

export interface ServerAPI extends ServerRPC {
  /** Node identity on /v1/internal/client/*: throws PermissionDenied unless the request is the node's own. */
  authorizeNodeRequest(req: NodeRequest): void;
  /** The root keyring that seals variables at rest. */
  keyringList(): RootKeyMeta[];
  keyringRotate(full: boolean): RootKeyMeta;
  keyringRemove(keyID: string): void;
  // Job types and operations (periodic, dispatch, scaling) and node drain / eligibility
  jobDispatch(namespace: string, jobID: string, req: JobDispatchRequest): Promise<JobDispatchResult>;
  jobPeriodicForce(namespace: string, jobID: string): Promise<EvalCreatedResult>;
  jobScale(namespace: string, jobID: string, req: JobScaleRequest): Promise<EvalCreatedResult>;
  jobScaleStatus(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<JobScaleStatus>>;
  nodeUpdateDrain(nodeID: string, req: NodeDrainRequest): Promise<NodeUpdateResult>;
  nodeUpdateEligibility(nodeID: string, eligibility: string): Promise<NodeUpdateResult>;
  /** `POST /v1/node/:id/evaluate`. */
  nodeEvaluate(nodeID: string): Promise<NodeUpdateResult>;
  /** `POST /v1/job/:id/evaluate`. */
  jobEvaluate(namespace: string, jobID: string): Promise<JobDeregisterResult>;
  /** The scheduler configuration in force (`GET /v1/operator/scheduler/configuration`). */
  schedulerConfiguration(): import('../scheduler/index.js').SchedulerConfiguration;
  /** `GET /v1/event/stream`: matching event batches from `fromIndex` on; `null` marks a heartbeat. */
  eventSubscribe(
    filter: import('./event-broker.js').EventFilter,
    fromIndex: number,
    signal: AbortSignal,
    heartbeatMs: number,
  ): AsyncGenerator<import('./event-broker.js').EventBatch | null>;
  /** Queue depths and the state index, for `/v1/metrics`. */
  stats(): ServerStats;
  // Jobs
  /**
   * Admits the job (admission.ts: defaults, validation, warnings), then registers it. Throws JobValidation
   * listing every problem. With `handOver` the job object becomes the server's.
   */
  jobRegister(job: Job, opts?: RegisterOptions): Promise<JobRegisterResult>;
  jobDeregister(namespace: string, jobID: string, purge: boolean): Promise<JobDeregisterResult>;
  /** Admits the job as `jobRegister` does, then runs the scheduler on it without writing anything. */
  jobPlan(job: Job, diff: boolean, opts?: AdmissionOptions): Promise<JobPlanResult>;
  /** Admission alone (`/v1/validate/job`): the warnings, or a JobValidation error listing every problem. */
  jobValidate(job: Job, opts?: AdmissionOptions): Promise<{ warnings: string[] }>;
  jobList(q: QueryOptions): Promise<QueryResult<JobListStub[]>>;
  jobGet(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Job>>;
  jobVersions(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Job[]>>;
  jobSummary(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<JobSummary>>;
  jobAllocations(
    namespace: string,
    jobID: string,
    all: boolean,
    q?: QueryOptions,
  ): Promise<QueryResult<AllocListStub[]>>;
  jobEvaluations(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Evaluation[]>>;
  jobDeployments(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Deployment[]>>;
  /** The kept versions, newest first; with `diffs`, Diffs[i] compares Versions[i] with Versions[i + 1]. */
  jobVersionHistory(
    namespace: string,
    jobID: string,
    diffs: boolean,
    q?: QueryOptions,
  ): Promise<QueryResult<JobVersionsResult>>;
  /** Registers an earlier version again as a new version. */
  jobRevert(
    namespace: string,
    jobID: string,
    version: number,
    enforcePriorVersion?: number,
  ): Promise<JobRegisterResult>;
  // Deployments
  deploymentList(q: QueryOptions): Promise<QueryResult<Deployment[]>>;
  deploymentGet(id: string, q?: QueryOptions): Promise<QueryResult<Deployment>>;
  deploymentAllocations(id: string, q?: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  /** Promotes canaries: every group when `all` (or no groups named). */
  deploymentPromote(id: string, all: boolean, groups: string[] | null): Promise<DeploymentUpdateResult>;
  deploymentPause(id: string, pause: boolean): Promise<DeploymentUpdateResult>;
  deploymentFail(id: string): Promise<DeploymentUpdateResult>;
  // Allocations, evaluations, nodes
  allocList(q: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  allocGet(id: string, q?: QueryOptions): Promise<QueryResult<Allocation>>;
  /** Marks the allocation for migration and evaluates its job: the scheduler stops it and places a replacement. */
  allocStop(id: string, opts?: { noShutdownDelay?: boolean }): Promise<AllocStopResult>;
  evalList(q: QueryOptions): Promise<QueryResult<Evaluation[]>>;
  evalGet(id: string, q?: QueryOptions): Promise<QueryResult<Evaluation>>;
  evalAllocations(id: string, q?: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  nodeList(q: QueryOptions): Promise<QueryResult<NodeListStub[]>>;
  nodeGet(id: string, q?: QueryOptions): Promise<QueryResult<Node>>;
  nodeAllocations(id: string, q?: QueryOptions): Promise<QueryResult<Allocation[]>>;
  /** Resolves a unique ID prefix (as the CLI allows) to the full ID, or throws NotFound / BadRequest (ambiguous). */
  // Variables and the service catalog
  variableList(q: QueryOptions): Promise<QueryResult<VariableMetadata[]>>;
  /** `value` is null when the variable does not exist (the index still lets a caller block on its creation). */
  variableGet(namespace: string, path: string, q?: QueryOptions): Promise<QueryResult<Variable | null>>;
  /** `cas`: 0 = must not exist; N = its ModifyIndex must be N. Throws BadRequest listing every problem. */
  variablePut(v: Pick<Variable, 'Namespace' | 'Path' | 'Items'>, opts?: { cas?: number }): Promise<VariableWriteResult>;
  variableDelete(namespace: string, path: string, opts?: { cas?: number }): Promise<VariableWriteResult>;
  serviceList(q: QueryOptions): Promise<QueryResult<ServiceRegistrationListStub[]>>;
  /** Every instance by default (as Nomad); `health: 'passing'` keeps passing ones; `choose` as Nomad's `?choose=n|key`. */
  serviceGet(
    namespace: string,
    name: string,
    q?: QueryOptions & { tag?: string; health?: 'passing' | 'any'; choose?: { n: number; key: string } },
  ): Promise<QueryResult<ServiceRegistration[]>>;
  /** Removes one instance (`DELETE /v1/service/:name/:id`); returns the index of the write. */
  serviceDelete(namespace: string, name: string, id: string): Promise<number>;
  resolvePrefix(kind: 'alloc' | 'eval' | 'node' | 'deployment' | 'job', prefix: string, namespace?: string): string;
  leaderAddress(): string;
  /** Writes a consistent snapshot of the state to `file`; returns the index it holds. */
  snapshotSave?(file: string): Promise<{ index: number }>;
  /** Whether state writes reach the disk; a failure is reported until a write succeeds again. */
  writeHealth?(): { ok: true } | { ok: false; error: string; since: number };
  stop(): Promise<void>;
}
