/**
 * The jobspec's blocks as data: for each block, the attributes it accepts (HCL name → struct field
 * and type) and the sub-blocks it accepts. The decoder walks these tables, so an unknown attribute
 * or block is reported by name, and docs/jobspec.md can be checked against one list.
 * Blocks with behaviour beyond "map attributes to fields" name a `custom` handler in decode-job.ts.
 */

export type AttrType =
  | 'string'
  | 'int'
  | 'number'
  | 'bool'
  | 'duration'
  | 'strings'
  | 'ints'
  | 'stringMap'
  | 'stringListMap'
  | 'any'
  | 'size';

export interface AttrSpec {
  field: string;
  type: AttrType;
  required?: boolean;
}

export type BlockMode =
  /** At most one; decoded into an object at `field`. */
  | 'single'
  /** Any number; appended to a list at `field`. */
  | 'list'
  /** Any number, one label each; stored in a map keyed by label, with the label in `labelField`. */
  | 'map';

export interface BlockRef {
  spec: string;
  field: string;
  mode: BlockMode;
  /** Struct fields that receive the block's labels, in order. Blocks without this take no labels. */
  labels?: string[];
  labelField?: string;
}

export interface BlockSpec {
  attrs: Record<string, AttrSpec>;
  blocks: Record<string, BlockRef>;
  /** Name of a handler in decode-job.ts run after the generic decoding. */
  custom?: string;
}

const a = (field: string, type: AttrType, required = false): AttrSpec =>
  required ? { field, type, required } : { field, type };
const one = (spec: string, field: string): BlockRef => ({ spec, field, mode: 'single' });
const many = (spec: string, field: string, labels?: string[]): BlockRef =>
  labels ? { spec, field, mode: 'list', labels } : { spec, field, mode: 'list' };
const byLabel = (spec: string, field: string, labelField = 'Name'): BlockRef => ({
  spec,
  field,
  mode: 'map',
  labels: [labelField],
  labelField,
});

const constraintAttrs = {
  attribute: a('LTarget', 'string'),
  value: a('RTarget', 'string'),
  operator: a('Operand', 'string'),
  // Nomad's sugar: `distinct_hosts = true`, `regexp = "..."`, ... set Operand and RTarget.
  distinct_hosts: a('_distinct_hosts', 'string'),
  distinct_property: a('_distinct_property', 'string'),
  regexp: a('_regexp', 'string'),
  version: a('_version', 'string'),
  semver: a('_semver', 'string'),
  set_contains: a('_set_contains', 'string'),
  set_contains_all: a('_set_contains_all', 'string'),
  set_contains_any: a('_set_contains_any', 'string'),
};

const resourcesBlocks = {
  network: one('network', '_Networks'),
  device: many('device', 'Devices', ['Name']),
  numa: one('numa', 'NUMA'),
};

export const SCHEMA: Record<string, BlockSpec> = {
  job: {
    attrs: {
      id: a('ID', 'string'),
      name: a('Name', 'string'),
      region: a('Region', 'string'),
      namespace: a('Namespace', 'string'),
      node_pool: a('NodePool', 'string'),
      type: a('Type', 'string'),
      priority: a('Priority', 'int'),
      all_at_once: a('AllAtOnce', 'bool'),
      datacenters: a('Datacenters', 'strings'),
      meta: a('Meta', 'stringMap'),
      consul_token: a('ConsulToken', 'string'),
      vault_token: a('VaultToken', 'string'),
      consul_namespace: a('ConsulNamespace', 'string'),
      vault_namespace: a('VaultNamespace', 'string'),
    },
    blocks: {
      meta: one('stringMap', 'Meta'),
      constraint: many('constraint', 'Constraints'),
      affinity: many('affinity', 'Affinities'),
      spread: many('spread', 'Spreads'),
      update: one('update', 'Update'),
      migrate: one('migrate', 'Migrate'),
      reschedule: one('reschedule', 'Reschedule'),
      periodic: one('periodic', 'Periodic'),
      parameterized: one('parameterized', 'ParameterizedJob'),
      multiregion: one('multiregion', 'Multiregion'),
      vault: one('vault', '_Vault'),
      consul: one('consul', 'Consul'),
      ui: one('ui', 'UI'),
      group: many('group', 'TaskGroups', ['Name']),
      task: many('task', '_Tasks', ['Name']),
    },
    custom: 'job',
  },
  group: {
    attrs: {
      count: a('Count', 'int'),
      meta: a('Meta', 'stringMap'),
      shutdown_delay: a('ShutdownDelay', 'duration'),
      stop_after_client_disconnect: a('StopAfterClientDisconnect', 'duration'),
      max_client_disconnect: a('MaxClientDisconnect', 'duration'),
      prevent_reschedule_on_lost: a('PreventRescheduleOnLost', 'bool'),
    },
    blocks: {
      meta: one('stringMap', 'Meta'),
      constraint: many('constraint', 'Constraints'),
      affinity: many('affinity', 'Affinities'),
      spread: many('spread', 'Spreads'),
      task: many('task', 'Tasks', ['Name']),
      restart: one('restart', 'RestartPolicy'),
      reschedule: one('reschedule', 'ReschedulePolicy'),
      ephemeral_disk: one('ephemeral_disk', 'EphemeralDisk'),
      update: one('update', 'Update'),
      migrate: one('migrate', 'Migrate'),
      network: many('network', 'Networks'),
      service: many('service', 'Services'),
      volume: byLabel('volume', 'Volumes'),
      scaling: one('group_scaling', 'Scaling'),
      disconnect: one('disconnect', 'Disconnect'),
      consul: one('consul', 'Consul'),
      vault: one('vault', '_Vault'),
    },
    custom: 'group',
  },
  task: {
    attrs: {
      driver: a('Driver', 'string'),
      user: a('User', 'string'),
      leader: a('Leader', 'bool'),
      kind: a('Kind', 'string'),
      kill_timeout: a('KillTimeout', 'duration'),
      kill_signal: a('KillSignal', 'string'),
      shutdown_delay: a('ShutdownDelay', 'duration'),
      env: a('Env', 'stringMap'),
      meta: a('Meta', 'stringMap'),
      config: a('Config', 'any'),
    },
    blocks: {
      config: one('freeform', 'Config'),
      env: one('stringMap', 'Env'),
      meta: one('stringMap', 'Meta'),
      constraint: many('constraint', 'Constraints'),
      affinity: many('affinity', 'Affinities'),
      service: many('service', 'Services'),
      resources: one('resources', 'Resources'),
      restart: one('restart', 'RestartPolicy'),
      logs: one('logs', 'LogConfig'),
      artifact: many('artifact', 'Artifacts'),
      template: many('template', 'Templates'),
      vault: one('vault', 'Vault'),
      lifecycle: one('lifecycle', 'Lifecycle'),
      dispatch_payload: one('dispatch_payload', 'DispatchPayload'),
      volume_mount: many('volume_mount', 'VolumeMounts'),
      scaling: many('task_scaling', 'ScalingPolicies'),
      csi_plugin: one('csi_plugin', 'CSIPluginConfig'),
      identity: many('identity', '_Identities'),
      action: many('action', 'Actions', ['Name']),
      consul: one('consul', 'Consul'),
    },
    custom: 'task',
  },
  stringMap: { attrs: {}, blocks: {}, custom: 'stringMap' },
  freeform: { attrs: {}, blocks: {}, custom: 'freeform' },
  constraint: { attrs: constraintAttrs, blocks: {}, custom: 'constraint' },
  affinity: {
    attrs: {
      attribute: a('LTarget', 'string'),
      value: a('RTarget', 'string'),
      operator: a('Operand', 'string'),
      weight: a('Weight', 'int'),
    },
    blocks: {},
    custom: 'affinity',
  },
  spread: {
    attrs: { attribute: a('Attribute', 'string'), weight: a('Weight', 'int') },
    blocks: { target: many('spread_target', 'SpreadTarget', ['Value']) },
  },
  spread_target: { attrs: { value: a('Value', 'string'), percent: a('Percent', 'int') }, blocks: {} },
  update: {
    attrs: {
      stagger: a('Stagger', 'duration'),
      max_parallel: a('MaxParallel', 'int'),
      health_check: a('HealthCheck', 'string'),
      min_healthy_time: a('MinHealthyTime', 'duration'),
      healthy_deadline: a('HealthyDeadline', 'duration'),
      progress_deadline: a('ProgressDeadline', 'duration'),
      auto_revert: a('AutoRevert', 'bool'),
      auto_promote: a('AutoPromote', 'bool'),
      canary: a('Canary', 'int'),
    },
    blocks: {},
  },
  migrate: {
    attrs: {
      max_parallel: a('MaxParallel', 'int'),
      health_check: a('HealthCheck', 'string'),
      min_healthy_time: a('MinHealthyTime', 'duration'),
      healthy_deadline: a('HealthyDeadline', 'duration'),
    },
    blocks: {},
  },
  reschedule: {
    attrs: {
      attempts: a('Attempts', 'int'),
      interval: a('Interval', 'duration'),
      delay: a('Delay', 'duration'),
      delay_function: a('DelayFunction', 'string'),
      max_delay: a('MaxDelay', 'duration'),
      unlimited: a('Unlimited', 'bool'),
    },
    blocks: {},
  },
  restart: {
    attrs: {
      attempts: a('Attempts', 'int'),
      interval: a('Interval', 'duration'),
      delay: a('Delay', 'duration'),
      mode: a('Mode', 'string'),
      render_templates: a('RenderTemplates', 'bool'),
    },
    blocks: {},
  },
  disconnect: {
    attrs: {
      lost_after: a('LostAfter', 'duration'),
      replace: a('Replace', 'bool'),
      reconcile: a('Reconcile', 'string'),
      stop_on_client_after: a('StopOnClientAfter', 'duration'),
    },
    blocks: {},
  },
  ephemeral_disk: {
    attrs: { sticky: a('Sticky', 'bool'), size: a('SizeMB', 'size'), migrate: a('Migrate', 'bool') },
    blocks: {},
  },
  periodic: {
    attrs: {
      cron: a('Spec', 'string'),
      crons: a('Specs', 'strings'),
      prohibit_overlap: a('ProhibitOverlap', 'bool'),
      time_zone: a('TimeZone', 'string'),
      enabled: a('Enabled', 'bool'),
    },
    blocks: {},
    custom: 'periodic',
  },
  parameterized: {
    attrs: {
      payload: a('Payload', 'string'),
      meta_required: a('MetaRequired', 'strings'),
      meta_optional: a('MetaOptional', 'strings'),
    },
    blocks: {},
  },
  multiregion: {
    attrs: {},
    blocks: {
      strategy: one('multiregion_strategy', 'Strategy'),
      region: many('multiregion_region', 'Regions', ['Name']),
    },
  },
  multiregion_strategy: {
    attrs: { max_parallel: a('MaxParallel', 'int'), on_failure: a('OnFailure', 'string') },
    blocks: {},
  },
  multiregion_region: {
    attrs: {
      count: a('Count', 'int'),
      datacenters: a('Datacenters', 'strings'),
      node_pool: a('NodePool', 'string'),
      meta: a('Meta', 'stringMap'),
    },
    blocks: { meta: one('stringMap', 'Meta') },
  },
  vault: {
    attrs: {
      policies: a('Policies', 'strings'),
      role: a('Role', 'string'),
      namespace: a('Namespace', 'string'),
      cluster: a('Cluster', 'string'),
      env: a('Env', 'bool'),
      disable_file: a('DisableFile', 'bool'),
      change_mode: a('ChangeMode', 'string'),
      change_signal: a('ChangeSignal', 'string'),
      allow_token_expiration: a('AllowTokenExpiration', 'bool'),
    },
    blocks: {},
    custom: 'vault',
  },
  consul: {
    attrs: {
      namespace: a('Namespace', 'string'),
      cluster: a('Cluster', 'string'),
      partition: a('Partition', 'string'),
    },
    blocks: {},
  },
  ui: {
    attrs: { description: a('Description', 'string') },
    blocks: { link: many('ui_link', 'Links') },
  },
  ui_link: { attrs: { label: a('Label', 'string'), url: a('URL', 'string') }, blocks: {} },
  network: {
    attrs: {
      mode: a('Mode', 'string'),
      mbits: a('MBits', 'int'),
      hostname: a('Hostname', 'string'),
      // 0.x style, kept so old files still load
      reserved_ports: a('_reserved_ports', 'ints'),
      dynamic_ports: a('_dynamic_ports', 'strings'),
    },
    blocks: { port: many('port', '_ports', ['Label']), dns: one('dns', 'DNS'), cni: one('cni', 'CNI') },
    custom: 'network',
  },
  port: {
    attrs: {
      static: a('Value', 'int'),
      to: a('To', 'int'),
      host_network: a('HostNetwork', 'string'),
      ignore_collision: a('IgnoreCollision', 'bool'),
    },
    blocks: {},
  },
  dns: {
    attrs: { servers: a('Servers', 'strings'), searches: a('Searches', 'strings'), options: a('Options', 'strings') },
    blocks: {},
  },
  cni: { attrs: { args: a('Args', 'stringMap') }, blocks: {} },
  resources: {
    attrs: {
      cpu: a('CPU', 'int'),
      cores: a('Cores', 'int'),
      memory: a('MemoryMB', 'size'),
      memory_max: a('MemoryMaxMB', 'size'),
      disk: a('DiskMB', 'size'),
      iops: a('IOPS', 'int'),
      secrets: a('SecretsMB', 'int'),
    },
    blocks: resourcesBlocks,
    custom: 'resources',
  },
  numa: { attrs: { affinity: a('Affinity', 'string'), devices: a('Devices', 'strings') }, blocks: {} },
  device: {
    attrs: { count: a('Count', 'int') },
    blocks: { constraint: many('constraint', 'Constraints'), affinity: many('affinity', 'Affinities') },
  },
  service: {
    attrs: {
      name: a('Name', 'string'),
      port: a('PortLabel', 'string'),
      tags: a('Tags', 'strings'),
      canary_tags: a('CanaryTags', 'strings'),
      enable_tag_override: a('EnableTagOverride', 'bool'),
      address_mode: a('AddressMode', 'string'),
      address: a('Address', 'string'),
      task: a('TaskName', 'string'),
      on_update: a('OnUpdate', 'string'),
      provider: a('Provider', 'string'),
      cluster: a('Cluster', 'string'),
      meta: a('Meta', 'stringMap'),
      canary_meta: a('CanaryMeta', 'stringMap'),
      tagged_addresses: a('TaggedAddresses', 'stringMap'),
      kind: a('Kind', 'string'),
    },
    blocks: {
      meta: one('stringMap', 'Meta'),
      canary_meta: one('stringMap', 'CanaryMeta'),
      tagged_addresses: one('stringMap', 'TaggedAddresses'),
      check: many('check', 'Checks'),
      check_restart: one('check_restart', 'CheckRestart'),
      connect: one('loose', 'Connect'),
      identity: one('identity', 'Identity'),
      weights: one('weights', 'Weights'),
    },
  },
  weights: { attrs: { passing: a('Passing', 'int'), warning: a('Warning', 'int') }, blocks: {} },
  check: {
    attrs: {
      name: a('Name', 'string'),
      type: a('Type', 'string'),
      command: a('Command', 'string'),
      args: a('Args', 'strings'),
      path: a('Path', 'string'),
      protocol: a('Protocol', 'string'),
      port: a('PortLabel', 'string'),
      expose: a('Expose', 'bool'),
      address_mode: a('AddressMode', 'string'),
      advertise: a('Advertise', 'string'),
      interval: a('Interval', 'duration'),
      timeout: a('Timeout', 'duration'),
      initial_status: a('InitialStatus', 'string'),
      notes: a('Notes', 'string'),
      tls_server_name: a('TLSServerName', 'string'),
      tls_skip_verify: a('TLSSkipVerify', 'bool'),
      method: a('Method', 'string'),
      body: a('Body', 'string'),
      grpc_service: a('GRPCService', 'string'),
      grpc_use_tls: a('GRPCUseTLS', 'bool'),
      task: a('TaskName', 'string'),
      success_before_passing: a('SuccessBeforePassing', 'int'),
      failures_before_critical: a('FailuresBeforeCritical', 'int'),
      failures_before_warning: a('FailuresBeforeWarning', 'int'),
      on_update: a('OnUpdate', 'string'),
      header: a('Header', 'stringListMap'),
    },
    blocks: { header: one('header', 'Header'), check_restart: one('check_restart', 'CheckRestart') },
  },
  header: { attrs: {}, blocks: {}, custom: 'header' },
  check_restart: {
    attrs: { limit: a('Limit', 'int'), grace: a('Grace', 'duration'), ignore_warnings: a('IgnoreWarnings', 'bool') },
    blocks: {},
  },
  logs: {
    attrs: {
      max_files: a('MaxFiles', 'int'),
      max_file_size: a('MaxFileSizeMB', 'int'),
      disabled: a('Disabled', 'bool'),
      enabled: a('Enabled', 'bool'),
    },
    blocks: {},
  },
  artifact: {
    attrs: {
      source: a('GetterSource', 'string', true),
      destination: a('RelativeDest', 'string'),
      mode: a('GetterMode', 'string'),
      options: a('GetterOptions', 'stringMap'),
      headers: a('GetterHeaders', 'stringMap'),
      insecure: a('GetterInsecure', 'bool'),
    },
    blocks: { options: one('stringMap', 'GetterOptions'), headers: one('stringMap', 'GetterHeaders') },
  },
  template: {
    attrs: {
      source: a('SourcePath', 'string'),
      destination: a('DestPath', 'string'),
      data: a('EmbeddedTmpl', 'string'),
      change_mode: a('ChangeMode', 'string'),
      change_signal: a('ChangeSignal', 'string'),
      splay: a('Splay', 'duration'),
      perms: a('Perms', 'string'),
      uid: a('Uid', 'int'),
      gid: a('Gid', 'int'),
      left_delimiter: a('LeftDelim', 'string'),
      right_delimiter: a('RightDelim', 'string'),
      env: a('Envvars', 'bool'),
      vault_grace: a('VaultGrace', 'duration'),
      error_on_missing_key: a('ErrMissingKey', 'bool'),
      once: a('Once', 'bool'),
    },
    blocks: { change_script: one('change_script', 'ChangeScript'), wait: one('template_wait', 'Wait') },
    custom: 'template',
  },
  change_script: {
    attrs: {
      command: a('Command', 'string'),
      args: a('Args', 'strings'),
      timeout: a('Timeout', 'duration'),
      fail_on_error: a('FailOnError', 'bool'),
    },
    blocks: {},
  },
  template_wait: { attrs: { min: a('Min', 'duration'), max: a('Max', 'duration') }, blocks: {} },
  lifecycle: { attrs: { hook: a('Hook', 'string'), sidecar: a('Sidecar', 'bool') }, blocks: {} },
  dispatch_payload: { attrs: { file: a('File', 'string') }, blocks: {} },
  volume: {
    attrs: {
      type: a('Type', 'string'),
      source: a('Source', 'string'),
      read_only: a('ReadOnly', 'bool'),
      sticky: a('Sticky', 'bool'),
      access_mode: a('AccessMode', 'string'),
      attachment_mode: a('AttachmentMode', 'string'),
      per_alloc: a('PerAlloc', 'bool'),
    },
    blocks: { mount_options: one('mount_options', 'MountOptions') },
  },
  mount_options: { attrs: { fs_type: a('FSType', 'string'), mount_flags: a('MountFlags', 'strings') }, blocks: {} },
  volume_mount: {
    attrs: {
      volume: a('Volume', 'string'),
      destination: a('Destination', 'string'),
      read_only: a('ReadOnly', 'bool'),
      propagation_mode: a('PropagationMode', 'string'),
      selinux_label: a('SELinuxLabel', 'string'),
    },
    blocks: {},
  },
  group_scaling: {
    attrs: {
      min: a('Min', 'int'),
      max: a('Max', 'int', true),
      enabled: a('Enabled', 'bool'),
      type: a('Type', 'string'),
    },
    blocks: { policy: one('freeform', 'Policy') },
    custom: 'groupScaling',
  },
  task_scaling: {
    attrs: {
      min: a('Min', 'int'),
      max: a('Max', 'int', true),
      enabled: a('Enabled', 'bool'),
      type: a('Type', 'string'),
    },
    blocks: { policy: one('freeform', 'Policy') },
    custom: 'taskScaling',
  },
  csi_plugin: {
    attrs: {
      id: a('ID', 'string'),
      type: a('Type', 'string'),
      mount_dir: a('MountDir', 'string'),
      stage_publish_base_dir: a('StagePublishBaseDir', 'string'),
      health_timeout: a('HealthTimeout', 'duration'),
    },
    blocks: {},
  },
  identity: {
    attrs: {
      name: a('Name', 'string'),
      aud: a('Audience', 'strings'),
      env: a('Env', 'bool'),
      file: a('File', 'bool'),
      ttl: a('TTL', 'duration'),
      change_mode: a('ChangeMode', 'string'),
      change_signal: a('ChangeSignal', 'string'),
      service_name: a('ServiceName', 'string'),
      filepath: a('Filepath', 'string'),
    },
    blocks: {},
  },
  action: { attrs: { command: a('Command', 'string'), args: a('Args', 'strings') }, blocks: {} },
  /** Connect and its gateways: decoded by name conversion rather than a table (see decode-loose.ts). */
  loose: { attrs: {}, blocks: {}, custom: 'loose' },
};
