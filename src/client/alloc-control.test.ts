import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MockDriver, RawExecDriver } from '../drivers/index.js';
import { isDroverError } from '../errors/index.js';
import type { TaskState } from '../structs/index.js';
import { type Client } from './index.js';
import { FakeServer, startTestClient, tempDataDir, testAlloc, testJob, testTask } from './testing/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startClient(server: FakeServer): Promise<Client> {
  return startTestClient(cleanups, server, {
    nodeName: 'node-1',
    drivers: [new RawExecDriver({ enabled: true, pollIntervalMs: 50 }), new MockDriver()],
  });
}

/** One failure ends the task: any restart counted against the policy would show as a failed task. */
const noRetries = { Attempts: 1, Interval: 600e9, Delay: 50e6, Mode: 'fail' };
const state = (server: FakeServer, id: string, task = 'main'): TaskState | undefined =>
  server.allocs.get(id)?.TaskStates?.[task];
const types = (s: TaskState | undefined) => (s?.Events ?? []).map((e) => e.Type);

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('user restart and signal of an allocation', () => {
  it('restarts a running task without using its restart policy attempts', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const a = server.place(
      testAlloc(testJob([testTask('main', 'mock_driver', {}, { RestartPolicy: noRetries })]), client.nodeID),
    );
    await expect.poll(() => state(server, a.ID)?.State === 'running', { timeout: 5_000 }).toBe(true);
    for (let i = 1; i <= 3; i++) {
      await client.allocRestart(a.ID, {});
      await expect
        .poll(() => state(server, a.ID)?.State === 'running' && state(server, a.ID)!.Restarts === i, { timeout: 5_000 })
        .toBe(true);
    }
    const s = state(server, a.ID)!;
    expect(types(s)).toContain('Restart Signaled');
    expect(s.Events.find((e) => e.Type === 'Restart Signaled')!.DisplayMessage).toBe('User requested restart');
    expect(s.Failed).toBe(false);
    // The policy's single attempt is still there for a real crash.
    expect(client.allocRunner(a.ID)!.task('main')!.persisted().restart.count).toBe(0);
  });

  it('restarts only the named task and says which task is unknown', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const job = testJob([testTask('main', 'mock_driver', {}), testTask('side', 'mock_driver', {})]);
    const a = server.place(testAlloc(job, client.nodeID));
    await expect
      .poll(() => state(server, a.ID)?.State === 'running' && state(server, a.ID, 'side')?.State === 'running', {
        timeout: 5_000,
      })
      .toBe(true);
    await client.allocRestart(a.ID, { task: 'side' });
    await expect
      .poll(() => state(server, a.ID, 'side')?.Restarts === 1 && state(server, a.ID, 'side')?.State === 'running', {
        timeout: 5_000,
      })
      .toBe(true);
    expect(state(server, a.ID)!.Restarts).toBe(0);
    const err = await rejection(client.allocRestart(a.ID, { task: 'nope' }));
    expect(isDroverError(err, 'BadRequest')).toBe(true);
    expect(err.message).toContain('task "nope" not found');
    const both = await rejection(client.allocRestart(a.ID, { task: 'main', allTasks: true }));
    expect(both.message).toContain('cannot be set when restarting all tasks');
  });

  it('runs a finished prestart task again before the main task with all tasks', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const pre = testTask(
      'init',
      'mock_driver',
      { run_for: '10ms' },
      { Lifecycle: { Hook: 'prestart', Sidecar: false } },
    );
    const a = server.place(testAlloc(testJob([pre, testTask('main', 'mock_driver', {})]), client.nodeID));
    await expect
      .poll(() => state(server, a.ID)?.State === 'running' && state(server, a.ID, 'init')?.State === 'dead', {
        timeout: 5_000,
      })
      .toBe(true);
    // Without all tasks, the finished prestart task stays finished.
    await client.allocRestart(a.ID, {});
    await expect
      .poll(() => state(server, a.ID)?.Restarts === 1 && state(server, a.ID)?.State === 'running', { timeout: 5_000 })
      .toBe(true);
    expect(state(server, a.ID, 'init')!.Restarts).toBe(0);
    await client.allocRestart(a.ID, { allTasks: true });
    await expect
      .poll(() => state(server, a.ID)?.Restarts === 2 && state(server, a.ID)?.State === 'running', { timeout: 5_000 })
      .toBe(true);
    const init = state(server, a.ID, 'init')!;
    expect(init.Restarts).toBe(1);
    expect(init.State).toBe('dead');
    expect(init.Failed).toBe(false);
    // The main task started again only after the prestart task had run again.
    const lastInitEnd = Math.max(...init.Events.filter((e) => e.Type === 'Terminated').map((e) => e.Time));
    const lastMainStart = Math.max(
      ...state(server, a.ID)!
        .Events.filter((e) => e.Type === 'Started')
        .map((e) => e.Time),
    );
    expect(lastMainStart).toBeGreaterThanOrEqual(lastInitEnd);
  });

  it('delivers a signal to a raw_exec task that traps it', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const marker = join(tempDataDir(cleanups), 'got-usr1');
    const script = `trap 'echo usr1 > ${marker}' USR1; while true; do sleep 0.05; done`;
    const a = server.place(
      testAlloc(testJob([testTask('main', 'raw_exec', { command: '/bin/sh', args: ['-c', script] })]), client.nodeID),
    );
    await expect.poll(() => state(server, a.ID)?.State === 'running', { timeout: 5_000 }).toBe(true);
    // The shell sets its USR1 trap after it starts, and nothing outside it shows when: a signal sent before would kill it.
    await new Promise((r) => setTimeout(r, 200));
    await client.allocSignal(a.ID, { signal: 'SIGUSR1' });
    await expect.poll(() => existsSync(marker), { timeout: 5_000 }).toBe(true);
    expect(readFileSync(marker, 'utf8').trim()).toBe('usr1');
    await expect.poll(() => types(state(server, a.ID)).includes('Signaling'), { timeout: 5_000 }).toBe(true);
    expect(state(server, a.ID)!.State).toBe('running');
    const bad = await rejection(client.allocSignal(a.ID, { signal: 'SIGNOPE' }));
    expect(bad.message).toMatch(
      /^failed to parse signal: invalid signal "SIGNOPE" - valid signals are \[.*"SIGHUP".*\]$/,
    );
    expect(bad.code).toBe('InvalidSignal');
  });

  it('refuses to restart or signal an unknown or finished allocation', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const unknown = await rejection(client.allocRestart('0c0c0c0c-0000-4000-8000-000000000000', {}));
    expect(isDroverError(unknown, 'AllocNotFound')).toBe(true);
    const a = server.place(
      testAlloc(testJob([testTask('main', 'mock_driver', { run_for: '10ms' })], { Type: 'batch' }), client.nodeID),
    );
    await expect.poll(() => state(server, a.ID)?.State === 'dead', { timeout: 5_000 }).toBe(true);
    const done = await rejection(client.allocRestart(a.ID, {}));
    expect(done.message).toMatch(/can't restart allocation ".*": it is not running/);
    const sig = await rejection(client.allocSignal(a.ID, { signal: 'SIGHUP' }));
    expect(sig.message).toMatch(/can't signal allocation/);
  });
});
