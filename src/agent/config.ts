/**
 * Agent configuration: Nomad's agent config shape (HCL or JSON files, then command-line flags on top).
 * `-dev` gives Nomad's dev defaults: server and client in one process, region `global`, datacenter `dc1`,
 * node pool `default`, API on 127.0.0.1:4646, raw_exec enabled.
 */
import { DEFAULT_ARTIFACT_CONFIG, type ArtifactClientConfig } from '../client/index.js';

export interface PluginConfig {
  config: Record<string, unknown>;
}

export interface HostVolumeConfig {
  path: string;
  readOnly: boolean;
}

export interface AgentConfig {
  dev: boolean;
  dataDir: string;
  region: string;
  datacenter: string;
  /** Node name; defaults to the hostname. */
  name: string;
  bindAddr: string;
  ports: { http: number; dns: number };
  /** The address other agents and tasks use to reach this one. */
  advertiseAddr: string;
  logLevel: string;
  server: {
    enabled: boolean;
    numSchedulers?: number;
    /**
     * True: SQLite commits on a worker thread (lower eval and API tail latency when a core is free, more CPU in
     * all); default false: on the main thread, the higher scheduling throughput measured on this 2-core machine.
     */
    sqliteWorkerThread?: boolean;
    /** `sqlite_synchronous`: FULL (default) fsyncs every commit; NORMAL trades the last writes on power loss for speed. */
    sqliteSynchronous?: 'FULL' | 'NORMAL';
    /** `eval_gc_threshold`: terminal evaluations older than this are garbage collected (default 1 h). */
    evalGCThresholdMs?: number;
    /** `mesh { default_intention, leaf_cert_ttl }`: the service mesh's default and leaf lifetime. */
    mesh?: { defaultIntention?: 'allow' | 'deny'; leafTTLms?: number };
    /**
     * `autoscaler { enabled, prometheus_address, gateway_metrics }`: the leader's horizontal autoscaler (on unless
     * `enabled = false`), the Prometheus its `source = "prometheus"` checks query, and gateways to read request
     * rates from besides this agent's own.
     */
    autoscaler?: { enabled?: boolean; prometheusAddress?: string; gatewayMetrics?: string[] };
    /** `-recover`: start even when the state's integrity checks find acknowledged writes missing. */
    recover?: boolean;
    /**
     * The state on etcd instead of SQLite (`server { etcd { endpoints = [...] } }` or `-etcd URL,...`): servers
     * given the same endpoints and prefix share one state. `prefix` defaults to `/drover/<region>/`.
     */
    etcd?: { endpoints: string[]; prefix?: string };
    /**
     * `keyring_kek_file`: the key-encryption key (base64 of 32 bytes, a 0600 file) the servers of one etcd
     * cluster are each given; the keys they share through etcd (variables' root keys, the workload identity
     * signing key) are stored wrapped with it. Required with etcd and ACLs or TLS.
     */
    keyringKEKFile?: string;
    /**
     * `server_join { retry_join = [...] }`: servers to join at start, retried every `retryIntervalMs` until each
     * answers (`retryMax` attempts, 0: forever). Servers of other regions federate (agent/federation.ts).
     */
    serverJoin?: { retryJoin: string[]; retryIntervalMs: number; retryMax: number };
    /** Heartbeat tuning, as Nomad's server block. */
    minHeartbeatTTLms: number;
    maxHeartbeatsPerSecond: number;
    heartbeatGraceMs: number;
  };
  client: {
    enabled: boolean;
    /** Server HTTP addresses for a client-only agent. */
    servers: string[];
    nodeClass: string;
    nodePool: string;
    meta: Record<string, string>;
    hostVolumes: Record<string, HostVolumeConfig>;
    minDynamicPort: number;
    maxDynamicPort: number;
    reserved: { cpu: number; memory: number; disk: number; reservedPorts: string };
    /** Host IP that published ports bind to and NOMAD_IP_* report. */
    networkInterfaceIP: string;
    /** Bridge of groups in `mode = "bridge"` (Nomad's `bridge_network_name`, default "nomad"). */
    bridgeNetworkName: string;
    /** Its subnet, host-local IPAM's range (default 172.26.64.0/20); must not overlap a host network. */
    bridgeNetworkSubnet: string;
    /** Directories holding the CNI plugin binaries. */
    cniPath: string[];
    /** Where `mode = "cni/NAME"` network lists are read from. */
    cniConfigDir: string;
    /** `artifact { http_read_timeout, http_max_size, decompression_size_limit, decompression_file_count_limit }`. */
    artifact: ArtifactClientConfig;
    /**
     * `connect { sidecar_data_plane }`: the Connect sidecar's data plane. `auto` (default) runs HAProxy when an
     * haproxy binary is on PATH, else the built-in Node proxy with one warning; `haproxy` and `node` as asked.
     */
    connect: { sidecarDataPlane: 'auto' | 'node' | 'haproxy' };
  };
  plugins: Record<string, PluginConfig>;
  /** Nomad's `limits {}` block: HTTP connection and read bounds (docs/operations.md). */
  limits: HttpLimits;
  /** The DNS server (`dns { enabled, port, domain }`); its port is `ports.dns`. */
  dns: { enabled: boolean; domain: string };
  /** The gateway (`gateway { enabled, listen, admin, lb, data_plane }`); on by default in -dev on 127.0.0.1:8080. */
  gateway: GatewayConfig;
  /** `acl { enabled = true }`: every API request needs a token that allows it (off by default, as Nomad's). */
  acl: { enabled: boolean };
  /** `audit { enabled = true  sink "file" { path rotate_bytes rotate_max_files } }`: one JSON line per API request. */
  audit: { enabled: boolean; path: string; rotateBytes: number; rotateMaxFiles: number };
  /** Nomad's `tls { http rpc ca_file cert_file key_file verify_server_hostname verify_https_client }`. */
  tls: TlsConfig;
}

export interface TlsConfig {
  /** HTTPS for the HTTP API. */
  http: boolean;
  /** TLS for client → server traffic (the internal endpoints), with this agent's certificate. */
  rpc: boolean;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A client accepts a server only with a certificate for server.<region>.nomad (or .drover). */
  verifyServerHostname: boolean;
  /** The HTTP API requires a client certificate signed by the CA (mutual TLS). */
  verifyHttpsClient: boolean;
}

export interface HttpLimits {
  /** Open HTTP connections one client address may hold (`http_max_conns_per_client`; 0 = no limit). */
  httpMaxConnsPerClient: number;
  /** Time to receive a request's headers (`http_header_timeout`, Drover's own). */
  httpHeaderTimeoutMs: number;
  /** Time to receive a request's body once its headers are in (`http_body_timeout`, Drover's own). */
  httpBodyTimeoutMs: number;
}

export const defaultHttpLimits: HttpLimits = {
  httpMaxConnsPerClient: 100,
  httpHeaderTimeoutMs: 10_000,
  httpBodyTimeoutMs: 30_000,
};

export interface GatewayConfig {
  enabled: boolean;
  /** `host:port` clients connect to; port 0 picks a free one. */
  listen: string;
  /** `host:port` for /routes and /metrics; when absent they are under /_drover/gateway/ on `listen`. */
  admin?: string;
  lb: 'round_robin' | 'least_conn';
  /**
   * `auto` (default): HAProxy when an haproxy binary is on PATH, else the Node plane with a warning; `haproxy`
   * insists on HAProxy (a missing binary stops the start); `node` forwards in the agent's own process.
   */
  dataPlane: 'auto' | 'node' | 'haproxy';
  /**
   * The Node plane's raw-socket fast path for plain bodiless HTTP/1.1 requests (src/gateway/fast.ts); default
   * true. `fast_path = false` leaves every request to node:http.
   */
  fastPath?: boolean;
  /** `tcp_ports = "5432,10000-20000"`: ports TCP routes may listen on; unset: 1024-65535. */
  tcpPorts?: string;
  /** `host:port` of the HTTPS listener (HTTP/2 and HTTP/1.1); none when absent. */
  tlsListen?: string;
  /** The HTTPS listener's default certificate (PEM files), served when no SNI certificate matches. */
  tls?: { certFile: string; keyFile: string };
  /** `acme { }`: certificates ordered from an ACME CA into the Variables the HTTPS listener serves. */
  acme?: GatewayAcmeConfig;
}

export interface GatewayAcmeConfig {
  /** The ACME directory URL. */
  directory: string;
  /** The account's contact address. */
  email?: string;
  /** PEM file of CAs trusted for the directory's HTTPS (a test CA such as pebble's). */
  caFile?: string;
  /** Hosts to hold certificates for; when absent, the host names of the gateway's HTTP routes. */
  domains?: string[];
  /** Renew this long before expiry (default 720h). */
  renewBeforeMs?: number;
}

export function defaultConfig(dev: boolean): AgentConfig {
  return {
    dev,
    dataDir: dev ? '.drover-data' : '/var/lib/drover',
    region: 'global',
    datacenter: 'dc1',
    name: '',
    // Loopback unless bind_addr says otherwise, -dev or not: an API with no ACLs must not face the network by default.
    bindAddr: '127.0.0.1',
    ports: { http: 4646, dns: 8600 },
    advertiseAddr: '127.0.0.1',
    logLevel: 'info',
    // Faster than Nomad's 10 s + 10 s: a small cluster finds a dead node in 2-3 s. The TTL still grows with the
    // cluster (nodes / max_heartbeats_per_second), so large clusters keep a bounded heartbeat rate.
    server: { enabled: dev, minHeartbeatTTLms: 2_000, maxHeartbeatsPerSecond: 50, heartbeatGraceMs: 1_000 },
    client: {
      enabled: dev,
      servers: [],
      nodeClass: '',
      nodePool: 'default',
      meta: {},
      hostVolumes: {},
      minDynamicPort: 20000,
      maxDynamicPort: 32000,
      reserved: { cpu: 0, memory: 0, disk: 0, reservedPorts: '' },
      networkInterfaceIP: '127.0.0.1',
      bridgeNetworkName: 'nomad',
      bridgeNetworkSubnet: '172.26.64.0/20',
      cniPath: ['/opt/cni/bin', '/usr/lib/cni'],
      cniConfigDir: '/opt/cni/config',
      artifact: { ...DEFAULT_ARTIFACT_CONFIG },
      connect: { sidecarDataPlane: 'auto' },
    },
    plugins: dev ? { raw_exec: { config: { enabled: true } } } : {},
    limits: { ...defaultHttpLimits },
    dns: { enabled: dev, domain: 'drover' },
    gateway: { enabled: dev, listen: '127.0.0.1:8080', lb: 'round_robin', dataPlane: 'auto' },
    acl: { enabled: false },
    // The path is relative to the data dir unless absolute (Nomad's default: <data_dir>/audit/audit.log).
    audit: { enabled: false, path: 'audit/audit.log', rotateBytes: 0, rotateMaxFiles: 0 },
    tls: {
      http: false,
      rpc: false,
      caFile: '',
      certFile: '',
      keyFile: '',
      verifyServerHostname: false,
      verifyHttpsClient: false,
    },
  };
}

/** Deep-merges `over` into `base` (objects merge, everything else replaces). */
export function mergeConfig<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (
    base === null ||
    typeof base !== 'object' ||
    Array.isArray(base) ||
    over === null ||
    typeof over !== 'object' ||
    Array.isArray(over)
  ) {
    return over as T;
  }
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (v === undefined) continue;
    out[k] = k in out ? mergeConfig(out[k], v) : v;
  }
  return out as T;
}
