/**
 * Docker's `GET /containers/:id/stats?stream=false` answer → TaskResourceUsage, as Nomad's docker driver reports
 * it. The one-shot answer carries two samples (`precpu_stats`, `cpu_stats`), so a single call gives a percent.
 * Memory fields differ between cgroups v1 (rss, cache) and v2 (anon, file); both are read.
 */
import type { TaskResourceUsage } from '../types.js';

interface CpuStats {
  cpu_usage?: {
    total_usage?: number;
    usage_in_kernelmode?: number;
    usage_in_usermode?: number;
    percpu_usage?: number[];
  };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data?: { periods?: number; throttled_periods?: number; throttled_time?: number };
}

export interface DockerStats {
  read?: string;
  cpu_stats?: CpuStats;
  precpu_stats?: CpuStats;
  memory_stats?: { usage?: number; max_usage?: number; stats?: Record<string, number> };
}

export function dockerStatsToUsage(s: DockerStats, nowNs: number): TaskResourceUsage {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const cores = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 1;
  const percent = cpuDelta > 0 && sysDelta > 0 ? (cpuDelta / sysDelta) * cores * 100 : 0;
  const kernelDelta = (cpu.cpu_usage?.usage_in_kernelmode ?? 0) - (pre.cpu_usage?.usage_in_kernelmode ?? 0);
  const userDelta = (cpu.cpu_usage?.usage_in_usermode ?? 0) - (pre.cpu_usage?.usage_in_usermode ?? 0);
  const share = (d: number) => (sysDelta > 0 && d > 0 ? (d / sysDelta) * cores * 100 : 0);

  const m = s.memory_stats ?? {};
  const st = m.stats ?? {};
  const v2 = st.anon !== undefined;
  const rss = v2 ? (st.anon ?? 0) : (st.total_rss ?? st.rss ?? 0);
  const cache = v2 ? (st.file ?? 0) : (st.total_cache ?? st.cache ?? 0);
  const swap = v2 ? 0 : (st.total_swap ?? st.swap ?? 0);
  return {
    timestamp: nowNs,
    cpu: {
      percent,
      systemMode: share(kernelDelta),
      userMode: share(userDelta),
      // Nomad reports ticks as the percent of the node's total MHz; the client scales it, so keep the percent.
      totalTicks: percent,
      throttledPeriods: cpu.throttling_data?.throttled_periods ?? 0,
      throttledTime: cpu.throttling_data?.throttled_time ?? 0,
      measured: ['Throttled Periods', 'Throttled Time', 'Percent'],
    },
    memory: {
      rss,
      cache,
      swap,
      usage: m.usage ?? 0,
      maxUsage: m.max_usage ?? 0,
      kernelUsage: 0,
      measured: v2 ? ['RSS', 'Cache', 'Usage'] : ['RSS', 'Cache', 'Swap', 'Usage', 'Max Usage'],
    },
  };
}
