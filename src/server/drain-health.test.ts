/**
 * A drain moves a node's next batch only once the previous batch's replacements are healthy by the migrate
 * block: the client watches a replacement's health with the migrate block's min_healthy_time (on a fake
 * clock here) and the drainer waits for that report, not for the replacement merely running.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AllocHealthWatcher, healthSettings } from '../client/index.js';
import { nullLogger } from '../logging/index.js';
import { newScheduler } from '../scheduler/index.js';
import { build } from '../testing/builders.js';
import type { AllocDeploymentStatus, Allocation, Job, TaskState } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

const S = 1e9;
let s: Server | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await s?.stop();
  s = undefined;
});

const live = (srv: Server, nodeID: string) =>
  srv.store
    .snapshot()
    .allocsByNode(nodeID)
    .filter((a) => a.DesiredStatus === 'run' && !['complete', 'failed', 'lost'].includes(a.ClientStatus));

/** A client update; `health` null says the client watches the health and has no verdict yet. */
async function report(srv: Server, allocs: Allocation[], health?: AllocDeploymentStatus | null): Promise<void> {
  await srv.updateAllocs(
    allocs.map((a) => ({
      ID: a.ID,
      ClientStatus: 'running',
      ClientDescription: '',
      TaskStates: {},
      ...(health !== undefined ? { DeploymentStatus: health } : {}),
    })),
  );
}

/** The client side on a fake clock: what the health watcher reports for `a` at each offset (ms) after its task started. */
function watchOnFakeClock(a: Allocation, offsets: number[]): Array<AllocDeploymentStatus | undefined> {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  try {
    const group = a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)!;
    const settings = healthSettings(a, group);
    expect(settings).toEqual({ healthCheck: 'task_states', minHealthyMs: 5_000, healthyDeadlineMs: 60_000 });
    let reported: AllocDeploymentStatus | undefined;
    const w = new AllocHealthWatcher({
      alloc: a,
      settings: settings!,
      watchedTasks: ['srv'],
      now: () => Date.now(),
      logger: nullLogger,
      onHealth: (st) => (reported = st),
    });
    const running: TaskState = {
      State: 'running',
      Failed: false,
      Restarts: 0,
      LastRestart: null,
      StartedAt: new Date().toISOString(),
      FinishedAt: null,
      Events: [],
    };
    w.observe({ srv: running });
    const seen: Array<AllocDeploymentStatus | undefined> = [];
    let at = 0;
    for (const t of offsets) {
      vi.advanceTimersByTime(t - at);
      at = t;
      seen.push(reported);
    }
    w.stop();
    return seen;
  } finally {
    vi.useRealTimers();
  }
}

describe('drain migration health', () => {
  it("waits for the replacement to be healthy for the migrate block's min_healthy_time before moving the next allocation", async () => {
    s = await testServer({ newScheduler, periodicTimer: false, drainer: false });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const job = build.job({ ID: 'web' });
    job.TaskGroups[0]!.Count = 2;
    job.TaskGroups[0]!.Migrate = {
      MaxParallel: 1,
      HealthCheck: 'task_states',
      MinHealthyTime: 5 * S,
      HealthyDeadline: 60 * S,
    };
    // No rolling updates (max_parallel = 0), so no deployment: admission would otherwise fill the default update
    // block, and the migrate block's health settings are the ones under test.
    job.Update = { MaxParallel: 0 } as Job['Update'];
    await s.jobs.register(job);
    await expect.poll(() => live(s!, 'n1').length === 2, { timeout: 3000, message: 'placed on n1' }).toBeTruthy();
    await report(s, live(s, 'n1'));
    await s.nodeRegister(build.node({ ID: 'n2' }));

    await s.nodes.updateDrain('n1', { DrainSpec: { Deadline: 3600e9, IgnoreSystemJobs: false } });
    expect((await s.drainer.step()).migrate).toHaveLength(1);
    const [replacement] = await vi.waitUntil(() => (live(s!, 'n2').length === 1 ? live(s!, 'n2') : false), {
      timeout: 3000,
    });
    expect(replacement!.PreviousAllocation).not.toBe('');

    // Running, but the client has not found it healthy yet: the second allocation stays.
    await report(s, [replacement!], null);
    expect((await s.drainer.step()).migrate).toHaveLength(0);

    const [before, after] = watchOnFakeClock(replacement!, [4_999, 5_000]);
    expect(before).toBeUndefined();
    expect(after).toMatchObject({ Healthy: true });
    await report(s, [replacement!], after);
    expect((await s.drainer.step()).migrate).toHaveLength(1);
  });
});
