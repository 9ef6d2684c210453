import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../logging/index.js';
import type { AllocDeploymentStatus, Allocation, TaskGroup, TaskState } from '../structs/index.js';
import { AllocHealthWatcher, healthSettings, type CheckStatusSource, type HealthSettings } from './alloc-health.js';
import { build } from '../testing/builders.js';

const S = 1e9;
const group = (update: Partial<NonNullable<TaskGroup['Update']>> | null): TaskGroup =>
  ({
    Name: 'web',
    Count: 1,
    Tasks: [],
    Update:
      update == null
        ? null
        : build.update({
            HealthCheck: 'task_states',
            MinHealthyTime: 2 * S,
            HealthyDeadline: 30 * S,
            ProgressDeadline: 60 * S,
            ...update,
          }),
    Migrate: { MaxParallel: 1, HealthCheck: 'checks', MinHealthyTime: 5 * S, HealthyDeadline: 60 * S },
  }) as unknown as TaskGroup;

const alloc = (extra: Partial<Allocation> = {}): Allocation =>
  ({
    ID: 'a1',
    DeploymentID: 'd1',
    DeploymentStatus: null,
    DesiredTransition: {},
    ModifyIndex: 7,
    ...extra,
  }) as Allocation;

const state = (s: Partial<TaskState>): TaskState => build.taskState(s);
const running = (): TaskState => state({ State: 'running', StartedAt: new Date(Date.now()).toISOString() });

function watcher(
  settings: Partial<HealthSettings> = {},
  extra: { checkStatus?: CheckStatusSource; alloc?: Allocation; tasks?: string[] } = {},
) {
  const reports: AllocDeploymentStatus[] = [];
  const w = new AllocHealthWatcher({
    alloc: extra.alloc ?? alloc(),
    settings: { healthCheck: 'task_states', minHealthyMs: 2_000, healthyDeadlineMs: 30_000, ...settings },
    watchedTasks: extra.tasks ?? ['main'],
    now: () => Date.now(),
    logger: nullLogger,
    checkStatus: extra.checkStatus,
    checkPollMs: 500,
    onHealth: (s) => reports.push(s),
  });
  return { w, reports };
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('healthSettings', () => {
  it('uses the update block for an allocation of a deployment', () => {
    expect(healthSettings(alloc(), group({}))).toEqual({
      healthCheck: 'task_states',
      minHealthyMs: 2_000,
      healthyDeadlineMs: 30_000,
    });
  });

  it('uses the migrate block for a replacement outside any deployment (the new home of a drained allocation)', () => {
    const a = alloc({ DeploymentID: '', PreviousAllocation: 'drained' });
    expect(healthSettings(a, group({}))).toEqual({
      healthCheck: 'checks',
      minHealthyMs: 5_000,
      healthyDeadlineMs: 60_000,
    });
  });

  it('does not watch the allocation that is leaving a drained node: its replacement is the one that must be healthy', () => {
    expect(
      healthSettings(
        alloc({ DeploymentID: '', PreviousAllocation: '', DesiredTransition: { Migrate: true } }),
        group({}),
      ),
    ).toBeUndefined();
  });

  it('watches nothing when the allocation has no deployment, or already has its health', () => {
    expect(healthSettings(alloc({ DeploymentID: '' }), group({}))).toBeUndefined();
    expect(
      healthSettings(
        alloc({ DeploymentStatus: { Healthy: true, Timestamp: null, Canary: false, ModifyIndex: 1 } }),
        group({}),
      ),
    ).toBeUndefined();
  });
});

describe('AllocHealthWatcher', () => {
  it('reports healthy once every watched task ran for min_healthy_time, and only once', () => {
    const { w, reports } = watcher(
      {},
      { alloc: alloc({ DeploymentStatus: { Healthy: null, Timestamp: null, Canary: true, ModifyIndex: 3 } }) },
    );
    w.observe({ main: running() });
    vi.advanceTimersByTime(1_999);
    expect(reports).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(reports).toEqual([{ Healthy: true, Timestamp: '2026-01-01T00:00:02.000Z', Canary: true, ModifyIndex: 7 }]);
    w.observe({ main: state({ State: 'dead', Failed: true }) });
    vi.advanceTimersByTime(60_000);
    expect(reports).toHaveLength(1);
  });

  it('starts min_healthy_time over when a task restarts', () => {
    const { w, reports } = watcher();
    w.observe({ main: running() });
    vi.advanceTimersByTime(1_500);
    w.observe({ main: state({ State: 'pending', Restarts: 1 }) });
    vi.advanceTimersByTime(1_000);
    w.observe({
      main: state({
        State: 'running',
        Restarts: 1,
        StartedAt: new Date(Date.now() - 5_000).toISOString(),
        LastRestart: new Date().toISOString(),
      }),
    });
    vi.advanceTimersByTime(1_999);
    expect(reports).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(reports.map((r) => r.Healthy)).toEqual([true]);
  });

  it('waits for every watched task and ignores the ones that run to completion', () => {
    const { w, reports } = watcher({}, { tasks: ['main', 'sidecar'] });
    w.observe({ main: running(), sidecar: state({ State: 'pending' }), init: state({ State: 'dead' }) });
    vi.advanceTimersByTime(5_000);
    expect(reports).toHaveLength(0);
    w.observe({ main: running(), sidecar: running(), init: state({ State: 'dead' }) });
    vi.advanceTimersByTime(2_000);
    expect(reports.map((r) => r.Healthy)).toEqual([true]);
  });

  it('reports unhealthy at once when a task fails', () => {
    const { w, reports } = watcher();
    w.observe({ main: running() });
    w.observe({ main: state({ State: 'dead', Failed: true }) });
    expect(reports.map((r) => r.Healthy)).toEqual([false]);
  });

  it('reports unhealthy when healthy_deadline passes first', () => {
    const { w, reports } = watcher({ healthyDeadlineMs: 10_000, minHealthyMs: 20_000 });
    w.observe({ main: running() });
    vi.advanceTimersByTime(10_000);
    expect(reports.map((r) => r.Healthy)).toEqual([false]);
  });

  it('never sets health by itself with health_check = "manual"', () => {
    const { w, reports } = watcher({ healthCheck: 'manual', healthyDeadlineMs: 0 });
    w.observe({ main: running() });
    vi.advanceTimersByTime(600_000);
    expect(reports).toHaveLength(0);
  });

  it('with health_check = "checks", waits for the checks to pass as well', () => {
    let passing = false;
    const { w, reports } = watcher({ healthCheck: 'checks' }, { checkStatus: () => ({ passing }) });
    w.observe({ main: running() });
    vi.advanceTimersByTime(10_000);
    expect(reports).toHaveLength(0);
    passing = true;
    vi.advanceTimersByTime(500);
    vi.advanceTimersByTime(1_999);
    expect(reports).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(reports.map((r) => r.Healthy)).toEqual([true]);
  });

  it('with health_check = "checks" and no check source, rests on task states', () => {
    const { w, reports } = watcher({ healthCheck: 'checks' }, { checkStatus: () => undefined });
    w.observe({ main: running() });
    vi.advanceTimersByTime(2_000);
    expect(reports.map((r) => r.Healthy)).toEqual([true]);
  });

  it('reports nothing after stop', () => {
    const { w, reports } = watcher();
    w.observe({ main: running() });
    w.stop();
    vi.advanceTimersByTime(60_000);
    expect(reports).toHaveLength(0);
  });
});
