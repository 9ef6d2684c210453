/**
 * Allocations: one placed instance of a task group on a node. The server owns DesiredStatus; the
 * client owns ClientStatus and TaskStates.
 *
 *   DesiredStatus:  run ──► stop | evict
 *   ClientStatus:   pending ──► running ──► complete | failed
 *                        └──────────────────► lost | unknown (node down / disconnected)
 */
import type { Job } from './job.js';
import type { AllocatedResources, Resources } from './resources.js';

export const AllocDesiredStatusRun = 'run';
export const AllocDesiredStatusStop = 'stop';
export const AllocDesiredStatusEvict = 'evict';

export const AllocClientStatusPending = 'pending';
export const AllocClientStatusRunning = 'running';
export const AllocClientStatusComplete = 'complete';
export const AllocClientStatusFailed = 'failed';
export const AllocClientStatusLost = 'lost';
export const AllocClientStatusUnknown = 'unknown';

export const TaskStatePending = 'pending';
export const TaskStateRunning = 'running';
export const TaskStateDead = 'dead';

/** Nomad's task event types, as the UI and `alloc status` show them. */
export const TaskEventTypes = {
  Received: 'Received',
  Setup: 'Task Setup',
  Started: 'Started',
  Terminated: 'Terminated',
  Killing: 'Killing',
  Killed: 'Killed',
  Restarting: 'Restarting',
  NotRestarting: 'Not Restarting',
  DriverFailure: 'Driver Failure',
  DriverMessage: 'Driver',
  FailedValidation: 'Failed Validation',
  SiblingFailed: 'Sibling Task Failed',
  Signaling: 'Signaling',
  RestartSignal: 'Restart Signaled',
  LeaderDead: 'Leader Task Dead',
  TemplateRendered: 'Template Rendered',
  HookFailed: 'Task hook failed',
  ArtifactDownloadFailed: 'Failed Artifact Download',
  Downloading: 'Downloading Artifacts',
  PluginBecameUnhealthy: 'Plugin became unhealthy',
  TaskClientReconnected: 'Reconnected',
  OOMKilled: 'OOM Killed',
  ImagePulling: 'Pulling Image',
  SetupFailure: 'Setup Failure',
} as const;

export interface TaskEvent {
  Type: string;
  Time: number;
  DisplayMessage: string;
  Details: Record<string, string>;
  Message?: string;
  FailsTask?: boolean;
  RestartReason?: string;
  SetupError?: string;
  DriverError?: string;
  DriverMessage?: string;
  ExitCode?: number;
  Signal?: number;
  KillReason?: string;
  KillTimeout?: number;
  KillError?: string;
  StartDelay?: number;
  DownloadError?: string;
  ValidationError?: string;
  FailedSibling?: string;
  TaskSignalReason?: string;
  TaskSignal?: string;
  GenericSource?: string;
}

export interface TaskState {
  State: 'pending' | 'running' | 'dead' | string;
  Failed: boolean;
  Restarts: number;
  /** RFC3339 or null */
  LastRestart: string | null;
  StartedAt: string | null;
  FinishedAt: string | null;
  Events: TaskEvent[];
}

/** A task's state before it first runs (pending, no restarts, no events), with `fields` over it. */
export function newTaskState(fields: Partial<TaskState> = {}): TaskState {
  return {
    State: TaskStatePending,
    Failed: false,
    Restarts: 0,
    LastRestart: null,
    StartedAt: null,
    FinishedAt: null,
    Events: [],
    ...fields,
  };
}

export interface DesiredTransition {
  Migrate?: boolean | null;
  Reschedule?: boolean | null;
  ForceReschedule?: boolean | null;
  NoShutdownDelay?: boolean | null;
}

export interface AllocDeploymentStatus {
  Healthy: boolean | null;
  Timestamp: string | null;
  Canary: boolean;
  ModifyIndex: number;
}

export interface RescheduleEvent {
  RescheduleTime: number;
  PrevAllocID: string;
  PrevNodeID: string;
  Delay: number;
}
export interface RescheduleTracker {
  Events: RescheduleEvent[] | null;
  /** 'failed' when the last attempt to place a replacement found no node (Nomad's LastReschedule). */
  LastReschedule?: string;
}

/** One server-recorded transition of an allocation field, e.g. ClientStatus → unknown at a time (RFC3339). */
export interface AllocState {
  Field: string;
  Value: string;
  Time: string;
}

export interface NodeScoreMeta {
  NodeID: string;
  Scores: Record<string, number>;
  NormScore: number;
}

/** Explains a placement or a failed placement: how many nodes were looked at and why they were filtered. */
export interface AllocMetric {
  NodesEvaluated: number;
  NodesFiltered: number;
  NodesInPool: number;
  NodePool?: string;
  NodesAvailable: Record<string, number> | null;
  ClassFiltered: Record<string, number> | null;
  ConstraintFiltered: Record<string, number> | null;
  NodesExhausted: number;
  ClassExhausted: Record<string, number> | null;
  DimensionExhausted: Record<string, number> | null;
  QuotaExhausted: string[] | null;
  ResourcesExhausted?: Record<string, Resources> | null;
  Scores?: Record<string, number> | null;
  ScoreMetaData: NodeScoreMeta[] | null;
  AllocationTime: number;
  CoalescedFailures: number;
}

export interface Allocation {
  ID: string;
  Namespace: string;
  EvalID: string;
  Name: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  /** The job version this allocation runs. Stored denormalised, as Nomad does. */
  Job: Job;
  TaskGroup: string;
  AllocatedResources: AllocatedResources;
  Metrics: AllocMetric | null;
  DesiredStatus: string;
  DesiredDescription: string;
  DesiredTransition: DesiredTransition;
  ClientStatus: string;
  ClientDescription: string;
  TaskStates: Record<string, TaskState> | null;
  DeploymentID: string;
  DeploymentStatus: AllocDeploymentStatus | null;
  FollowupEvalID: string;
  PreviousAllocation: string;
  NextAllocation: string;
  RescheduleTracker: RescheduleTracker | null;
  NetworkStatus?: Record<string, unknown> | null;
  /** Server-recorded status transitions (Nomad's AllocStates): when the alloc became unknown, and reconnected. */
  AllocStates?: AllocState[] | null;
  PreemptedAllocations: string[] | null;
  PreemptedByAllocation: string;
  CreateIndex: number;
  ModifyIndex: number;
  AllocModifyIndex: number;
  /** Unix nanoseconds. */
  CreateTime: number;
  ModifyTime: number;
  /** Workload identities (JWTs) the servers signed, keyed by task name; only with ACLs enabled. */
  SignedIdentities?: Record<string, string> | null;
}

/** The list form served by `GET /v1/allocations` and `GET /v1/job/:id/allocations`. */
export interface AllocListStub {
  ID: string;
  EvalID: string;
  Name: string;
  Namespace: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  JobType: string;
  JobVersion: number;
  TaskGroup: string;
  AllocatedResources?: AllocatedResources | null;
  DesiredStatus: string;
  DesiredDescription: string;
  ClientStatus: string;
  ClientDescription: string;
  DesiredTransition: DesiredTransition;
  TaskStates: Record<string, TaskState> | null;
  DeploymentStatus: AllocDeploymentStatus | null;
  FollowupEvalID: string;
  NextAllocation: string;
  RescheduleTracker: RescheduleTracker | null;
  PreemptedAllocations: string[] | null;
  PreemptedByAllocation: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

/** What every new allocation must be given; the rest starts at Nomad's zero values. */
export type NewAllocationIdentity = Pick<
  Allocation,
  'ID' | 'EvalID' | 'Name' | 'NodeID' | 'NodeName' | 'Job' | 'TaskGroup' | 'AllocatedResources'
>;

/**
 * A new allocation, pending and desired to run, with every other field at its zero value unless `fields` sets
 * it. The one place the full literal is written (scheduler and test fixtures). It is written out field by field,
 * in one fixed order, on purpose: the scheduler creates a million of these in the C1M benchmark, and a literal
 * built with object spreads gave V8 objects of changing shapes that cost twice the CPU and memory.
 */
export function newAllocation(id: NewAllocationIdentity, nowNs: number, fields: Partial<Allocation> = {}): Allocation {
  const a: Allocation = {
    ID: fields.ID ?? id.ID,
    Namespace: fields.Namespace ?? id.Job.Namespace,
    EvalID: fields.EvalID ?? id.EvalID,
    Name: fields.Name ?? id.Name,
    NodeID: fields.NodeID ?? id.NodeID,
    NodeName: fields.NodeName ?? id.NodeName,
    JobID: fields.JobID ?? id.Job.ID,
    Job: fields.Job ?? id.Job,
    TaskGroup: fields.TaskGroup ?? id.TaskGroup,
    AllocatedResources: fields.AllocatedResources ?? id.AllocatedResources,
    Metrics: fields.Metrics ?? null,
    DesiredStatus: fields.DesiredStatus ?? AllocDesiredStatusRun,
    DesiredDescription: fields.DesiredDescription ?? '',
    DesiredTransition: fields.DesiredTransition ?? {},
    ClientStatus: fields.ClientStatus ?? AllocClientStatusPending,
    ClientDescription: fields.ClientDescription ?? '',
    TaskStates: fields.TaskStates ?? null,
    DeploymentID: fields.DeploymentID ?? '',
    DeploymentStatus: fields.DeploymentStatus ?? null,
    FollowupEvalID: fields.FollowupEvalID ?? '',
    PreviousAllocation: fields.PreviousAllocation ?? '',
    NextAllocation: fields.NextAllocation ?? '',
    RescheduleTracker: fields.RescheduleTracker ?? null,
    PreemptedAllocations: fields.PreemptedAllocations ?? null,
    PreemptedByAllocation: fields.PreemptedByAllocation ?? '',
    CreateIndex: fields.CreateIndex ?? 0,
    ModifyIndex: fields.ModifyIndex ?? 0,
    AllocModifyIndex: fields.AllocModifyIndex ?? 0,
    CreateTime: fields.CreateTime ?? nowNs,
    ModifyTime: fields.ModifyTime ?? nowNs,
  };
  // Optional fields the scheduler never sets (test fixtures may).
  if (fields.NetworkStatus !== undefined) a.NetworkStatus = fields.NetworkStatus;
  if (fields.AllocStates !== undefined) a.AllocStates = fields.AllocStates;
  return a;
}

/** True when the allocation will never run again (server stopped it, or the client finished it). */
export function allocTerminalStatus(a: Pick<Allocation, 'DesiredStatus' | 'ClientStatus'>): boolean {
  if (a.DesiredStatus === AllocDesiredStatusStop || a.DesiredStatus === AllocDesiredStatusEvict) return true;
  return allocClientTerminal(a);
}

export function allocClientTerminal(a: Pick<Allocation, 'ClientStatus'>): boolean {
  return (
    a.ClientStatus === AllocClientStatusComplete ||
    a.ClientStatus === AllocClientStatusFailed ||
    a.ClientStatus === AllocClientStatusLost
  );
}

export function allocListStub(a: Allocation): AllocListStub {
  return {
    ID: a.ID,
    EvalID: a.EvalID,
    Name: a.Name,
    Namespace: a.Namespace,
    NodeID: a.NodeID,
    NodeName: a.NodeName,
    JobID: a.JobID,
    JobType: a.Job.Type,
    JobVersion: a.Job.Version ?? 0,
    TaskGroup: a.TaskGroup,
    AllocatedResources: a.AllocatedResources,
    DesiredStatus: a.DesiredStatus,
    DesiredDescription: a.DesiredDescription,
    ClientStatus: a.ClientStatus,
    ClientDescription: a.ClientDescription,
    DesiredTransition: a.DesiredTransition,
    TaskStates: a.TaskStates,
    DeploymentStatus: a.DeploymentStatus,
    FollowupEvalID: a.FollowupEvalID,
    NextAllocation: a.NextAllocation,
    RescheduleTracker: a.RescheduleTracker,
    PreemptedAllocations: a.PreemptedAllocations,
    PreemptedByAllocation: a.PreemptedByAllocation,
    CreateIndex: a.CreateIndex,
    ModifyIndex: a.ModifyIndex,
    CreateTime: a.CreateTime,
    ModifyTime: a.ModifyTime,
  };
}

/** Nomad's AllocFileInfo (`/v1/client/fs/ls|stat`). */
export interface AllocFileInfo {
  Name: string;
  IsDir: boolean;
  Size: number;
  FileMode: string;
  ModTime: string;
  ContentType: string;
}
