/**
 * What one task group asks of a node, computed once per scheduling pass: resource totals, ports,
 * drivers, constraints split into class-cacheable and per-node ("escaped") parts, affinities and
 * spreads. The placement loop then never walks the job structure again.
 */
import type { Affinity, Constraint, Job, NetworkResource, Port, Spread, TaskGroup } from '../../structs/index.js';
import { ConstraintDistinctHosts, ConstraintDistinctProperty, constraintEscapesClass } from './constraint.js';

export interface TaskAsk {
  name: string;
  cpu: number;
  memoryMB: number;
  memoryMaxMB: number;
}

export interface DistinctProperty {
  /** `${meta.rack}` */
  attribute: string;
  /** How many allocations may share one value (RTarget, default 1). */
  limit: number;
  /** Group-level constraints count only this group's allocations. */
  groupScoped: boolean;
  /** The ConstraintFiltered key. */
  key: string;
}

export interface GroupSpec {
  job: Job;
  tg: TaskGroup;
  tasks: TaskAsk[];
  cpu: number;
  memoryMB: number;
  diskMB: number;
  /** Networks as asked (dynamic ports with Value 0), group and task level together. */
  networks: NetworkResource[];
  staticPorts: number[];
  dynamicPortCount: number;
  drivers: string[];
  jobConstraints: Constraint[];
  groupConstraints: Constraint[];
  jobEscaped: boolean;
  groupEscaped: boolean;
  distinctHostsJob: boolean;
  distinctHostsGroup: boolean;
  distinctProperties: DistinctProperty[];
  hostVolumes: string[];
  affinities: Affinity[];
  spreads: Spread[];
}

function isDistinctEnabled(c: Constraint): boolean {
  return c.RTarget === '' || c.RTarget === undefined || c.RTarget.toLowerCase() !== 'false';
}

function splitConstraints(
  cs: Constraint[],
  spec: GroupSpec,
  groupScoped: boolean,
): { plain: Constraint[]; escaped: boolean } {
  const plain: Constraint[] = [];
  let escaped = false;
  for (const c of cs) {
    if (c.Operand === ConstraintDistinctHosts) {
      if (isDistinctEnabled(c)) {
        if (groupScoped) spec.distinctHostsGroup = true;
        else spec.distinctHostsJob = true;
      }
      continue;
    }
    if (c.Operand === ConstraintDistinctProperty) {
      const n = Number.parseInt(c.RTarget, 10);
      spec.distinctProperties.push({
        attribute: c.LTarget,
        limit: Number.isFinite(n) && n > 0 ? n : 1,
        groupScoped,
        key: ConstraintDistinctProperty,
      });
      continue;
    }
    if (constraintEscapesClass(c)) escaped = true;
    plain.push(c);
  }
  return { plain, escaped };
}

function copyNetwork(n: NetworkResource): NetworkResource {
  return {
    Mode: n.Mode,
    Device: n.Device,
    CIDR: n.CIDR,
    IP: n.IP,
    MBits: n.MBits,
    DNS: n.DNS,
    ReservedPorts: n.ReservedPorts ? n.ReservedPorts.map((p) => ({ ...p })) : null,
    DynamicPorts: n.DynamicPorts ? n.DynamicPorts.map((p) => ({ ...p })) : null,
  };
}

export function buildGroupSpec(job: Job, tg: TaskGroup): GroupSpec {
  const spec: GroupSpec = {
    job,
    tg,
    tasks: [],
    cpu: 0,
    memoryMB: 0,
    diskMB: tg.EphemeralDisk?.SizeMB ?? 0,
    networks: [],
    staticPorts: [],
    dynamicPortCount: 0,
    drivers: [],
    jobConstraints: [],
    groupConstraints: [],
    jobEscaped: false,
    groupEscaped: false,
    distinctHostsJob: false,
    distinctHostsGroup: false,
    distinctProperties: [],
    hostVolumes: [],
    affinities: [...(job.Affinities ?? []), ...(tg.Affinities ?? [])],
    spreads: [...(job.Spreads ?? []), ...(tg.Spreads ?? [])],
  };
  const jobSplit = splitConstraints(job.Constraints ?? [], spec, false);
  spec.jobConstraints = jobSplit.plain;
  spec.jobEscaped = jobSplit.escaped;
  const groupCs: Constraint[] = [...(tg.Constraints ?? [])];
  const drivers = new Set<string>();
  const nets: NetworkResource[] = [...(tg.Networks ?? [])];
  for (const t of tg.Tasks) {
    drivers.add(t.Driver);
    groupCs.push(...(t.Constraints ?? []));
    spec.affinities.push(...(t.Affinities ?? []));
    const r = t.Resources;
    const cpu = r?.CPU ?? 0;
    const mem = r?.MemoryMB ?? 0;
    spec.tasks.push({ name: t.Name, cpu, memoryMB: mem, memoryMaxMB: r?.MemoryMaxMB ?? 0 });
    spec.cpu += cpu;
    spec.memoryMB += mem;
    nets.push(...(r?.Networks ?? []));
  }
  const groupSplit = splitConstraints(groupCs, spec, true);
  spec.groupConstraints = groupSplit.plain;
  spec.groupEscaped = groupSplit.escaped;
  spec.drivers = [...drivers].filter((d) => d !== '');
  spec.networks = nets.map(copyNetwork);
  for (const n of spec.networks) {
    for (const p of n.ReservedPorts ?? []) if (p.Value > 0) spec.staticPorts.push(p.Value);
    spec.dynamicPortCount += (n.DynamicPorts ?? []).length;
  }
  for (const v of Object.values(tg.Volumes ?? {})) {
    if (v.Type === 'host') spec.hostVolumes.push(v.Source);
  }
  return spec;
}

/** The ports one placement holds, given its assigned networks. */
export function portsOf(nets: NetworkResource[]): Port[] {
  const out: Port[] = [];
  for (const n of nets) {
    for (const p of n.ReservedPorts ?? []) out.push(p);
    for (const p of n.DynamicPorts ?? []) out.push(p);
  }
  return out;
}
