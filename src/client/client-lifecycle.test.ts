import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MockDriver } from '../drivers/index.js';
import type { TaskState } from '../structs/index.js';
import { type Client, type ClientTiming } from './index.js';
import { FakeServer, startTestClient, tempDataDir, testAlloc, testJob, testTask } from './testing/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(
  server: FakeServer,
  drivers = [new MockDriver()],
  timing: Partial<ClientTiming> = {},
): Promise<{ client: Client; dir: string }> {
  const dir = tempDataDir(cleanups);
  const client = await startTestClient(cleanups, server, {
    dataDir: dir,
    drivers,
    timing: { allocUpdateBatchMs: 20, ...timing },
  });
  return { client, dir };
}

const state = (server: FakeServer, id: string, task: string): TaskState | undefined =>
  server.allocs.get(id)?.TaskStates?.[task];

describe('client agent: lifecycle, updates, GC and drivers', () => {
  it("builds Nomad's alloc dir layout", async () => {
    const server = new FakeServer();
    const { client, dir } = await start(server);
    const a = server.place(testAlloc(testJob([testTask('main', 'mock_driver', {})]), client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    for (const p of [
      'alloc/data',
      'alloc/logs',
      'alloc/tmp',
      'main/local',
      'main/secrets',
      'main/tmp',
      'alloc/logs/main.stdout.0',
      'alloc/logs/main.stderr.0',
    ])
      expect(existsSync(join(dir, 'alloc', a.ID, p))).toBe(true);
  });

  it('runs prestart tasks to completion before the main task, and poststop tasks after it', async () => {
    const server = new FakeServer();
    const { client } = await start(server);
    const job = testJob(
      [
        testTask('main', 'mock_driver', { run_for: '150ms' }),
        testTask('init', 'mock_driver', { run_for: '100ms' }, { Lifecycle: { Hook: 'prestart', Sidecar: false } }),
        testTask('side', 'mock_driver', {}, { Lifecycle: { Hook: 'prestart', Sidecar: true } }),
        testTask('cleanup', 'mock_driver', { run_for: '10ms' }, { Lifecycle: { Hook: 'poststop', Sidecar: false } }),
      ],
      { Type: 'batch' },
    );
    const a = server.place(testAlloc(job, client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    const at = (t: string, type: string) => state(server, a.ID, t)!.Events.find((e) => e.Type === type)!.Time;
    expect(at('main', 'Started')).toBeGreaterThanOrEqual(at('init', 'Terminated'));
    expect(at('cleanup', 'Started')).toBeGreaterThanOrEqual(at('main', 'Terminated'));
    expect(state(server, a.ID, 'side')!.Events.map((e) => e.Type)).toContain('Killed');
    expect(Object.values(server.allocs.get(a.ID)!.TaskStates!).every((s) => s.State === 'dead' && !s.Failed)).toBe(
      true,
    );
  });

  it('kills the siblings of a failed task and fails the allocation', async () => {
    const server = new FakeServer();
    const { client } = await start(server);
    const job = testJob([
      testTask(
        'bad',
        'mock_driver',
        { run_for: '50ms', exit_code: 2 },
        { RestartPolicy: { Attempts: 0, Interval: 60e9, Delay: 1e6, Mode: 'fail' } },
      ),
      testTask('good', 'mock_driver', {}),
    ]);
    const a = server.place(testAlloc(job, client.nodeID));
    await expect
      .poll(() => server.allocs.get(a.ID)?.ClientStatus === 'failed' && state(server, a.ID, 'good')?.State === 'dead', {
        timeout: 5_000,
      })
      .toBe(true);
    const sib = state(server, a.ID, 'good')!.Events.find((e) => e.Type === 'Sibling Task Failed')!;
    expect(sib.DisplayMessage).toBe('Task\'s sibling "bad" failed');
  });

  it('updates an allocation in place without restarting its task', async () => {
    const server = new FakeServer();
    const { client } = await start(server);
    const a = server.place(testAlloc(testJob([testTask('main', 'mock_driver', {})]), client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    const handle = client.allocRunner(a.ID)!.task('main')!.handle;
    const updated = structuredClone(server.allocs.get(a.ID)!);
    updated.Job.Version = 1;
    server.place(updated);
    await expect.poll(() => client.allocRunner(a.ID)!.alloc.Job.Version === 1, { timeout: 5_000 }).toBe(true);
    expect(client.allocRunner(a.ID)!.task('main')!.handle).toBe(handle);
    expect(state(server, a.ID, 'main')!.Events.filter((e) => e.Type === 'Started')).toHaveLength(1);
  });

  it('garbage-collects terminal allocations beyond the limit, removing their alloc dir', async () => {
    const server = new FakeServer();
    const { client, dir } = await start(server, undefined, { gcIntervalMs: 50, gcMaxAllocs: 0 });
    const a = server.place(
      testAlloc(testJob([testTask('main', 'mock_driver', { run_for: '10ms' })], { Type: 'batch' }), client.nodeID),
    );
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    await expect.poll(() => client.allocRunner(a.ID) === undefined, { timeout: 5_000 }).toBe(true);
    expect(existsSync(join(dir, 'alloc', a.ID))).toBe(false);
    await expect.poll(() => !existsSync(join(dir, 'client', 'allocs', `${a.ID}.json`)), { timeout: 5_000 }).toBe(true);
  });

  it('re-registers the node when a driver becomes unhealthy', async () => {
    const server = new FakeServer();
    const mock = new MockDriver();
    const { client } = await start(server, [mock], { fingerprintIntervalMs: 50 });
    await expect
      .poll(() => server.nodes.get(client.nodeID)?.Drivers.mock_driver?.Healthy === true, { timeout: 5_000 })
      .toBe(true);
    mock.healthy = false;
    await expect
      .poll(() => server.nodes.get(client.nodeID)?.Drivers.mock_driver?.Healthy === false, { timeout: 5_000 })
      .toBe(true);
    expect(server.nodes.get(client.nodeID)!.Attributes['driver.mock_driver']).toBeUndefined();
  });

  it('fails a task whose driver this client does not have', async () => {
    const server = new FakeServer();
    const { client } = await start(server);
    const a = server.place(testAlloc(testJob([testTask('main', 'docker', { image: 'x' })]), client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'failed', { timeout: 5_000 }).toBe(true);
    expect(state(server, a.ID, 'main')!.Events.at(-1)!.DisplayMessage).toBe(
      'driver "docker" is not available on this client',
    );
  });
});
