/**
 * The Job model, in Nomad's JSON shape. A job file (HCL or JSON) decodes into this; the state store,
 * the scheduler and the HTTP API all use it unchanged. Optional fields are the ones a job file may
 * leave out; `canonicalizeJob` (jobspec) fills Nomad's defaults.
 * Durations are integer nanoseconds.
 */
import type { NetworkResource, Resources } from './resources.js';
import type { Service } from './service.js';

export const JobTypeService = 'service';
export const JobTypeBatch = 'batch';
export const JobTypeSystem = 'system';
export const JobTypeSysBatch = 'sysbatch';
export type JobType = 'service' | 'batch' | 'system' | 'sysbatch';

export const JobStatusPending = 'pending';
export const JobStatusRunning = 'running';
export const JobStatusDead = 'dead';

export interface Constraint {
  LTarget: string;
  RTarget: string;
  Operand: string;
}

export interface Affinity {
  LTarget: string;
  RTarget: string;
  Operand: string;
  Weight: number;
}

export interface SpreadTarget {
  Value: string;
  Percent: number;
}
export interface Spread {
  Attribute: string;
  Weight: number;
  SpreadTarget: SpreadTarget[] | null;
}

export interface RestartPolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  Mode: 'delay' | 'fail' | string;
  RenderTemplates?: boolean;
}

export interface ReschedulePolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  DelayFunction: 'constant' | 'exponential' | 'fibonacci' | string;
  MaxDelay: number;
  Unlimited: boolean;
}

export interface UpdateStrategy {
  Stagger: number;
  MaxParallel: number;
  HealthCheck: 'checks' | 'task_states' | 'manual' | string;
  MinHealthyTime: number;
  HealthyDeadline: number;
  ProgressDeadline: number;
  AutoRevert: boolean;
  AutoPromote: boolean;
  Canary: number;
}

export interface MigrateStrategy {
  MaxParallel: number;
  HealthCheck: string;
  MinHealthyTime: number;
  HealthyDeadline: number;
}

export interface DisconnectStrategy {
  LostAfter?: number;
  Replace?: boolean | null;
  Reconcile?: string;
  StopOnClientAfter?: number | null;
}

export interface PeriodicConfig {
  Enabled: boolean;
  Spec: string;
  Specs?: string[] | null;
  SpecType: string;
  ProhibitOverlap: boolean;
  TimeZone: string;
}

export interface ParameterizedJobConfig {
  Payload: string;
  MetaRequired: string[] | null;
  MetaOptional: string[] | null;
}

export interface EphemeralDisk {
  Sticky: boolean;
  SizeMB: number;
  Migrate: boolean;
}

export interface LogConfig {
  MaxFiles: number;
  MaxFileSizeMB: number;
  Disabled?: boolean;
}

export interface TaskArtifact {
  GetterSource: string;
  GetterOptions?: Record<string, string> | null;
  GetterHeaders?: Record<string, string> | null;
  GetterMode: string;
  RelativeDest: string;
  GetterInsecure?: boolean;
}

export interface WaitConfig {
  Min?: number | null;
  Max?: number | null;
}

export interface ChangeScript {
  Command: string;
  Args: string[] | null;
  Timeout: number;
  FailOnError: boolean;
}

export interface Template {
  SourcePath: string;
  DestPath: string;
  EmbeddedTmpl: string;
  ChangeMode: 'noop' | 'restart' | 'signal' | 'script' | string;
  ChangeSignal: string;
  ChangeScript?: ChangeScript | null;
  Splay: number;
  Perms: string;
  Uid?: number | null;
  Gid?: number | null;
  LeftDelim: string;
  RightDelim: string;
  Envvars: boolean;
  VaultGrace?: number;
  Wait?: WaitConfig | null;
  ErrMissingKey: boolean;
  Once?: boolean;
}

export interface VolumeRequest {
  Name: string;
  Type: string;
  Source: string;
  ReadOnly: boolean;
  Sticky?: boolean;
  AccessMode?: string;
  AttachmentMode?: string;
  MountOptions?: unknown;
  PerAlloc?: boolean;
}

export interface VolumeMount {
  Volume: string;
  Destination: string;
  ReadOnly: boolean;
  PropagationMode: string;
  SELinuxLabel?: string;
}

export interface TaskLifecycle {
  Hook: 'prestart' | 'poststart' | 'poststop' | string;
  Sidecar: boolean;
}

export interface DispatchPayloadConfig {
  File: string;
}

export interface ScalingPolicy {
  ID?: string;
  Namespace?: string;
  Target?: Record<string, string> | null;
  Type?: string;
  Min?: number | null;
  Max?: number | null;
  Policy?: Record<string, unknown> | null;
  Enabled?: boolean | null;
  CreateIndex?: number;
  ModifyIndex?: number;
}

/** A scaling policy in `GET /v1/scaling/policies` (Nomad's ScalingPolicyListStub). */
export interface ScalingPolicyListStub {
  ID: string;
  Enabled: boolean;
  Type: string;
  Target: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface Task {
  Name: string;
  Driver: string;
  User?: string;
  Config: Record<string, unknown> | null;
  Env?: Record<string, string> | null;
  Services?: Service[] | null;
  Constraints?: Constraint[] | null;
  Affinities?: Affinity[] | null;
  Resources: Resources;
  RestartPolicy?: RestartPolicy | null;
  Meta?: Record<string, string> | null;
  KillTimeout?: number;
  KillSignal?: string;
  LogConfig?: LogConfig | null;
  Artifacts?: TaskArtifact[] | null;
  Templates?: Template[] | null;
  DispatchPayload?: DispatchPayloadConfig | null;
  VolumeMounts?: VolumeMount[] | null;
  Lifecycle?: TaskLifecycle | null;
  Leader?: boolean;
  ShutdownDelay?: number;
  Kind?: string;
  Vault?: Record<string, unknown> | null;
  Consul?: Record<string, unknown> | null;
  Identity?: Record<string, unknown> | null;
  Identities?: Record<string, unknown>[] | null;
  ScalingPolicies?: ScalingPolicy[] | null;
  CSIPluginConfig?: Record<string, unknown> | null;
  Actions?: Record<string, unknown>[] | null;
}

export interface TaskGroup {
  Name: string;
  Count: number;
  Constraints?: Constraint[] | null;
  Affinities?: Affinity[] | null;
  Spreads?: Spread[] | null;
  Tasks: Task[];
  Volumes?: Record<string, VolumeRequest> | null;
  RestartPolicy?: RestartPolicy | null;
  ReschedulePolicy?: ReschedulePolicy | null;
  EphemeralDisk?: EphemeralDisk | null;
  Update?: UpdateStrategy | null;
  Migrate?: MigrateStrategy | null;
  Networks?: NetworkResource[] | null;
  Meta?: Record<string, string> | null;
  Services?: Service[] | null;
  ShutdownDelay?: number | null;
  StopAfterClientDisconnect?: number | null;
  MaxClientDisconnect?: number | null;
  Disconnect?: DisconnectStrategy | null;
  PreventRescheduleOnLost?: boolean;
  Scaling?: ScalingPolicy | null;
  Consul?: Record<string, unknown> | null;
}

export interface Job {
  Region: string;
  Namespace: string;
  ID: string;
  Name: string;
  Type: JobType | string;
  Priority: number;
  AllAtOnce?: boolean;
  Datacenters: string[];
  NodePool?: string;
  Constraints?: Constraint[] | null;
  Affinities?: Affinity[] | null;
  Spreads?: Spread[] | null;
  TaskGroups: TaskGroup[];
  Update?: UpdateStrategy | null;
  Multiregion?: Record<string, unknown> | null;
  Periodic?: PeriodicConfig | null;
  ParameterizedJob?: ParameterizedJobConfig | null;
  Reschedule?: ReschedulePolicy | null;
  Migrate?: MigrateStrategy | null;
  Meta?: Record<string, string> | null;
  UI?: Record<string, unknown> | null;
  Vault?: Record<string, unknown> | null;
  Consul?: Record<string, unknown> | null;
  ConsulToken?: string;
  VaultToken?: string;
  ConsulNamespace?: string;
  VaultNamespace?: string;
  NomadTokenID?: string;
  Stop?: boolean;
  ParentID?: string;
  Dispatched?: boolean;
  DispatchIdempotencyToken?: string;
  /** base64 */
  Payload?: string | null;
  Status?: string;
  StatusDescription?: string;
  Stable?: boolean;
  Version?: number;
  SubmitTime?: number;
  CreateIndex?: number;
  ModifyIndex?: number;
  JobModifyIndex?: number;
  VersionTag?: Record<string, unknown> | null;
}

/** The `{"Job": ...}` envelope used by register and by `drover job run -output`. */
export interface JobRegisterRequest {
  Job: Job;
  EnforceIndex?: boolean;
  JobModifyIndex?: number;
  PolicyOverride?: boolean;
  PreserveCounts?: boolean;
  Submission?: JobSubmission | null;
}

export interface JobSubmission {
  Source: string;
  Format: 'hcl2' | 'json' | string;
  VariableFlags?: Record<string, string> | null;
  Variables?: string;
}
