import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { build } from '../testing/builders.js';
import type { Evaluation } from '../structs/index.js';
import { BlockedEvals } from './blocked-evals.js';

function setup() {
  const enqueued: Evaluation[] = [];
  const cancelled: Evaluation[] = [];
  const b = new BlockedEvals({
    logger: nullLogger,
    enqueue: (e) => enqueued.push(e),
    onCancel: (es) => cancelled.push(...es),
  });
  b.setEnabled(true);
  return { b, enqueued, cancelled };
}
const blocked = (job: string, over: Partial<Evaluation> = {}) =>
  build.eval({ Job: build.job({ ID: job }), Status: 'blocked', SnapshotIndex: 10, ...over });

describe('BlockedEvals', () => {
  it('releases an eval when its class frees capacity, not when an ineligible class does', () => {
    const { b, enqueued } = setup();
    const e = blocked('a', { ClassEligibility: { good: true, bad: false } });
    b.block(e);
    b.unblock('bad', 11);
    expect(enqueued).toHaveLength(0);
    b.unblock('good', 12);
    expect(enqueued.map((x) => x.ID)).toEqual([e.ID]);
    expect(b.stats().totalBlocked).toBe(0);
  });

  it('releases on a class it has never seen (a new kind of node may fit)', () => {
    const { b, enqueued } = setup();
    b.block(blocked('a', { ClassEligibility: { old: false } }));
    b.unblock('brand-new', 11);
    expect(enqueued).toHaveLength(1);
  });

  it('releases an escaped eval on any change', () => {
    const { b, enqueued } = setup();
    b.block(blocked('a', { EscapedComputedClass: true, ClassEligibility: { x: false } }));
    b.unblock('x', 11);
    expect(enqueued).toHaveLength(1);
  });

  it('re-enqueues at once an eval that missed an unblock after its snapshot', () => {
    const { b, enqueued } = setup();
    b.unblock('c', 15);
    b.block(blocked('a', { SnapshotIndex: 10, ClassEligibility: { c: true } }));
    expect(enqueued).toHaveLength(1);
    b.block(blocked('b', { SnapshotIndex: 20, ClassEligibility: { c: true } }));
    expect(enqueued).toHaveLength(1);
    expect(b.stats().totalBlocked).toBe(1);
  });

  it('keeps one blocked eval per job, cancelling the older', () => {
    const { b, cancelled } = setup();
    const e1 = blocked('a');
    const e2 = blocked('a');
    b.block(e1);
    b.block(e2);
    expect(cancelled.map((x) => x.ID)).toEqual([e1.ID]);
    expect(b.untrackJob('default', 'a')?.ID).toBe(e2.ID);
    expect(b.stats().totalBlocked).toBe(0);
  });
});
