import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ServiceCheckResult, ServiceHealthStatus } from '../structs/index.js';
import { CheckRunner, type RestartRequest } from './check-runner.js';
import { CheckRestartTracker, CheckStatusTracker, deploymentHealthy } from './check-state.js';
import { ManualClock } from './clock.js';
import type { ProbeResult } from './probes.js';
import type { ResolvedCheck } from './registrations.js';
import { resolvedCheck } from './testing/fixtures.js';

const check = resolvedCheck;

/** A probe that answers from a script of statuses, then repeats the last one. */
function scripted(statuses: ServiceHealthStatus[]) {
  let i = 0;
  const calls: number[] = [];
  return {
    calls,
    probe: async (): Promise<ProbeResult> => {
      calls.push(i);
      const s = statuses[Math.min(i++, statuses.length - 1)]!;
      return { status: s, output: `result ${i}` };
    },
  };
}

const stops: AbortController[] = [];
afterEach(() => {
  for (const c of stops.splice(0)) c.abort();
});

function run(
  checks: ResolvedCheck[],
  probes: Record<string, (c: ResolvedCheck, s: AbortSignal) => Promise<ProbeResult>>,
  clock = new ManualClock(),
) {
  const ctl = new AbortController();
  stops.push(ctl);
  const changes: Array<{ status: ServiceHealthStatus; results: ServiceCheckResult[] }> = [];
  const restarts: RestartRequest[] = [];
  const runner = new CheckRunner({
    checks,
    signal: ctl.signal,
    clock,
    probes,
    onStatusChange: (status, results) => changes.push({ status, results }),
    onRestartNeeded: (r) => restarts.push(r),
  });
  const done = runner.start();
  return { runner, clock, ctl, changes, restarts, done };
}

describe('CheckRunner', () => {
  it('probes at once, then every interval, and reports only status changes', async () => {
    const p = scripted(['passing', 'passing', 'critical', 'critical', 'passing']);
    const { runner, clock, changes } = run([check()], { tcp: p.probe });
    await clock.advance(0);
    expect(p.calls).toHaveLength(1);
    expect(runner.status).toBe('passing');
    await clock.advance(999);
    expect(p.calls).toHaveLength(1);
    await clock.advance(1);
    expect(p.calls).toHaveLength(2);
    await clock.advance(3000);
    expect(p.calls).toHaveLength(5);
    expect(changes.map((c) => c.status)).toEqual(['passing', 'critical', 'passing']);
    expect(changes[1]?.results[0]).toMatchObject({
      CheckID: 'c1',
      Name: 'alive',
      Status: 'critical',
      Output: 'result 3',
    });
    expect(changes[1]?.results[0]?.Timestamp).toBe((1_700_000_000_000 + 2000) * 1_000_000);
  });

  it('aggregates to the worst status of its checks, and passing with none', async () => {
    const empty = run([], {});
    await empty.clock.advance(10);
    expect(empty.runner.status).toBe('passing');
    const { runner, clock } = run([check({ CheckID: 'a', Type: 'tcp' }), check({ CheckID: 'b', Type: 'http' })], {
      tcp: async () => ({ status: 'passing', output: '' }),
      http: async () => ({ status: 'warning', output: '' }),
    });
    await clock.advance(0);
    expect(runner.status).toBe('warning');
    expect(runner.results().map((r) => r.Status)).toEqual(['passing', 'warning']);
  });

  it('turns a probe that outlives its timeout into a critical result and aborts it', async () => {
    let aborted = false;
    const hang = (_c: ResolvedCheck, s: AbortSignal) =>
      new Promise<ProbeResult>(() => {
        s.addEventListener('abort', () => (aborted = true));
      });
    const { runner, clock } = run([check({ InitialStatus: 'passing', TimeoutMs: 200 })], { tcp: hang });
    await clock.advance(199);
    expect(runner.status).toBe('passing');
    await clock.advance(1);
    expect(runner.status).toBe('critical');
    expect(runner.results()[0]?.Output).toContain('timed out');
    expect(aborted).toBe(true);
  });

  it('waits for success_before_passing consecutive successes', async () => {
    const p = scripted(['passing', 'critical', 'passing', 'passing', 'passing']);
    const { runner, clock } = run([check({ SuccessBeforePassing: 3 })], { tcp: p.probe });
    await clock.advance(3000);
    expect(p.calls).toHaveLength(4);
    expect(runner.status).toBe('critical');
    await clock.advance(1000);
    expect(runner.status).toBe('passing');
  });

  it('goes warning then critical with failures_before_warning and failures_before_critical', async () => {
    const p = scripted(['passing', 'critical', 'critical', 'critical', 'critical']);
    const { runner, clock, changes } = run([check({ FailuresBeforeWarning: 2, FailuresBeforeCritical: 4 })], {
      tcp: p.probe,
    });
    await clock.advance(0);
    expect(runner.status).toBe('passing');
    await clock.advance(1000);
    expect(runner.status).toBe('passing');
    await clock.advance(1000);
    expect(runner.status).toBe('warning');
    await clock.advance(2000);
    expect(runner.status).toBe('critical');
    expect(changes.map((c) => c.status)).toEqual(['passing', 'warning', 'critical']);
  });

  it('asks for a restart after limit unhealthy results past the grace period, once per streak', async () => {
    const p = scripted(['critical']);
    const { clock, restarts } = run(
      [check({ InitialStatus: 'passing', CheckRestart: { Limit: 3, GraceMs: 2500, IgnoreWarnings: false } })],
      { tcp: p.probe },
    );
    // t=0,1000,2000 are inside the grace period; t=3000,4000,5000 count.
    await clock.advance(4000);
    expect(restarts).toHaveLength(0);
    await clock.advance(1000);
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({ checkID: 'c1', checkName: 'alive', status: 'critical' });
    // After the restart at t=5000 the grace period runs to t=7500; t=8000,9000,10000 count.
    await clock.advance(4000);
    expect(restarts).toHaveLength(1);
    await clock.advance(1000);
    expect(restarts).toHaveLength(2);
  });

  it('does not count warnings toward a restart with ignore_warnings', async () => {
    const { clock, restarts } = run([check({ CheckRestart: { Limit: 1, GraceMs: 0, IgnoreWarnings: true } })], {
      tcp: async () => ({ status: 'warning', output: '' }),
    });
    await clock.advance(5000);
    expect(restarts).toHaveLength(0);
  });

  it('stops every loop when the signal aborts and drops results in flight', async () => {
    let release: (r: ProbeResult) => void = () => {};
    const slow = () => new Promise<ProbeResult>((r) => (release = r));
    const { runner, clock, ctl, done, changes } = run([check({ TimeoutMs: 10_000 })], { tcp: slow });
    await clock.advance(10);
    ctl.abort();
    release({ status: 'passing', output: '' });
    await done;
    expect(changes).toHaveLength(0);
    expect(runner.status).toBe('critical');
    expect(clock.pending).toBe(0);
  });

  it('reports a probe that throws as critical with its message', async () => {
    const { runner, clock } = run([check({ InitialStatus: 'passing' })], {
      tcp: async () => {
        throw new Error('boom');
      },
    });
    await clock.advance(0);
    expect(runner.results()[0]).toMatchObject({ Status: 'critical', Output: 'boom' });
  });
});

describe('CheckStatusTracker', () => {
  it('with no thresholds, always reports the latest result (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<ServiceHealthStatus>('passing', 'warning', 'critical'), { minLength: 1 }),
        (xs) => {
          const t = new CheckStatusTracker({
            InitialStatus: 'critical',
            SuccessBeforePassing: 0,
            FailuresBeforeCritical: 0,
            FailuresBeforeWarning: 0,
          });
          return xs.every((x) => t.apply(x) === x);
        },
      ),
    );
  });

  it('never becomes critical before failures_before_critical consecutive failures (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { maxLength: 40 }), (fbc, oks) => {
        const t = new CheckStatusTracker({
          InitialStatus: 'passing',
          SuccessBeforePassing: 0,
          FailuresBeforeCritical: fbc,
          FailuresBeforeWarning: 0,
        });
        let streak = 0;
        for (const ok of oks) {
          streak = ok ? 0 : streak + 1;
          const s = t.apply(ok ? 'passing' : 'critical');
          if (s === 'critical' && streak < fbc) return false;
          if (streak >= fbc && s !== 'critical') return false;
        }
        return true;
      }),
    );
  });
});

describe('CheckRestartTracker', () => {
  it('resets the streak on a healthy status', () => {
    const t = new CheckRestartTracker({ Limit: 2, GraceMs: 0, IgnoreWarnings: false }, 0);
    expect(t.observe('critical', 1)).toBe(false);
    expect(t.observe('passing', 2)).toBe(false);
    expect(t.observe('warning', 3)).toBe(false);
    expect(t.observe('critical', 4)).toBe(true);
  });
});

describe('deploymentHealthy', () => {
  it('honours on_update per check', () => {
    expect(deploymentHealthy([{ OnUpdate: 'require_healthy', Status: 'passing' }])).toBe(true);
    expect(deploymentHealthy([{ OnUpdate: 'require_healthy', Status: 'warning' }])).toBe(false);
    expect(deploymentHealthy([{ OnUpdate: 'ignore_warnings', Status: 'warning' }])).toBe(true);
    expect(deploymentHealthy([{ OnUpdate: 'ignore_warnings', Status: 'critical' }])).toBe(false);
    expect(
      deploymentHealthy([
        { OnUpdate: 'ignore', Status: 'critical' },
        { OnUpdate: 'require_healthy', Status: 'passing' },
      ]),
    ).toBe(true);
  });
});
