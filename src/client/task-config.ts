/**
 * Builds what a driver receives for one start of a task: dirs, env, the interpolated driver config, resources,
 * ports and mounts.
 */
import { randomBytes } from 'node:crypto';
import type { Allocation, Task, TaskGroup } from '../structs/index.js';
import type { DriverCapabilities, MountConfig, TaskConfig, TaskDirs } from '../drivers/index.js';
import { interpolateDeep, type InterpolationContext } from './interpolate.js';
import { taskPorts } from './task-env.js';
import { livePath } from './logs/index.js';

export interface HostVolumeConfig {
  path: string;
  readOnly?: boolean;
}

export function buildTaskConfig(args: {
  alloc: Allocation;
  group: TaskGroup;
  task: Task;
  dirs: TaskDirs;
  env: Record<string, string>;
  ctx: InterpolationContext;
  advertiseIP: string;
  hostVolumes: Record<string, HostVolumeConfig>;
  /** The allocation's network namespace, when the group has one. */
  netnsPath?: string;
  /** The allocation's resolv.conf, when the group has one (bridge / cni mode). */
  resolvConfPath?: string;
}): TaskConfig {
  const { alloc, group, task, dirs } = args;
  const res = alloc.AllocatedResources?.Tasks?.[task.Name];
  return {
    id: `${alloc.ID}/${task.Name}/${randomBytes(4).toString('hex')}`,
    name: task.Name,
    allocID: alloc.ID,
    jobName: alloc.Job.Name,
    jobID: alloc.Job.ID,
    taskGroupName: group.Name,
    namespace: alloc.Namespace || 'default',
    config: interpolateDeep(task.Config ?? {}, args.ctx),
    env: args.env,
    user: task.User ?? '',
    dirs,
    stdoutPath: livePath(dirs.logDir, `${task.Name}.stdout`),
    stderrPath: livePath(dirs.logDir, `${task.Name}.stderr`),
    resources: {
      cpuShares: res?.Cpu.CpuShares ?? task.Resources?.CPU ?? 100,
      memoryMB: res?.Memory.MemoryMB ?? task.Resources?.MemoryMB ?? 300,
      memoryMaxMB: res?.Memory.MemoryMaxMB ?? task.Resources?.MemoryMaxMB ?? 0,
      cores: task.Resources?.Cores ?? 0,
    },
    ports: taskPorts(alloc, task.Name, args.advertiseIP),
    networkMode: group.Networks?.[0]?.Mode || 'host',
    ...(args.netnsPath ? { netnsPath: args.netnsPath } : {}),
    ...(args.resolvConfPath ? { resolvConfPath: args.resolvConfPath } : {}),
    mounts: taskMounts(group, task, args.hostVolumes),
  };
}

/** Host volumes the group claims and the task mounts; unknown volumes are left out (the scheduler checked them). */
function taskMounts(group: TaskGroup, task: Task, hostVolumes: Record<string, HostVolumeConfig>): MountConfig[] {
  const out: MountConfig[] = [];
  for (const vm of task.VolumeMounts ?? []) {
    const req = group.Volumes?.[vm.Volume];
    if (!req || (req.Type && req.Type !== 'host')) continue;
    const hv = hostVolumes[req.Source];
    if (!hv) continue;
    out.push({
      hostPath: hv.path,
      taskPath: vm.Destination,
      readOnly: vm.ReadOnly || req.ReadOnly || hv.readOnly === true,
    });
  }
  return out;
}

export const defaultCapabilities: DriverCapabilities = { sendSignals: true, exec: true, fsIsolation: 'none' };
