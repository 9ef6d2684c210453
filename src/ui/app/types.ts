/**
 * The parts of the HTTP API's JSON the UI reads, in Nomad's field names. The UI is a client of the public
 * API like curl or the CLI: at run time it imports nothing of the server's. Where the model's own type (src/structs)
 * says exactly what the UI reads, it is reused here, type only (the lint allows `import type` from structs and
 * nothing else); where the UI reads a subset, or a shape only the API answers with, it is declared here, with the
 * fields it does not read left optional so the views' test data stays small. Times are unix nanoseconds unless noted.
 */
import type * as S from '../../structs/index.js';

/** One write's events on the event stream (`/v1/event/stream`). */
export type EventBatch = S.EventBatch;

export type TaskGroupSummary = Omit<S.TaskGroupSummary, 'Unknown'> & Partial<Pick<S.TaskGroupSummary, 'Unknown'>>;

export interface JobSummary {
  Summary: Record<string, TaskGroupSummary>;
  Children?: { Pending: number; Running: number; Dead: number } | null;
}

/** What a job's list row and the job itself both carry. */
interface JobHead {
  ID: string;
  Name: string;
  Namespace: string;
  Type: string;
  Priority: number;
  Status: string;
  StatusDescription?: string;
  Stop: boolean;
}

export interface JobListStub extends JobHead {
  Periodic?: boolean;
  ParameterizedJob?: boolean;
  JobSummary: JobSummary | null;
  SubmitTime: number;
  Version: number;
  ModifyIndex: number;
}

export interface Task {
  Name: string;
  Driver: string;
}

export interface TaskGroup {
  Name: string;
  Count: number;
  Tasks: Task[] | null;
  /** The `scaling` block: the bounds the UI's scale control keeps to. */
  Scaling?: { Min?: number | null; Max?: number | null; Enabled?: boolean | null } | null;
}

export interface Job extends JobHead {
  Stable?: boolean;
  Datacenters: string[] | null;
  NodePool?: string;
  TaskGroups: TaskGroup[] | null;
  Version: number;
  SubmitTime: number;
  JobModifyIndex: number;
  Periodic?: { Enabled: boolean; Spec: string } | null;
  ParameterizedJob?: { Payload: string; MetaRequired: string[] | null; MetaOptional: string[] | null } | null;
  Dispatched?: boolean;
}

export interface JobVersions {
  Versions: Job[] | null;
  /** With `?diffs=true`: Diffs[i] is Versions[i] against the version before it. */
  Diffs?: JobDiff[] | null;
}

export interface TaskEvent {
  Type: string;
  Time: number;
  DisplayMessage?: string;
  Message?: string;
}

export interface TaskState {
  State: string;
  Failed: boolean;
  Restarts: number;
  /** RFC3339 or null. */
  StartedAt: string | null;
  FinishedAt: string | null;
  Events: TaskEvent[] | null;
}

export interface AllocListStub {
  ID: string;
  Name: string;
  Namespace: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  JobVersion: number;
  TaskGroup: string;
  DesiredStatus: string;
  ClientStatus: string;
  ClientDescription?: string;
  TaskStates: Record<string, TaskState> | null;
  CreateTime: number;
  ModifyTime: number;
  /** With `?resources=true`. */
  AllocatedResources?: {
    Tasks: Record<string, { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } }> | null;
  } | null;
}

export interface Allocation extends Omit<AllocListStub, 'JobVersion'> {
  EvalID: string;
  DesiredDescription?: string;
  DeploymentID?: string;
  Job: Job | null;
}

export interface DeploymentState {
  DesiredTotal: number;
  PlacedAllocs: number;
  HealthyAllocs: number;
  UnhealthyAllocs: number;
  DesiredCanaries: number;
  PlacedCanaries: string[] | null;
  Promoted: boolean;
  AutoRevert?: boolean;
  RequireProgressBy?: string;
}

export interface Deployment {
  ID: string;
  JobID: string;
  JobVersion: number;
  Status: string;
  StatusDescription: string;
  TaskGroups: Record<string, DeploymentState> | null;
  CreateTime?: number;
}

export interface DriverInfo {
  Detected: boolean;
  Healthy: boolean;
}

export interface NodeListStub {
  ID: string;
  Name: string;
  Datacenter: string;
  NodePool: string;
  NodeClass?: string;
  Address: string;
  Version?: string;
  Status: string;
  StatusDescription?: string;
  SchedulingEligibility: string;
  Drain: boolean;
  Drivers: Record<string, DriverInfo> | null;
  /** With `?resources=true`. */
  NodeResources?: NodeResources;
  ReservedResources?: NodeReservedResources;
}

export interface Node extends Omit<NodeListStub, 'Address' | 'Version' | 'Drain'> {
  HTTPAddr: string;
  Attributes: Record<string, string> | null;
  DrainStrategy: unknown;
  Drain?: boolean;
}

export type Evaluation = Pick<
  S.Evaluation,
  | 'ID'
  | 'Namespace'
  | 'Priority'
  | 'Type'
  | 'TriggeredBy'
  | 'JobID'
  | 'NodeID'
  | 'DeploymentID'
  | 'Status'
  | 'StatusDescription'
  | 'CreateIndex'
  | 'CreateTime'
> & { FailedTGAllocs: Record<string, unknown> | null; BlockedEval?: string };

export interface ServiceListEntry {
  Namespace: string;
  Services: Array<{ ServiceName: string; Tags: string[] | null }> | null;
}

export type ServiceRegistration = Omit<S.ServiceRegistration, 'CreateIndex' | 'ModifyIndex' | 'Checks' | 'Meta'> & {
  Checks?: Array<Pick<S.ServiceCheckResult, 'Name' | 'Status' | 'Output'>> | null;
};

export interface AgentSelf {
  config?: { Region?: string; Datacenter?: string; NodeName?: string; Version?: { Version?: string } };
}

/** Nomad's job diff (`job plan`, versions with `?diffs=true`). */
export type FieldDiff = S.FieldDiff;
export type ObjectDiff = S.ObjectDiff;
export type TaskDiff = S.TaskDiff;
export type TaskGroupDiff = S.TaskGroupDiff;
export type JobDiff = Pick<S.JobDiff, 'Type' | 'ID' | 'Fields' | 'Objects' | 'TaskGroups'>;

/** Why a task group could not be placed (AllocMetric): the reasons the scheduler recorded. */
export type AllocMetric = Pick<
  S.AllocMetric,
  | 'NodesEvaluated'
  | 'NodesFiltered'
  | 'NodesAvailable'
  | 'ClassFiltered'
  | 'ConstraintFiltered'
  | 'NodesExhausted'
  | 'ClassExhausted'
  | 'DimensionExhausted'
  | 'QuotaExhausted'
  | 'CoalescedFailures'
> &
  Partial<Pick<S.AllocMetric, 'NodesInPool'>>;

export interface PlanAnnotations {
  DesiredTGUpdates: Record<
    string,
    Omit<S.DesiredUpdates, 'Preemptions'> & Partial<Pick<S.DesiredUpdates, 'Preemptions'>>
  > | null;
}

export interface JobPlanResult {
  JobModifyIndex: number;
  Diff: JobDiff | null;
  Annotations: PlanAnnotations | null;
  FailedTGAllocs: Record<string, AllocMetric> | null;
  Warnings: string;
}

export interface JobRegisterResult {
  EvalID: string;
  JobModifyIndex: number;
  Warnings: string;
}

export interface Resources {
  CPU: number;
  MemoryMB: number;
}

/** A node's capacity and what is kept back for the OS and the agent. */
export interface NodeResources {
  Cpu: { CpuShares: number };
  Memory: { MemoryMB: number };
}
export interface NodeReservedResources {
  Cpu: { CpuShares: number };
  Memory: { MemoryMB: number };
}

export interface Variable {
  Namespace: string;
  Path: string;
  Items?: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface ACLTokenSelf {
  AccessorID: string;
  Name: string;
  Type: string;
  Policies: string[] | null;
  Global?: boolean;
  ExpirationTime?: string | null;
}

/** One entry of `alloc fs ls`. */
export interface FileInfo {
  Name: string;
  IsDir: boolean;
  Size: number;
  FileMode: string;
  /** RFC3339. */
  ModTime: string;
}

/** `/v1/client/allocation/:id/stats` (Nomad's AllocResourceUsage), the parts the charts read. */
export interface AllocStats {
  ResourceUsage: {
    MemoryStats: { RSS: number; Usage: number };
    CpuStats: { Percent: number; TotalTicks: number };
  };
  /** Unix nanoseconds. */
  Timestamp: number;
}
