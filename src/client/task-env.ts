/**
 * The task's environment, as Nomad builds it: the agent's own env (for drivers without filesystem isolation),
 * then every NOMAD_* variable, then the task's env block interpolated against those.
 */
import type { Allocation, NetworkResource, Task, TaskGroup } from '../structs/index.js';
import { allocIndex, shortID } from '../structs/index.js';
import type { DriverCapabilities, PortMapping, TaskDirs } from '../drivers/index.js';
import { interpolateEnvBlock, type InterpolationContext, type InterpolationNode } from './interpolate.js';

export interface TaskEnvInput {
  alloc: Allocation;
  group: TaskGroup;
  task: Task;
  node: InterpolationNode;
  region: string;
  dirs: TaskDirs;
  fsIsolation: DriverCapabilities['fsIsolation'];
  /** The agent's environment; passed through only when the driver has no filesystem isolation. */
  hostEnv?: Record<string, string | undefined>;
  /** The agent's advertise IP, used for ports whose allocation has no host IP. */
  advertiseIP: string;
  /** The allocation's own address in bridge / CNI mode (NOMAD_ALLOC_IP_*); the host IP otherwise. */
  allocIP?: string;
}

/** The ports of the task: the group's shared ports and the task's legacy networks. */
export function taskPorts(alloc: Allocation, taskName: string, advertiseIP: string): PortMapping[] {
  const out: PortMapping[] = [];
  const seen = new Set<string>();
  const add = (p: PortMapping) => {
    if (seen.has(p.label)) return;
    seen.add(p.label);
    out.push(p);
  };
  const shared = alloc.AllocatedResources?.Shared;
  for (const p of shared?.Ports ?? [])
    add({ label: p.Label, value: p.Value, to: p.To, hostIP: p.HostIP || advertiseIP });
  const fromNetworks = (nets: NetworkResource[] | null | undefined) => {
    for (const n of nets ?? [])
      for (const p of [...(n.ReservedPorts ?? []), ...(n.DynamicPorts ?? [])])
        add({ label: p.Label, value: p.Value, to: p.To, hostIP: n.IP || advertiseIP });
  };
  fromNetworks(shared?.Networks);
  fromNetworks(alloc.AllocatedResources?.Tasks?.[taskName]?.Networks);
  return out;
}

/**
 * Nomad's port variables: NOMAD_PORT_* and NOMAD_ALLOC_PORT_* are the port inside the allocation (`to`, else the
 * host port), NOMAD_HOST_PORT_* the host side; NOMAD_ALLOC_IP_* is the allocation's address (its namespace's IP
 * in bridge mode, the host IP otherwise).
 */
function addPortEnv(env: Record<string, string>, p: PortMapping, allocIP: string | undefined): void {
  const inTask = String(p.to > 0 ? p.to : p.value);
  const host = String(p.value);
  const aip = allocIP || p.hostIP;
  env[`NOMAD_ALLOC_IP_${p.label}`] = aip;
  env[`NOMAD_ALLOC_ADDR_${p.label}`] = `${aip}:${inTask}`;
  env[`NOMAD_IP_${p.label}`] = p.hostIP;
  env[`NOMAD_PORT_${p.label}`] = inTask;
  env[`NOMAD_ADDR_${p.label}`] = `${p.hostIP}:${host}`;
  env[`NOMAD_HOST_IP_${p.label}`] = p.hostIP;
  env[`NOMAD_HOST_PORT_${p.label}`] = host;
  env[`NOMAD_HOST_ADDR_${p.label}`] = `${p.hostIP}:${host}`;
  env[`NOMAD_ALLOC_PORT_${p.label}`] = inTask;
}

/** Job, group and task meta, the later overriding the earlier. */
export function mergedMeta(alloc: Allocation, group: TaskGroup, task: Task): Record<string, string> {
  return { ...(alloc.Job.Meta ?? {}), ...(group.Meta ?? {}), ...(task.Meta ?? {}) };
}

/** NOMAD_* only (no host env, no env block). */
export function nomadEnv(input: TaskEnvInput): Record<string, string> {
  const { alloc, group, task, dirs } = input;
  const isolated = input.fsIsolation !== 'none';
  const res = alloc.AllocatedResources?.Tasks?.[task.Name];
  const env: Record<string, string> = {
    NOMAD_ALLOC_DIR: isolated ? '/alloc' : dirs.sharedAllocDir,
    NOMAD_TASK_DIR: isolated ? '/local' : dirs.localDir,
    NOMAD_SECRETS_DIR: isolated ? '/secrets' : dirs.secretsDir,
    NOMAD_ALLOC_ID: alloc.ID,
    NOMAD_SHORT_ALLOC_ID: shortID(alloc.ID),
    NOMAD_ALLOC_NAME: alloc.Name,
    NOMAD_ALLOC_INDEX: String(Math.max(0, allocIndex(alloc.Name))),
    NOMAD_TASK_NAME: task.Name,
    NOMAD_GROUP_NAME: group.Name,
    NOMAD_JOB_ID: alloc.Job.ID,
    NOMAD_JOB_NAME: alloc.Job.Name,
    NOMAD_JOB_PARENT_ID: alloc.Job.ParentID ?? '',
    NOMAD_NAMESPACE: alloc.Namespace || alloc.Job.Namespace || 'default',
    NOMAD_REGION: input.region,
    NOMAD_DC: input.node.Datacenter,
    NOMAD_NODE_ID: input.node.ID,
    NOMAD_CPU_LIMIT: String(res?.Cpu.CpuShares ?? task.Resources?.CPU ?? 0),
    NOMAD_MEMORY_LIMIT: String(res?.Memory.MemoryMB ?? task.Resources?.MemoryMB ?? 0),
  };
  const memMax = res?.Memory.MemoryMaxMB ?? task.Resources?.MemoryMaxMB ?? 0;
  if (memMax > 0) env.NOMAD_MEMORY_MAX_LIMIT = String(memMax);
  const cores = res?.Cpu.ReservedCores ?? [];
  if (cores.length > 0) env.NOMAD_CPU_CORES = cores.join(',');
  for (const [k, v] of Object.entries(mergedMeta(alloc, group, task))) {
    const key = k.replace(/[^A-Za-z0-9_]/g, '_');
    env[`NOMAD_META_${key}`] = v;
    env[`NOMAD_META_${key.toUpperCase()}`] = v;
  }
  for (const p of taskPorts(alloc, task.Name, input.advertiseIP)) addPortEnv(env, p, input.allocIP);
  return env;
}

/** The full environment handed to the driver. */
export function buildTaskEnv(input: TaskEnvInput): Record<string, string> {
  const base: Record<string, string> = {};
  if (input.fsIsolation === 'none')
    for (const [k, v] of Object.entries(input.hostEnv ?? {}))
      if (v !== undefined && !k.startsWith('NOMAD_')) base[k] = v;
  Object.assign(base, nomadEnv(input));
  const ctx: InterpolationContext = { env: base, node: input.node, region: input.region };
  return { ...base, ...interpolateEnvBlock(input.task.Env, ctx) };
}

export function interpolationContext(
  env: Record<string, string>,
  node: InterpolationNode,
  region: string,
): InterpolationContext {
  return { env, node, region };
}
