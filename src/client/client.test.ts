import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MockDriver, RawExecDriver } from '../drivers/index.js';
import { processAlive, processTree } from '../drivers/raw-exec/index.js';
import type { Allocation, TaskState } from '../structs/index.js';
import { type Client } from './index.js';
import { FakeServer, startTestClient, tempDataDir, testAlloc, testJob, testTask } from './testing/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startClient(server: FakeServer, dir: string, opts: { kill?: boolean } = {}): Promise<Client> {
  return startTestClient(cleanups, server, {
    dataDir: dir,
    kill: opts.kill,
    nodeName: 'node-1',
    meta: { rack: 'r1' },
    drivers: [new RawExecDriver({ enabled: true, pollIntervalMs: 50 }), new MockDriver()],
  });
}

const quickRestart = { Attempts: 2, Interval: 60e9, Delay: 100e6, Mode: 'fail' };
const taskState = (server: FakeServer, id: string, task = 'main'): TaskState | undefined =>
  server.allocs.get(id)?.TaskStates?.[task];
const types = (s: TaskState | undefined) => (s?.Events ?? []).map((e) => e.Type);
const pidOf = (client: Client, a: Allocation, task = 'main') =>
  client.allocRunner(a.ID)!.task(task)!.handle!.driverState.pid as number;
/** The task's own process (the child of raw_exec's status-recording wrapper). */
async function taskPid(pid: number): Promise<number | undefined> {
  await expect.poll(() => processTree(pid).length >= 2, { timeout: 2_000 }).toBe(true);
  return processTree(pid).find((p) => p.pid !== pid)?.pid;
}

describe('client agent', () => {
  it('registers a fingerprinted node with a persisted ID and heartbeats', async () => {
    const server = new FakeServer();
    server.heartbeatTTLms = 100;
    const dir = tempDataDir(cleanups);
    const client = await startClient(server, dir);
    await expect.poll(() => server.heartbeats >= 2, { timeout: 5_000 }).toBe(true);
    const node = server.nodes.get(client.nodeID)!;
    expect(node.Attributes['kernel.name']).toBe('linux');
    expect(Number(node.Attributes['cpu.numcores'])).toBeGreaterThan(0);
    expect(Number(node.Attributes['cpu.totalcompute'])).toBe(
      Number(node.Attributes['cpu.numcores']) * Number(node.Attributes['cpu.frequency']),
    );
    expect(node.Attributes['driver.raw_exec']).toBe('1');
    expect(node.Attributes['unique.network.ip-address']).toBe('127.0.0.1');
    expect(node.Drivers.raw_exec).toMatchObject({ Detected: true, Healthy: true });
    expect(node.NodeResources.MinDynamicPort).toBe(20000);
    expect(readFileSync(join(dir, 'client', 'node-id'), 'utf8').trim()).toBe(client.nodeID);
  });

  it('gives the task every NOMAD_* variable, its ports, meta and the interpolated env block', async () => {
    const server = new FakeServer();
    const client = await startClient(server, tempDataDir(cleanups));
    const task = testTask(
      'main',
      'raw_exec',
      { command: '/bin/sh', args: ['-c', 'env; sleep 30'] },
      {
        Env: {
          GREETING:
            'port ${NOMAD_PORT_http} on ${node.unique.name} in ${node.datacenter} ${meta.rack} ${attr.kernel.name}',
        },
      },
    );
    const a = server.place(testAlloc(testJob([task]), client.nodeID, 2));
    await expect.poll(() => taskState(server, a.ID)?.State === 'running', { timeout: 5_000 }).toBe(true);
    const out = join(client.allocRunner(a.ID)!.task('main')!.handle!.config.dirs.logDir, 'main.stdout.0');
    await expect
      .poll(() => existsSync(out) && readFileSync(out, 'utf8').includes('NOMAD_TASK_NAME'), { timeout: 5_000 })
      .toBe(true);
    const env = Object.fromEntries(
      readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const allocDir = join(client.allocRunner(a.ID)!.task('main')!.handle!.config.dirs.sharedAllocDir);
    expect(env).toMatchObject({
      NOMAD_ALLOC_ID: a.ID,
      NOMAD_ALLOC_NAME: 'example.web[2]',
      NOMAD_ALLOC_INDEX: '2',
      NOMAD_ALLOC_DIR: allocDir,
      NOMAD_TASK_DIR: join(allocDir, '..', 'main', 'local'),
      NOMAD_SECRETS_DIR: join(allocDir, '..', 'main', 'secrets'),
      NOMAD_TASK_NAME: 'main',
      NOMAD_GROUP_NAME: 'web',
      NOMAD_JOB_ID: 'example',
      NOMAD_JOB_NAME: 'example',
      NOMAD_NAMESPACE: 'default',
      NOMAD_REGION: 'global',
      NOMAD_DC: 'dc1',
      NOMAD_CPU_LIMIT: '100',
      NOMAD_MEMORY_LIMIT: '64',
      NOMAD_PORT_http: '23458',
      NOMAD_HOST_PORT_http: '23458',
      NOMAD_IP_http: '127.0.0.1',
      NOMAD_ADDR_http: '127.0.0.1:23458',
      NOMAD_HOST_ADDR_http: '127.0.0.1:23458',
      NOMAD_META_owner: 'team-a',
      NOMAD_META_OWNER: 'team-a',
      GREETING: 'port 23458 on node-1 in dc1 r1 linux',
    });
  });

  it('restarts a task killed from outside per its policy, then fails the allocation once attempts are exhausted', async () => {
    const server = new FakeServer();
    const client = await startClient(server, tempDataDir(cleanups));
    const task = testTask('main', 'raw_exec', { command: 'sleep', args: ['30'] }, { RestartPolicy: quickRestart });
    const a = server.place(testAlloc(testJob([task]), client.nodeID));
    for (let restart = 1; restart <= 3; restart++) {
      await expect
        .poll(
          () => taskState(server, a.ID)?.State === 'running' && client.allocRunner(a.ID)!.task('main')!.handle !== null,
          { timeout: 5_000 },
        )
        .toBe(true);
      const pid = await taskPid(pidOf(client, a));
      expect(pid).toBeDefined();
      process.kill(pid!, 'SIGKILL');
      if (restart <= 2) {
        await expect
          .poll(() => taskState(server, a.ID)?.Restarts === restart && taskState(server, a.ID)?.State === 'running', {
            timeout: 5_000,
          })
          .toBe(true);
      }
    }
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'failed', { timeout: 5_000 }).toBe(true);
    const s = taskState(server, a.ID)!;
    expect(s).toMatchObject({ State: 'dead', Failed: true, Restarts: 2 });
    const evs = s.Events;
    const seq = evs.map((e) => e.Type);
    expect(seq.slice(-4)).toEqual(['Restarting', 'Started', 'Terminated', 'Not Restarting']);
    expect(evs.find((e) => e.Type === 'Terminated')!.DisplayMessage).toBe('Exit Code: 137, Signal: 9');
    expect(evs.find((e) => e.Type === 'Restarting')!.DisplayMessage).toMatch(/^Task restarting in \d+(\.\d+)?ms$/);
    expect(evs.at(-1)!.DisplayMessage).toBe('Exceeded allowed attempts 2 in interval 1m0s and mode is "fail"');
  });

  it('fails a task at once when the driver reports an unrecoverable start error', async () => {
    const server = new FakeServer();
    const client = await startClient(server, tempDataDir(cleanups));
    const a = server.place(
      testAlloc(testJob([testTask('main', 'mock_driver', { start_error: 'boom' })]), client.nodeID),
    );
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'failed', { timeout: 5_000 }).toBe(true);
    expect(types(taskState(server, a.ID))).toEqual(['Received', 'Task Setup', 'Driver Failure', 'Not Restarting']);
    expect(taskState(server, a.ID)!.Events.at(-1)!.DisplayMessage).toBe('Error was unrecoverable');
  });

  it('completes a batch allocation whose task exits 0, and stops an allocation the server stops', async () => {
    const server = new FakeServer();
    const client = await startClient(server, tempDataDir(cleanups));
    const batch = server.place(
      testAlloc(
        testJob([testTask('main', 'mock_driver', { run_for: '50ms' })], { ID: 'b', Name: 'b', Type: 'batch' }),
        client.nodeID,
      ),
    );
    await expect.poll(() => server.allocs.get(batch.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    const svc = server.place(
      testAlloc(testJob([testTask('main', 'raw_exec', { command: 'sleep', args: ['30'] })]), client.nodeID),
    );
    await expect.poll(() => server.allocs.get(svc.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    const pid = pidOf(client, svc);
    server.stopAlloc(svc.ID);
    await expect.poll(() => server.allocs.get(svc.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    expect(types(taskState(server, svc.ID)).slice(-3)).toEqual(['Killing', 'Terminated', 'Killed']);
    expect(processTree(pid)).toEqual([]);
  });

  it('stops a running allocation the server forgets, and keeps a finished one until its GC', async () => {
    const server = new FakeServer();
    const client = await startClient(server, tempDataDir(cleanups));
    const job = (id: string, runFor: string) =>
      testJob([testTask('main', 'mock_driver', { run_for: runFor })], { ID: id, Name: id, Type: 'batch' });
    const finished = server.place(testAlloc(job('f', '10ms'), client.nodeID));
    await expect.poll(() => server.allocs.get(finished.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    const running = server.place(testAlloc(job('r', '1h'), client.nodeID));
    await expect.poll(() => server.allocs.get(running.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    // Pulls in between: the finished runner is seen done and no longer walked; the running one still is.
    server.forget(finished.ID);
    const other = server.place(testAlloc(job('other', '1h'), client.nodeID));
    await expect.poll(() => server.allocs.get(other.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    server.forget(running.ID);
    await expect.poll(() => client.allocRunner(running.ID)?.done, { timeout: 5_000 }).toBe(true);
    expect(client.allocRunner(running.ID)!.task('main')!.state.State).toBe('dead');
    expect(client.allocRunner(finished.ID)?.done).toBe(true);
  });

  it('stops an allocation adopted after a restart once the server forgets it', async () => {
    const server = new FakeServer();
    const dir = tempDataDir(cleanups);
    const first = await startClient(server, dir, { kill: false });
    const a = server.place(
      testAlloc(testJob([testTask('main', 'raw_exec', { command: 'sleep', args: ['30'] })]), first.nodeID),
    );
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    const pid = pidOf(first, a);
    await first.shutdown();
    expect(processTree(pid)).not.toEqual([]);
    // The restored runner is the only trace of the allocation: no pull ever lists it again.
    server.forget(a.ID);
    const second = await startClient(server, dir);
    await expect.poll(() => second.allocRunner(a.ID)?.done, { timeout: 5_000 }).toBe(true);
    await expect.poll(() => processTree(pid), { timeout: 5_000 }).toEqual([]);
  });

  it('kills the other tasks when the leader task dies', async () => {
    const server = new FakeServer();
    const client = await startClient(server, tempDataDir(cleanups));
    const job = testJob(
      [
        testTask(
          'leader',
          'mock_driver',
          { run_for: '200ms' },
          { Leader: true, RestartPolicy: { ...quickRestart, Attempts: 0 } },
        ),
        testTask('helper', 'mock_driver', {}),
      ],
      { Type: 'batch' },
    );
    const a = server.place(testAlloc(job, client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    expect(types(taskState(server, a.ID, 'helper'))).toContain('Leader Task Dead');
  });

  it('adopts running tasks after an agent crash: same PIDs, no second start, stopped allocations stopped', async () => {
    const server = new FakeServer();
    const dir = tempDataDir(cleanups);
    const first = await startClient(server, dir, { kill: false });
    const job = testJob([
      testTask('main', 'raw_exec', { command: '/bin/sh', args: ['-c', 'echo started; exec sleep 30'] }),
    ]);
    const keep = server.place(testAlloc(job, first.nodeID, 0));
    const stop = server.place(testAlloc(job, first.nodeID, 1));
    await expect
      .poll(() => [keep, stop].every((a) => server.allocs.get(a.ID)?.ClientStatus === 'running'), { timeout: 5_000 })
      .toBe(true);
    const pids = [pidOf(first, keep), pidOf(first, stop)];
    const startTimes = [keep, stop].map(
      (a) => first.allocRunner(a.ID)!.task('main')!.handle!.driverState.startTime as number,
    );
    await first.shutdown();
    expect(pids.every((p, i) => processAlive(p, startTimes[i]!))).toBe(true);

    server.stopAlloc(stop.ID);
    const second = await startClient(server, dir);
    expect(second.nodeID).toBe(first.nodeID);
    await expect.poll(() => server.allocs.get(stop.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    expect(processAlive(pids[1]!, startTimes[1]!)).toBe(false);
    expect(pidOf(second, keep)).toBe(pids[0]);
    expect(processAlive(pids[0]!, startTimes[0]!)).toBe(true);
    const s = taskState(server, keep.ID)!;
    expect(s.State).toBe('running');
    expect(types(s).filter((t) => t === 'Started')).toHaveLength(1);
    const log = readFileSync(join(dir, 'alloc', keep.ID, 'alloc', 'logs', 'main.stdout.0'), 'utf8');
    expect(log).toBe('started\n');
  });

  it('restarts per policy a task that died while the agent was down', async () => {
    const server = new FakeServer();
    const dir = tempDataDir(cleanups);
    const first = await startClient(server, dir, { kill: false });
    const a = server.place(
      testAlloc(
        testJob([testTask('main', 'raw_exec', { command: 'sleep', args: ['30'] }, { RestartPolicy: quickRestart })]),
        first.nodeID,
      ),
    );
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    const pid = pidOf(first, a);
    await first.shutdown();
    process.kill((await taskPid(pid))!, 'SIGKILL');
    await expect.poll(() => processTree(pid).length === 0, { timeout: 5_000 }).toBe(true);
    const second = await startClient(server, dir);
    await expect
      .poll(() => taskState(server, a.ID)?.Restarts === 1 && taskState(server, a.ID)?.State === 'running', {
        timeout: 5_000,
      })
      .toBe(true);
    expect(pidOf(second, a)).not.toBe(pid);
    expect(types(taskState(server, a.ID)).slice(-3)).toEqual(['Terminated', 'Restarting', 'Started']);
  });

  it('serves the logs of a task, following them across rotations, and its stats', async () => {
    const server = new FakeServer();
    const client = await startClient(server, tempDataDir(cleanups));
    // 40 lines of 100 bytes, with files of 1 KiB... rotated by the agent while the task writes.
    const script = 'i=0; while [ $i -lt 40 ]; do printf "%099d\\n" $i; i=$((i+1)); sleep 0.01; done; sleep 30';
    const task = testTask(
      'main',
      'raw_exec',
      { command: '/bin/sh', args: ['-c', script] },
      { LogConfig: { MaxFiles: 100, MaxFileSizeMB: 0.001 } },
    );
    const a = server.place(testAlloc(testJob([task]), client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    const ac = new AbortController();
    let text = '';
    const reading = (async () => {
      for await (const chunk of client.readLogs(a.ID, 'main', 'stdout', {
        origin: 'start',
        offset: 0,
        follow: true,
        signal: ac.signal,
      })) {
        text += chunk.toString();
        if (text.length >= 4000) ac.abort();
      }
    })();
    await expect.poll(() => text.length >= 4000, { timeout: 8_000 }).toBe(true);
    ac.abort();
    await reading;
    const lines = text.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(38);
    expect(lines.slice(0, 5).map(Number)).toEqual([0, 1, 2, 3, 4]);
    const logDir = join(client.allocRunner(a.ID)!.task('main')!.handle!.config.dirs.logDir);
    expect(existsSync(join(logDir, 'main.stdout.2'))).toBe(true);
    const stats = await client.allocStats(a.ID);
    expect(stats.Tasks.main!.ResourceUsage.MemoryStats.RSS).toBeGreaterThan(0);
    await expect(async () => {
      for await (const _ of client.readLogs('nope', 'main', 'stdout', {
        origin: 'start',
        offset: 0,
        follow: false,
        signal: ac.signal,
      }))
        void _;
    }).rejects.toThrow(/not found/);
  });
});
