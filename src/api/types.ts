/**
 * Shapes of requests and answers the HTTP API uses beyond the shared structs. The server's result types are
 * re-exported (types only: the client never loads server code).
 */
export type {
  JobRegisterResult,
  JobDeregisterResult,
  JobPlanResult,
  JobDiff,
  TaskGroupDiff,
  TaskDiff,
  ObjectDiff,
  FieldDiff,
} from '../server/types.js';
import type { JobDiff } from '../server/types.js';
import type { Job } from '../structs/index.js';

/** `GET /v1/job/:id/versions`. */
export interface JobVersionsResponse {
  Versions: Job[];
  Diffs: JobDiff[] | null;
}

/** `PUT /v1/jobs/parse` body. */
export interface JobsParseRequest {
  JobHCL: string;
  /** The text of a variables file (HCL), as `-var-file` gives it. */
  Variables?: string;
  Canonicalize?: boolean;
  HCLv1?: boolean;
}

export interface JobDispatchResponse {
  DispatchedJobID: string;
  EvalID: string;
  EvalCreateIndex: number;
  JobCreateIndex: number;
  Index?: number;
}

/** Answers of writes that create an evaluation (revert, scale, periodic force, node drain, ...). */
export interface EvalCreatedResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex?: number;
  Index?: number;
  Warnings?: string;
}

/** One scaling event of a task group (`GET /v1/job/:id/scale`). */
export interface ScalingEvent {
  Time: number;
  Count: number | null;
  PreviousCount: number;
  Message: string;
  Error: boolean;
  Meta: Record<string, unknown> | null;
  EvalID: string | null;
  CreateIndex: number;
}

/** Nomad's JobScaleStatus. */
export interface JobScaleStatusResponse {
  JobID: string;
  Namespace: string;
  JobCreateIndex: number;
  JobModifyIndex: number;
  JobStopped: boolean;
  TaskGroups: Record<string, { Desired: number; Placed: number; Running: number; Healthy: number; Unhealthy: number; Events: ScalingEvent[] | null }>;
}

export interface NodeUpdateResponse {
  EvalIDs: string[] | null;
  EvalCreateIndex: number;
  NodeModifyIndex: number;
  Index?: number;
}

export interface DrainSpec {
  /** Nanoseconds; -1 forces the drain now, 0 has no deadline. */
  Deadline: number;
  IgnoreSystemJobs: boolean;
}

export interface MemoryStats {
  RSS: number;
  Cache: number;
  Swap: number;
  Usage: number;
  MaxUsage: number;
  KernelUsage: number;
  KernelMaxUsage: number;
  /** Which of the fields above the driver measured. */
  Measured: string[] | null;
}

export interface CpuStats {
  SystemMode: number;
  UserMode: number;
  TotalTicks: number;
  ThrottledPeriods: number;
  ThrottledTime: number;
  Percent: number;
  Measured: string[] | null;
}

export interface ResourceUsage {
  MemoryStats: MemoryStats | null;
  CpuStats: CpuStats | null;
  DeviceStats?: unknown[] | null;
}

export interface TaskResourceUsage {
  ResourceUsage: ResourceUsage | null;
  Timestamp: number;
  Pids: Record<string, ResourceUsage> | null;
}

/** `GET /v1/client/allocation/:id/stats`. */
export interface AllocResourceUsage {
  ResourceUsage: ResourceUsage | null;
  Tasks: Record<string, TaskResourceUsage> | null;
  Timestamp: number;
}

/** `GET /v1/agent/self`: Nomad's keys are lower case here. */
export interface AgentSelf {
  config: Record<string, unknown>;
  member: {
    Name: string;
    Addr: string;
    Port: number;
    Tags: Record<string, string>;
    Status: string;
    [k: string]: unknown;
  };
  stats: Record<string, Record<string, string>>;
}

export type LogType = 'stdout' | 'stderr';

export interface LogsOptions {
  /** Keep the stream open and send new output as it is written. */
  follow?: boolean;
  /** Where `offset` counts from. */
  origin?: 'start' | 'end';
  /** Bytes from `origin`. */
  offset?: number;
  signal?: AbortSignal;
}

export type { AllocCheckStatus } from '../structs/index.js';
