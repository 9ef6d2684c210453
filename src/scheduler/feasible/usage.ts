/**
 * Per-pass bookkeeping of what each node would hold if the plan under construction were applied.
 * Built lazily (a node's allocations are read the first time the node is considered) and kept
 * current incrementally as the plan stops and places allocations, so a placement never rescans
 * the cluster.
 */
import type { Allocation, Node, NodeResourceUsage } from '../../structs/index.js';
import { allocTerminalStatus } from '../../structs/index.js';
import type { SchedulerState } from '../types.js';
import { allocUsage, nodeCapacity, type AllocUsage, type NodeCapacity } from './resources.js';
import { resolveInterpolation } from './constraint.js';

export class NodeUsage {
  cpu = 0;
  memoryMB = 0;
  diskMB = 0;
  /** Host ports held by allocations (the node's own reserved ports live in `cap`). Created on first use. */
  private held: Set<number> | null = null;
  /** How many ports of the dynamic range are in use (reserved or held), for an O(1) "enough free ports" check. */
  dynamicUsed: number;
  readonly cap: NodeCapacity;
  constructor(readonly node: Node) {
    this.cap = nodeCapacity(node);
    this.dynamicUsed = this.cap.reservedInDynamicRange;
  }

  /** Is the port taken, by the node itself or by an allocation? */
  portUsed(p: number): boolean {
    return this.cap.reservedPorts.has(p) || (this.held !== null && this.held.has(p));
  }

  addPort(p: number): void {
    if (this.cap.reservedPorts.has(p)) return;
    if (this.held === null) this.held = new Set();
    else if (this.held.has(p)) return;
    this.held.add(p);
    if (p >= this.cap.minDynamicPort && p <= this.cap.maxDynamicPort) this.dynamicUsed++;
  }

  removePort(p: number): void {
    if (this.held === null || !this.held.delete(p)) return;
    if (p >= this.cap.minDynamicPort && p <= this.cap.maxDynamicPort) this.dynamicUsed--;
  }

  /** Adds a node's summed usage (the state store's per-node aggregate). */
  addSum(s: NodeResourceUsage): void {
    this.cpu += s.cpu;
    this.memoryMB += s.memoryMB;
    this.diskMB += s.diskMB;
    if (s.ports !== null) for (const p of s.ports.keys()) this.addPort(p);
  }

  add(u: AllocUsage): void {
    this.cpu += u.cpu;
    this.memoryMB += u.memoryMB;
    this.diskMB += u.diskMB;
    for (const p of u.ports) this.addPort(p);
  }

  subtract(u: AllocUsage): void {
    this.cpu -= u.cpu;
    this.memoryMB -= u.memoryMB;
    this.diskMB -= u.diskMB;
    for (const p of u.ports) this.removePort(p);
  }
}

export class UsageTracker {
  private readonly byNode = new Map<string, NodeUsage>();
  /** Allocations this plan stops, evicts or preempts. */
  private readonly removed = new Set<string>();
  /** The same, by node, for nodes whose usage is not built yet (get() takes them out of the state's sum). */
  private readonly removedByNode = new Map<string, Set<string>>();
  /** Allocations this plan places, by node (also used for preemption candidates). */
  readonly proposed = new Map<string, Allocation[]>();

  constructor(private readonly state: SchedulerState) {}

  get(node: Node): NodeUsage {
    let u = this.byNode.get(node.ID);
    if (u) return u;
    u = new NodeUsage(node);
    const sum = this.state.nodeUsage ? this.state.nodeUsage(node.ID) : undefined;
    if (this.state.nodeUsage) {
      // The state's sum covers every live allocation; take out the ones this plan already stopped.
      if (sum) u.addSum(sum);
      for (const id of this.removedByNode.get(node.ID) ?? []) {
        if (!this.removed.has(id)) continue; // removed, then restored
        const a = this.state.allocByID(id);
        if (a && a.NodeID === node.ID && !allocTerminalStatus(a)) u.subtract(allocUsage(a));
      }
    } else {
      for (const a of this.state.allocsByNode(node.ID)) {
        if (allocTerminalStatus(a) || this.removed.has(a.ID)) continue;
        u.add(allocUsage(a));
      }
    }
    this.byNode.set(node.ID, u);
    return u;
  }

  /** True when the state keeps per-node sums (`sumOf` answers without reading allocations). */
  hasSums(): boolean {
    return this.state.nodeUsage !== undefined;
  }

  /** The state's sum for the node as of the snapshot (this plan's changes not included); undefined when empty or unknown. */
  sumOf(nodeID: string): NodeResourceUsage | undefined {
    return this.state.nodeUsage?.(nodeID);
  }

  /** The state's sums of every node in use (see `sumOf`); empty when the state keeps none. */
  sums(): Iterable<[string, NodeResourceUsage]> {
    return this.state.nodeUsages?.() ?? [];
  }

  isRemoved(allocID: string): boolean {
    return this.removed.has(allocID);
  }

  /** The plan stops this allocation: its resources are free for the rest of the pass. */
  remove(a: Allocation): void {
    if (this.removed.has(a.ID)) return;
    this.removed.add(a.ID);
    const u = this.byNode.get(a.NodeID);
    if (!u) addTo(this.removedByNode, a.NodeID, a.ID);
    else if (!allocTerminalStatus(a)) u.subtract(allocUsage(a));
  }

  /** Undo remove() (a stop that was backed out because its replacement found no node). */
  unremove(a: Allocation): void {
    if (!this.removed.delete(a.ID)) return;
    if (allocTerminalStatus(a)) return;
    const u = this.byNode.get(a.NodeID);
    if (u) u.add(allocUsage(a));
  }

  /** The plan places this allocation on `node`. */
  place(node: Node, a: Allocation, u?: AllocUsage): void {
    this.get(node).add(u ?? allocUsage(a));
    let list = this.proposed.get(node.ID);
    if (!list) this.proposed.set(node.ID, (list = []));
    list.push(a);
  }

  /** Live allocations on the node after the plan: existing minus removed plus proposed. */
  liveAllocs(node: Node): Allocation[] {
    const out: Allocation[] = [];
    for (const a of this.state.allocsByNode(node.ID)) {
      if (!allocTerminalStatus(a) && !this.removed.has(a.ID)) out.push(a);
    }
    for (const a of this.proposed.get(node.ID) ?? []) if (!this.removed.has(a.ID)) out.push(a);
    return out;
  }
}

function addTo(m: Map<string, Set<string>>, key: string, v: string): void {
  const set = m.get(key);
  if (set) set.add(v);
  else m.set(key, new Set([v]));
}

interface LiveEntry {
  /** Looked up on first use (null: the node is gone): most passes never read it (no distinct_property). */
  node: Node | null | undefined;
  nodeID: string;
  group: string;
}

/**
 * The live allocations of the job being scheduled, for job anti-affinity, distinct_hosts,
 * distinct_property and spread. Counts per node and per property value are maintained incrementally.
 */
export class JobTracker {
  private readonly live = new Map<string, LiveEntry>();
  private readonly perNode = new Map<string, number>();
  /** group → node → count */
  private readonly perGroup = new Map<string, Map<string, number>>();
  /** `scope\u0000attribute` → value → count; scope is a group name or '' for the whole job. */
  private readonly propCounts = new Map<string, Map<string, number>>();

  constructor(
    private readonly state: SchedulerState,
    namespace: string,
    jobID: string,
    isRemoved: (id: string) => boolean,
  ) {
    // Nodes are not looked up here: a job of 1,000 allocations made 1,000 state reads per evaluation.
    for (const a of state.allocsByJob(namespace, jobID)) {
      if (allocTerminalStatus(a) || isRemoved(a.ID)) continue;
      this.add(a.ID, undefined, a.NodeID, a.TaskGroup);
    }
  }

  /** `node` undefined: looked up in the state when a property count needs it. */
  add(id: string, node: Node | undefined, nodeID: string, group: string): void {
    if (this.live.has(id)) return;
    const e: LiveEntry = { node, nodeID, group };
    this.live.set(id, e);
    this.perNode.set(nodeID, (this.perNode.get(nodeID) ?? 0) + 1);
    const g = this.groupCounts(group);
    g.set(nodeID, (g.get(nodeID) ?? 0) + 1);
    if (this.propCounts.size > 0) {
      const n = this.nodeOf(e);
      if (n) this.adjustProps(n, group, 1);
    }
  }

  remove(id: string, nodeID: string): void {
    const e = this.live.get(id);
    if (!e) return;
    this.live.delete(id);
    this.perNode.set(nodeID, (this.perNode.get(nodeID) ?? 1) - 1);
    const g = this.groupCounts(e.group);
    g.set(nodeID, (g.get(nodeID) ?? 1) - 1);
    if (this.propCounts.size > 0) {
      const n = this.nodeOf(e);
      if (n) this.adjustProps(n, e.group, -1);
    }
  }

  private nodeOf(e: LiveEntry): Node | null {
    if (e.node === undefined) e.node = this.state.nodeByID(e.nodeID) ?? null;
    return e.node;
  }

  onNode(nodeID: string): number {
    return this.perNode.get(nodeID) ?? 0;
  }

  onNodeInGroup(nodeID: string, group: string): number {
    return this.perGroup.get(group)?.get(nodeID) ?? 0;
  }

  /** Live allocs of the group per node (a live view: hold it for one placement, read it often). */
  groupCounts(group: string): Map<string, number> {
    let g = this.perGroup.get(group);
    if (!g) this.perGroup.set(group, (g = new Map()));
    return g;
  }

  /** Counts of live allocations per value of `attribute`, for the group (or the job when scope is ''). */
  valueCounts(scope: string, attribute: string): Map<string, number> {
    const key = scope + '\u0000' + attribute;
    let m = this.propCounts.get(key);
    if (m) return m;
    m = new Map();
    for (const e of this.live.values()) {
      if (scope !== '' && e.group !== scope) continue;
      const node = this.nodeOf(e);
      if (!node) continue;
      const v = resolveInterpolation(attribute, node);
      if (v !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
    }
    this.propCounts.set(key, m);
    return m;
  }

  private adjustProps(node: Node, group: string, delta: number): void {
    for (const [key, m] of this.propCounts) {
      const sep = key.indexOf('\u0000');
      const scope = key.slice(0, sep);
      if (scope !== '' && scope !== group) continue;
      const v = resolveInterpolation(key.slice(sep + 1), node);
      if (v === undefined) continue;
      const n = (m.get(v) ?? 0) + delta;
      if (n <= 0) m.delete(v);
      else m.set(v, n);
    }
  }
}
