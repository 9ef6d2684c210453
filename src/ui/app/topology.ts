/**
 * The topology's arithmetic, apart from drawing so it is unit tested in Node: each client's capacity (what
 * it has less what it keeps back), the allocations on it with their reservations, grouped by datacenter and
 * node pool, and the cluster's totals.
 */
import type { AllocListStub, NodeListStub } from './types.js';

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
      (a, b) => a.jobId.localeCompare(b.jobId) || a.name.localeCompare(b.name),
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
export function jobColour(jobId: string): string {
  let x = 2166136261;
  for (let i = 0; i < jobId.length; i++) x = Math.imul(x ^ jobId.charCodeAt(i), 16777619);
  const hue = ((x >>> 0) % 12) * 30;
  return `hsl(${hue} 60% 32%)`;
}

export function percent(part: number, whole: number): number {
  return whole > 0 ? Math.min(100, (part / whole) * 100) : 0;
}
