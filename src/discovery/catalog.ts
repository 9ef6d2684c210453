/**
 * Catalog queries over service registrations, in the shapes of Nomad's native service API:
 * `GET /v1/services` (stubs grouped by namespace) and `GET /v1/service/:name` (the instances).
 * Pure functions: the caller (the server's state store, or an HTTP-following cache) owns the registrations.
 */
import type { ServiceHealthStatus, ServiceRegistration, ServiceRegistrationListStub } from '../structs/index.js';

export type { ServiceRegistrationListStub };

/** One service of a namespace in `GET /v1/services`: its name and the union of its instances' tags. */
export type ServiceRegistrationStub = ServiceRegistrationListStub['Services'][number];

/** Worst first, so a larger rank is a worse status. */
const RANK: Record<ServiceHealthStatus, number> = { passing: 0, warning: 1, critical: 2 };

/** The worst of the given statuses; `passing` for none (an instance without checks is healthy). */
export function worstStatus(statuses: Iterable<ServiceHealthStatus>): ServiceHealthStatus {
  let worst: ServiceHealthStatus = 'passing';
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

/** A registration's aggregate status; registrations written before health existed count as passing. */
export function registrationStatus(reg: Pick<ServiceRegistration, 'Status'>): ServiceHealthStatus {
  return reg.Status ?? 'passing';
}

/**
 * The `GET /v1/services` body. `namespace` is the request's `?namespace=`: `*` lists every namespace, as Nomad.
 * Namespaces and service names are sorted; tags are the sorted union over the service's instances. Health does
 * not filter here: Nomad lists a service as long as any instance is registered.
 */
export function serviceListStubs(
  regs: Iterable<ServiceRegistration>,
  opts: { namespace?: string } = {},
): ServiceRegistrationListStub[] {
  const ns = opts.namespace ?? '*';
  const byNs = new Map<string, Map<string, Set<string>>>();
  for (const r of regs) {
    if (ns !== '*' && r.Namespace !== ns) continue;
    let services = byNs.get(r.Namespace);
    if (!services) byNs.set(r.Namespace, (services = new Map()));
    let tags = services.get(r.ServiceName);
    if (!tags) services.set(r.ServiceName, (tags = new Set()));
    for (const t of r.Tags ?? []) tags.add(t);
  }
  return [...byNs.keys()].sort().map((Namespace) => {
    const services = byNs.get(Namespace)!;
    return {
      Namespace,
      Services: [...services.keys()]
        .sort()
        .map((ServiceName) => ({ ServiceName, Tags: [...services.get(ServiceName)!].sort() })),
    };
  });
}

export interface ServiceFilter {
  name: string;
  /** `*` matches every namespace. */
  namespace: string;
  /** Only instances carrying this tag (`?tag=`). */
  tag?: string;
  /** Only instances carrying every one of these tags. */
  tags?: string[];
  /** Datacenter; absent or '' for any. */
  dc?: string;
  /**
   * `passing` keeps only passing instances (what DNS, the gateway and templates serve); `any` keeps all (what
   * Nomad's API answers, since Nomad's native catalog does not filter on checks). Default `any`.
   */
  healthy?: 'passing' | 'any';
  /** Keep only instances whose status is one of these (consul-template's `|passing,warning`). Overrides `healthy`. */
  statuses?: ServiceHealthStatus[];
}

/** The `GET /v1/service/:name` body: matching instances sorted by ID, so answers are stable between polls. */
export function filterService(regs: Iterable<ServiceRegistration>, f: ServiceFilter): ServiceRegistration[] {
  const out: ServiceRegistration[] = [];
  for (const r of regs) {
    if (r.ServiceName !== f.name) continue;
    if (f.namespace !== '*' && r.Namespace !== f.namespace) continue;
    if (f.dc && r.Datacenter !== f.dc) continue;
    const tags = r.Tags ?? [];
    if (f.tag && !tags.includes(f.tag)) continue;
    if (f.tags && !f.tags.every((t) => tags.includes(t))) continue;
    const status = registrationStatus(r);
    if (f.statuses && f.statuses.length > 0) {
      if (!f.statuses.includes(status)) continue;
    } else if (f.healthy === 'passing' && status !== 'passing') continue;
    out.push(r);
  }
  return out.sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
}

/** The index to send as `X-Nomad-Index` for a set of registrations: the highest ModifyIndex, at least 1. */
export function catalogIndex(regs: Iterable<ServiceRegistration>): number {
  let max = 1;
  for (const r of regs) if (r.ModifyIndex > max) max = r.ModifyIndex;
  return max;
}

/**
 * Nomad's registration ID: `_nomad-task-<allocID>-<task>-<service>-<portLabel>`, where a group-level service
 * uses `group-<group name>` as its task part. Stable across restarts of the task, so re-registering replaces.
 */
export function serviceRegistrationID(
  allocID: string,
  taskOrGroup: { task: string } | { group: string },
  serviceName: string,
  portLabel: string,
): string {
  const owner = 'task' in taskOrGroup ? taskOrGroup.task : `group-${taskOrGroup.group}`;
  return `_nomad-task-${allocID}-${owner}-${serviceName}-${portLabel}`;
}

/**
 * Picks `n` instances by rendezvous hashing on `key` (Nomad's `?choose=n|key`): the same key keeps the same
 * subset while the instances are stable, and losing one instance moves only the keys that had it.
 */
export function chooseInstances(regs: ServiceRegistration[], n: number, key: string): ServiceRegistration[] {
  if (n <= 0) return [];
  const scored = regs.map((r) => ({ r, s: fnv1a64(`${key}\u0000${r.ID}`) }));
  scored.sort((a, b) => (a.s < b.s ? 1 : a.s > b.s ? -1 : 0));
  return scored.slice(0, n).map((x) => x.r);
}

function fnv1a64(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/**
 * Has anything a reader sees changed between two versions of a registration? Used by the client to write to
 * the server only on change (health flaps are what changes most; timestamps alone are not a change).
 */
export function registrationChanged(a: ServiceRegistration | undefined, b: ServiceRegistration): boolean {
  if (!a) return true;
  if (a.Address !== b.Address || a.Port !== b.Port || a.ServiceName !== b.ServiceName || a.Namespace !== b.Namespace)
    return true;
  if (registrationStatus(a) !== registrationStatus(b)) return true;
  if (JSON.stringify(a.Tags ?? []) !== JSON.stringify(b.Tags ?? [])) return true;
  if (JSON.stringify(a.Meta ?? {}) !== JSON.stringify(b.Meta ?? {})) return true;
  const checks = (r: ServiceRegistration) => (r.Checks ?? []).map((c) => `${c.CheckID}=${c.Status}`).join(',');
  return checks(a) !== checks(b);
}

/**
 * A registration in the shape the template module reads (`ServiceInstance` of src/template), so a
 * TemplateData backed by the catalog is a map over filterService.
 */
export function templateServiceInstance(r: ServiceRegistration): {
  ID: string;
  Name: string;
  Address: string;
  Port: number;
  Tags: string[];
  Namespace: string;
  Datacenter: string;
  NodeID: string;
  AllocID: string;
  JobID: string;
  Meta: Record<string, string>;
  Status: ServiceHealthStatus;
  Checks: Array<{ Name: string; Status: string; Output: string; CheckID: string }>;
} {
  return {
    ID: r.ID,
    Name: r.ServiceName,
    Address: r.Address,
    Port: r.Port,
    Tags: [...(r.Tags ?? [])],
    Namespace: r.Namespace,
    Datacenter: r.Datacenter,
    NodeID: r.NodeID,
    AllocID: r.AllocID,
    JobID: r.JobID,
    Meta: { ...(r.Meta ?? {}) },
    Status: registrationStatus(r),
    Checks: (r.Checks ?? []).map((c) => ({ Name: c.Name, Status: c.Status, Output: c.Output, CheckID: c.CheckID })),
  };
}
