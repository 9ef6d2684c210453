import { describe, expect, it } from 'vitest';
import { clampCount, runStrategy, safestCount } from './autoscaler-strategies.js';
import type { StrategySpec } from './autoscaler-policy.js';

const target = (t: number, threshold = 0.01): StrategySpec => ({ kind: 'target-value', target: t, threshold });
const thresholdSpec = (over: Partial<Extract<StrategySpec, { kind: 'threshold' }>>): StrategySpec => ({
  kind: 'threshold',
  withinBoundsTrigger: 1,
  ...over,
});

describe('target-value', () => {
  it('scales by the ratio of the metric to the target, rounding up', () => {
    expect(runStrategy(target(50), 2, [80]).count).toBe(4);
    expect(runStrategy(target(50), 3, [60]).count).toBe(4);
    expect(runStrategy(target(50), 4, [10]).count).toBe(1);
  });

  it('wants no change while the metric is within the threshold of the target', () => {
    const out = runStrategy(target(50, 0.1), 2, [54]);
    expect(out.count).toBeUndefined();
    expect(out.reason).toMatch(/within 10% of target 50/);
  });

  it('says which way the metric is off and by what factor', () => {
    expect(runStrategy(target(50), 2, [100]).reason).toBe('metric 100 is above target 50 (factor 2)');
    expect(runStrategy(target(50), 2, [0]).reason).toBe('metric 0 is below target 50 (factor 0)');
  });

  it('scales from zero to the factor itself', () => {
    expect(runStrategy(target(10), 0, [35]).count).toBe(4);
  });

  it('scales up from zero even when the metric is at the target', () => {
    expect(runStrategy(target(10), 0, [10]).count).toBe(1);
    expect(runStrategy(target(10, 0.5), 0, [8]).count).toBe(1);
    expect(runStrategy(target(10), 0, [0]).count).toBeUndefined();
  });

  it('takes the metric itself as the factor when the target is zero', () => {
    expect(runStrategy(target(0), 0, [3]).count).toBe(3);
    expect(runStrategy(target(0), 0, [0]).count).toBeUndefined();
    expect(runStrategy(target(0), 4, [0]).count).toBe(0);
    expect(runStrategy(target(0), 2, [2.5]).count).toBe(5);
    expect(runStrategy(target(0, 0.1), 2, [1]).count).toBeUndefined();
  });

  it('wants nothing from a metric that is not a finite number', () => {
    expect(runStrategy(target(50), 2, [Number.NaN]).count).toBeUndefined();
  });
});

describe('threshold', () => {
  it('adds the delta while the metric is within [lower, upper)', () => {
    const s = thresholdSpec({ lowerBound: 70, upperBound: 100, delta: 2 });
    expect(runStrategy(s, 3, [70]).count).toBe(5);
    expect(runStrategy(s, 3, [100]).count).toBeUndefined();
    expect(runStrategy(s, 3, [69.9]).count).toBeUndefined();
  });

  it('needs within_bounds_trigger consecutive evaluations in bounds', () => {
    const s = thresholdSpec({ lowerBound: 70, delta: 1, withinBoundsTrigger: 3 });
    expect(runStrategy(s, 2, [80, 90]).count).toBeUndefined();
    expect(runStrategy(s, 2, [50, 80, 90]).count).toBeUndefined();
    expect(runStrategy(s, 2, [75, 80, 90]).count).toBe(3);
  });

  it('applies a percentage change, rounded away from the current count', () => {
    expect(runStrategy(thresholdSpec({ lowerBound: 0, percentage: 50 }), 3, [1]).count).toBe(5);
    expect(runStrategy(thresholdSpec({ upperBound: 20, percentage: -50 }), 3, [1]).count).toBe(1);
  });

  it('sets an exact value', () => {
    expect(runStrategy(thresholdSpec({ upperBound: 5, value: 1 }), 4, [0]).count).toBe(1);
  });
});

describe('pass-through', () => {
  it('takes the metric as the count, rounded up', () => {
    expect(runStrategy({ kind: 'pass-through' }, 1, [6.2]).count).toBe(7);
    expect(runStrategy({ kind: 'pass-through' }, 7, [7]).count).toBeUndefined();
  });
});

describe('combining checks and bounds', () => {
  it('keeps the most capacity any check asks for', () => {
    expect(safestCount(3, [1, 5, undefined])).toBe(5);
    expect(safestCount(3, [1, 2])).toBe(2);
    // A check that wants no change keeps the current count against one that scales in.
    expect(safestCount(3, [1, undefined])).toBe(3);
  });

  it('clamps to min and max and says so', () => {
    expect(clampCount(9, 2, 4)).toEqual({ count: 4, clamped: 'capped at max 4 (wanted 9)' });
    expect(clampCount(0, 2, 4)).toEqual({ count: 2, clamped: 'held at min 2 (wanted 0)' });
    expect(clampCount(3, 2, 4)).toEqual({ count: 3 });
  });
});
