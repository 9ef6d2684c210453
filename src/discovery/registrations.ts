/**
 * Turns an allocation's `service` blocks into catalog registrations and into the checks the client runs.
 * Pure: the client passes what it knows at task start (its advertise IP, the driver's network, the alloc's
 * network namespace address, an interpolation function over the task's environment).
 *
 * Address modes, as Nomad:
 *   auto   → driver when the driver advertises its own network, else host
 *   host   → the port's host IP and host port (the service's `address`, if set, replaces the IP)
 *   driver → the driver's IP, and the port inside the task (`to`, the driver's port map, or a numeric label)
 *   alloc  → the alloc's network namespace IP and the port inside it (`to`)
 * Checks default to host mode and always probe an address reachable from the agent: 127.0.0.1 when the port is
 * bound on every interface, never a docker bridge address (driver mode probes the host mapping instead).
 */
import { createHash } from 'node:crypto';
import type {
  Allocation,
  CheckRestart,
  Port,
  Service,
  ServiceCheck,
  ServiceHealthStatus,
  ServiceRegistration,
} from '../structs/index.js';
import { DroverError, type Problem } from '../errors/index.js';
import { serviceRegistrationID } from './catalog.js';

/** What the driver reported about the task's own network (docker bridge IP and port map), if anything. */
export interface DriverNetworkInfo {
  ip?: string;
  portMap?: Record<string, number>;
  /** The driver asks for its address to be advertised in `auto` mode (docker's advertise_ipv6 / bridge). */
  autoAdvertise?: boolean;
}

export interface BuildRegistrationsInput {
  alloc: Allocation;
  node: { ID: string; Datacenter: string };
  /** The agent's advertise IP, for ports whose allocation carries no host IP. */
  advertiseIP: string;
  /** The task whose services to build; absent for the group's services. */
  task?: string;
  /** Runtime interpolation of `${NOMAD_...}`, `${node...}`, `${attr...}` (the client's interpolateString). */
  interpolate?: (s: string) => string;
  driverNetwork?: DriverNetworkInfo;
  /** The alloc's network namespace address (bridge mode), for address_mode "alloc". */
  allocIP?: string;
  /** Use canary_tags / canary_meta; defaults to the alloc's deployment status. */
  canary?: boolean;
}

/** A check ready to run: its target resolved to an address and port, durations in milliseconds. */
export interface ResolvedCheck {
  CheckID: string;
  Name: string;
  Type: 'http' | 'tcp' | 'script' | 'grpc';
  /** The task a script check runs in (the service's task, or the check's `task` for group services). */
  Task: string;
  Address: string;
  Port: number;
  Protocol: 'http' | 'https';
  Path: string;
  Method: string;
  Header: Record<string, string[]>;
  Body: string;
  TLSSkipVerify: boolean;
  TLSServerName: string;
  /** grpc_service */
  GRPCService: string;
  GRPCUseTLS: boolean;
  Command: string;
  Args: string[];
  IntervalMs: number;
  TimeoutMs: number;
  InitialStatus: ServiceHealthStatus;
  SuccessBeforePassing: number;
  FailuresBeforeCritical: number;
  FailuresBeforeWarning: number;
  CheckRestart: { Limit: number; GraceMs: number; IgnoreWarnings: boolean } | null;
  /** require_healthy (default), ignore_warnings, ignore: how the check counts for deployment health. */
  OnUpdate: 'require_healthy' | 'ignore_warnings' | 'ignore';
}

/** One service instance of an allocation: what goes into the catalog, and what the client runs for it. */
export interface ServiceWorkload {
  registration: ServiceRegistration;
  /** The service block after interpolation. */
  service: Service;
  /** Task name, or '' for a group service. */
  task: string;
  checks: ResolvedCheck[];
}

const NS_PER_MS = 1_000_000;

/**
 * Registrations and checks for the group's services (no `task`) or one task's services. Every provider goes into
 * Drover's one catalog: `provider = "consul"` services too, since Drover answers for Consul as well. Every registration
 * starts with the status its checks start in (initial_status, critical by default, as Consul), so an instance
 * is not served before its first passing check. Throws DroverError BadRequest listing every unresolvable port.
 */
export function buildServiceWorkloads(input: BuildRegistrationsInput): ServiceWorkload[] {
  const { alloc } = input;
  const group = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
  if (!group) throw new DroverError('BadRequest', `task group "${alloc.TaskGroup}" not found in job "${alloc.JobID}"`);
  const services =
    input.task === undefined
      ? (group.Services ?? [])
      : (group.Tasks.find((t) => t.Name === input.task)?.Services ?? []);
  const problems: Problem[] = [];
  const out: ServiceWorkload[] = [];
  services.forEach((raw, i) => {
    const path = input.task === undefined ? `Services[${i}]` : `Tasks[${input.task}].Services[${i}]`;
    try {
      out.push(buildOne(input, raw, group.Name));
    } catch (e) {
      if (!(e instanceof DroverError)) throw e;
      problems.push({ message: e.message, path });
    }
  });
  if (problems.length > 0)
    throw new DroverError('BadRequest', problems.map((p) => `${p.path}: ${p.message}`).join('\n'), { problems });
  return out;
}

function buildOne(input: BuildRegistrationsInput, raw: Service, groupName: string): ServiceWorkload {
  const ip = input.interpolate ?? ((s: string) => s);
  const { alloc } = input;
  const canary = input.canary ?? alloc.DeploymentStatus?.Canary ?? false;
  const service = interpolateService(raw, ip);
  const task = input.task ?? '';
  const ports = allocPorts(alloc, task, input.advertiseIP);
  const { address, port } = serviceAddress(service, ports, input);
  const tags = canary && (service.CanaryTags ?? []).length > 0 ? service.CanaryTags! : (service.Tags ?? []);
  const meta = { ...(service.Meta ?? {}), ...(canary ? (service.CanaryMeta ?? {}) : {}) };
  const id = serviceRegistrationID(
    alloc.ID,
    task ? { task } : { group: groupName },
    service.Name,
    service.PortLabel ?? '',
  );
  const checks = (service.Checks ?? []).map((c) => resolveCheck(id, service, c, task, ports, input));
  const initial = checks.length === 0 ? 'passing' : worstInitial(checks);
  const registration: ServiceRegistration = {
    ID: id,
    ServiceName: service.Name,
    Namespace: alloc.Namespace || alloc.Job.Namespace || 'default',
    NodeID: input.node.ID,
    Datacenter: input.node.Datacenter,
    JobID: alloc.JobID,
    AllocID: alloc.ID,
    Tags: [...tags],
    Address: address,
    Port: port,
    CreateIndex: 0,
    ModifyIndex: 0,
    Status: initial,
    Checks: checks.map((c) => ({
      CheckID: c.CheckID,
      Name: c.Name,
      Status: c.InitialStatus,
      Output: '',
      Timestamp: 0,
    })),
  };
  if (Object.keys(meta).length > 0) registration.Meta = meta;
  return { registration, service, task, checks };
}

function worstInitial(checks: ResolvedCheck[]): ServiceHealthStatus {
  const rank = { passing: 0, warning: 1, critical: 2 } as const;
  return checks.reduce<ServiceHealthStatus>(
    (w, c) => (rank[c.InitialStatus] > rank[w] ? c.InitialStatus : w),
    'passing',
  );
}

function interpolateService(s: Service, ip: (s: string) => string): Service {
  const map = (m: Record<string, string> | null | undefined) =>
    m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, ip(v)])) : m;
  return {
    ...s,
    Name: ip(s.Name),
    PortLabel: s.PortLabel !== undefined ? ip(s.PortLabel) : undefined,
    Address: s.Address !== undefined ? ip(s.Address) : undefined,
    Tags: s.Tags?.map(ip) ?? s.Tags,
    CanaryTags: s.CanaryTags?.map(ip) ?? s.CanaryTags,
    Meta: map(s.Meta),
    CanaryMeta: map(s.CanaryMeta),
    Checks: s.Checks?.map((c) => ({
      ...c,
      // A check without a name gets its default later (resolveCheck); parsed jobs may leave it out.
      Name: c.Name ? ip(c.Name) : c.Name,
      Path: c.Path !== undefined ? ip(c.Path) : undefined,
      PortLabel: c.PortLabel !== undefined ? ip(c.PortLabel) : undefined,
      Command: c.Command !== undefined ? ip(c.Command) : undefined,
      Args: c.Args?.map(ip) ?? c.Args,
      Method: c.Method !== undefined ? ip(c.Method) : undefined,
      Body: c.Body !== undefined ? ip(c.Body) : undefined,
      Protocol: c.Protocol !== undefined ? ip(c.Protocol) : undefined,
      TLSServerName: c.TLSServerName !== undefined ? ip(c.TLSServerName) : undefined,
      Header: c.Header
        ? Object.fromEntries(Object.entries(c.Header).map(([k, vs]) => [k, (vs ?? []).map(ip)]))
        : c.Header,
    })),
  };
}

interface PortInfo {
  label: string;
  value: number;
  to: number;
  hostIP: string;
}

/** The group's shared ports, then its networks' ports, then the task's own (legacy) networks. First label wins. */
function allocPorts(alloc: Allocation, task: string, advertiseIP: string): Map<string, PortInfo> {
  const out = new Map<string, PortInfo>();
  const add = (p: PortInfo) => {
    if (!out.has(p.label)) out.set(p.label, p);
  };
  const shared = alloc.AllocatedResources?.Shared;
  for (const p of shared?.Ports ?? [])
    add({ label: p.Label, value: p.Value, to: p.To, hostIP: p.HostIP || advertiseIP });
  const fromPorts = (ps: Port[] | null | undefined, hostIP: string) => {
    for (const p of ps ?? []) add({ label: p.Label, value: p.Value, to: p.To, hostIP });
  };
  for (const n of shared?.Networks ?? []) {
    fromPorts(n.ReservedPorts, n.IP || advertiseIP);
    fromPorts(n.DynamicPorts, n.IP || advertiseIP);
  }
  const taskNets = task
    ? alloc.AllocatedResources?.Tasks?.[task]?.Networks
    : Object.values(alloc.AllocatedResources?.Tasks ?? {}).flatMap((t) => t.Networks ?? []);
  for (const n of taskNets ?? []) {
    fromPorts(n.ReservedPorts, n.IP || advertiseIP);
    fromPorts(n.DynamicPorts, n.IP || advertiseIP);
  }
  return out;
}

function numericLabel(label: string): number | undefined {
  return /^\d+$/.test(label) ? Number(label) : undefined;
}

/** The port inside the task's network: `to` when mapped, else the host port (same inside and out). */
function innerPort(p: PortInfo): number {
  return p.to > 0 ? p.to : p.value;
}

function serviceAddress(
  s: Service,
  ports: Map<string, PortInfo>,
  input: BuildRegistrationsInput,
): { address: string; port: number } {
  let mode = s.AddressMode || 'auto';
  if (mode === 'auto') mode = input.driverNetwork?.autoAdvertise && input.driverNetwork.ip ? 'driver' : 'host';
  const label = s.PortLabel ?? '';
  const mapping = label ? ports.get(label) : undefined;
  switch (mode) {
    case 'host': {
      if (!label) return { address: s.Address || input.advertiseIP, port: 0 };
      if (!mapping) {
        if (numericLabel(label) !== undefined)
          throw new DroverError(
            'BadRequest',
            `invalid port "${label}": a numeric port needs address_mode "driver" or "alloc"`,
          );
        throw new DroverError('BadRequest', `invalid port "${label}": port label not found in the group's network`);
      }
      return { address: s.Address || unspecifiedToAdvertise(mapping.hostIP, input.advertiseIP), port: mapping.value };
    }
    case 'driver': {
      const net = input.driverNetwork;
      if (!net?.ip)
        throw new DroverError(
          'BadRequest',
          `service "${s.Name}" uses address_mode "driver" but the driver reported no network`,
        );
      const port = !label
        ? 0
        : (numericLabel(label) ?? net.portMap?.[label] ?? (mapping ? innerPort(mapping) : undefined));
      if (port === undefined)
        throw new DroverError(
          'BadRequest',
          `invalid port "${label}": not in the driver's port map or the group's network`,
        );
      return { address: net.ip, port };
    }
    case 'alloc': {
      if (!input.allocIP)
        throw new DroverError(
          'BadRequest',
          `service "${s.Name}" uses address_mode "alloc" but the allocation has no network namespace address`,
        );
      const port = !label ? 0 : (numericLabel(label) ?? (mapping ? innerPort(mapping) : undefined));
      if (port === undefined)
        throw new DroverError('BadRequest', `invalid port "${label}": port label not found in the group's network`);
      return { address: input.allocIP, port };
    }
    default:
      throw new DroverError('BadRequest', `unknown address_mode "${mode}" (expected auto, host, driver or alloc)`);
  }
}

function unspecifiedToAdvertise(ip: string, advertiseIP: string): string {
  return ip === '0.0.0.0' || ip === '::' || ip === '' ? advertiseIP : ip;
}

/** What a check probes: an address the agent itself can reach. */
function checkTarget(
  s: Service,
  c: ServiceCheck,
  ports: Map<string, PortInfo>,
  input: BuildRegistrationsInput,
): { address: string; port: number } {
  const label = c.PortLabel || s.PortLabel || '';
  if (!label) throw new DroverError('BadRequest', `check "${c.Name}" of service "${s.Name}" needs a port`);
  const mapping = ports.get(label);
  if ((c.AddressMode ?? '') === 'alloc') {
    if (!input.allocIP)
      throw new DroverError(
        'BadRequest',
        `check "${c.Name}" uses address_mode "alloc" but the allocation has no network namespace address`,
      );
    const port = numericLabel(label) ?? (mapping ? innerPort(mapping) : undefined);
    if (port === undefined) throw new DroverError('BadRequest', `check "${c.Name}": port label "${label}" not found`);
    return { address: input.allocIP, port };
  }
  // host, driver and the default: the host mapping. A driver (bridge) address is not reliably reachable from
  // the agent, and the host mapping reaches the same socket.
  if (!mapping) {
    const n = numericLabel(label);
    if (n !== undefined) return { address: probeAddress(input.advertiseIP), port: n };
    throw new DroverError('BadRequest', `check "${c.Name}": port label "${label}" not found in the group's network`);
  }
  return { address: probeAddress(mapping.hostIP || input.advertiseIP), port: mapping.value };
}

function probeAddress(ip: string): string {
  return ip === '0.0.0.0' || ip === '' ? '127.0.0.1' : ip === '::' ? '::1' : ip;
}

function resolveCheck(
  regID: string,
  s: Service,
  c: ServiceCheck,
  task: string,
  ports: Map<string, PortInfo>,
  input: BuildRegistrationsInput,
): ResolvedCheck {
  const type = c.Type as ResolvedCheck['Type'];
  if (!['http', 'tcp', 'script', 'grpc'].includes(type))
    throw new DroverError('BadRequest', `check "${c.Name}": unsupported type "${c.Type}"`);
  const target = type === 'script' ? { address: '', port: 0 } : checkTarget(s, c, ports, input);
  const checkTask = c.TaskName || task;
  if (type === 'script' && !checkTask)
    throw new DroverError('BadRequest', `script check "${c.Name}" of group service "${s.Name}" needs a task`);
  const restart = c.CheckRestart ?? null;
  const fbc = c.FailuresBeforeCritical ?? 0;
  return {
    CheckID: checkID(regID, c),
    Name: c.Name || `service: "${s.Name}" check`,
    Type: type,
    Task: checkTask,
    Address: target.address,
    Port: target.port,
    Protocol: c.Protocol === 'https' ? 'https' : 'http',
    Path: c.Path || '/',
    Method: c.Method || 'GET',
    Header: c.Header ?? {},
    Body: c.Body ?? '',
    TLSSkipVerify: c.TLSSkipVerify ?? false,
    TLSServerName: c.TLSServerName ?? '',
    GRPCService: c.GRPCService ?? '',
    GRPCUseTLS: c.GRPCUseTLS ?? false,
    Command: c.Command ?? '',
    Args: c.Args ?? [],
    IntervalMs: Math.max(1, Math.round((c.Interval || 10_000 * NS_PER_MS) / NS_PER_MS)),
    TimeoutMs: Math.max(1, Math.round((c.Timeout || 2_000 * NS_PER_MS) / NS_PER_MS)),
    InitialStatus: toStatus(c.InitialStatus) ?? 'critical',
    SuccessBeforePassing: c.SuccessBeforePassing ?? 0,
    FailuresBeforeCritical: fbc,
    // Unset means "no earlier warning stage", as in Consul.
    FailuresBeforeWarning: c.FailuresBeforeWarning || fbc,
    CheckRestart: restart && restart.Limit > 0 ? restartOf(restart) : null,
    OnUpdate: c.OnUpdate === 'ignore' || c.OnUpdate === 'ignore_warnings' ? c.OnUpdate : 'require_healthy',
  };
}

function restartOf(r: CheckRestart): NonNullable<ResolvedCheck['CheckRestart']> {
  return { Limit: r.Limit, GraceMs: Math.round((r.Grace ?? 0) / NS_PER_MS), IgnoreWarnings: r.IgnoreWarnings ?? false };
}

function toStatus(s: string | undefined): ServiceHealthStatus | undefined {
  return s === 'passing' || s === 'warning' || s === 'critical' ? s : undefined;
}

/** Stable for the same check definition on the same registration, so results survive an agent restart. */
function checkID(regID: string, c: ServiceCheck): string {
  const h = createHash('sha1');
  h.update(regID);
  h.update(
    JSON.stringify([
      c.Name,
      c.Type,
      c.PortLabel ?? '',
      c.Path ?? '',
      c.Command ?? '',
      c.Args ?? [],
      c.Interval,
      c.Timeout,
      c.Method ?? '',
      c.Protocol ?? '',
    ]),
  );
  return `_nomad-check-${h.digest('hex')}`;
}
