/**
 * Resource usage of a running allocation in Nomad's JSON shape (`GET /v1/client/allocation/:id/stats`,
 * `alloc status -stats`). The client agent builds it (client/stats.ts) and always fills every field, so none is
 * nullable except `Pids` and `DeviceStats`, which Nomad sends as null when it has none.
 */
export interface MemoryStats {
  RSS: number;
  Cache: number;
  Swap: number;
  Usage: number;
  MaxUsage: number;
  KernelUsage: number;
  KernelMaxUsage: number;
  /** Which of the fields above the driver measured. */
  Measured: string[] | null;
}

export interface CpuStats {
  SystemMode: number;
  UserMode: number;
  TotalTicks: number;
  ThrottledPeriods: number;
  ThrottledTime: number;
  Percent: number;
  Measured: string[] | null;
}

export interface ResourceUsage {
  MemoryStats: MemoryStats;
  CpuStats: CpuStats;
  DeviceStats: unknown[] | null;
}

export interface TaskResourceUsage {
  ResourceUsage: ResourceUsage;
  /** Unix nanoseconds. */
  Timestamp: number;
  Pids: Record<string, ResourceUsage> | null;
}

/**
 * Nomad's AllocResourceUsage. Named `AllocStats` here because `AllocResourceUsage` in usage.ts is the
 * scheduler's per-allocation bookkeeping; the API client exports it under Nomad's name.
 */
export interface AllocStats {
  ResourceUsage: ResourceUsage;
  Tasks: Record<string, TaskResourceUsage>;
  /** Unix nanoseconds. */
  Timestamp: number;
}
