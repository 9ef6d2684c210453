/**
 * From `drover agent` flags and `-config` files to the agent's config: Nomad's dev defaults, then each config
 * file in order, then the flags on top (as nomad merges them). Config files are HCL (`.hcl`) or JSON (`.json`)
 * in Nomad's agent config shape (`data_dir`, `bind_addr`, `ports { http }`,
 * `server { enabled, num_schedulers, min_heartbeat_ttl, heartbeat_grace, max_heartbeats_per_second }`,
 * `client { servers, node_class, node_pool, meta, host_volume "x" { path read_only }, min_dynamic_port,
 * max_dynamic_port, reserved { cpu memory disk reserved_ports }, bridge_network_name, bridge_network_subnet,
 * cni_path, cni_config_dir, connect { sidecar_data_plane } }`, `plugin "raw_exec" { config { enabled = true } }`,
 * `dns { enabled, port, domain }`, `gateway { enabled, listen, admin, lb, data_plane, fast_path, tcp_ports }`).
 * docs/operations.md is the reference for users.
 */
import { parsePortRanges } from '../../lib/ports.js';
import { readFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import type { AgentConfig } from '../../agent/index.js';
import { UsageError, type AgentFlags } from '../command.js';
import { readGoDuration } from '../../lib/duration.js';
import { checkConfigKeys } from './agent-config-keys.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Nomad's JSON config repeats blocks as one-element lists (`"client": [{...}]`); take the object either way. */
function block(v: unknown): Obj | undefined {
  if (Array.isArray(v)) return block(v[0]);
  return isObj(v) ? v : undefined;
}

/** Drops undefined values so they do not replace defaults when merged. */
function clean(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (isObj(v)) {
      const c = clean(v);
      if (Object.keys(c).length > 0) out[k] = c;
    } else out[k] = v;
  }
  return out;
}

/** Nomad's `plugin "raw_exec" { config { enabled = true } }`, as JSON, to `{ raw_exec: { config: {...} } }`. */
function plugins(v: unknown): Obj | undefined {
  const out: Obj = {};
  const entries = Array.isArray(v)
    ? v.flatMap((x) => (isObj(x) ? Object.entries(x) : []))
    : isObj(v)
      ? Object.entries(v)
      : [];
  for (const [name, body] of entries) out[name] = { config: block(block(body)?.config) ?? {} };
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * `host_volume "name" { path = "/srv/data", read_only = true }` blocks (HCL gives `{name: [{...}]}`, Nomad's
 * JSON a list of such objects) → `{ name: { path, readOnly } }`. A volume without an absolute path is an error,
 * as in Nomad: a relative path would depend on the agent's working directory.
 */
function hostVolumes(v: unknown, file: string): Obj | undefined {
  const out: Obj = {};
  const entries = Array.isArray(v)
    ? v.flatMap((x) => (isObj(x) ? Object.entries(x) : []))
    : isObj(v)
      ? Object.entries(v)
      : [];
  for (const [name, body] of entries) {
    const b = block(body) ?? {};
    if (typeof b.path !== 'string' || !b.path.startsWith('/')) {
      throw new UsageError(`Error loading configuration from ${file}: host_volume "${name}" needs an absolute path`);
    }
    out[name] = { path: b.path, readOnly: b.read_only === true };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `reserved { cpu, memory, disk, reserved_ports }`: what the node keeps for itself, never scheduled. */
function reserved(v: unknown): Obj | undefined {
  const r = block(v);
  if (!r) return undefined;
  const n = (x: unknown) =>
    typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : undefined;
  return {
    cpu: n(r.cpu),
    memory: n(r.memory),
    disk: n(r.disk),
    reservedPorts: typeof r.reserved_ports === 'string' ? r.reserved_ports : undefined,
  };
}

/**
 * A duration setting (`"2s"`, or a number of seconds as Nomad's JSON also takes) in milliseconds; a value that
 * is not a duration is an error rather than a silent default, since it decides how fast dead nodes are found.
 */
function durationMs(v: unknown, key: string, file: string): number | undefined {
  if (v === undefined) return undefined;
  const read = typeof v === 'string' ? readGoDuration(v.trim(), { allowNegative: false }) : undefined;
  const ns = typeof v === 'number' ? v * 1e9 : read?.ok ? read.ns : undefined;
  if (ns === undefined || !Number.isFinite(ns) || ns < 0) {
    throw new UsageError(
      `Error loading configuration from ${file}: server.${key} must be a duration such as "10s", got ${JSON.stringify(v)}`,
    );
  }
  return ns / 1e6;
}

/** `server { enabled, num_schedulers, min_heartbeat_ttl, heartbeat_grace, max_heartbeats_per_second, sqlite_worker_thread, eval_gc_threshold }`. */
function serverBlock(server: Obj, file: string): Obj {
  const rate = server.max_heartbeats_per_second;
  if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0))) {
    throw new UsageError(
      `Error loading configuration from ${file}: server.max_heartbeats_per_second must be a positive number`,
    );
  }
  const worker = server.sqlite_worker_thread;
  if (worker !== undefined && typeof worker !== 'boolean') {
    throw new UsageError(
      `Error loading configuration from ${file}: server.sqlite_worker_thread must be true or false, got ${JSON.stringify(worker)}`,
    );
  }
  const sync = server.sqlite_synchronous;
  if (sync !== undefined && (typeof sync !== 'string' || !['full', 'normal'].includes(sync.toLowerCase()))) {
    throw new UsageError(
      `Error loading configuration from ${file}: server.sqlite_synchronous must be "full" or "normal", got ${JSON.stringify(sync)}`,
    );
  }
  const kek = server.keyring_kek_file;
  if (kek !== undefined && (typeof kek !== 'string' || kek === ''))
    throw new UsageError(
      `Error loading configuration from ${file}: server.keyring_kek_file must be the path of a file holding base64 of 32 random bytes, got ${JSON.stringify(kek)}`,
    );
  return {
    enabled: server.enabled,
    keyringKEKFile: kek,
    sqliteSynchronous: typeof sync === 'string' ? sync.toUpperCase() : undefined,
    etcd: server.etcd === undefined ? undefined : etcdBlock(block(server.etcd), file),
    numSchedulers: server.num_schedulers,
    minHeartbeatTTLms: durationMs(server.min_heartbeat_ttl, 'min_heartbeat_ttl', file),
    heartbeatGraceMs: durationMs(server.heartbeat_grace, 'heartbeat_grace', file),
    maxHeartbeatsPerSecond: rate,
    sqliteWorkerThread: worker,
    serverJoin: server.server_join === undefined ? undefined : serverJoinBlock(block(server.server_join), file),
    evalGCThresholdMs: durationMs(server.eval_gc_threshold, 'eval_gc_threshold', file),
    mesh: server.mesh === undefined ? undefined : meshBlock(block(server.mesh) ?? {}, file),
    autoscaler: server.autoscaler === undefined ? undefined : autoscalerBlock(block(server.autoscaler) ?? {}, file),
  };
}

/** `server { autoscaler { enabled, prometheus_address, gateway_metrics = [...] } }` (docs/operations.md). */
function autoscalerBlock(a: Obj, file: string): Obj {
  const bad = (what: string) => new UsageError(`Error loading configuration from ${file}: server.autoscaler.${what}`);
  if (a.enabled !== undefined && typeof a.enabled !== 'boolean') throw bad('enabled must be true or false');
  const prom = a.prometheus_address;
  if (prom !== undefined && (typeof prom !== 'string' || !/^https?:\/\/[^/]/.test(prom)))
    throw bad(`prometheus_address must be an http(s) URL such as "http://127.0.0.1:9090", got ${JSON.stringify(prom)}`);
  const gw = a.gateway_metrics;
  if (gw !== undefined && (!Array.isArray(gw) || !gw.every((u) => typeof u === 'string' && /^https?:\/\/[^/]/.test(u))))
    throw bad('gateway_metrics must be a list of gateway metrics URLs such as "http://10.0.0.5:8081/metrics"');
  return { enabled: a.enabled, prometheusAddress: prom, gatewayMetrics: gw };
}

/** `server { mesh { default_intention = "allow" | "deny", leaf_cert_ttl = "72h" } }` (docs/operations.md). */
function meshBlock(m: Obj, file: string): Obj {
  const d = m.default_intention;
  if (d !== undefined && d !== 'allow' && d !== 'deny')
    throw new UsageError(
      `Error loading configuration from ${file}: server.mesh.default_intention must be "allow" or "deny", got ${JSON.stringify(d)}`,
    );
  for (const k of Object.keys(m))
    if (k !== 'default_intention' && k !== 'leaf_cert_ttl')
      throw new UsageError(`Error loading configuration from ${file}: server.mesh has no "${k}" setting`);
  const ttl = durationMs(m.leaf_cert_ttl, 'mesh.leaf_cert_ttl', file);
  if (ttl !== undefined && ttl < 60_000)
    throw new UsageError(`Error loading configuration from ${file}: server.mesh.leaf_cert_ttl must be at least 1m`);
  return { defaultIntention: d, leafTTLms: ttl };
}

/** `server { server_join { retry_join = ["host:port", ...], retry_interval = "30s", retry_max = 0 } }`. */
function serverJoinBlock(j: Obj | undefined, file: string): Obj {
  const list = j?.retry_join;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x !== '')) {
    throw new UsageError(
      `Error loading configuration from ${file}: server.server_join.retry_join must be a non-empty list of server addresses such as "10.0.0.1:4646"`,
    );
  }
  const max = j?.retry_max;
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 0))
    throw new UsageError(
      `Error loading configuration from ${file}: server.server_join.retry_max must be a whole number (0: retry forever), got ${JSON.stringify(max)}`,
    );
  return {
    retryJoin: list,
    retryIntervalMs: durationMs(j?.retry_interval, 'server_join.retry_interval', file) ?? 30_000,
    retryMax: max ?? 0,
  };
}

/** `server { etcd { endpoints = ["http://10.0.0.1:2379", ...], prefix = "/drover/global/" } }`. */
function etcdBlock(e: Obj | undefined, file: string): Obj {
  const endpoints = e?.endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((x) => typeof x === 'string')) {
    throw new UsageError(
      `Error loading configuration from ${file}: server.etcd.endpoints must be a non-empty list of etcd client URLs such as "http://127.0.0.1:2379"`,
    );
  }
  const prefix = e?.prefix;
  if (prefix !== undefined && (typeof prefix !== 'string' || !prefix.startsWith('/') || !prefix.endsWith('/'))) {
    throw new UsageError(
      `Error loading configuration from ${file}: server.etcd.prefix must start and end with "/", got ${JSON.stringify(prefix)}`,
    );
  }
  return { endpoints: endpoints.map((x: string) => checkEtcdURL(x, file)), prefix };
}

/** An etcd client URL: http(s)://host:port, since the backend speaks etcd's HTTP gateway. */
export function checkEtcdURL(u: string, where: string): string {
  let url: URL | undefined;
  try {
    url = new URL(u);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '') {
    throw new UsageError(`${where}: etcd endpoint ${JSON.stringify(u)} must be an http://host:port client URL`);
  }
  return u.replace(/\/+$/, '');
}

const LB = ['round_robin', 'least_conn'];
const DATA_PLANES = ['auto', 'node', 'haproxy'];

/** Drover's `gateway { enabled, listen, admin, lb, data_plane, fast_path, tcp_ports }`; bad choices are errors, not silent defaults. */
function gatewayBlock(g: Obj, file: string): Obj {
  const oneOf = (key: string, v: unknown, allowed: string[]) => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !allowed.includes(v)) {
      throw new UsageError(
        `Error loading configuration from ${file}: gateway.${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const boolKey = (key: string, v: unknown) => {
    if (v !== undefined && typeof v !== 'boolean')
      throw new UsageError(
        `Error loading configuration from ${file}: gateway.${key} must be true or false, got ${JSON.stringify(v)}`,
      );
    return v;
  };
  const addr = (key: string, v: unknown) => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^(?:\[[^\]]+\]|[^:]*):\d{1,5}$/.test(v.trim())) {
      throw new UsageError(
        `Error loading configuration from ${file}: gateway.${key} must be host:port, e.g. "127.0.0.1:8080", got ${JSON.stringify(v)}`,
      );
    }
    return v.trim();
  };
  return {
    enabled: g.enabled,
    listen: addr('listen', g.listen),
    admin: addr('admin', g.admin),
    lb: oneOf('lb', g.lb, LB),
    dataPlane: oneOf('data_plane', g.data_plane, DATA_PLANES),
    fastPath: boolKey('fast_path', g.fast_path),
    tcpPorts: tcpPortsKey(g.tcp_ports, file),
    ...gatewayTlsBlock(g, file, addr('tls_listen', g.tls_listen)),
  };
}

/** `gateway { tcp_ports = "5432,10000-20000" }`: checked here so a typo stops the start. */
function tcpPortsKey(v: unknown, file: string): string | undefined {
  if (v === undefined) return undefined;
  const why = typeof v === 'string' ? parsePortRanges(v) : 'expects a string such as "10000-20000"';
  if (typeof why === 'string')
    throw new UsageError(`Error loading configuration from ${file}: gateway.tcp_ports ${why}`);
  return v as string;
}

/** `gateway { tls_listen  tls { cert_file key_file }  acme { ... } }`. */
function gatewayTlsBlock(g: Obj, file: string, tlsListen: string | undefined): Obj {
  const fail = (msg: string) => new UsageError(`Error loading configuration from ${file}: gateway.${msg}`);
  const text = (where: string, v: unknown): string => {
    if (typeof v !== 'string' || v.trim() === '')
      throw fail(`${where} must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  };
  const tls = block(g.tls);
  if (tlsListen === undefined && tls) throw fail('tls needs gateway.tls_listen, the address of the HTTPS listener');
  if (tlsListen !== undefined && !tls)
    throw fail('tls_listen needs a tls { cert_file key_file } block: the default certificate of the HTTPS listener');
  return {
    tlsListen,
    tls: tls
      ? { certFile: text('tls.cert_file', tls.cert_file), keyFile: text('tls.key_file', tls.key_file) }
      : undefined,
    acme: acmeBlock(g.acme, tlsListen, fail, text),
  };
}

/** `gateway { acme { directory email ca_file domains renew_before } }`: needs the HTTPS listener it fills. */
function acmeBlock(
  v: unknown,
  tlsListen: string | undefined,
  fail: (msg: string) => UsageError,
  text: (where: string, v: unknown) => string,
): Obj | undefined {
  const a = block(v);
  if (!a) return undefined;
  if (tlsListen === undefined)
    throw fail('acme needs gateway.tls_listen: the HTTPS listener that serves what it issues');
  const directory = text('acme.directory', a.directory);
  if (!/^https?:\/\/\S+$/.test(directory))
    throw fail(`acme.directory must be an http(s) URL of an ACME directory, got ${JSON.stringify(directory)}`);
  const domains = a.domains;
  if (domains !== undefined && (!Array.isArray(domains) || domains.some((d) => typeof d !== 'string' || d === '')))
    throw fail(`acme.domains must be a list of host names, got ${JSON.stringify(domains)}`);
  let renewBeforeMs: number | undefined;
  if (a.renew_before !== undefined) {
    const read =
      typeof a.renew_before === 'string' ? readGoDuration(a.renew_before.trim(), { allowNegative: false }) : undefined;
    if (!read?.ok || read.ns <= 0)
      throw fail(`acme.renew_before must be a duration such as "720h", got ${JSON.stringify(a.renew_before)}`);
    renewBeforeMs = read.ns / 1e6;
  }
  return {
    directory,
    email: a.email === undefined ? undefined : text('acme.email', a.email),
    caFile: a.ca_file === undefined ? undefined : text('acme.ca_file', a.ca_file),
    domains: domains as string[] | undefined,
    renewBeforeMs,
  };
}

/** Nomad's `limits { http_max_conns_per_client }` and Drover's `http_header_timeout`, `http_body_timeout`. */
const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1024 ** 2,
  gb: 1e9,
  gib: 1024 ** 3,
  tb: 1e12,
  tib: 1024 ** 4,
};

/** `client { connect { sidecar_data_plane } }`: the Connect sidecar's data plane, as the gateway's `data_plane`. */
function connectBlock(c: Obj, file: string): Obj {
  const v = c.sidecar_data_plane;
  if (v !== undefined && (typeof v !== 'string' || !DATA_PLANES.includes(v)))
    throw new UsageError(
      `Error loading configuration from ${file}: client.connect.sidecar_data_plane must be one of ${DATA_PLANES.join(', ')}, got ${JSON.stringify(v)}`,
    );
  return { sidecarDataPlane: v };
}

/** `client { artifact { ... } }`: sizes as Nomad writes them ("100GB", "512MiB"), durations as "30m". */
function artifactBlock(a: Obj, file: string): Obj {
  const bad = (key: string, what: string, v: unknown): never => {
    throw new UsageError(
      `Error loading configuration from ${file}: client.artifact.${key} must be ${what}, got ${JSON.stringify(v)}`,
    );
  };
  const size = (key: string): number | undefined => {
    const v = a[key];
    if (v === undefined) return undefined;
    const m = typeof v === 'string' ? /^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(v) : null;
    const mult = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    if (!m || mult === undefined || parseFloat(m[1]!) <= 0) return bad(key, 'a size such as "100GB"', v);
    return Math.floor(parseFloat(m[1]!) * mult);
  };
  const files = a.decompression_file_count_limit;
  if (files !== undefined && (typeof files !== 'number' || !Number.isInteger(files) || files <= 0))
    bad('decompression_file_count_limit', 'a whole number above 0', files);
  let timeoutMs: number | undefined;
  const t = a.http_read_timeout;
  if (t !== undefined) {
    const read = typeof t === 'string' ? readGoDuration(t.trim(), { allowNegative: false }) : undefined;
    if (!read?.ok || read.ns <= 0) bad('http_read_timeout', 'a duration such as "30m"', t);
    else timeoutMs = read.ns / 1e6;
  }
  return {
    httpReadTimeoutMs: timeoutMs,
    httpMaxBytes: size('http_max_size'),
    decompressionMaxBytes: size('decompression_size_limit'),
    decompressionMaxFiles: files,
  };
}

function limitsBlock(l: Obj, file: string): Obj {
  const conns = l.http_max_conns_per_client;
  if (conns !== undefined && (typeof conns !== 'number' || !Number.isInteger(conns) || conns < 0)) {
    throw new UsageError(
      `Error loading configuration from ${file}: limits.http_max_conns_per_client must be a whole number (0 for no limit), got ${JSON.stringify(conns)}`,
    );
  }
  const timeout = (key: string): number | undefined => {
    const v = l[key];
    if (v === undefined) return undefined;
    const read = typeof v === 'string' ? readGoDuration(v.trim(), { allowNegative: false }) : undefined;
    const ns = typeof v === 'number' ? v * 1e9 : read?.ok ? read.ns : undefined;
    if (ns === undefined || !Number.isFinite(ns) || ns <= 0) {
      throw new UsageError(
        `Error loading configuration from ${file}: limits.${key} must be a duration such as "10s", got ${JSON.stringify(v)}`,
      );
    }
    return ns / 1e6;
  };
  return {
    httpMaxConnsPerClient: conns,
    httpHeaderTimeoutMs: timeout('http_header_timeout'),
    httpBodyTimeoutMs: timeout('http_body_timeout'),
  };
}

/** `audit { enabled  sink "name" { type = "file"  path  rotate_bytes  rotate_max_files } }`. */
function auditBlock(a: Obj, file: string): Obj {
  const sinks = block(a.sink);
  const first = sinks ? block(Object.values(sinks)[0]) : undefined;
  if (first?.type !== undefined && first.type !== 'file')
    throw new UsageError(
      `Error loading configuration from ${file}: audit sink type must be "file", got ${JSON.stringify(first.type)}`,
    );
  const int = (key: string) => {
    const v = first?.[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new UsageError(
        `Error loading configuration from ${file}: audit sink ${key} must be a non-negative integer, got ${JSON.stringify(v)}`,
      );
    return v;
  };
  return {
    enabled: a.enabled,
    path: first?.path,
    rotateBytes: int('rotate_bytes'),
    rotateMaxFiles: int('rotate_max_files'),
  };
}

/** Maps one Nomad-shaped agent config document onto Drover's config keys. */
export function fromNomadConfig(doc: Obj, file = 'config'): Obj {
  const server = block(doc.server);
  const client = block(doc.client);
  const ports = block(doc.ports);
  const dns = block(doc.dns);
  const gateway = block(doc.gateway);
  const acl = block(doc.acl);
  const audit = block(doc.audit);
  const tls = block(doc.tls);
  return clean({
    acl: acl ? { enabled: acl.enabled } : undefined,
    audit: audit ? auditBlock(audit, file) : undefined,
    dataDir: doc.data_dir,
    bindAddr: doc.bind_addr,
    region: doc.region,
    datacenter: doc.datacenter,
    name: doc.name,
    logLevel: typeof doc.log_level === 'string' ? doc.log_level.toLowerCase() : undefined,
    ports: ports || dns ? { http: ports?.http, dns: dns?.port ?? ports?.dns } : undefined,
    dns: dns ? { enabled: dns.enabled, domain: dns.domain } : undefined,
    server: server ? serverBlock(server, file) : undefined,
    gateway: gateway ? gatewayBlock(gateway, file) : undefined,
    limits: block(doc.limits) ? limitsBlock(block(doc.limits)!, file) : undefined,
    tls: tls
      ? {
          http: tls.http,
          rpc: tls.rpc,
          caFile: tls.ca_file,
          certFile: tls.cert_file,
          keyFile: tls.key_file,
          verifyServerHostname: tls.verify_server_hostname,
          verifyHttpsClient: tls.verify_https_client,
        }
      : undefined,
    client: client
      ? {
          enabled: client.enabled,
          servers: client.servers,
          nodeClass: client.node_class,
          nodePool: client.node_pool,
          meta: block(client.meta),
          networkInterfaceIP: client.network_interface_ip,
          hostVolumes: hostVolumes(client.host_volume, file),
          minDynamicPort: client.min_dynamic_port,
          maxDynamicPort: client.max_dynamic_port,
          reserved: reserved(client.reserved),
          bridgeNetworkName: client.bridge_network_name,
          bridgeNetworkSubnet: client.bridge_network_subnet,
          cniPath: typeof client.cni_path === 'string' ? client.cni_path.split(/[:,]/).filter(Boolean) : undefined,
          cniConfigDir: client.cni_config_dir,
          artifact: block(client.artifact) ? artifactBlock(block(client.artifact)!, file) : undefined,
          connect: block(client.connect) ? connectBlock(block(client.connect)!, file) : undefined,
        }
      : undefined,
    plugins: plugins(doc.plugin),
  });
}

/**
 * An HCL config body as the JSON Nomad would accept: attributes evaluated, unlabelled blocks as lists of
 * objects, labelled blocks keyed by their labels (`plugin "raw_exec" {...}` → `{plugin: {raw_exec: [...]}}`).
 */
async function hclConfigToObject(text: string, path: string): Promise<{ doc: Obj; lines: Map<string, number> }> {
  const hcl = await import('../../jobspec/hcl/index.js');
  const parsed = hcl.parseHCL(text, path);
  const problems = parsed.diagnostics.filter((d) => d.severity === 'error').map(hcl.formatDiagnostic);
  const ctx = hcl.makeEvalContext({ functions: { baseDir: dirname(path), allowFS: true } });
  /** Where each key path (`client.node_class`, `plugin.raw_exec.config`) first appears, for key errors. */
  const lines = new Map<string, number>();
  const at = (p: string[], line: number) => {
    const k = p.join('.');
    if (!lines.has(k)) lines.set(k, line);
  };
  const convert = (body: typeof parsed.body, prefix: string[]): Obj => {
    const out: Obj = {};
    for (const item of body.items) {
      if (item.kind === 'attribute') {
        at([...prefix, item.name], item.nameRange.start.line);
        const r = hcl.evaluate(item.expr, ctx);
        problems.push(...r.diagnostics.filter((d) => d.severity === 'error').map(hcl.formatDiagnostic));
        out[item.name] = hcl.toJS(r.value);
        continue;
      }
      at([...prefix, item.type], item.typeRange.start.line);
      at([...prefix, item.type, ...item.labels], item.typeRange.start.line);
      let target = out;
      let key = item.type;
      for (const label of item.labels) {
        const next = (isObj(target[key]) ? target[key] : (target[key] = {})) as Obj;
        target = next;
        key = label;
      }
      const list = (Array.isArray(target[key]) ? target[key] : (target[key] = [])) as Obj[];
      list.push(convert(item.body, [...prefix, item.type, ...item.labels]));
    }
    return out;
  };
  const doc = convert(parsed.body, []);
  if (problems.length > 0) throw new UsageError(`Error loading configuration from ${path}:\n${problems.join('\n')}`);
  return { doc, lines };
}

/** The line of a key path in a JSON document: each segment searched for after the previous one (best effort). */
function jsonLine(text: string, path: string): number | undefined {
  let offset = 0;
  for (const seg of path.split('.')) {
    const i = text.indexOf(JSON.stringify(seg), offset);
    if (i < 0) return undefined;
    offset = i;
  }
  return text.slice(0, offset).split('\n').length;
}

/** Refuses every key Drover would not act on, naming the file and line of each (agent-config-keys.ts). */
function refuseUnknownKeys(doc: Obj, file: string, lineOf: (path: string) => number | undefined): void {
  const problems = checkConfigKeys(doc).map((p) => {
    const line = lineOf(p.path);
    return `${file}${line === undefined ? '' : `:${line}`}: ${p.message}`;
  });
  if (problems.length > 0) throw new UsageError(`Error loading configuration from ${file}:\n${problems.join('\n')}`);
}

async function readConfigFile(path: string): Promise<Obj> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.hcl') {
    throw new UsageError(`Error loading configuration from ${path}: expected a .hcl or .json file`);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`Error loading configuration from ${path}: ${(e as Error).message}`);
  }
  if (ext === '.hcl') {
    const { doc, lines } = await hclConfigToObject(text, path);
    refuseUnknownKeys(doc, path, (p) => lines.get(p));
    return fromNomadConfig(doc, path);
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (!isObj(doc)) throw new Error('expected a JSON object');
    refuseUnknownKeys(doc, path, (p) => jsonLine(text, p));
    return fromNomadConfig(doc, path);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`Error loading configuration from ${path}: ${(e as Error).message}`);
  }
}

/** The flags as a partial config (only what was given). */
export function fromFlags(f: AgentFlags): Obj {
  return clean({
    dataDir: f.dataDir,
    bindAddr: f.bindAddr,
    region: f.region,
    datacenter: f.datacenter,
    name: f.nodeName,
    logLevel: f.logLevel?.toLowerCase(),
    ports: { http: f.httpPort, dns: f.dnsPort },
    server: {
      enabled: f.server || undefined,
      recover: f.recover || undefined,
      etcd: f.etcd ? { endpoints: f.etcd.map((u) => checkEtcdURL(u, 'Invalid -etcd')) } : undefined,
    },
    client: { enabled: f.client || undefined, servers: f.servers },
  });
}

export async function buildAgentConfig(
  flags: AgentFlags,
  mod: { defaultConfig(dev: boolean): AgentConfig; mergeConfig<T>(base: T, over: unknown): T },
): Promise<AgentConfig> {
  let cfg = mod.defaultConfig(flags.dev);
  for (const f of flags.configFiles) cfg = mod.mergeConfig(cfg, await readConfigFile(f));
  cfg = mod.mergeConfig(cfg, fromFlags(flags));
  if (flags.gatewayPort !== undefined) cfg = withGatewayPort(cfg, flags.gatewayPort);
  const ports = cfg.client as Partial<AgentConfig['client']> | undefined;
  if (
    ports?.minDynamicPort !== undefined &&
    ports.maxDynamicPort !== undefined &&
    ports.minDynamicPort > ports.maxDynamicPort
  ) {
    throw new UsageError(
      `Invalid client config: min_dynamic_port ${ports.minDynamicPort} is above max_dynamic_port ${ports.maxDynamicPort}`,
    );
  }
  return cfg;
}

/** `-gateway-port N`: the gateway on the configured host at port N (0 = a free port), enabled. */
function withGatewayPort(cfg: AgentConfig, port: number): AgentConfig {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`Invalid -gateway-port ${port}: expected 0-65535`);
  const host = cfg.gateway.listen.replace(/:\d+$/, '');
  return { ...cfg, gateway: { ...cfg.gateway, enabled: true, listen: `${host}:${port}` } };
}
