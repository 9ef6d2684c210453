/** Service and check definitions as they appear in a job, in Nomad's JSON shape. */

export interface CheckRestart {
  Limit: number;
  Grace: number;
  IgnoreWarnings: boolean;
}

export interface ServiceCheck {
  Name: string;
  Type: 'http' | 'tcp' | 'script' | 'grpc' | string;
  Command?: string;
  Args?: string[] | null;
  Path?: string;
  Protocol?: string;
  PortLabel?: string;
  Expose?: boolean;
  AddressMode?: string;
  Interval: number;
  Timeout: number;
  InitialStatus?: string;
  TLSServerName?: string;
  TLSSkipVerify?: boolean;
  Header?: Record<string, string[]> | null;
  Method?: string;
  Body?: string;
  CheckRestart?: CheckRestart | null;
  TaskName?: string;
  SuccessBeforePassing?: number;
  FailuresBeforeCritical?: number;
  FailuresBeforeWarning?: number;
  OnUpdate?: string;
  /** gRPC health service name (`grpc_service`). */
  GRPCService?: string;
  GRPCUseTLS?: boolean;
}

export interface Service {
  Name: string;
  TaskName?: string;
  PortLabel?: string;
  AddressMode?: string;
  Address?: string;
  EnableTagOverride?: boolean;
  Tags?: string[] | null;
  CanaryTags?: string[] | null;
  Checks?: ServiceCheck[] | null;
  Connect?: Record<string, unknown> | null;
  Meta?: Record<string, string> | null;
  CanaryMeta?: Record<string, string> | null;
  TaggedAddresses?: Record<string, string> | null;
  OnUpdate?: string;
  Provider?: 'nomad' | 'consul' | string;
  Cluster?: string;
  Identity?: Record<string, unknown> | null;
  Weights?: Record<string, unknown> | null;
  Kind?: string;
}

/** A registered service instance in the catalog (`GET /v1/service/:name`), Nomad's ServiceRegistration. */
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
  CreateIndex: number;
  ModifyIndex: number;
  /** Drover: aggregate check status (worst of Checks); absent means passing (no checks). */
  Status?: ServiceHealthStatus;
  /** Drover: the latest result of each check of this instance. */
  Checks?: ServiceCheckResult[] | null;
  /** Drover: the service's meta (canary_meta merged for canaries), as consul-template's `.ServiceMeta`. */
  Meta?: Record<string, string> | null;
}

/** Consul's check statuses, worst last. */
export type ServiceHealthStatus = 'passing' | 'warning' | 'critical';

/** The latest result of one check of a service instance. */
export interface ServiceCheckResult {
  /** Stable per (registration, check definition). */
  CheckID: string;
  Name: string;
  Status: ServiceHealthStatus;
  /** Probe output (HTTP status line and body head, script output, error text), truncated. */
  Output: string;
  /** Unix nanoseconds of the result; 0 before the first probe. */
  Timestamp: number;
  /** HTTP status of the last probe of an http check; absent otherwise. */
  StatusCode?: number;
}

/**
 * One entry of `GET /v1/client/allocation/:id/checks` (Nomad's AllocCheckStatus), keyed there by check ID: what
 * `alloc status` shows of a check. Status is success, failure or pending; a warning counts as success.
 */
export interface AllocCheckStatus {
  ID: string;
  Check: string;
  Group: string;
  /** healthiness, or readiness for checks with on_update = "ignore" (they do not gate deployments). */
  Mode: 'healthiness' | 'readiness';
  Output: string;
  Service: string;
  Task: string;
  Status: 'success' | 'failure' | 'pending';
  StatusCode: number;
  /** Unix seconds of the latest result; 0 before the first. */
  Timestamp: number;
}
