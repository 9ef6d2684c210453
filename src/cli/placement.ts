/**
 * Explaining placements the way nomad does: why a task group could not be placed (nodes filtered by which
 * constraint, resources exhausted in which dimension), from the scheduler's AllocMetric.
 */
import type { AllocMetric } from '../structs/index.js';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function sortedEntries(m: Record<string, number> | null | undefined): [string, number][] {
  return Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b));
}

/** The `* ...` lines for one metric, each prefixed by `prefix`. */
export function formatAllocMetrics(m: AllocMetric, prefix = ''): string[] {
  const lines: string[] = [];
  if (m.NodesEvaluated === 0) lines.push('* No nodes were eligible for evaluation');
  for (const [dc, available] of sortedEntries(m.NodesAvailable)) {
    if (available === 0) lines.push(`* No nodes are available in datacenter "${dc}"`);
  }
  for (const [cls, n] of sortedEntries(m.ClassFiltered)) lines.push(`* Class "${cls}": ${n} nodes excluded by filter`);
  for (const [c, n] of sortedEntries(m.ConstraintFiltered))
    lines.push(`* Constraint "${c}": ${n} nodes excluded by filter`);
  if (m.NodesExhausted > 0) lines.push(`* Resources exhausted on ${m.NodesExhausted} nodes`);
  for (const [cls, n] of sortedEntries(m.ClassExhausted)) lines.push(`* Class "${cls}" exhausted on ${n} nodes`);
  for (const [dim, n] of sortedEntries(m.DimensionExhausted))
    lines.push(`* Dimension "${dim}" exhausted on ${n} nodes`);
  for (const q of m.QuotaExhausted ?? []) lines.push(`* Quota limit hit "${q}"`);
  return lines.map((l) => prefix + l);
}

/** `Task Group "web" (failed to place 2 allocations):` followed by the indented reasons, per group. */
export function formatFailedPlacements(failed: Record<string, AllocMetric> | null | undefined, indentBy = 0): string[] {
  const pad = ' '.repeat(indentBy);
  const lines: string[] = [];
  for (const [tg, m] of Object.entries(failed ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`${pad}Task Group "${tg}" (failed to place ${plural((m.CoalescedFailures ?? 0) + 1, 'allocation')}):`);
    lines.push(...formatAllocMetrics(m, `${pad}  `));
  }
  return lines;
}
