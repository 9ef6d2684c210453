/**
 * The shape of a job in Nomad's API JSON, for checking JSON job files and API bodies: every key a
 * struct accepts and its type. A key not listed is an error that names it, as in the HCL decoder.
 * Type codes: s string, n number, b bool, [x] list of x, {x} map of x, * anything, or a struct name.
 */
export type ShapeType = string;
export type Shape = Record<string, ShapeType>;

const constraint: Shape = { LTarget: 's', RTarget: 's', Operand: 's' };
const port: Shape = { Label: 's', Value: 'n', To: 'n', HostNetwork: 's', IgnoreCollision: 'b' };

export const SHAPES: Record<string, Shape> = {
  Job: {
    Region: 's', Namespace: 's', ID: 's', Name: 's', Type: 's', Priority: 'n', AllAtOnce: 'b', Datacenters: '[s]', NodePool: 's',
    Constraints: '[Constraint]', Affinities: '[Affinity]', TaskGroups: '[TaskGroup]', Update: 'Update', Multiregion: 'Multiregion',
    Spreads: '[Spread]', Periodic: 'Periodic', ParameterizedJob: 'Parameterized', Reschedule: 'Reschedule', Migrate: 'Migrate',
    Meta: '{s}', UI: 'UI', Stop: 'b', ParentID: 's', Dispatched: 'b', DispatchIdempotencyToken: 's', Payload: '*',
    ConsulNamespace: 's', VaultNamespace: 's', NomadTokenID: 's', Status: 's', StatusDescription: 's', Stable: 'b', Version: 'n',
    SubmitTime: 'n', CreateIndex: 'n', ModifyIndex: 'n', JobModifyIndex: 'n', VersionTag: '*', ConsulToken: 's', VaultToken: 's',
    Vault: '*', Consul: 'Consul',
  },
  TaskGroup: {
    Name: 's', Count: 'n', Constraints: '[Constraint]', Affinities: '[Affinity]', Tasks: '[Task]', Spreads: '[Spread]',
    Volumes: '{Volume}', RestartPolicy: 'Restart', Disconnect: 'Disconnect', ReschedulePolicy: 'Reschedule', EphemeralDisk: 'EphemeralDisk',
    Update: 'Update', Migrate: 'Migrate', Networks: '[Network]', Meta: '{s}', Services: '[Service]', ShutdownDelay: 'n',
    MaxRunDuration: 'n', StopAfterClientDisconnect: 'n', MaxClientDisconnect: 'n', Scaling: 'Scaling', Consul: 'Consul',
    PreventRescheduleOnLost: 'b',
  },
  Task: {
    Name: 's', Driver: 's', User: 's', Lifecycle: 'Lifecycle', Config: '*', Constraints: '[Constraint]', Affinities: '[Affinity]',
    Env: '{s}', Services: '[Service]', Resources: 'Resources', RestartPolicy: 'Restart', Meta: '{s}', KillTimeout: 'n',
    LogConfig: 'LogConfig', Artifacts: '[Artifact]', Vault: 'Vault', Consul: 'Consul', Templates: '[Template]',
    DispatchPayload: 'DispatchPayload', VolumeMounts: '[VolumeMount]', CSIPluginConfig: 'CSIPlugin', Leader: 'b', ShutdownDelay: 'n',
    KillSignal: 's', Kind: 's', ScalingPolicies: '[Scaling]', Secrets: '*', Identity: 'Identity', Identities: '[Identity]',
    Actions: '[Action]', Schedule: '*',
  },
  Constraint: constraint,
  Affinity: { ...constraint, Weight: 'n' },
  Spread: { Attribute: 's', Weight: 'n', SpreadTarget: '[SpreadTarget]' },
  SpreadTarget: { Value: 's', Percent: 'n' },
  Update: {
    Stagger: 'n', MaxParallel: 'n', HealthCheck: 's', MinHealthyTime: 'n', HealthyDeadline: 'n', ProgressDeadline: 'n', Canary: 'n',
    AutoRevert: 'b', AutoPromote: 'b',
  },
  Migrate: { MaxParallel: 'n', HealthCheck: 's', MinHealthyTime: 'n', HealthyDeadline: 'n' },
  Reschedule: { Attempts: 'n', Interval: 'n', Delay: 'n', DelayFunction: 's', MaxDelay: 'n', Unlimited: 'b' },
  Restart: { Attempts: 'n', Interval: 'n', Delay: 'n', Mode: 's', RenderTemplates: 'b' },
  Disconnect: { LostAfter: 'n', StopOnClientAfter: 'n', Replace: 'b', Reconcile: 's' },
  EphemeralDisk: { Sticky: 'b', Migrate: 'b', SizeMB: 'n' },
  Periodic: { Enabled: 'b', Spec: 's', Specs: '[s]', SpecType: 's', ProhibitOverlap: 'b', TimeZone: 's' },
  Parameterized: { Payload: 's', MetaRequired: '[s]', MetaOptional: '[s]' },
  Multiregion: { Strategy: 'MultiregionStrategy', Regions: '[MultiregionRegion]' },
  MultiregionStrategy: { MaxParallel: 'n', OnFailure: 's' },
  MultiregionRegion: { Name: 's', Count: 'n', Datacenters: '[s]', NodePool: 's', Meta: '{s}' },
  UI: { Description: 's', Links: '[UILink]' },
  UILink: { Label: 's', URL: 's' },
  Consul: { Namespace: 's', Cluster: 's', Partition: 's' },
  Vault: {
    Policies: '[s]', Role: 's', Namespace: 's', Cluster: 's', Env: 'b', DisableFile: 'b', ChangeMode: 's', ChangeSignal: 's',
    AllowTokenExpiration: 'b',
  },
  Volume: {
    Name: 's', Type: 's', Source: 's', ReadOnly: 'b', Sticky: 'b', AccessMode: 's', AttachmentMode: 's', MountOptions: 'MountOptions',
    PerAlloc: 'b',
  },
  MountOptions: { FSType: 's', MountFlags: '[s]' },
  VolumeMount: { Volume: 's', Destination: 's', ReadOnly: 'b', PropagationMode: 's', SELinuxLabel: 's' },
  Network: {
    Mode: 's', Device: 's', CIDR: 's', IP: 's', DNS: 'DNS', ReservedPorts: '[Port]', DynamicPorts: '[Port]', Hostname: 's', MBits: 'n',
    CNI: 'CNI',
  },
  Port: port,
  DNS: { Servers: '[s]', Searches: '[s]', Options: '[s]' },
  CNI: { Args: '{s}' },
  Resources: {
    CPU: 'n', Cores: 'n', MemoryMB: 'n', MemoryMaxMB: 'n', DiskMB: 'n', Networks: '[Network]', Devices: '[Device]', NUMA: 'NUMA',
    SecretsMB: 'n', IOPS: 'n',
  },
  Device: { Name: 's', Count: 'n', Constraints: '[Constraint]', Affinities: '[Affinity]' },
  NUMA: { Affinity: 's', Devices: '[s]' },
  Service: {
    Name: 's', Tags: '[s]', CanaryTags: '[s]', EnableTagOverride: 'b', PortLabel: 's', AddressMode: 's', Address: 's', Checks: '[Check]',
    CheckRestart: 'CheckRestart', Connect: '*', Meta: '{s}', CanaryMeta: '{s}', TaggedAddresses: '{s}', TaskName: 's', OnUpdate: 's',
    Identity: 'Identity', Weights: 'Weights', Provider: 's', Cluster: 's', Kind: 's',
  },
  Weights: { Passing: 'n', Warning: 'n' },
  Check: {
    Name: 's', Type: 's', Command: 's', Args: '[s]', Path: 's', Protocol: 's', PortLabel: 's', Expose: 'b', AddressMode: 's',
    Advertise: 's', Interval: 'n', Timeout: 'n', InitialStatus: 's', Notes: 's', TLSServerName: 's', TLSSkipVerify: 'b',
    Header: '{[s]}', Method: 's', CheckRestart: 'CheckRestart', GRPCService: 's', GRPCUseTLS: 'b', TaskName: 's',
    SuccessBeforePassing: 'n', FailuresBeforeCritical: 'n', FailuresBeforeWarning: 'n', Body: 's', OnUpdate: 's',
  },
  CheckRestart: { Limit: 'n', Grace: 'n', IgnoreWarnings: 'b' },
  Lifecycle: { Hook: 's', Sidecar: 'b' },
  LogConfig: { MaxFiles: 'n', MaxFileSizeMB: 'n', Enabled: 'b', Disabled: 'b' },
  Artifact: {
    GetterSource: 's', GetterOptions: '{s}', GetterHeaders: '{s}', GetterMode: 's', GetterInsecure: 'b', RelativeDest: 's', Chown: 'b',
  },
  Template: {
    SourcePath: 's', DestPath: 's', EmbeddedTmpl: 's', ChangeMode: 's', ChangeScript: 'ChangeScript', ChangeSignal: 's', Once: 'b',
    Splay: 'n', Perms: 's', Uid: 'n', Gid: 'n', LeftDelim: 's', RightDelim: 's', Envvars: 'b', VaultGrace: 'n', Wait: 'Wait',
    ErrMissingKey: 'b',
  },
  ChangeScript: { Command: 's', Args: '[s]', Timeout: 'n', FailOnError: 'b' },
  Wait: { Min: 'n', Max: 'n' },
  DispatchPayload: { File: 's' },
  CSIPlugin: { ID: 's', Type: 's', MountDir: 's', StagePublishBaseDir: 's', HealthTimeout: 'n' },
  Scaling: {
    Min: 'n', Max: 'n', Policy: '*', Enabled: 'b', Type: 's', ID: 's', Namespace: 's', Target: '{s}', CreateIndex: 'n', ModifyIndex: 'n',
  },
  Identity: {
    Name: 's', Audience: '[s]', ChangeMode: 's', ChangeSignal: 's', Env: 'b', File: 'b', Filepath: 's', ServiceName: 's', TTL: 'n',
    ExtraClaims: '[s]',
  },
  Action: { Name: 's', Command: 's', Args: '[s]' },
};
