/**
 * AllocMetric bookkeeping: the explanation attached to every placement and every failed placement.
 * Checkers call filterNode / exhaustedNode instead of throwing, so a failure says why, per node.
 */
import type { AllocMetric, Node } from '../../structs/index.js';

export function newAllocMetric(): AllocMetric {
  return {
    NodesEvaluated: 0,
    NodesFiltered: 0,
    NodesInPool: 0,
    NodesAvailable: {},
    ClassFiltered: null,
    ConstraintFiltered: null,
    NodesExhausted: 0,
    ClassExhausted: null,
    DimensionExhausted: null,
    QuotaExhausted: null,
    ResourcesExhausted: null,
    Scores: null,
    ScoreMetaData: null,
    AllocationTime: 0,
    CoalescedFailures: 0,
  };
}

function bump(m: Record<string, number> | null, key: string): Record<string, number> {
  const out = m ?? {};
  out[key] = (out[key] ?? 0) + 1;
  return out;
}

/** A feasibility checker rejected the node; `reason` is a constraint string or a checker's reason. */
export function filterNode(m: AllocMetric, node: Node, reason: string): void {
  m.NodesFiltered++;
  if (node.NodeClass) m.ClassFiltered = bump(m.ClassFiltered, node.NodeClass);
  if (reason) m.ConstraintFiltered = bump(m.ConstraintFiltered, reason);
}

/** The node passed feasibility but lacks room in `dimension` ("cpu", "memory", ...). */
export function exhaustedNode(m: AllocMetric, node: Node, dimension: string): void {
  m.NodesExhausted++;
  if (node.NodeClass) m.ClassExhausted = bump(m.ClassExhausted, node.NodeClass);
  if (dimension) m.DimensionExhausted = bump(m.DimensionExhausted, dimension);
}

/** Merges one metric into another (the system scheduler keeps one explanation per group). */
export function mergeMetric(into: AllocMetric, from: AllocMetric): void {
  into.NodesEvaluated += from.NodesEvaluated;
  into.NodesFiltered += from.NodesFiltered;
  into.NodesExhausted += from.NodesExhausted;
  const maps = ['ClassFiltered', 'ConstraintFiltered', 'ClassExhausted', 'DimensionExhausted'] as const;
  for (const k of maps) {
    const src = from[k];
    if (!src) continue;
    const dst = into[k] ?? {};
    for (const [key, n] of Object.entries(src)) dst[key] = (dst[key] ?? 0) + n;
    into[k] = dst;
  }
}
