import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RestartTracker, defaultRestartPolicy } from './restart-tracker.js';
import { formatGoDuration } from '../lib/duration.js';

const policy = (over = {}) => ({ Attempts: 2, Interval: 60e9, Delay: 15e9, Mode: 'fail', ...over });
const fail = { exitCode: 1, signal: 0, killed: false };

describe('restart tracker', () => {
  it("restarts within the attempts with Nomad's delay plus up to 25% jitter, then stops in mode fail", () => {
    let now = 1_000;
    const t = new RestartTracker(
      policy(),
      'service',
      () => now,
      () => 0.999,
    );
    const a = t.onExit(fail);
    expect(a.kind).toBe('restart');
    expect(a.kind === 'restart' && a.delayMs).toBeGreaterThanOrEqual(15_000);
    expect(a.kind === 'restart' && a.delayMs).toBeLessThan(15_000 * 1.25);
    now += 20_000;
    expect(t.onExit(fail).kind).toBe('restart');
    now += 20_000;
    expect(t.onExit(fail)).toEqual({
      kind: 'not-restarting',
      reason: 'Exceeded allowed attempts 2 in interval 1m0s and mode is "fail"',
    });
  });

  it('waits until the interval ends in mode delay, then allows a fresh set of attempts', () => {
    let now = 0 + 1;
    const t = new RestartTracker(
      policy({ Mode: 'delay', Attempts: 1 }),
      'service',
      () => now,
      () => 0,
    );
    expect(t.onExit(fail)).toMatchObject({ kind: 'restart', delayMs: 15_000 });
    now += 10_000;
    expect(t.onExit(fail)).toEqual({
      kind: 'restart',
      delayMs: 50_000,
      reason: 'Exceeded allowed attempts, applying a delay',
    });
    now += 50_000;
    expect(t.onExit(fail)).toMatchObject({ kind: 'restart', delayMs: 15_000 });
  });

  it('treats a successful exit as done for batch jobs and as a restart for services', () => {
    const ok = { exitCode: 0, signal: 0, killed: false };
    expect(
      new RestartTracker(
        policy(),
        'batch',
        () => 1,
        () => 0,
      ).onExit(ok),
    ).toEqual({ kind: 'terminated' });
    expect(
      new RestartTracker(
        policy(),
        'service',
        () => 1,
        () => 0,
      ).onExit(ok).kind,
    ).toBe('restart');
  });

  it('never restarts after an unrecoverable start error, nor a killed task', () => {
    const t = new RestartTracker(
      policy(),
      'service',
      () => 1,
      () => 0,
    );
    expect(t.onStartError(false)).toEqual({ kind: 'not-restarting', reason: 'Error was unrecoverable' });
    expect(t.onStartError(true).kind).toBe('restart');
    expect(t.onExit({ ...fail, killed: true })).toEqual({ kind: 'killed' });
  });

  it('says "Policy allows no restarts" when attempts is 0', () => {
    expect(
      new RestartTracker(
        policy({ Attempts: 0 }),
        'service',
        () => 1,
        () => 0,
      ).onExit(fail),
    ).toEqual({ kind: 'not-restarting', reason: 'Policy allows no restarts' });
  });

  it('never allows more than Attempts restarts within one interval in mode fail (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: 30 }),
        (attempts, gaps) => {
          let now = 1;
          const t = new RestartTracker(policy({ Attempts: attempts }), 'service', () => now, Math.random);
          const restarts: number[] = [];
          for (const g of gaps) {
            now += g;
            const d = t.onExit(fail);
            if (d.kind !== 'restart') break;
            restarts.push(now);
          }
          // A window of attempts starts at the first failure after the previous window ended, so any span of one
          // Interval overlaps at most two windows.
          for (const begin of restarts)
            expect(restarts.filter((r) => r >= begin && r - begin <= 60_000).length).toBeLessThanOrEqual(2 * attempts);
          // And failures packed into one Interval get exactly `attempts` restarts.
          const packed = gaps.reduce((a, b) => a + b, 0) <= 60_000;
          if (packed) expect(restarts.length).toBe(Math.min(attempts, gaps.length));
        },
      ),
    );
  });

  it("uses Nomad's default policies by job type", () => {
    expect(defaultRestartPolicy('service')).toMatchObject({ Attempts: 2, Mode: 'fail', Delay: 15e9 });
    expect(defaultRestartPolicy('batch')).toMatchObject({ Attempts: 3, Mode: 'fail' });
  });
});

describe('Go duration format', () => {
  it('formats like time.Duration.String()', () => {
    expect([0, 250e6, 15e9, 15.5e9, 60e9, 90e9, 3600e9, 1500].map(formatGoDuration)).toEqual([
      '0s',
      '250ms',
      '15s',
      '15.5s',
      '1m0s',
      '1m30s',
      '1h0m0s',
      '1.5µs',
    ]);
  });
});
