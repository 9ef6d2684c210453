/**
 * Resource arithmetic shared by the scheduler and the plan applier: what an allocation uses, what a
 * node offers, whether a set of allocations fits, and Nomad's bin-pack score.
 * Results are cached per (immutable) object in WeakMaps, so hot loops pay for each alloc once.
 */
import type { Allocation, AllocResourceUsage, Node, NodeResourceUsage } from '../../structs/index.js';
import { allocResourceUsage, allocTerminalStatus } from '../../structs/index.js';

/** What an allocation holds on its node (defined in structs, shared with the state store's per-node sums). */
export type AllocUsage = AllocResourceUsage;

export interface NodeCapacity {
  cpu: number;
  memoryMB: number;
  diskMB: number;
  /** Host ports the node reserves for itself (e.g. 22). */
  reservedPorts: Set<number>;
  /** How many reserved ports fall inside the dynamic range. */
  reservedInDynamicRange: number;
  minDynamicPort: number;
  maxDynamicPort: number;
}

export const DefaultMinDynamicPort = 20000;
export const DefaultMaxDynamicPort = 32000;

/** What an allocation holds on its node. Ports are deduplicated (Shared.Ports mirrors Shared.Networks). */
export const allocUsage: (a: Allocation) => AllocUsage = allocResourceUsage;

/** Parses Nomad's reserved port spec: `22,80,8000-8010`. Bad parts are ignored. */
export function parsePortSpec(spec: string | null | undefined): number[] {
  const out: number[] = [];
  if (!spec) return out;
  for (const part of spec.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    for (let x = lo; x <= hi && x <= 65535; x++) out.push(x);
  }
  return out;
}

const capacityCache = new WeakMap<Node, NodeCapacity>();

/** What a node offers to allocations: its resources minus what it reserves for itself. */
export function nodeCapacity(node: Node): NodeCapacity {
  let c = capacityCache.get(node);
  if (c) return c;
  const r = node.NodeResources;
  const res = node.ReservedResources;
  const reserved = new Set(parsePortSpec(res?.Networks?.ReservedHostPorts));
  for (const n of r?.Networks ?? []) for (const p of n.ReservedPorts ?? []) if (p.Value > 0) reserved.add(p.Value);
  const minDynamicPort = r?.MinDynamicPort || DefaultMinDynamicPort;
  const maxDynamicPort = r?.MaxDynamicPort || DefaultMaxDynamicPort;
  let reservedInDynamicRange = 0;
  for (const p of reserved) if (p >= minDynamicPort && p <= maxDynamicPort) reservedInDynamicRange++;
  c = {
    cpu: (r?.Cpu?.CpuShares ?? 0) - (res?.Cpu?.CpuShares ?? 0),
    memoryMB: (r?.Memory?.MemoryMB ?? 0) - (res?.Memory?.MemoryMB ?? 0),
    diskMB: (r?.Disk?.DiskMB ?? 0) - (res?.Disk?.DiskMB ?? 0),
    reservedPorts: reserved,
    reservedInDynamicRange,
    minDynamicPort,
    maxDynamicPort,
  };
  capacityCache.set(node, c);
  return c;
}

export interface FitResult {
  fit: boolean;
  /** The exhausted dimension: "cpu", "memory", "disk" or "network: port collision". */
  dimension?: string;
  used: { CPU: number; MemoryMB: number; DiskMB: number };
}

/**
 * Do these allocations fit on the node together? Terminal allocations are skipped, so callers may
 * pass everything on the node. Used by the plan applier so a node is never over-committed.
 */
export function allocsFit(node: Node, allocs: Iterable<Allocation>): FitResult {
  const cap = nodeCapacity(node);
  let cpu = 0;
  let mem = 0;
  let disk = 0;
  const seen = new Set<number>();
  let collision = false;
  for (const a of allocs) {
    if (allocTerminalStatus(a)) continue;
    const u = allocUsage(a);
    cpu += u.cpu;
    mem += u.memoryMB;
    disk += u.diskMB;
    for (const p of u.ports) {
      if (seen.has(p) || cap.reservedPorts.has(p)) collision = true;
      seen.add(p);
    }
  }
  return fitVerdict(cap, cpu, mem, disk, collision);
}

/** Whether the summed usage fits the node's capacity, naming the first dimension that does not (Nomad's order). */
function fitVerdict(cap: NodeCapacity, cpu: number, mem: number, disk: number, collision: boolean): FitResult {
  const used = { CPU: cpu, MemoryMB: mem, DiskMB: disk };
  if (cpu > cap.cpu) return { fit: false, dimension: 'cpu', used };
  if (mem > cap.memoryMB) return { fit: false, dimension: 'memory', used };
  if (disk > cap.diskMB) return { fit: false, dimension: 'disk', used };
  if (collision) return { fit: false, dimension: 'network: port collision', used };
  return { fit: true, used };
}

/**
 * `allocsFit` in delta form, for the plan applier: does the node still fit once `removed` (live
 * allocations on it that the plan stops, preempts or replaces in place) are taken out of `base` (the
 * state store's sum for the node) and `added` are put in? O(size of the plan's part for the node), where
 * `allocsFit` over every allocation on the node was O(allocations on the node).
 */
export function usageFits(
  node: Node,
  base: NodeResourceUsage,
  removed: readonly Allocation[],
  added: readonly Allocation[],
): FitResult {
  const cap = nodeCapacity(node);
  let cpu = base.cpu;
  let mem = base.memoryMB;
  let disk = base.diskMB;
  let freed: Map<number, number> | null = null;
  for (const a of removed) {
    if (allocTerminalStatus(a)) continue;
    const u = allocUsage(a);
    cpu -= u.cpu;
    mem -= u.memoryMB;
    disk -= u.diskMB;
    for (const p of u.ports) {
      freed ??= new Map();
      freed.set(p, (freed.get(p) ?? 0) + 1);
    }
  }
  // Collisions already among the remaining holders (an over-committed node) fail the check, as in allocsFit.
  let remaining = base.portCollisions;
  if (freed !== null && remaining > 0) {
    for (const [p, n] of freed) {
      const before = base.ports?.get(p) ?? 0;
      remaining -= Math.max(0, before - 1) - Math.max(0, before - n - 1);
    }
  }
  let seen: Set<number> | null = null;
  let collision = remaining > 0;
  for (const a of added) {
    if (allocTerminalStatus(a)) continue;
    const u = allocUsage(a);
    cpu += u.cpu;
    mem += u.memoryMB;
    disk += u.diskMB;
    for (const p of u.ports) {
      const held = (base.ports?.get(p) ?? 0) - (freed?.get(p) ?? 0);
      seen ??= new Set();
      if (held > 0 || seen.has(p) || cap.reservedPorts.has(p)) collision = true;
      seen.add(p);
    }
  }
  return fitVerdict(cap, cpu, mem, disk, collision);
}

/** Maximum bin-pack score: 20 − (10^0 + 10^0) when the node is completely full. */
export const BinPackMaxFitScore = 18;

function fitTotal(node: Node, util: { cpu: number; memoryMB: number }): number {
  const cap = nodeCapacity(node);
  const freeCpu = cap.cpu > 0 ? 1 - util.cpu / cap.cpu : 0;
  const freeMem = cap.memoryMB > 0 ? 1 - util.memoryMB / cap.memoryMB : 0;
  return Math.pow(10, freeCpu) + Math.pow(10, freeMem);
}

function clampScore(s: number): number {
  return s < 0 ? 0 : s > BinPackMaxFitScore ? BinPackMaxFitScore : s;
}

/**
 * Nomad's bin-pack score for a node whose allocations would use `util` (MHz, MB): 20 minus
 * 10^freeCpu% + 10^freeMem%, free fractions taken against capacity minus reserved; clamped to [0, 18].
 * A fuller node scores higher.
 */
export function scoreFitBinPack(node: Node, util: { cpu: number; memoryMB: number }): number {
  return clampScore(20 - fitTotal(node, util));
}

/** The `spread` algorithm's mirror image: an emptier node scores higher. binpack + spread = 18. */
export function scoreFitSpread(node: Node, util: { cpu: number; memoryMB: number }): number {
  return clampScore(fitTotal(node, util) - 2);
}
