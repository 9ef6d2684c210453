/**
 * The server's public surface: what the HTTP API (and the in-process client RPC) call. The HTTP layer
 * sees only this interface. Reads take an optional blocking-query spec: they wait until the state index
 * passes `minIndex` (or `waitMs` passes) and always return the index the answer is from.
 */
import type { MeshEndpoints } from './mesh-endpoints.js';
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
  ScalingPolicy,
  ScalingPolicyListStub,
} from '../structs/index.js';
import type { AdmissionOptions } from './admission.js';

export type { AdmissionOptions } from './admission.js';

import type { NodeRequest } from './node-identity.js';
import type { RootKeyMeta } from './keyring.js';
import type { KvPutRequest } from '../discovery/index.js';
import type { KVEntry, SimRequest, SimResult } from '../structs/index.js';

export interface QueryOptions {
  namespace?: string;
  /** Blocking query: wait until the relevant index is greater than this. */
  minIndex?: number;
  /** Milliseconds to wait at most (Nomad caps at 10 minutes; default 5 minutes). */
  waitMs?: number;
  prefix?: string;
  signal?: AbortSignal;
}

/** `GET /v1/scaling/policies` filters. */
export interface ScalingPolicyQuery extends QueryOptions {
  /** `?job=`: only this job's policies. */
  job?: string;
  /** `?type=`: only policies whose type starts with this (Nomad matches a prefix: `vertical` gives both). */
  type?: string;
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

export type { EventBatch, EventFilter, EventSink, EventSubscription, EventTopic, StreamEvent } from './event-broker.js';
import type { EventFilter, EventSink, EventSubscription } from './event-broker.js';
import type { SchedulerConfiguration } from '../scheduler/index.js';

/** `server.jobs`: job writes (admitted as admission.ts says), reads, and operations on one job. */
export interface JobsAPI {
  /**
   * Admits the job (admission.ts: defaults, validation, warnings), then registers it. Throws JobValidation
   * listing every problem. With `handOver` the job object becomes the server's.
   */
  register(job: Job, opts?: RegisterOptions): Promise<JobRegisterResult>;
  deregister(namespace: string, jobID: string, purge: boolean): Promise<JobDeregisterResult>;
  /** Admits the job as `register` does, then runs the scheduler on it without writing anything. */
  plan(job: Job, diff: boolean, opts?: AdmissionOptions): Promise<JobPlanResult>;
  /** Admission alone (`/v1/validate/job`): the warnings, or a JobValidation error listing every problem. */
  validate(job: Job, opts?: AdmissionOptions): Promise<{ warnings: string[] }>;
  list(q: QueryOptions): Promise<QueryResult<JobListStub[]>>;
  get(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Job>>;
  versions(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Job[]>>;
  summary(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<JobSummary>>;
  allocations(namespace: string, jobID: string, all: boolean, q?: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  evaluations(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Evaluation[]>>;
  deployments(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<Deployment[]>>;
  /** The kept versions, newest first; with `diffs`, Diffs[i] compares Versions[i] with Versions[i + 1]. */
  versionHistory(
    namespace: string,
    jobID: string,
    diffs: boolean,
    q?: QueryOptions,
  ): Promise<QueryResult<JobVersionsResult>>;
  /** Registers an earlier version again as a new version. */
  revert(namespace: string, jobID: string, version: number, enforcePriorVersion?: number): Promise<JobRegisterResult>;
  dispatch(namespace: string, jobID: string, req: JobDispatchRequest): Promise<JobDispatchResult>;
  periodicForce(namespace: string, jobID: string): Promise<EvalCreatedResult>;
  scale(namespace: string, jobID: string, req: JobScaleRequest): Promise<EvalCreatedResult>;
  scaleStatus(namespace: string, jobID: string, q?: QueryOptions): Promise<QueryResult<JobScaleStatus>>;
  /** `GET /v1/scaling/policies`: the groups' scaling blocks (scaling-policies.ts). */
  scalingPolicies(q: ScalingPolicyQuery): Promise<QueryResult<ScalingPolicyListStub[]>>;
  /** `GET /v1/scaling/policy/:id`. */
  scalingPolicy(id: string, q?: QueryOptions): Promise<QueryResult<ScalingPolicy>>;
  /** `POST /v1/job/:id/evaluate`. */
  evaluate(namespace: string, jobID: string): Promise<JobDeregisterResult>;
}

/** `server.deployments`. */
export interface DeploymentsAPI {
  list(q: QueryOptions): Promise<QueryResult<Deployment[]>>;
  get(id: string, q?: QueryOptions): Promise<QueryResult<Deployment>>;
  allocations(id: string, q?: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  /** Promotes canaries: every group when `all` (or no groups named). */
  promote(id: string, all: boolean, groups: string[] | null): Promise<DeploymentUpdateResult>;
  pause(id: string, pause: boolean): Promise<DeploymentUpdateResult>;
  fail(id: string): Promise<DeploymentUpdateResult>;
}

/** `server.allocs`. */
export interface AllocsAPI {
  list(q: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
  get(id: string, q?: QueryOptions): Promise<QueryResult<Allocation>>;
  /** Marks the allocation for migration and evaluates its job: the scheduler stops it and places a replacement. */
  stop(id: string, opts?: { noShutdownDelay?: boolean }): Promise<AllocStopResult>;
}

/** `server.evals`. */
export interface EvalsAPI {
  list(q: QueryOptions): Promise<QueryResult<Evaluation[]>>;
  get(id: string, q?: QueryOptions): Promise<QueryResult<Evaluation>>;
  allocations(id: string, q?: QueryOptions): Promise<QueryResult<AllocListStub[]>>;
}

/** `server.nodes`: the operator's view of nodes (a client's own register and heartbeat are ServerRPC's). */
export interface NodesAPI {
  list(q: QueryOptions): Promise<QueryResult<NodeListStub[]>>;
  get(id: string, q?: QueryOptions): Promise<QueryResult<Node>>;
  allocations(id: string, q?: QueryOptions): Promise<QueryResult<Allocation[]>>;
  updateDrain(nodeID: string, req: NodeDrainRequest): Promise<NodeUpdateResult>;
  updateEligibility(nodeID: string, eligibility: string): Promise<NodeUpdateResult>;
  /** `POST /v1/node/:id/evaluate`. */
  evaluate(nodeID: string): Promise<NodeUpdateResult>;
}

/** `server.vars`: variables, sealed at rest by the keyring. */
export interface VariablesAPI {
  list(q: QueryOptions): Promise<QueryResult<VariableMetadata[]>>;
  /** `value` is null when the variable does not exist (the index still lets a caller block on its creation). */
  get(namespace: string, path: string, q?: QueryOptions): Promise<QueryResult<Variable | null>>;
  /** `cas`: 0 = must not exist; N = its ModifyIndex must be N. Throws BadRequest listing every problem. */
  put(v: Pick<Variable, 'Namespace' | 'Path' | 'Items'>, opts?: { cas?: number }): Promise<VariableWriteResult>;
  delete(namespace: string, path: string, opts?: { cas?: number }): Promise<VariableWriteResult>;
}

/** `server.kv`: the Consul-compatible key/value store. */
export interface KvAPI {
  /** Every entry whose key starts with `prefix` ('' for all), sorted by key. */
  list(prefix: string, q?: QueryOptions): Promise<QueryResult<KVEntry[]>>;
  /** One entry; null when absent (the index still lets a caller block on its creation). */
  get(key: string, q?: QueryOptions): Promise<QueryResult<KVEntry | null>>;
  /** `ok` false: the check-and-set failed and nothing was written. */
  put(req: KvPutRequest): Promise<{ ok: boolean; index: number }>;
  delete(key: string, opts?: { recurse?: boolean; cas?: number }): Promise<{ ok: boolean; index: number }>;
}

/** `server.services`: the service catalog. */
export interface ServicesAPI {
  list(q: QueryOptions): Promise<QueryResult<ServiceRegistrationListStub[]>>;
  /** Every instance by default (as Nomad); `health: 'passing'` keeps passing ones; `choose` as Nomad's `?choose=n|key`. */
  get(
    namespace: string,
    name: string,
    q?: QueryOptions & { tag?: string; health?: 'passing' | 'any'; choose?: { n: number; key: string } },
  ): Promise<QueryResult<ServiceRegistration[]>>;
  /** Removes one instance (`DELETE /v1/service/:name/:id`); returns the index of the write. */
  delete(namespace: string, name: string, id: string): Promise<number>;
  /** Every service registration now (the agent's DNS server reads this at each query). */
  registrations(): ServiceRegistration[];
}

/** `server.keyring`: the root keys that seal variables at rest. */
export interface KeyringAPI {
  list(): RootKeyMeta[];
  /** A new active key; with `full`, every variable moves to it in the background. */
  rotate(full: boolean): Promise<RootKeyMeta>;
  remove(keyID: string): Promise<void>;
}

/** `server.events`: the event stream. */
export interface EventsAPI {
  /**
   * `GET /v1/event/stream`: matching event batches from `fromIndex` on, handed to `sink` (`null` marks a
   * heartbeat; the sink returns `false` to pause until `resume()`); `onEnd` runs if the server stops first.
   */
  listen(
    filter: EventFilter,
    fromIndex: number,
    heartbeatMs: number,
    sink: EventSink,
    onEnd?: () => void,
  ): EventSubscription;
}

/**
 * What the HTTP API sees of the server: one object per noun (Nomad's endpoint families), the client RPC
 * (ServerRPC, flat, as a remote client speaks it) and a few server-wide operations.
 */
export interface ServerAPI extends ServerRPC {
  /** Intentions and the mesh CA (`/v1/connect/*`). */
  readonly mesh: MeshEndpoints;
  readonly jobs: JobsAPI;
  readonly deployments: DeploymentsAPI;
  readonly allocs: AllocsAPI;
  readonly evals: EvalsAPI;
  readonly nodes: NodesAPI;
  readonly vars: VariablesAPI;
  readonly kv: KvAPI;
  readonly services: ServicesAPI;
  readonly keyring: KeyringAPI;
  readonly events: EventsAPI;
  /** Node identity on /v1/internal/client/*: throws PermissionDenied unless the request is the node's own. */
  authorizeNodeRequest(req: NodeRequest): void;
  /** The scheduler configuration in force (`GET /v1/operator/scheduler/configuration`). */
  schedulerConfiguration(): SchedulerConfiguration;
  /** Queue depths and the state index, for `/v1/metrics`. */
  stats(): ServerStats;
  /** Resolves a unique ID prefix (as the CLI allows) to the full ID, or throws NotFound / BadRequest (ambiguous). */
  resolvePrefix(kind: 'alloc' | 'eval' | 'node' | 'deployment' | 'job', prefix: string, namespace?: string): string;
  leaderAddress(): string;
  /** `PUT /v1/operator/sim`: what-ifs run by the scheduler on a copy of the state (sim.ts); never writes it. */
  simulate?(req: SimRequest, signal?: AbortSignal): Promise<SimResult>;
  /** Writes a consistent snapshot of the state to `file`; returns the index it holds. */
  snapshotSave?(file: string): Promise<{ index: number }>;
  /** Whether state writes reach the disk; a failure is reported until a write succeeds again. */
  writeHealth?(): { ok: true } | { ok: false; error: string; since: number };
  stop(): Promise<void>;
}
