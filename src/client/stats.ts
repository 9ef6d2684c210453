/**
 * Resource usage in Nomad's JSON shape (`GET /v1/client/allocation/:id/stats`, `alloc status -stats`).
 */
import type { TaskResourceUsage } from '../drivers/index.js';
import type { AllocStats, ResourceUsage, TaskResourceUsage as StructsTaskResourceUsage } from '../structs/index.js';

export type { ResourceUsage } from '../structs/index.js';
/** Nomad's TaskResourceUsage (the driver contract has its own `TaskResourceUsage`, in driver units). */
export type TaskResourceUsageJSON = StructsTaskResourceUsage;
/** Nomad's AllocResourceUsage. */
export type AllocResourceUsage = AllocStats;

/**
 * `mhzPerCore` turns a percent of one core into Nomad's TotalTicks (MHz used), which `alloc status -stats` shows
 * as "CPU: <ticks>/<reserved> MHz", when the driver did not measure ticks itself.
 */
export function toResourceUsage(u: TaskResourceUsage, mhzPerCore: number): ResourceUsage {
  return {
    MemoryStats: {
      RSS: u.memory.rss,
      Cache: u.memory.cache,
      Swap: u.memory.swap,
      Usage: u.memory.usage,
      MaxUsage: u.memory.maxUsage,
      KernelUsage: u.memory.kernelUsage,
      KernelMaxUsage: 0,
      Measured: u.memory.measured,
    },
    CpuStats: {
      SystemMode: u.cpu.systemMode,
      UserMode: u.cpu.userMode,
      TotalTicks: u.cpu.totalTicks || (u.cpu.percent / 100) * mhzPerCore,
      ThrottledPeriods: u.cpu.throttledPeriods,
      ThrottledTime: u.cpu.throttledTime,
      Percent: u.cpu.percent,
      Measured: u.cpu.measured,
    },
    DeviceStats: [],
  };
}

export function allocResourceUsage(
  tasks: Record<string, TaskResourceUsage>,
  mhzPerCore: number,
  nowNs: number,
): AllocResourceUsage {
  const out: AllocResourceUsage = {
    ResourceUsage: toResourceUsage(emptyTaskUsage(nowNs), mhzPerCore),
    Tasks: {},
    Timestamp: nowNs,
  };
  const sum = out.ResourceUsage;
  for (const [name, u] of Object.entries(tasks)) {
    const r = toResourceUsage(u, mhzPerCore);
    out.Tasks[name] = { ResourceUsage: r, Timestamp: u.timestamp, Pids: null };
    for (const k of ['RSS', 'Cache', 'Swap', 'Usage', 'MaxUsage', 'KernelUsage'] as const)
      sum.MemoryStats[k] += r.MemoryStats[k];
    for (const k of ['SystemMode', 'UserMode', 'TotalTicks', 'ThrottledPeriods', 'ThrottledTime', 'Percent'] as const)
      sum.CpuStats[k] += r.CpuStats[k];
    sum.MemoryStats.Measured = r.MemoryStats.Measured;
    sum.CpuStats.Measured = r.CpuStats.Measured;
  }
  return out;
}

function emptyTaskUsage(ts: number): TaskResourceUsage {
  return {
    timestamp: ts,
    cpu: { percent: 0, systemMode: 0, userMode: 0, totalTicks: 0, throttledPeriods: 0, throttledTime: 0, measured: [] },
    memory: { rss: 0, cache: 0, swap: 0, usage: 0, maxUsage: 0, kernelUsage: 0, measured: [] },
  };
}
