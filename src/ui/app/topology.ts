/**
 * The topology's arithmetic, apart from drawing so it is unit tested in Node: each client's capacity (what
 * it has less what it keeps back), the allocations on it with their reservations, grouped by datacenter and
 * node pool, and the cluster's totals.
 */
import type { AllocListStub, AllocStats, NodeListStub } from './types.js';

export interface AllocBlock {
  id: string;
  name: string;
  jobId: string;
  namespace: string;
  status: string;
  cpu: number;
  memoryMB: number;
}

export interface NodeBox {
  node: NodeListStub;
  cpu: number;
  memoryMB: number;
  allocs: AllocBlock[];
  reservedCpu: number;
  reservedMemoryMB: number;
}

export interface PoolGroup {
  datacenter: string;
  pool: string;
  nodes: NodeBox[];
}

export interface Totals {
  nodes: number;
  allocs: number;
  cpu: number;
  memoryMB: number;
  reservedCpu: number;
  reservedMemoryMB: number;
}

/** Allocations that hold resources on their node: placed to run and not yet finished. */
export function holdsResources(a: AllocListStub): boolean {
  return a.DesiredStatus === 'run' && (a.ClientStatus === 'running' || a.ClientStatus === 'pending');
}

export function allocBlock(a: AllocListStub): AllocBlock {
  let cpu = 0;
  let memoryMB = 0;
  for (const t of Object.values(a.AllocatedResources?.Tasks ?? {})) {
    cpu += t.Cpu?.CpuShares ?? 0;
    memoryMB += t.Memory?.MemoryMB ?? 0;
  }
  return { id: a.ID, name: a.Name, jobId: a.JobID, namespace: a.Namespace, status: a.ClientStatus, cpu, memoryMB };
}

export function topology(
  nodes: readonly NodeListStub[],
  allocs: readonly AllocListStub[],
): { groups: PoolGroup[]; totals: Totals } {
  const byNode = new Map<string, AllocBlock[]>();
  for (const a of allocs) {
    if (!holdsResources(a)) continue;
    const list = byNode.get(a.NodeID) ?? [];
    list.push(allocBlock(a));
    byNode.set(a.NodeID, list);
  }
  const groups = new Map<string, PoolGroup>();
  const totals: Totals = { nodes: 0, allocs: 0, cpu: 0, memoryMB: 0, reservedCpu: 0, reservedMemoryMB: 0 };
  const sorted = [...nodes].sort((a, b) => a.Name.localeCompare(b.Name) || a.ID.localeCompare(b.ID));
  for (const n of sorted) {
    const cpu = Math.max(0, (n.NodeResources?.Cpu.CpuShares ?? 0) - (n.ReservedResources?.Cpu.CpuShares ?? 0));
    const memoryMB = Math.max(0, (n.NodeResources?.Memory.MemoryMB ?? 0) - (n.ReservedResources?.Memory.MemoryMB ?? 0));
    const list = (byNode.get(n.ID) ?? []).sort(
      // Plain code-unit order: localeCompare over 5,000 allocations costs a tenth of a second in chromium.
      (a, b) => byCodeUnits(a.jobId, b.jobId) || byCodeUnits(a.name, b.name),
    );
    const box: NodeBox = {
      node: n,
      cpu,
      memoryMB,
      allocs: list,
      reservedCpu: list.reduce((s, a) => s + a.cpu, 0),
      reservedMemoryMB: list.reduce((s, a) => s + a.memoryMB, 0),
    };
    const key = `${n.Datacenter}\u0000${n.NodePool}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { datacenter: n.Datacenter, pool: n.NodePool || 'default', nodes: [] }));
    g.nodes.push(box);
    totals.nodes++;
    totals.allocs += list.length;
    totals.cpu += cpu;
    totals.memoryMB += memoryMB;
    totals.reservedCpu += box.reservedCpu;
    totals.reservedMemoryMB += box.reservedMemoryMB;
  }
  return {
    groups: [...groups.values()].sort(
      (a, b) => a.datacenter.localeCompare(b.datacenter) || a.pool.localeCompare(b.pool),
    ),
    totals,
  };
}

/**
 * A job's colour: one of twelve hues picked by a hash of its ID, so a job keeps its colour across reloads and
 * clients. Dark enough for white text (contrast ≥ 4.5:1 on every hue at this lightness).
 */
export function jobColour(jobId: string, alpha = 1): string {
  const hue = jobHue(jobId) * 30;
  return alpha === 1 ? `hsl(${hue} 60% 32%)` : `hsl(${hue} 60% 32% / ${alpha})`;
}

/** Which of the twelve hues a job gets (style.css has a class `topo-h<N>` for each, the same colours). */
export function jobHue(jobId: string): number {
  let x = 2166136261;
  for (let i = 0; i < jobId.length; i++) x = Math.imul(x ^ jobId.charCodeAt(i), 16777619);
  return (x >>> 0) % 12;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How a pending allocation's block is drawn against a running one's. */
export const PENDING_ALPHA = 0.55;

/**
 * One bar as one CSS background: each block a stripe of its job's colour, as wide as its share of `capacity`,
 * with a 1px gap after it. A client's memory bar is drawn this way (one element, not one per allocation: the
 * CPU bar above it carries the links), which halves the elements a 5,000-allocation page makes.
 */
export function stripes(blocks: readonly AllocBlock[], dim: 'cpu' | 'memoryMB', capacity: number): string {
  if (blocks.length === 0) return 'none';
  const parts: string[] = [];
  let at = 0;
  for (const b of blocks) {
    if (at >= 100) break;
    const end = Math.min(100, at + percent(b[dim], capacity));
    const colour = jobColour(b.jobId, b.status === 'pending' ? PENDING_ALPHA : 1);
    parts.push(`${colour} ${at.toFixed(3)}% calc(${end.toFixed(3)}% - 1px)`, `transparent 0 ${end.toFixed(3)}%`);
    at = end;
  }
  return `linear-gradient(to right, ${parts.join(', ')})`;
}

/** The block drawn at `fraction` (0–1) of a bar laid out as `stripes` lays it out, if any. */
export function blockAt(
  blocks: readonly AllocBlock[],
  dim: 'cpu' | 'memoryMB',
  capacity: number,
  fraction: number,
): AllocBlock | undefined {
  const x = fraction * 100;
  let at = 0;
  for (const b of blocks) {
    const end = Math.min(100, at + percent(b[dim], capacity));
    if (x >= at && x < end) return b;
    at = end;
  }
  return undefined;
}

export function percent(part: number, whole: number): number {
  return whole > 0 ? Math.min(100, (part / whole) * 100) : 0;
}

/** What one allocation actually used at its last stats sample (`/v1/client/allocation/:id/stats`). */
export interface UsageSample {
  /** MHz consumed (Nomad's CpuStats.TotalTicks). */
  cpu: number;
  /** MiB resident (MemoryStats.RSS, or Usage where the driver reports no RSS). */
  memoryMB: number;
}

/** Actual use summed over the allocations that have a sample, against what those allocations reserve. */
export interface Usage {
  cpu: number;
  memoryMB: number;
  /** Allocations with a sample, of `running` running ones. */
  sampled: number;
  running: number;
  /** What the sampled allocations reserve: the fair comparison when not all of them have a sample. */
  reservedCpu: number;
  reservedMemoryMB: number;
}

export function usageSample(stats: AllocStats): UsageSample {
  const m = stats.ResourceUsage.MemoryStats;
  return { cpu: stats.ResourceUsage.CpuStats.TotalTicks, memoryMB: (m.RSS || m.Usage) / (1024 * 1024) };
}

/** Actual use of `blocks` (a client's allocations, or every one) from the samples held. */
export function usageOf(blocks: readonly AllocBlock[], samples: ReadonlyMap<string, UsageSample>): Usage {
  const u: Usage = { cpu: 0, memoryMB: 0, sampled: 0, running: 0, reservedCpu: 0, reservedMemoryMB: 0 };
  for (const b of blocks) {
    if (b.status !== 'running') continue;
    u.running++;
    const s = samples.get(b.id);
    if (!s) continue;
    u.sampled++;
    u.cpu += s.cpu;
    u.memoryMB += s.memoryMB;
    u.reservedCpu += b.cpu;
    u.reservedMemoryMB += b.memoryMB;
  }
  return u;
}

/**
 * The next round of allocations to sample: at most `max` of the running `ids`, starting at `cursor` and
 * wrapping, so a large cluster is covered a round at a time rather than with thousands of requests at once.
 */
export function nextRound(ids: readonly string[], cursor: number, max: number): { batch: string[]; cursor: number } {
  if (ids.length <= max) return { batch: [...ids], cursor: 0 };
  const start = cursor % ids.length;
  const batch: string[] = [];
  for (let i = 0; i < max; i++) batch.push(ids[(start + i) % ids.length]!);
  return { batch, cursor: (start + max) % ids.length };
}
