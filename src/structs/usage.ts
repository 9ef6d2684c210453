/**
 * What an allocation holds on its node, and the per-node sum of it. One definition shared by the state
 * store (which keeps the sums current on every allocation write), the scheduler (which starts each
 * node's bookkeeping from the sum) and the plan applier (which checks a plan's delta against it), so
 * the three can never disagree about what "fits" means.
 */
import { allocTerminalStatus, type Allocation } from './alloc.js';
import type { NetworkResource } from './resources.js';

export interface AllocResourceUsage {
  cpu: number;
  memoryMB: number;
  diskMB: number;
  /** Host ports this alloc holds (static and assigned dynamic), deduplicated. */
  ports: number[];
}

/** The summed usage of the live (non-terminal) allocations on one node. Never mutated once published. */
export interface NodeResourceUsage {
  readonly cpu: number;
  readonly memoryMB: number;
  readonly diskMB: number;
  /** How many live allocations the sum covers. */
  readonly allocs: number;
  /** Host port → how many live allocations hold it (more than one only on an over-committed node); null when none. */
  readonly ports: ReadonlyMap<number, number> | null;
  /** Σ (holders − 1) over `ports`: non-zero only on a node whose allocations already collide on a port. */
  readonly portCollisions: number;
}

function pushNetworkPorts(nets: NetworkResource[] | null | undefined, out: number[]): void {
  if (!nets) return;
  for (const n of nets) {
    for (const p of n.ReservedPorts ?? []) if (p.Value > 0) out.push(p.Value);
    for (const p of n.DynamicPorts ?? []) if (p.Value > 0) out.push(p.Value);
  }
}

const NO_PORTS: number[] = [];
/**
 * Keyed by the AllocatedResources object, which every copy of an allocation (`{ ...a, ClientStatus }`)
 * shares: a status change then costs no recomputation, where a cache per allocation object missed on
 * every write.
 */
const usageCache = new WeakMap<object, AllocResourceUsage>();
const NO_RESOURCES: AllocResourceUsage = Object.freeze({
  cpu: 0,
  memoryMB: 0,
  diskMB: 0,
  ports: [] as number[],
}) as AllocResourceUsage;

/**
 * What an allocation holds on its node. Ports are deduplicated (Shared.Ports mirrors Shared.Networks).
 * Cached per (immutable) allocation object, so hot loops pay for each allocation once.
 */
export function allocResourceUsage(a: Allocation): AllocResourceUsage {
  const ar = a.AllocatedResources;
  if (ar == null) return NO_RESOURCES;
  let u = usageCache.get(ar);
  if (u) return u;
  let cpu = 0;
  let mem = 0;
  const ports: number[] = [];
  {
    for (const t of Object.values(ar.Tasks)) {
      cpu += t.Cpu?.CpuShares ?? 0;
      mem += t.Memory?.MemoryMB ?? 0;
      pushNetworkPorts(t.Networks, ports);
    }
    pushNetworkPorts(ar.Shared?.Networks, ports);
    for (const p of ar.Shared?.Ports ?? []) if (p.Value > 0) ports.push(p.Value);
  }
  u = {
    cpu,
    memoryMB: mem,
    diskMB: ar.Shared?.DiskMB ?? 0,
    ports: ports.length === 0 ? NO_PORTS : ports.length > 1 ? [...new Set(ports)] : ports,
  };
  usageCache.set(ar, u);
  return u;
}

/** The usage an allocation adds to its node's sum: nothing when it is terminal or has no node. */
export function liveAllocUsage(a: Allocation): AllocResourceUsage | null {
  if (!a.NodeID || allocTerminalStatus(a)) return null;
  return allocResourceUsage(a);
}

export const emptyNodeUsage: NodeResourceUsage = Object.freeze({
  cpu: 0,
  memoryMB: 0,
  diskMB: 0,
  allocs: 0,
  ports: null,
  portCollisions: 0,
});

/** Recomputes a node's sum from its allocations: the reference the incremental sums are tested against. */
export function sumNodeUsage(allocs: Iterable<Allocation>): NodeResourceUsage {
  let cpu = 0;
  let memoryMB = 0;
  let diskMB = 0;
  let n = 0;
  let ports: Map<number, number> | null = null;
  let portCollisions = 0;
  for (const a of allocs) {
    const u = liveAllocUsage(a);
    if (u === null) continue;
    cpu += u.cpu;
    memoryMB += u.memoryMB;
    diskMB += u.diskMB;
    n++;
    for (const p of u.ports) {
      ports ??= new Map();
      const held = ports.get(p) ?? 0;
      if (held > 0) portCollisions++;
      ports.set(p, held + 1);
    }
  }
  return { cpu, memoryMB, diskMB, allocs: n, ports, portCollisions };
}
