/**
 * Is a job change destructive for a group? Destructive changes need a new allocation (stop, then
 * place); anything else is applied in place to the running allocation. As in Nomad: a task's driver,
 * user, config, env, meta, resources, artifacts, templates, volumes, log config and the ports its
 * services use are destructive; count, update/migrate/reschedule blocks, constraints and service
 * checks are not.
 */
import type { Job, NetworkResource, Task, TaskGroup } from '../../structs/index.js';

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

/** Deep equality where null, undefined, {} and [] are all "nothing". */
export function deepEqualLoose(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isEmpty(a) && isEmpty(b)) return true;
  if (typeof a !== typeof b || typeof a !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqualLoose(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) if (!deepEqualLoose(ao[k], bo[k])) return false;
  return true;
}

function networkShape(nets: NetworkResource[] | null | undefined): unknown {
  return (nets ?? []).map((n) => ({
    Mode: n.Mode,
    MBits: n.MBits ?? 0,
    Reserved: (n.ReservedPorts ?? []).map((p) => [p.Label, p.Value, p.To, p.HostNetwork || 'default']),
    Dynamic: (n.DynamicPorts ?? []).map((p) => [p.Label, p.To, p.HostNetwork || 'default']),
    DNS: n.DNS ?? null,
  }));
}

function servicePorts(tg: TaskGroup, t?: Task): string[] {
  const labels: string[] = [];
  for (const s of (t ? t.Services : tg.Services) ?? []) labels.push(s.PortLabel ?? '');
  return labels.sort();
}

function combinedMeta(job: Job, tg: TaskGroup, t: Task): Record<string, string> {
  return { ...(job.Meta ?? {}), ...(tg.Meta ?? {}), ...(t.Meta ?? {}) };
}

function taskResourcesChanged(a: Task, b: Task): boolean {
  const ra = a.Resources ?? { CPU: 0, MemoryMB: 0 };
  const rb = b.Resources ?? { CPU: 0, MemoryMB: 0 };
  return (
    ra.CPU !== rb.CPU ||
    ra.MemoryMB !== rb.MemoryMB ||
    (ra.MemoryMaxMB ?? 0) !== (rb.MemoryMaxMB ?? 0) ||
    (ra.Cores ?? 0) !== (rb.Cores ?? 0) ||
    (ra.DiskMB ?? 0) !== (rb.DiskMB ?? 0) ||
    !deepEqualLoose(networkShape(ra.Networks), networkShape(rb.Networks)) ||
    !deepEqualLoose(ra.Devices, rb.Devices)
  );
}

function taskChanged(jobA: Job, tgA: TaskGroup, a: Task, jobB: Job, tgB: TaskGroup, b: Task): boolean {
  return (
    a.Driver !== b.Driver ||
    (a.User ?? '') !== (b.User ?? '') ||
    !deepEqualLoose(a.Config, b.Config) ||
    !deepEqualLoose(a.Env, b.Env) ||
    !deepEqualLoose(combinedMeta(jobA, tgA, a), combinedMeta(jobB, tgB, b)) ||
    !deepEqualLoose(a.Artifacts, b.Artifacts) ||
    !deepEqualLoose(a.Templates, b.Templates) ||
    !deepEqualLoose(a.Vault, b.Vault) ||
    !deepEqualLoose(a.LogConfig, b.LogConfig) ||
    !deepEqualLoose(a.Lifecycle, b.Lifecycle) ||
    !deepEqualLoose(a.VolumeMounts, b.VolumeMounts) ||
    !deepEqualLoose(a.DispatchPayload, b.DispatchPayload) ||
    !deepEqualLoose(servicePorts(tgA, a), servicePorts(tgB, b)) ||
    taskResourcesChanged(a, b)
  );
}

/** True when moving an allocation of group `group` from job `a` to job `b` needs a new allocation. */
export function tasksUpdated(a: Job, b: Job, group: string): boolean {
  const tgA = a.TaskGroups.find((g) => g.Name === group);
  const tgB = b.TaskGroups.find((g) => g.Name === group);
  if (!tgA || !tgB) return true;
  if (tgA.Tasks.length !== tgB.Tasks.length) return true;
  if (!deepEqualLoose(networkShape(tgA.Networks), networkShape(tgB.Networks))) return true;
  if (!deepEqualLoose(tgA.EphemeralDisk, tgB.EphemeralDisk)) return true;
  if (!deepEqualLoose(tgA.Volumes, tgB.Volumes)) return true;
  if (!deepEqualLoose(servicePorts(tgA), servicePorts(tgB))) return true;
  for (const ta of tgA.Tasks) {
    const tb = tgB.Tasks.find((t) => t.Name === ta.Name);
    if (!tb || taskChanged(a, tgA, ta, b, tgB, tb)) return true;
  }
  return false;
}

/** Is the allocation already running this version of the job? */
export function sameJobVersion(allocJob: Job, job: Job): boolean {
  if (allocJob === job) return true;
  if ((allocJob.Version ?? 0) !== (job.Version ?? 0)) return false;
  return (allocJob.JobModifyIndex ?? 0) === (job.JobModifyIndex ?? 0);
}
