/**
 * The placement pipeline for one evaluation pass:
 *
 *   shuffled ready nodes ─► feasibility (class-cached) ─► fit (cpu/mem/disk/ports)
 *     ─► score: bin-pack, job anti-affinity, reschedule penalty, affinity, spread ─► average
 *     ─► limit (log2 N candidates, low scorers skipped up to 3) ─► max score
 *
 * The node source is a ring walked from where the previous placement stopped, as Nomad's static
 * iterator does, so successive placements look at different nodes and each placement stops after
 * `limit` candidates instead of scanning the cluster.
 *
 * With the `binpack` algorithm (and no affinity or spread) each placement also considers the fullest
 * nodes in use that still fit and the node its previous placement chose (`packCandidates`), and the ring
 * walk is cut to a couple of nodes: the scores then fill nodes one after another instead of spreading.
 */
import type { AllocMetric, NetworkResource, Node, NodeScoreMeta } from '../../structs/index.js';
import { checkNodeDistinct, checkNodeStatic, FilterClassIneligible, type EvalEligibility } from './feasibility.js';
import type { GroupSpec } from './group-spec.js';
import { exhaustedNode, filterNode, newAllocMetric } from './metrics.js';
import {
  hasAffinityOrSpread,
  jobAntiAffinityPackScore,
  jobAntiAffinityScore,
  nodeAffinityScore,
  SpreadScorer,
} from './rank.js';
import { BinPackMaxFitScore, nodeCapacity } from './resources.js';
import type { JobTracker, NodeUsage, UsageTracker } from './usage.js';

export const DimensionPortCollision = 'network: port collision';
export const DimensionDynamicPorts = 'network: dynamic port selection failed';

/** Nodes scoring below this are set aside (up to maxSkip) in favour of better ones. */
const skipScoreThreshold = 0;
const maxSkip = 3;
/**
 * Score metadata kept per placement: the chosen node's entry, its scores broken down by scorer. Nomad keeps
 * five; every kept entry costs ≈ 220 bytes in each stored allocation (a third of what the state store wrote at
 * a million allocations) and ≈ 190 bytes of heap for as long as the allocation is in the state store
 * (`--mem-breakdown` at 5,000 nodes: 384 bytes per allocation for two entries), so at the C1M the runner-up
 * alone held ≈ 0.19 GB. `placementScore` (disconnect reconciling) reads only the chosen one.
 */
const scoreMetaKeep = 1;
/** How many of the fullest fitting nodes `packCandidates` offers per placement. */
const packTake = 2;
/** Ring-walk candidates per placement when packing candidates were found. */
const packWalk = 2;
const NO_CANDIDATES: Candidate[] = [];

export interface Candidate {
  node: Node;
  /** The node's position in the pass's node list; -1 for a node evaluated outside the ring. */
  idx: number;
  usage: NodeUsage;
  score: number;
  binpack: number;
  antiAffinity: number;
  penalty: number;
  affinity: number;
  spread: number;
}

export interface SelectOptions {
  /** Nodes to penalise (the previous node of a rescheduled alloc). */
  penaltyNodes?: ReadonlySet<string> | null;
}

export interface PassNodes {
  /** Ready, eligible nodes in the job's datacenters and node pool, shuffled. */
  nodes: Node[];
  nodesAvailable: Record<string, number>;
  nodesInPool: number;
  nodePool: string;
  /** Optional: the position of a node in `nodes` (-1 when absent), answered without scanning. */
  indexOf?: (nodeID: string) => number;
}

function newCandidate(): Candidate {
  return {
    node: null as unknown as Node,
    idx: -1,
    usage: null as unknown as NodeUsage,
    score: 0,
    binpack: 0,
    antiAffinity: 0,
    penalty: 0,
    affinity: 0,
    spread: 0,
  };
}

export class PlacementStack {
  private cursor = 0;
  private readonly spreadScorers = new Map<GroupSpec, SpreadScorer>();
  /** Per group spec, per pass-node index: 0 unknown, 1 statically feasible, 2 not. */
  private readonly staticStates = new Map<GroupSpec, Uint8Array>();
  /** NodeUsage by pass-node index, so the ring walk avoids a map lookup per node. */
  private readonly usages: (NodeUsage | undefined)[];
  /** Candidates are reused across placements: only the chosen node's fields escape a select(). */
  private readonly pool: Candidate[] = [];
  private poolUsed = 0;
  /** Node indexes the packing pass of the current select looked at. */
  private readonly packTried: number[] = [];
  /** Bin-packing (see `packCandidates`): pass-node indexes of nodes already in use, fullest first; built on first use. */
  private packOrder: Int32Array | null = null;
  /** Per group spec: where its walk of `packOrder` resumes (nodes before it are full or infeasible for it). */
  private readonly packCursor = new Map<GroupSpec, number>();
  /** Per group spec: the pass-node index of the node its previous placement chose. */
  private readonly lastChosen = new Map<GroupSpec, number>();

  constructor(
    private readonly pass: PassNodes,
    private readonly usage: UsageTracker,
    private readonly jobs: JobTracker,
    private readonly elig: EvalEligibility,
    private readonly opts: { batch: boolean; algorithm: 'binpack' | 'spread' },
  ) {
    this.usages = new Array(pass.nodes.length);
  }

  newMetric(): AllocMetric {
    const m = newAllocMetric();
    m.NodesAvailable = this.pass.nodesAvailable;
    m.NodesInPool = this.pass.nodesInPool;
    m.NodePool = this.pass.nodePool;
    return m;
  }

  /** Bin-packing applies to the default algorithm and groups without affinities or spreads (those keep Nomad's walk). */
  private packs(spec: GroupSpec): boolean {
    return this.opts.algorithm === 'binpack' && !hasAffinityOrSpread(spec) && this.usage.hasSums();
  }

  private limitFor(spec: GroupSpec): number {
    const n = this.pass.nodes.length;
    if (hasAffinityOrSpread(spec)) return n;
    if (this.opts.batch) return 2;
    return Math.max(2, Math.ceil(Math.log2(Math.max(n, 1))));
  }

  private spreadScorer(spec: GroupSpec): SpreadScorer {
    let s = this.spreadScorers.get(spec);
    if (!s) this.spreadScorers.set(spec, (s = new SpreadScorer(spec.spreads, spec.tg.Name, spec.tg.Count)));
    return s;
  }

  private staticState(spec: GroupSpec): Uint8Array {
    let st = this.staticStates.get(spec);
    if (!st) this.staticStates.set(spec, (st = new Uint8Array(this.pass.nodes.length)));
    return st;
  }

  private candidate(): Candidate {
    let c = this.pool[this.poolUsed];
    if (!c) this.pool.push((c = newCandidate()));
    this.poolUsed++;
    return c;
  }

  /** Feasibility and fit for any node; null (with the reason recorded) when it cannot take the group. */
  evaluate(spec: GroupSpec, node: Node, m: AllocMetric, sel: SelectOptions): Candidate | null {
    m.NodesEvaluated++;
    if (!checkNodeStatic(spec, node, m, this.elig)) return null;
    return this.fitAndScore(spec, node, this.usage.get(node), m, sel, this.jobs.groupCounts(spec.tg.Name), true);
  }

  private fitAndScore(
    spec: GroupSpec,
    node: Node,
    usage: NodeUsage,
    m: AllocMetric,
    sel: SelectOptions,
    groupCounts: Map<string, number>,
    fresh: boolean,
  ): Candidate | null {
    if (
      (spec.distinctHostsJob || spec.distinctHostsGroup || spec.distinctProperties.length > 0) &&
      !checkNodeDistinct(spec, node, m, this.jobs)
    ) {
      return null;
    }
    const dim = exhaustedDimension(spec, node, usage);
    if (dim !== null) {
      exhaustedNode(m, node, dim);
      return null;
    }
    const c = fresh ? newCandidate() : this.candidate();
    this.score(c, spec, node, usage, sel, groupCounts, !fresh);
    return c;
  }

  /** `selecting`: scoring candidates for a placement (select), not one node on request (evaluate). */
  private score(
    c: Candidate,
    spec: GroupSpec,
    node: Node,
    usage: NodeUsage,
    sel: SelectOptions,
    groupCounts: Map<string, number>,
    selecting: boolean,
  ): void {
    const cap = usage.cap;
    const freeCpu = cap.cpu > 0 ? 1 - (usage.cpu + spec.cpu) / cap.cpu : 0;
    const freeMem = cap.memoryMB > 0 ? 1 - (usage.memoryMB + spec.memoryMB) / cap.memoryMB : 0;
    const total = Math.pow(10, freeCpu) + Math.pow(10, freeMem);
    let fit = this.opts.algorithm === 'spread' ? total - 2 : 20 - total;
    fit = fit < 0 ? 0 : fit > BinPackMaxFitScore ? BinPackMaxFitScore : fit;
    const binpack = fit / BinPackMaxFitScore;
    let sum = binpack;
    let n = 1;
    const packs = this.packs(spec);
    const collisions = groupCounts.get(node.ID) ?? 0;
    // A placement being packed uses the packing form of the penalty (see jobAntiAffinityPackScore); a node
    // scored on its own (the system scheduler, Nomad's scenarios) keeps Nomad's −(collisions+1)/count.
    const antiAffinity =
      packs && selecting
        ? jobAntiAffinityPackScore(collisions, spec.tg.Count)
        : jobAntiAffinityScore(collisions, spec.tg.Count);
    if (antiAffinity !== 0 || packs) {
      // Nomad averages the penalty in only where there is a collision, so a node already holding one
      // instance (binpack b, penalty p) scores (b + p) / 2 against an empty node's b' / 1: half its
      // bin-pack credit is lost at the first collision and a large job lands one instance per node over
      // the whole cluster. When packing, every node is averaged over the same components, so fuller
      // nodes win until the penalty (which grows as collisions / count) really outweighs their fill.
      sum += antiAffinity;
      n++;
    }
    const penalty = sel.penaltyNodes?.has(node.ID) ? -1 : 0;
    if (penalty !== 0) {
      sum += penalty;
      n++;
    }
    let affinity = 0;
    if (spec.affinities.length > 0) {
      affinity = nodeAffinityScore(spec.affinities, node);
      if (affinity !== 0) {
        sum += affinity;
        n++;
      }
    }
    let spread = 0;
    if (spec.spreads.length > 0) {
      // Counted even when zero: a value exactly at its target scores 0, and dropping that from the average
      // let job anti-affinity alone outweigh it, so one node per datacenter gave 6/4 for 70/30 targets.
      spread = this.spreadScorer(spec).score(node, this.jobs);
      sum += spread;
      n++;
    }
    c.node = node;
    c.usage = usage;
    c.score = sum / n;
    c.binpack = binpack;
    c.antiAffinity = antiAffinity;
    c.penalty = penalty;
    c.affinity = affinity;
    c.spread = spread;
  }

  /** Static feasibility of the ring's node `idx`, cached for the pass. */
  private staticOk(spec: GroupSpec, st: Uint8Array, idx: number, node: Node, m: AllocMetric): boolean {
    const s = st[idx];
    if (s === 1) return true;
    if (s === 0) {
      const ok = checkNodeStatic(spec, node, m, this.elig);
      st[idx] = ok ? 1 : 2;
      return ok;
    }
    // Known infeasible: report it as Nomad does on a cached class, or re-run the per-node checks.
    if (spec.jobEscaped || spec.groupEscaped) checkNodeStatic(spec, node, m, this.elig);
    else filterNode(m, node, FilterClassIneligible);
    return false;
  }

  /** Picks the best node for one instance of the group, or null with the metric explaining why. */
  select(spec: GroupSpec, sel: SelectOptions = {}): { best: Candidate | null; metric: AllocMetric } {
    const m = this.newMetric();
    const nodes = this.pass.nodes;
    const total = nodes.length;
    const limit = this.limitFor(spec);
    const st = this.staticState(spec);
    const groupCounts = this.jobs.groupCounts(spec.tg.Name);
    const found: Candidate[] = [];
    const skipped: Candidate[] = [];
    this.poolUsed = 0;
    this.packTried.length = 0;
    const packed = this.packs(spec) ? this.packCandidates(spec, st, m, sel, groupCounts) : NO_CANDIDATES;
    for (const c of packed) {
      if (c.score < skipScoreThreshold && skipped.length < maxSkip) skipped.push(c);
      else found.push(c);
    }
    // With packing candidates in hand the ring walk only needs to offer a couple of alternatives (an empty
    // node, for when packing would mean a heavy anti-affinity penalty); walking log2(N) nodes per placement
    // was most of the placement pipeline's cost at 5,000 nodes.
    const walk = packed.length > 0 ? Math.min(limit, packWalk) : limit;
    let visited = 0;
    while (visited < total && found.length < walk + packed.length) {
      const idx = this.cursor;
      const node = nodes[idx]!; // the cursor wraps within [0, total)
      this.cursor = idx + 1 === total ? 0 : idx + 1;
      visited++;
      // A node the packing pass already looked at (fitting or not) is not evaluated, or counted, twice: a
      // one-node cluster must not report "exhausted on 2 nodes".
      if (this.packTried.length > 0 && this.packTried.includes(idx)) continue;
      m.NodesEvaluated++;
      if (!this.staticOk(spec, st, idx, node, m)) continue;
      let usage = this.usages[idx];
      if (!usage) usage = this.usages[idx] = this.usage.get(node);
      const c = this.fitAndScore(spec, node, usage, m, sel, groupCounts, false);
      if (!c) continue;
      c.idx = idx;
      if (c.score < skipScoreThreshold && skipped.length < maxSkip) skipped.push(c);
      else found.push(c);
    }
    for (const c of skipped) {
      if (found.length >= walk + packed.length) break;
      found.push(c);
    }
    let best: Candidate | null = null;
    for (const c of found) if (best === null || c.score > best.score) best = c;
    if (found.length > 0) m.ScoreMetaData = scoreMeta(found);
    if (best !== null && best.idx >= 0) this.lastChosen.set(spec, best.idx);
    return { best, metric: m };
  }

  /**
   * Bin-packing candidates, considered besides the ring walk's log2(N) nodes: the node this group's
   * previous placement chose, and the fullest nodes in use that still fit it. The ring walk alone looks at
   * a few random nodes, so with thousands of nodes it almost never offers a well-filled one and a job lands
   * on as many nodes as it has instances; offering the fullest fitting nodes makes the pipeline fill nodes
   * one after another (first fit, fullest first), while the scores still decide.
   */
  private packCandidates(
    spec: GroupSpec,
    st: Uint8Array,
    m: AllocMetric,
    sel: SelectOptions,
    groupCounts: Map<string, number>,
  ): Candidate[] {
    const out: Candidate[] = [];
    const last = this.lastChosen.get(spec);
    if (last !== undefined) {
      const c = this.packCandidate(spec, st, last, m, sel, groupCounts);
      if (c) out.push(c);
    }
    const order = this.packOrder ?? (this.packOrder = this.buildPackOrder());
    let i = this.packCursor.get(spec) ?? 0;
    let leading = true;
    let taken = 0;
    for (; i < order.length && taken < packTake; i++) {
      const idx = order[i]!;
      if (idx === last) continue;
      const c = this.packCandidate(spec, st, idx, m, sel, groupCounts);
      // Nodes only fill up during a pass, so one that is full or infeasible for the group now stays so.
      if (c === null) {
        if (leading) this.packCursor.set(spec, i + 1);
        continue;
      }
      leading = false;
      taken++;
      out.push(c);
    }
    return out;
  }

  private packCandidate(
    spec: GroupSpec,
    st: Uint8Array,
    idx: number,
    m: AllocMetric,
    sel: SelectOptions,
    groupCounts: Map<string, number>,
  ): Candidate | null {
    const node = this.pass.nodes[idx]!;
    this.packTried.push(idx);
    m.NodesEvaluated++;
    if (!this.staticOk(spec, st, idx, node, m)) return null;
    let usage = this.usages[idx];
    if (!usage) usage = this.usages[idx] = this.usage.get(node);
    const c = this.fitAndScore(spec, node, usage, m, sel, groupCounts, false);
    if (c) c.idx = idx;
    return c;
  }

  /** The pass's nodes that hold live allocations, fullest first (by Nomad's bin-pack measure of their usage). */
  private buildPackOrder(): Int32Array {
    const nodes = this.pass.nodes;
    // Walk the (usually far fewer) nodes in use rather than looking every pass node up in the state.
    let indexOf = this.pass.indexOf;
    if (indexOf === undefined) {
      const pos = new Map<string, number>();
      for (const [i, node] of nodes.entries()) pos.set(node.ID, i);
      indexOf = (id) => pos.get(id) ?? -1;
    }
    const idxs: number[] = [];
    const fill = new Float64Array(nodes.length);
    for (const [id, sum] of this.usage.sums()) {
      const i = indexOf(id);
      if (i < 0) continue;
      const cap = nodeCapacity(nodes[i]!);
      const freeCpu = cap.cpu > 0 ? 1 - sum.cpu / cap.cpu : 0;
      const freeMem = cap.memoryMB > 0 ? 1 - sum.memoryMB / cap.memoryMB : 0;
      idxs.push(i);
      fill[i] = Math.pow(10, freeCpu) + Math.pow(10, freeMem); // lower is fuller
    }
    idxs.sort((a, b) => fill[a]! - fill[b]! || a - b);
    return Int32Array.from(idxs);
  }
}

/** The dimension that does not fit, or null when the group fits on the node. */
export function exhaustedDimension(spec: GroupSpec, _node: Node, u: NodeUsage): string | null {
  const cap = u.cap;
  if (u.cpu + spec.cpu > cap.cpu) return 'cpu';
  if (u.memoryMB + spec.memoryMB > cap.memoryMB) return 'memory';
  if (u.diskMB + spec.diskMB > cap.diskMB) return 'disk';
  for (const p of spec.staticPorts) if (u.portUsed(p)) return DimensionPortCollision;
  if (spec.dynamicPortCount > 0) {
    const free = cap.maxDynamicPort - cap.minDynamicPort + 1 - u.dynamicUsed;
    if (free < spec.dynamicPortCount) return DimensionDynamicPorts;
  }
  return null;
}

function scoreMeta(found: Candidate[]): NodeScoreMeta[] {
  // Insertion into a short sorted list: cheaper than sorting a copy for ~log2(N) candidates.
  const top: Candidate[] = [];
  for (const c of found) {
    let i = top.length;
    while (i > 0 && top[i - 1]!.score < c.score) i--;
    if (i < scoreMetaKeep) {
      top.splice(i, 0, c);
      if (top.length > scoreMetaKeep) top.pop();
    }
  }
  return top.map((c) => ({
    NodeID: c.node.ID,
    Scores: {
      binpack: c.binpack,
      'job-anti-affinity': c.antiAffinity,
      'node-reschedule-penalty': c.penalty,
      'node-affinity': c.affinity,
      'allocation-spread': c.spread,
    },
    NormScore: c.score,
  }));
}

/**
 * Assigns host ports on the chosen node: static ports as asked, dynamic ports picked at random from
 * the node's dynamic range (never one already in use there). Marks them used in `u`.
 */
export function assignPorts(spec: GroupSpec, node: Node, u: NodeUsage, rng: () => number): NetworkResource[] | null {
  if (spec.networks.length === 0) return [];
  const cap = nodeCapacity(node);
  const lo = cap.minDynamicPort;
  const span = cap.maxDynamicPort - lo + 1;
  const out: NetworkResource[] = [];
  const taken: number[] = [];
  const ip = hostIP(node);
  for (const p of spec.staticPorts) {
    if (!u.portUsed(p)) {
      u.addPort(p);
      taken.push(p);
    }
  }
  for (const n of spec.networks) {
    const dyn = (n.DynamicPorts ?? []).map((p) => {
      let value = 0;
      for (let i = 0; i < 20 && value === 0; i++) {
        const cand = lo + Math.floor(rng() * span);
        if (!u.portUsed(cand)) value = cand;
      }
      if (value === 0) {
        const start = Math.floor(rng() * span);
        for (let i = 0; i < span && value === 0; i++) {
          const cand = lo + ((start + i) % span);
          if (!u.portUsed(cand)) value = cand;
        }
      }
      if (value !== 0) {
        u.addPort(value);
        taken.push(value);
      }
      return { Label: p.Label, Value: value, To: p.To === -1 ? value : p.To, HostNetwork: p.HostNetwork || 'default' };
    });
    if (dyn.some((p) => p.Value === 0)) {
      for (const p of taken) u.removePort(p);
      return null;
    }
    out.push({
      Mode: n.Mode,
      Device: n.Device || networkDevice(node),
      CIDR: n.CIDR,
      IP: n.IP || ip,
      MBits: n.MBits,
      DNS: n.DNS,
      ReservedPorts: n.ReservedPorts
        ? n.ReservedPorts.map((p) => ({ ...p, HostNetwork: p.HostNetwork || 'default' }))
        : null,
      DynamicPorts: dyn.length > 0 ? dyn : n.DynamicPorts ? [] : null,
    });
  }
  // Dynamic ports were marked as picked; the caller adds the alloc's usage, which re-adds them.
  for (const p of taken) u.removePort(p);
  return out;
}

function hostIP(node: Node): string {
  const fromNet = node.NodeResources?.Networks?.find((n) => n.IP)?.IP;
  return fromNet || node.Attributes['unique.network.ip-address'] || '127.0.0.1';
}

function networkDevice(node: Node): string {
  return node.NodeResources?.Networks?.find((n) => n.Device)?.Device ?? '';
}
