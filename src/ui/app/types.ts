/**
 * The parts of the HTTP API's JSON the UI reads, in Nomad's field names. The UI is a client of the public
 * API like curl or the CLI, so it declares what it uses here rather than importing the server's structs
 * (which are built for Node, not for the browser). Times are unix nanoseconds unless noted.
 */

export interface TaskGroupSummary {
  Queued: number;
  Complete: number;
  Failed: number;
  Running: number;
  Starting: number;
  Lost: number;
  Unknown?: number;
}

export interface JobSummary {
  Summary: Record<string, TaskGroupSummary>;
  Children?: { Pending: number; Running: number; Dead: number } | null;
}

export interface JobListStub {
  ID: string;
  Name: string;
  Namespace: string;
  Type: string;
  Priority: number;
  Status: string;
  StatusDescription?: string;
  Stop: boolean;
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
}

export interface Job {
  ID: string;
  Name: string;
  Namespace: string;
  Type: string;
  Priority: number;
  Status: string;
  StatusDescription?: string;
  Stop: boolean;
  Stable?: boolean;
  Datacenters: string[] | null;
  NodePool?: string;
  TaskGroups: TaskGroup[] | null;
  Version: number;
  SubmitTime: number;
  JobModifyIndex: number;
}

export interface JobVersions {
  Versions: Job[] | null;
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
}

export interface Node extends Omit<NodeListStub, 'Address' | 'Version' | 'Drain'> {
  HTTPAddr: string;
  Attributes: Record<string, string> | null;
  DrainStrategy: unknown;
  Drain?: boolean;
}

export interface Evaluation {
  ID: string;
  Namespace: string;
  Priority: number;
  Type: string;
  TriggeredBy: string;
  JobID: string;
  NodeID: string;
  DeploymentID: string;
  Status: string;
  StatusDescription: string;
  FailedTGAllocs: Record<string, unknown> | null;
  BlockedEval?: string;
  CreateIndex: number;
  CreateTime: number;
}

export interface ServiceListEntry {
  Namespace: string;
  Services: Array<{ ServiceName: string; Tags: string[] | null }> | null;
}

export interface ServiceRegistration {
  ID: string;
  ServiceName: string;
  Namespace: string;
  NodeID: string;
  Datacenter: string;
  JobID: string;
  AllocID: string;
  Tags: string[] | null;
  Address: string;
  Port: number;
  /** Drover: worst check status; absent means passing (no checks). */
  Status?: 'passing' | 'warning' | 'critical';
  Checks?: Array<{ Name: string; Status: string; Output: string }> | null;
}

export interface AgentSelf {
  config?: { Region?: string; Datacenter?: string; NodeName?: string; Version?: { Version?: string } };
}
