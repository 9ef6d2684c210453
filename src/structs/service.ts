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
}
