import { afterEach, describe, expect, it } from 'vitest';
import { MockDriver } from '../drivers/index.js';
import type { DriverEventSink, ExitResult, TaskConfig, TaskDriver, TaskHandle } from '../drivers/index.js';
import type { TaskState } from '../structs/index.js';
import { type Client } from './index.js';
import { FakeServer, startTestClient, testAlloc, testJob, testTask } from './testing/index.js';

/**
 * A mock driver that reports events as docker and exec do: a pull message while starting, and "OOM Killed"
 * just before the wait of an OOM-killed run resolves (its `run_for` exits are OOM kills).
 */
class EventingDriver extends MockDriver {
  sink: DriverEventSink = () => {};
  override async startTask(cfg: TaskConfig, signal?: AbortSignal): Promise<{ handle: TaskHandle }> {
    this.sink(cfg.id, 'Driver', `Pulling Image ${String(cfg.config.image ?? 'x')}`);
    return super.startTask(cfg, signal);
  }
  override async waitTask(taskID: string, signal?: AbortSignal): Promise<ExitResult> {
    const r = await super.waitTask(taskID, signal);
    if (r.signal === 9) return r;
    this.sink(taskID, 'OOM Killed', 'OOM Killed');
    return { ...r, exitCode: 137, signal: 9, oomKilled: true };
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startClient(server: FakeServer, driver: TaskDriver & { sink: DriverEventSink }): Promise<Client> {
  return startTestClient(cleanups, server, {
    drivers: [driver],
    timing: { allocUpdateBatchMs: 20, allocWatchWaitMs: 2_000 },
    beforeStart: (client) => (driver.sink = (id, type, msg) => client.driverEvent(id, type, msg)),
  });
}

const events = (s: TaskState | undefined) => (s?.Events ?? []).map((e) => `${e.Type}: ${e.DisplayMessage}`);

describe('driver events on task states', () => {
  it('records a driver message and an OOM kill as task events, once each, and restarts per the policy', async () => {
    const server = new FakeServer();
    const client = await startClient(server, new EventingDriver());
    const task = testTask(
      'main',
      'mock_driver',
      { run_for: '150ms', image: 'app:1' },
      { RestartPolicy: { Attempts: 1, Interval: 60e9, Delay: 50e6, Mode: 'fail' } },
    );
    const a = server.place(testAlloc(testJob([task]), client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.TaskStates?.main?.State === 'dead', { timeout: 5_000 }).toBe(true);
    const state = server.allocs.get(a.ID)!.TaskStates!.main!;
    const evs = events(state);
    expect(evs).toContain('Driver: Pulling Image app:1');
    // Two runs, each OOM-killed once: the driver's event, and no second one from the exit.
    expect(evs.filter((e) => e.startsWith('OOM Killed'))).toHaveLength(2);
    expect(evs).toContain('Terminated: Exit Code: 137, Signal: 9, OOM Killed');
    expect(evs.some((e) => e.startsWith('Restarting'))).toBe(true);
    expect(state.Restarts).toBe(1);
    expect(state.Failed).toBe(true);
  });

  it('drops events for task IDs it does not run', async () => {
    const server = new FakeServer();
    const client = await startClient(server, new EventingDriver());
    const a = server.place(testAlloc(testJob([testTask('main', 'mock_driver', {})]), client.nodeID));
    await expect
      .poll(() => server.allocs.get(a.ID)?.TaskStates?.main?.State === 'running', { timeout: 5_000 })
      .toBe(true);
    const before = events(client.allocRunner(a.ID)!.task('main')!.state).length;
    client.driverEvent(`${a.ID}/main/stale`, 'Driver', 'from an earlier start');
    client.driverEvent('no-such-alloc/main/x', 'Driver', 'nobody');
    client.driverEvent('garbage', 'Driver', 'nobody');
    expect(events(client.allocRunner(a.ID)!.task('main')!.state)).toHaveLength(before);
  });
});
