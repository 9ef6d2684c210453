/**
 * Which agent config keys Drover acts on. A key that is not here is refused with its file and line, so a user
 * who writes `bootstrap_expect = 3` or misspells `node_clas` learns it at start instead of running an agent
 * that silently does something else. Keys Nomad has and Drover does not act on are refused as "not supported"
 * (with the reason where there is one), unknown keys as "unknown key"; the few Nomad keys that are harmless to
 * ignore are accepted and listed in docs/operations.md.
 *
 *   doc (from HCL or JSON) ──► walk(spec) ──► every key: acted on? ok : harmless? ok : problem (file:line)
 *
 * Adding a key to the config means adding it here too (and mapping it in agent-config.ts).
 */

/** `v`: a value; `map`: free-form (meta, plugin config); `block`/`labelled`: nested blocks; a string: refused. */
type Field = 'v' | 'map' | { block: Spec } | { labelled: Spec } | { refused: string };
interface Spec {
  [key: string]: Field;
}

const NOMAD_ONLY = 'a Nomad setting Drover does not support';
const ONE_PORT = "Drover's agents talk over their one HTTP port (ports.http)";
const VIA_ETCD =
  'Drover servers form one cluster by sharing etcd (server { etcd { endpoints = [...] } }), see docs/operations.md "Run a cluster"';

/** Nomad keys accepted and ignored, because ignoring them changes nothing a user could observe. */
const HARMLESS: ReadonlySet<string> = new Set([
  // Drover never checks for updates nor sends anything anywhere.
  'disable_update_check',
  'disable_anonymous_signature',
]);

const JOIN = `${VIA_ETCD}; servers of other regions federate through server { server_join { retry_join = [...] } }`;

const refused = (why = NOMAD_ONLY): Field => ({ refused: why });
const ONLY_HTTP = 'Drover fetches artifacts over http(s) and from local files only';

const SERVER: Spec = {
  enabled: 'v',
  num_schedulers: 'v',
  min_heartbeat_ttl: 'v',
  heartbeat_grace: 'v',
  max_heartbeats_per_second: 'v',
  sqlite_worker_thread: 'v',
  sqlite_synchronous: 'v',
  etcd: { block: { endpoints: 'v', prefix: 'v' } },
  keyring_kek_file: 'v',
  bootstrap_expect: refused(VIA_ETCD),
  server_join: { block: { retry_join: 'v', retry_interval: 'v', retry_max: 'v', start_join: refused(JOIN) } },
  retry_join: refused(JOIN),
  start_join: refused(JOIN),
  retry_interval: refused(JOIN),
  retry_max: refused(JOIN),
  rejoin_after_leave: refused(VIA_ETCD),
  raft_protocol: refused('the state is kept by etcd, not Raft'),
  raft_multiplier: refused('the state is kept by etcd, not Raft'),
  raft_boltdb: refused('the state is kept by etcd or SQLite, not Raft'),
  non_voting_server: refused('the state is kept by etcd, not Raft'),
  redundancy_zone: refused('the state is kept by etcd, not Raft'),
  upgrade_version: refused(),
  encrypt: refused('Drover has no gossip layer to encrypt'),
  data_dir: refused('use the top-level data_dir'),
  protocol_version: refused(),
  enabled_schedulers: refused(),
  node_gc_threshold: refused(),
  job_gc_interval: refused(),
  job_gc_threshold: refused(),
  eval_gc_threshold: 'v',
  mesh: { block: { default_intention: 'v', leaf_cert_ttl: 'v' } },
  autoscaler: { block: { enabled: 'v', prometheus_address: 'v', gateway_metrics: 'v' } },
  deployment_gc_threshold: refused(),
  batch_eval_gc_threshold: refused(),
  csi_volume_claim_gc_threshold: refused(),
  csi_plugin_gc_threshold: refused(),
  acl_token_gc_threshold: refused(),
  root_key_gc_interval: refused(),
  root_key_gc_threshold: refused(),
  root_key_rotation_threshold: refused(),
  failover_heartbeat_ttl: refused(),
  authoritative_region: refused(),
  license_path: refused(),
  plan_rejection_tracker: refused(),
  default_scheduler_config: refused(),
  search: refused(),
  event_buffer_size: refused(),
  job_max_priority: refused(),
  job_default_priority: refused(),
  heartbeat_grace_ttl: refused(),
};

const CLIENT: Spec = {
  enabled: 'v',
  servers: 'v',
  node_class: 'v',
  node_pool: 'v',
  meta: 'map',
  network_interface_ip: 'v',
  host_volume: { labelled: { path: 'v', read_only: 'v' } },
  min_dynamic_port: 'v',
  max_dynamic_port: 'v',
  reserved: { block: { cpu: 'v', memory: 'v', disk: 'v', reserved_ports: 'v' } },
  server_join: refused('list the servers in client { servers = [...] }'),
  state_dir: refused('the client keeps its state under data_dir'),
  alloc_dir: refused('allocation directories are under data_dir'),
  options: refused('driver options go in plugin "name" { config {...} }'),
  network_interface: refused('use client { network_interface_ip = "..." }'),
  network_speed: refused(),
  cpu_total_compute: refused(),
  memory_total_mb: refused(),
  disk_total_mb: refused(),
  disk_free_mb: refused(),
  max_kill_timeout: refused(),
  host_network: refused(),
  gc_interval: refused(),
  gc_disk_usage_threshold: refused(),
  gc_inode_usage_threshold: refused(),
  gc_max_allocs: refused(),
  gc_parallel_destroys: refused(),
  no_host_uuid: refused(),
  cni_path: 'v',
  cni_config_dir: 'v',
  bridge_network_name: 'v',
  bridge_network_subnet: 'v',
  // Drover's own: the Connect sidecar's data plane (auto | haproxy | node), as the gateway's data_plane.
  connect: { block: { sidecar_data_plane: 'v' } },
  drain_on_shutdown: refused(),
  chroot_env: refused(),
  artifact: {
    block: {
      http_read_timeout: 'v',
      http_max_size: 'v',
      decompression_size_limit: 'v',
      decompression_file_count_limit: 'v',
      gcs_timeout: refused(ONLY_HTTP),
      git_timeout: refused(ONLY_HTTP),
      hg_timeout: refused(ONLY_HTTP),
      s3_timeout: refused(ONLY_HTTP),
      disable_filesystem_isolation: refused(
        'Drover fetches artifacts in the agent, confined to the allocation directory',
      ),
      filesystem_isolation_extra_paths: refused(
        'Drover fetches artifacts in the agent, confined to the allocation directory',
      ),
      set_environment_variables: refused('Drover fetches artifacts in the agent, with no getter subprocess'),
    },
  },
  template: refused(),
  cgroup_parent: refused(),
  reservable_cores: refused(),
  max_dynamic_port_range: refused(),
};

const TOP: Spec = {
  data_dir: 'v',
  bind_addr: 'v',
  region: 'v',
  datacenter: 'v',
  name: 'v',
  log_level: 'v',
  ports: { block: { http: 'v', dns: 'v', rpc: refused(ONE_PORT), serf: refused(ONE_PORT) } },
  dns: { block: { enabled: 'v', port: 'v', domain: 'v' } },
  server: { block: SERVER },
  client: { block: CLIENT },
  gateway: {
    block: {
      enabled: 'v',
      listen: 'v',
      admin: 'v',
      lb: 'v',
      data_plane: 'v',
      fast_path: 'v',
      tcp_ports: 'v',
      tls_listen: 'v',
      tls: { block: { cert_file: 'v', key_file: 'v' } },
      acme: { block: { directory: 'v', email: 'v', ca_file: 'v', domains: 'v', renew_before: 'v' } },
    },
  },
  limits: {
    block: {
      http_max_conns_per_client: 'v',
      http_header_timeout: 'v',
      http_body_timeout: 'v',
      https_handshake_timeout: refused(),
      rpc_handshake_timeout: refused(ONE_PORT),
      rpc_max_conns_per_client: refused(ONE_PORT),
    },
  },
  acl: {
    block: {
      enabled: 'v',
      token_ttl: refused(),
      policy_ttl: refused(),
      role_ttl: refused(),
      replication_token: refused(),
      token_min_expiration_ttl: refused(),
      token_max_expiration_ttl: refused(),
    },
  },
  audit: {
    block: {
      enabled: 'v',
      sink: { labelled: { type: 'v', path: 'v', rotate_bytes: 'v', rotate_max_files: 'v', format: refused() } },
      filter: refused(),
    },
  },
  tls: {
    block: {
      http: 'v',
      rpc: 'v',
      ca_file: 'v',
      cert_file: 'v',
      key_file: 'v',
      verify_server_hostname: 'v',
      verify_https_client: 'v',
      rpc_upgrade_mode: refused(ONE_PORT),
      tls_cipher_suites: refused(),
      tls_min_version: refused(),
      tls_prefer_server_cipher_suites: refused(),
    },
  },
  plugin: { labelled: { config: 'map', args: refused() } },
  addresses: refused(`${ONE_PORT}; it listens on bind_addr`),
  advertise: refused(),
  plugin_dir: refused('Drover ships its drivers built in'),
  log_json: refused('Drover always logs JSON lines'),
  log_file: refused('Drover logs to stderr'),
  log_rotate_bytes: refused('Drover logs to stderr'),
  log_rotate_duration: refused('Drover logs to stderr'),
  log_rotate_max_files: refused('Drover logs to stderr'),
  log_include_location: refused(),
  enable_debug: refused(),
  enable_syslog: refused('Drover logs to stderr'),
  syslog_facility: refused('Drover logs to stderr'),
  leave_on_interrupt: refused(),
  leave_on_terminate: refused(),
  telemetry: refused('Drover serves its metrics at /v1/metrics'),
  consul: refused('Drover has its own service catalog (docs/operations.md)'),
  vault: refused(),
  sentinel: refused(),
  autopilot: refused(),
  ui: refused(),
  keyring: refused(),
  reporting: refused(),
  http_api_response_headers: refused(),
};

export interface KeyProblem {
  /** e.g. `client.foo` or `plugin.raw_exec.args`. */
  path: string;
  message: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A block as HCL gives it (a list of bodies) or as Nomad's JSON gives it (an object or a one-element list). */
const bodies = (v: unknown): Obj[] => (Array.isArray(v) ? v.flatMap(bodies) : isObj(v) ? [v] : []);

/** Every key of an agent config document (Nomad's shape) that Drover would not act on. */
export function checkConfigKeys(doc: Obj): KeyProblem[] {
  const problems: KeyProblem[] = [];
  walk(doc, TOP, [], '', problems);
  return problems;
}

function walk(body: Obj, spec: Spec, path: string[], where: string, out: KeyProblem[]): void {
  const inBlock = where === '' ? 'at the top level' : `in ${where} {}`;
  for (const [key, value] of Object.entries(body)) {
    const here = [...path, key];
    const field = Object.hasOwn(spec, key) ? spec[key] : undefined;
    if (field === undefined) {
      if (!HARMLESS.has(key)) out.push({ path: here.join('.'), message: `unknown key "${key}" ${inBlock}` });
      continue;
    }
    if (field === 'v' || field === 'map') continue;
    if ('refused' in field) {
      out.push({ path: here.join('.'), message: `"${key}" ${inBlock} is not supported: ${field.refused}` });
      continue;
    }
    const name = where === '' ? key : `${where}.${key}`;
    if ('block' in field) {
      for (const b of bodies(value)) walk(b, field.block, here, name, out);
      continue;
    }
    for (const labels of bodies(value))
      for (const [label, inner] of Object.entries(labels))
        for (const b of bodies(inner)) walk(b, field.labelled, [...here, label], `${name} "${label}"`, out);
  }
}
