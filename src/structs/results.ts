/**
 * Answers of the server's job endpoints, in Nomad's JSON shape: what `ServerAPI` returns, what the HTTP API
 * sends and what the API client reads back. Here, with the model, so the client (`src/api`) shares them
 * without importing server code.
 */
import type { AllocMetric } from './alloc.js';
import type { Evaluation, PlanAnnotations } from './eval.js';
import type { Job } from './job.js';

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

/** Nomad's job diff (`job plan`, `job history -p`): a tree of objects and fields, each Added, Deleted or Edited. */
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

export interface JobVersionsResult {
  Versions: Job[];
  Diffs: JobDiff[] | null;
}

/** One scaling event of a task group (`GET /v1/job/:id/scale`), as stored and as answered. */
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

/** One task group in `GET /v1/job/:id/scale`. */
export interface TaskGroupScaleStatus {
  Desired: number;
  Placed: number;
  Running: number;
  Healthy: number;
  Unhealthy: number;
  Events: ScalingEvent[] | null;
}
/** `GET /v1/job/:id/scale`: Nomad's JobScaleStatus. */
export interface JobScaleStatus {
  JobID: string;
  Namespace: string;
  JobCreateIndex: number;
  JobModifyIndex: number;
  JobStopped: boolean;
  TaskGroups: Record<string, TaskGroupScaleStatus>;
}
