/**
 * Shapes of requests and answers the HTTP API uses beyond the shared structs. The answers the server shares with
 * the client (job results, diffs, scaling events, resource usage) are declared once in src/structs and
 * re-exported here under Nomad's names.
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
  ScalingEvent,
  MemoryStats,
  CpuStats,
  ResourceUsage,
  TaskResourceUsage,
  AllocStats as AllocResourceUsage,
  TaskGroupScaleStatus,
} from '../structs/index.js';
import type { Job, JobDiff, JobScaleStatus } from '../structs/index.js';

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

/** Nomad's JobScaleStatus. */
export type JobScaleStatusResponse = JobScaleStatus;

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

export type { AllocCheckStatus, AllocFileInfo } from '../structs/index.js';
