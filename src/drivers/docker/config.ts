/**
 * Nomad's docker `config` block → a Docker Engine `POST /containers/create` body. Pure: no I/O, so every rule
 * (volume confinement, privileged refusal, memory_max, port publishing) is tested without a daemon.
 */
import { isAbsolute, relative, resolve, dirname } from 'node:path';
import type { TaskConfig } from '../types.js';
import { parseDurationMs, type TaskPolicy } from '../shared/index.js';

export interface DockerDriverOptions {
  /** Unix socket of the Docker Engine. */
  socketPath?: string;
  /** Lets `volumes`/`mounts` name absolute host paths and paths outside the alloc dir (Nomad's volumes.enabled). */
  allowHostVolumes?: boolean;
  /** Lets tasks set `privileged = true` (Nomad's allow_privileged). */
  allowPrivileged?: boolean;
  /** Capabilities a task may add with cap_add; undefined allows any. */
  allowCaps?: string[];
  /** Users and host namespaces tasks may ask for (plugin config; safe defaults). */
  policy?: TaskPolicy;
  /** Default image pull timeout when the task sets none. */
  pullTimeoutMs?: number;
  /** Node CPU in MHz, for cpu_hard_limit's quota; defaults to cores × reported speed. */
  totalCpuMHz?: number;
  /** Node core count, for cpu_hard_limit's quota; defaults to os.availableParallelism(). */
  cpuCount?: number;
  /** Nomad's `infra_image`: the local image of pause containers (default drover/pause:latest, built on demand). */
  infraImage?: string;
}

export const CONTAINER_LABELS = {
  allocID: 'com.hashicorp.nomad.alloc_id',
  taskName: 'com.hashicorp.nomad.task_name',
  jobName: 'com.hashicorp.nomad.job_name',
  taskGroup: 'com.hashicorp.nomad.task_group_name',
  namespace: 'com.hashicorp.nomad.namespace',
  /** Marks containers Drover started, with the task ID: recovery finds containers by it. */
  drover: 'io.drover.task_id',
} as const;

/** Container name of an allocation's pause container (the holder of its network namespace, see pause.ts). */
export const pauseName = (allocID: string): string => `drover-pause-${allocID}`;

const KNOWN_KEYS = new Set([
  'image',
  'command',
  'args',
  'entrypoint',
  'ports',
  'port_map',
  'network_mode',
  'hostname',
  'work_dir',
  'labels',
  'volumes',
  'mounts',
  'cap_add',
  'cap_drop',
  'privileged',
  'dns_servers',
  'dns_search_domains',
  'dns_options',
  'extra_hosts',
  'ulimit',
  'shm_size',
  'init',
  'force_pull',
  'auth',
  'auth_soft_fail',
  'memory_hard_limit',
  'cpu_hard_limit',
  'cpu_cfs_period',
  'pids_limit',
  'readonly_rootfs',
  'security_opt',
  'sysctl',
  'logging',
  'image_pull_timeout',
  'interactive',
  'tty',
  'ipc_mode',
  'pid_mode',
  'uts_mode',
  'userns_mode',
  'oom_score_adj',
  'cpuset_cpus',
  'storage_opt',
  'devices',
  'mac_address',
  'load',
  'runtime',
  'isolation',
  'group_add',
]);

type Obj = Record<string, unknown>;

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
const strList = (v: unknown): string[] =>
  Array.isArray(v) ? v.map((x) => String(x)) : typeof v === 'string' && v ? [v] : [];
const bool = (v: unknown): boolean => v === true || v === 'true' || v === 1;
const num = (v: unknown): number =>
  typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : 0;

/**
 * HCL blocks decode either to an object or to a list of objects (`labels { a = "b" }` vs `labels = [{...}]`);
 * both forms merge into one map.
 */
export function mapOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (o: unknown) => {
    if (o && typeof o === 'object' && !Array.isArray(o)) for (const [k, x] of Object.entries(o)) out[k] = String(x);
  };
  if (Array.isArray(v)) v.forEach(add);
  else add(v);
  return out;
}

/** Block lists (`mounts { ... } mounts { ... }`) decode as an array or a single object. */
function blocks(v: unknown): Obj[] {
  if (Array.isArray(v)) return v.filter((x): x is Obj => !!x && typeof x === 'object');
  return v && typeof v === 'object' ? [v as Obj] : [];
}

/** "redis" → redis:latest; keeps registries with ports and digests intact. */
export function normalizeImage(image: string): string {
  if (image.includes('@')) return image;
  const lastSlash = image.lastIndexOf('/');
  return image.slice(lastSlash + 1).includes(':') ? image : `${image}:latest`;
}

/** Splits "reg:5000/a/b:tag" → ["reg:5000/a/b", "tag"] for the pull API. */
export function splitImage(image: string): { repo: string; tag: string } {
  const n = normalizeImage(image);
  const at = n.indexOf('@');
  if (at >= 0) return { repo: n.slice(0, at), tag: n.slice(at + 1) };
  const i = n.lastIndexOf(':');
  return { repo: n.slice(0, i), tag: n.slice(i + 1) };
}

/** Problems in a task's docker config, each a sentence naming the key. */
export function validateDockerConfig(config: Obj, opts: DockerDriverOptions = {}): string[] {
  const problems: string[] = [];
  if (typeof config.image !== 'string' || config.image === '') problems.push('image is required');
  for (const k of Object.keys(config)) if (!KNOWN_KEYS.has(k)) problems.push(`unknown docker config key "${k}"`);
  if (bool(config.privileged) && !opts.allowPrivileged)
    problems.push('privileged containers are not allowed on this client (plugin option allow_privileged)');
  if (config.args !== undefined && !Array.isArray(config.args)) problems.push('args must be a list of strings');
  if (config.entrypoint !== undefined && !Array.isArray(config.entrypoint))
    problems.push('entrypoint must be a list of strings');
  const mode = str(config.network_mode);
  if (mode && !/^(host|bridge|none|default|container:.+|[\w.-]+)$/.test(mode))
    problems.push(`network_mode "${mode}" is not valid`);
  for (const v of strList(config.volumes)) {
    const parts = v.split(':');
    if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1])
      problems.push(`volume "${v}" must be "host_path:container_path[:ro|rw]"`);
  }
  for (const m of blocks(config.mounts)) {
    const type = str(m.type) ?? 'volume';
    if (!['bind', 'volume', 'tmpfs'].includes(type))
      problems.push(`mount type "${type}" is not one of bind, volume, tmpfs`);
    if (!str(m.target)) problems.push('mounts need a target');
  }
  try {
    parseDurationMs(config.image_pull_timeout);
  } catch {
    problems.push(`image_pull_timeout ${JSON.stringify(config.image_pull_timeout)} is not a duration`);
  }
  for (const [name, val] of Object.entries(mapOf(config.ulimit))) {
    if (!/^\d+(:\d+)?$/.test(val)) problems.push(`ulimit ${name} = "${val}" must be "soft" or "soft:hard"`);
  }
  if (opts.allowCaps) {
    for (const c of strList(config.cap_add)) {
      if (!opts.allowCaps.map((x) => x.toUpperCase()).includes(c.toUpperCase()))
        problems.push(`cap_add ${c} is not in this client's allowed capabilities`);
    }
  }
  return problems;
}

/** A host path from `volumes`/`mounts`: relative to the task dir, and inside the alloc dir unless host paths are allowed. */
export function resolveHostPath(path: string, cfg: TaskConfig, opts: DockerDriverOptions): string {
  const abs = isAbsolute(path) ? resolve(path) : resolve(cfg.dirs.dir, path);
  if (opts.allowHostVolumes) return abs;
  if (isAbsolute(path))
    throw new Error(
      `volume "${path}": absolute host paths are not allowed on this client (plugin option volumes.enabled)`,
    );
  const allocDir = dirname(cfg.dirs.dir);
  const rel = relative(allocDir, abs);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`volume "${path}" leaves the allocation directory`);
  return abs;
}

/** In-container paths of the task dirs, as Nomad's docker driver mounts them. */
export const CONTAINER_DIRS = { alloc: '/alloc', local: '/local', secrets: '/secrets' } as const;

function containerEnv(cfg: TaskConfig): string[] {
  const env = {
    ...cfg.env,
    NOMAD_ALLOC_DIR: CONTAINER_DIRS.alloc,
    NOMAD_TASK_DIR: CONTAINER_DIRS.local,
    NOMAD_SECRETS_DIR: CONTAINER_DIRS.secrets,
  };
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

function binds(cfg: TaskConfig, opts: DockerDriverOptions): string[] {
  const out = [
    `${cfg.dirs.sharedAllocDir}:${CONTAINER_DIRS.alloc}`,
    `${cfg.dirs.localDir}:${CONTAINER_DIRS.local}`,
    `${cfg.dirs.secretsDir}:${CONTAINER_DIRS.secrets}`,
  ];
  for (const v of strList(cfg.config.volumes)) {
    const [host, target, mode] = v.split(':');
    out.push(`${resolveHostPath(host!, cfg, opts)}:${target}${mode ? `:${mode}` : ''}`);
  }
  // Client-provided mounts (host volumes) were allowed by the client already.
  for (const m of cfg.mounts) out.push(`${m.hostPath}:${m.taskPath}${m.readOnly ? ':ro' : ''}`);
  if (cfg.resolvConfPath) out.push(`${cfg.resolvConfPath}:/etc/resolv.conf:ro`);
  return out;
}

function mounts(cfg: TaskConfig, opts: DockerDriverOptions): Obj[] {
  return blocks(cfg.config.mounts).map((m) => {
    const type = str(m.type) ?? 'volume';
    const base: Obj = { Type: type, Target: str(m.target), ReadOnly: bool(m.readonly) };
    if (type === 'bind') {
      const bo = blocks(m.bind_options)[0];
      return {
        ...base,
        Source: resolveHostPath(str(m.source) ?? '', cfg, opts),
        ...(bo ? { BindOptions: { Propagation: str(bo.propagation) } } : {}),
      };
    }
    if (type === 'tmpfs') {
      const to = blocks(m.tmpfs_options)[0] ?? {};
      return { ...base, TmpfsOptions: { SizeBytes: num(to.size) || undefined, Mode: num(to.mode) || undefined } };
    }
    const vo = blocks(m.volume_options)[0] ?? {};
    return {
      ...base,
      Source: str(m.source),
      VolumeOptions: { NoCopy: bool(vo.no_copy), Labels: mapOf(vo.labels) },
    };
  });
}

/** Publishes `ports` (group network labels) or the legacy `port_map` labels on the client's host IP. */
function portBindings(cfg: TaskConfig): {
  exposed: Obj;
  bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
} {
  const portMap = mapOf(cfg.config.port_map);
  const wanted = strList(cfg.config.ports);
  const labels = wanted.length > 0 ? wanted : Object.keys(portMap);
  const exposed: Obj = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const label of labels) {
    const p = cfg.ports.find((x) => x.label === label);
    if (!p) throw new Error(`port "${label}" is not defined in the group's network block`);
    const inner = portMap[label] ? Number(portMap[label]) : p.to > 0 ? p.to : p.value;
    for (const proto of ['tcp', 'udp']) {
      const key = `${inner}/${proto}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: p.hostIP, HostPort: String(p.value) });
    }
  }
  return { exposed, bindings };
}

/**
 * Memory as Nomad sets it: the hard limit is memory_max (oversubscription) or memory_hard_limit when given,
 * with MemoryMB as the soft reservation; otherwise MemoryMB is the hard limit. No swap beyond it.
 */
export function memoryLimits(cfg: TaskConfig): { Memory: number; MemoryReservation?: number; MemorySwap: number } {
  const mb = 1024 * 1024;
  const hardMB = cfg.resources.memoryMaxMB > 0 ? cfg.resources.memoryMaxMB : num(cfg.config.memory_hard_limit);
  if (hardMB > 0 && hardMB > cfg.resources.memoryMB) {
    return { Memory: hardMB * mb, MemoryReservation: cfg.resources.memoryMB * mb, MemorySwap: hardMB * mb };
  }
  return { Memory: cfg.resources.memoryMB * mb, MemorySwap: cfg.resources.memoryMB * mb };
}

function cpuLimits(cfg: TaskConfig, opts: DockerDriverOptions): Obj {
  const out: Obj = { CpuShares: Math.max(2, cfg.resources.cpuShares) };
  if (bool(cfg.config.cpu_hard_limit) && opts.totalCpuMHz) {
    const period = num(cfg.config.cpu_cfs_period) || 100_000;
    out.CpuPeriod = period;
    // The task's share of the node's MHz, applied to all cores, as Nomad computes it.
    out.CpuQuota = Math.max(
      1000,
      Math.round((cfg.resources.cpuShares / opts.totalCpuMHz) * period * (opts.cpuCount ?? 1)),
    );
  }
  // The contract gives a core count, not the reserved core ids; Nomad exposes the ids in NOMAD_CPU_CORES.
  const cores =
    cfg.env.NOMAD_CPU_CORES ?? (cfg.resources.cores > 0 ? `0-${cfg.resources.cores - 1}` : str(cfg.config.cpuset_cpus));
  if (cores) out.CpusetCpus = cores;
  return out;
}

function ulimits(v: unknown): Obj[] {
  return Object.entries(mapOf(v)).map(([Name, val]) => {
    const [soft, hard] = val.split(':');
    return { Name, Soft: Number(soft), Hard: Number(hard ?? soft) };
  });
}

/** The full create body. Throws (Error with a user-facing message) on a refused volume or unknown port. */
export function containerCreateBody(cfg: TaskConfig, image: string, opts: DockerDriverOptions): Obj {
  const c = cfg.config;
  const command = str(c.command);
  const args = strList(c.args);
  // In a group network (bridge / none / cni) the container joins the allocation's pause container; the ports are
  // mapped by the client's NAT rules (or a cni/ config's portmap) to the allocation's address, not published by Docker.
  const networkMode = cfg.netnsPath ? `container:${pauseName(cfg.allocID)}` : (str(c.network_mode) ?? 'bridge');
  const { exposed, bindings } = portBindings(cfg);
  const publish = networkMode !== 'host' && !networkMode.startsWith('container:') && networkMode !== 'none';
  const joined = networkMode.startsWith('container:');
  const labels = {
    ...mapOf(c.labels),
    [CONTAINER_LABELS.allocID]: cfg.allocID,
    [CONTAINER_LABELS.taskName]: cfg.name,
    [CONTAINER_LABELS.jobName]: cfg.jobName,
    [CONTAINER_LABELS.taskGroup]: cfg.taskGroupName,
    [CONTAINER_LABELS.namespace]: cfg.namespace,
    [CONTAINER_LABELS.drover]: cfg.id,
  };
  const hostConfig: Obj = {
    Binds: binds(cfg, opts),
    Mounts: mounts(cfg, opts),
    NetworkMode: networkMode,
    PortBindings: publish ? bindings : {},
    CapAdd: strList(c.cap_add),
    CapDrop: strList(c.cap_drop),
    Privileged: bool(c.privileged),
    // Docker refuses DNS settings and extra hosts on a container that joins another's network.
    ...(joined
      ? {}
      : {
          Dns: strList(c.dns_servers),
          DnsSearch: strList(c.dns_search_domains),
          DnsOptions: strList(c.dns_options),
          ExtraHosts: strList(c.extra_hosts),
        }),
    Ulimits: ulimits(c.ulimit),
    ...(num(c.shm_size) > 0 ? { ShmSize: num(c.shm_size) } : {}),
    Init: bool(c.init),
    ...memoryLimits(cfg),
    ...cpuLimits(cfg, opts),
    ...(num(c.pids_limit) > 0 ? { PidsLimit: num(c.pids_limit) } : {}),
    ReadonlyRootfs: bool(c.readonly_rootfs),
    SecurityOpt: strList(c.security_opt),
    Sysctls: mapOf(c.sysctl),
    ...(str(c.ipc_mode) ? { IpcMode: str(c.ipc_mode) } : {}),
    ...(str(c.pid_mode) ? { PidMode: str(c.pid_mode) } : {}),
    ...(str(c.uts_mode) ? { UTSMode: str(c.uts_mode) } : {}),
    ...(str(c.runtime) ? { Runtime: str(c.runtime) } : {}),
    ...(num(c.oom_score_adj) ? { OomScoreAdj: num(c.oom_score_adj) } : {}),
    // Logs are read through the API into the client's files; json-file keeps them readable after a restart.
    LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
  };
  return {
    Image: image,
    Cmd: command ? [command, ...args] : args.length > 0 ? args : undefined,
    Entrypoint: Array.isArray(c.entrypoint) ? strList(c.entrypoint) : undefined,
    Env: containerEnv(cfg),
    Labels: labels,
    Hostname: joined ? undefined : str(c.hostname),
    WorkingDir: str(c.work_dir),
    User: cfg.user || undefined,
    ExposedPorts: publish ? exposed : {},
    Tty: bool(c.tty),
    OpenStdin: bool(c.interactive),
    AttachStdout: false,
    AttachStderr: false,
    HostConfig: hostConfig,
  };
}

/** The X-Registry-Auth header value for `auth { username password email server_address }`. */
export function registryAuthHeader(auth: unknown): string | undefined {
  const a = blocks(auth)[0];
  if (!a) return undefined;
  const json = {
    username: str(a.username),
    password: str(a.password),
    email: str(a.email),
    serveraddress: str(a.server_address),
  };
  // dockerd decodes this with Go's base64.URLEncoding, which wants the `=` padding that Node's 'base64url'
  // leaves out; unpadded, a header whose JSON length is not a multiple of 3 was read as no credentials at all.
  return Buffer.from(JSON.stringify(json)).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}
