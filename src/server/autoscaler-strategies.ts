/**
 * The autoscaler's strategies, with the Nomad autoscaler's semantics, as pure functions of the current count and
 * the metric: each says the count it wants (or none) and why, in words that end up in the scaling event.
 *
 *   target-value  factor = metric / target; within 1 ± threshold: on target; else ceil(count × factor)
 *                 (ceil(factor) from zero)
 *   threshold     metric in [lower_bound, upper_bound) for the last `within_bounds_trigger` evaluations:
 *                 count + delta, count + ceil(count × percentage / 100), or value
 *   pass-through  the metric is the count (rounded up)
 *
 * Several checks are combined by `safestCount`: the largest count wins, so the group keeps the most capacity any
 * check asks for (Nomad's "safest action"). Bounds (min/max) are applied after, by the autoscaler.
 */
import type { StrategySpec } from './autoscaler-policy.js';

export interface StrategyOutcome {
  /** The count the strategy wants; undefined when it wants no change. */
  count: number | undefined;
  reason: string;
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));

function targetValue(s: Extract<StrategySpec, { kind: 'target-value' }>, current: number, metric: number) {
  // Nomad's target-value plugin: with target 0 the factor is the metric itself (0 scales to 0, any load to
  // ceil(count × metric)); from count 0 any positive factor scales up, even one within the threshold.
  const factor = s.target === 0 ? metric : metric / s.target;
  const scaleFromZero = current === 0 && factor > 0;
  if (!scaleFromZero && (current === 0 || (factor >= 1 - s.threshold && factor <= 1 + s.threshold)))
    return {
      count: undefined,
      reason:
        current === 0
          ? `metric ${fmt(metric)} gives nothing to scale up from 0`
          : s.target === 0
            ? `metric ${fmt(metric)} (the factor for target 0) is within ${fmt(s.threshold * 100)}% of 1`
            : `metric ${fmt(metric)} is within ${fmt(s.threshold * 100)}% of target ${fmt(s.target)}`,
    };
  const want = current === 0 ? Math.ceil(factor) : Math.ceil(current * factor);
  const dir = metric > s.target ? 'above' : metric < s.target ? 'below' : 'at';
  return {
    count: want === current ? undefined : want,
    reason: `metric ${fmt(metric)} is ${dir} target ${fmt(s.target)} (factor ${fmt(factor)})`,
  };
}

function inBounds(s: Extract<StrategySpec, { kind: 'threshold' }>, v: number): boolean {
  return (s.lowerBound === undefined || v >= s.lowerBound) && (s.upperBound === undefined || v < s.upperBound);
}

function bounds(s: Extract<StrategySpec, { kind: 'threshold' }>): string {
  return `[${s.lowerBound === undefined ? '-inf' : fmt(s.lowerBound)}, ${s.upperBound === undefined ? '+inf' : fmt(s.upperBound)})`;
}

function threshold(s: Extract<StrategySpec, { kind: 'threshold' }>, current: number, history: readonly number[]) {
  const metric = history[history.length - 1]!;
  const recent = history.slice(-s.withinBoundsTrigger);
  if (recent.length < s.withinBoundsTrigger || !recent.every((v) => inBounds(s, v)))
    return {
      count: undefined,
      reason: `metric ${fmt(metric)} has not been within ${bounds(s)} for ${s.withinBoundsTrigger} evaluation(s)`,
    };
  let want: number;
  if (s.value !== undefined) want = s.value;
  else if (s.delta !== undefined) want = current + s.delta;
  else {
    const change = (current * (s.percentage ?? 0)) / 100;
    want = current + (change >= 0 ? Math.ceil(change) : Math.floor(change));
  }
  want = Math.max(0, Math.round(want));
  return {
    count: want === current ? undefined : want,
    reason: `metric ${fmt(metric)} is within ${bounds(s)}`,
  };
}

/**
 * What one check's strategy wants. `history` is the check's recent metric values, oldest first, the current
 * one last (never empty); only `threshold` looks further back than the last.
 */
export function runStrategy(s: StrategySpec, current: number, history: readonly number[]): StrategyOutcome {
  const metric = history[history.length - 1];
  if (metric === undefined || !Number.isFinite(metric))
    return { count: undefined, reason: `no usable metric value (${String(metric)})` };
  switch (s.kind) {
    case 'target-value':
      return targetValue(s, current, metric);
    case 'threshold':
      return threshold(s, current, history);
    case 'pass-through': {
      const want = Math.max(0, Math.ceil(metric));
      return { count: want === current ? undefined : want, reason: `metric ${fmt(metric)} passed through` };
    }
  }
}

/** Several checks' wishes → the one count to apply: the largest (no wish counts as keeping `current`). */
export function safestCount(current: number, wishes: ReadonlyArray<number | undefined>): number {
  let best: number | undefined;
  for (const w of wishes) best = Math.max(best ?? -Infinity, w ?? current);
  return best ?? current;
}

/** `count` clamped to the scaling block's bounds, with the reason when it was clamped. */
export function clampCount(count: number, min: number, max: number): { count: number; clamped?: string } {
  if (count > max) return { count: max, clamped: `capped at max ${max} (wanted ${count})` };
  if (count < min) return { count: min, clamped: `held at min ${min} (wanted ${count})` };
  return { count };
}
