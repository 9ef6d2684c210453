import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Allocation, Service, ServiceRegistration, TaskGroup } from '../structs/index.js';
import { type Client } from './index.js';
import { FakeServer, startTestClient, testAlloc, testJob, testTask } from './testing/index.js';
import { build } from '../testing/builders.js';

/** A FakeServer that also keeps the catalog, and when each write happened. */
class CatalogServer extends FakeServer {
  catalog = new Map<string, ServiceRegistration>();
  writes: Array<{ at: number; op: 'upsert' | 'delete'; ids: string[] }> = [];

  /** While set, catalog writes fail as with an unreachable server. */
  failWrites = false;

  async upsertServiceRegistrations(regs: ServiceRegistration[]): Promise<void> {
    if (this.failWrites) throw new Error('server unreachable');
    for (const r of regs) this.catalog.set(r.ID, structuredClone(r));
    this.writes.push({ at: Date.now(), op: 'upsert', ids: regs.map((r) => r.ID) });
  }

  async deleteServiceRegistrations(ids: string[]): Promise<void> {
    for (const id of ids) this.catalog.delete(id);
    this.writes.push({ at: Date.now(), op: 'delete', ids });
  }

  override async updateAllocs(updates: Parameters<FakeServer['updateAllocs']>[0]): Promise<void> {
    await super.updateAllocs(updates);
    for (const u of updates) {
      const a = this.allocs.get(u.ID);
      if (a && u.DeploymentStatus) a.DeploymentStatus = u.DeploymentStatus;
    }
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startClient(server: CatalogServer, dataDir?: string): Promise<Client> {
  return startTestClient(cleanups, server, { dataDir, nodeName: 'node-1' });
}

/** A TCP listener on 127.0.0.1: the "task" a check probes. */
async function listener(): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as { port: number }).port, server };
}

const tcpCheck = (over: Record<string, unknown> = {}) => ({
  Name: 'alive',
  Type: 'tcp',
  Interval: 50e6,
  Timeout: 500e6,
  ...over,
});

function allocWith(
  client: Client,
  opts: {
    task?: Service[];
    group?: Service[];
    port?: number;
    taskShutdownDelayNs?: number;
    groupShutdownDelayNs?: number;
    update?: TaskGroup['Update'];
  },
): Allocation {
  const job = testJob([
    testTask('main', 'mock_driver', {}, { Services: opts.task ?? null, ShutdownDelay: opts.taskShutdownDelayNs ?? 0 }),
  ]);
  const g = job.TaskGroups[0]!;
  g.Services = opts.group ?? null;
  g.ShutdownDelay = opts.groupShutdownDelayNs ?? 0;
  if (opts.update) g.Update = opts.update;
  const a = testAlloc(job, client.nodeID);
  if (opts.port) a.AllocatedResources.Shared.Ports = [{ Label: 'http', Value: opts.port, To: 0, HostIP: '127.0.0.1' }];
  return a;
}

function eventTime(server: FakeServer, allocID: string, type: string): number | undefined {
  const a = server.allocs.get(allocID);
  const ev = a?.TaskStates?.main?.Events.find((e) => e.Type === type);
  return ev ? ev.Time / 1e6 : undefined;
}

describe('client services', () => {
  it('registers a task service at the host port with interpolated tags once the task runs', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    const a = server.place(
      allocWith(client, {
        task: [
          {
            Name: 'web-${NOMAD_TASK_NAME}',
            PortLabel: 'http',
            Tags: ['alloc-${NOMAD_ALLOC_INDEX}', 'node-${node.unique.name}'],
          },
        ],
      }),
    );
    await expect.poll(() => server.catalog.size === 1, { timeout: 5_000 }).toBe(true);
    const reg = [...server.catalog.values()][0]!;
    expect(reg).toMatchObject({
      ServiceName: 'web-main',
      Address: '127.0.0.1',
      Port: 23456,
      AllocID: a.ID,
      NodeID: client.nodeID,
      Tags: ['alloc-0', 'node-node-1'],
      Status: 'passing',
    });
  });

  it('registers the services of adopted tasks again after an agent restart', async () => {
    const server = new CatalogServer();
    const dir = mkdtempSync(join(tmpdir(), 'drover-services-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = await startClient(server, dir);
    server.place(
      allocWith(first, { task: [{ Name: 'web', PortLabel: 'http' }], group: [{ Name: 'api', PortLabel: 'http' }] }),
    );
    await expect.poll(() => server.catalog.size === 2, { timeout: 5_000 }).toBe(true);
    await first.shutdown();
    server.catalog.clear();
    await startClient(server, dir);
    await expect.poll(() => server.catalog.size === 2, { timeout: 5_000 }).toBe(true);
  });

  it('runs the task while the server cannot take the registration, and registers once it can', async () => {
    const server = new CatalogServer();
    server.failWrites = true;
    const client = await startClient(server);
    const a = server.place(allocWith(client, { task: [{ Name: 'web', PortLabel: 'http' }] }));
    // A task that exits soon: its exit is seen although its registration is still being retried.
    const short = allocWith(client, { task: [{ Name: 'web', PortLabel: 'http' }] });
    short.Job.TaskGroups[0]!.Tasks[0]!.Config = { run_for: '300ms' };
    server.place(short);
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    await expect
      .poll(() => (server.allocs.get(short.ID)?.TaskStates?.main?.Events ?? []).some((e) => e.Type === 'Terminated'), {
        timeout: 3_000,
      })
      .toBe(true);
    expect(server.catalog.size).toBe(0);
    server.failWrites = false;
    await expect.poll(() => server.catalog.size === 1, { timeout: 5_000 }).toBe(true);
  });

  it('deregisters a task service before the task is killed, then waits its shutdown_delay', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    const a = server.place(
      allocWith(client, { task: [{ Name: 'web', PortLabel: 'http' }], taskShutdownDelayNs: 400e6 }),
    );
    await expect.poll(() => server.catalog.size === 1, { timeout: 5_000 }).toBe(true);
    server.stopAlloc(a.ID);
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    const deleted = server.writes.find((w) => w.op === 'delete')!.at;
    const killing = eventTime(server, a.ID, 'Killing')!;
    expect(server.catalog.size).toBe(0);
    expect(killing - deleted).toBeGreaterThanOrEqual(350);
  });

  it('registers group services once the tasks run and honours the group shutdown_delay on stop', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    const a = server.place(
      allocWith(client, { group: [{ Name: 'api', PortLabel: 'http', Tags: ['v1'] }], groupShutdownDelayNs: 400e6 }),
    );
    await expect.poll(() => server.catalog.size === 1, { timeout: 5_000 }).toBe(true);
    expect([...server.catalog.keys()][0]).toBe(`_nomad-task-${a.ID}-group-web-api-http`);
    server.stopAlloc(a.ID);
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'complete', { timeout: 5_000 }).toBe(true);
    const deleted = server.writes.find((w) => w.op === 'delete')!.at;
    expect(eventTime(server, a.ID, 'Killing')! - deleted).toBeGreaterThanOrEqual(350);
  });

  it('marks an instance critical while its check fails and reports the checks through allocChecks', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    const { port, server: tcp } = await listener();
    const a = server.place(
      allocWith(client, { port, group: [{ Name: 'api', PortLabel: 'http', Checks: [tcpCheck()] }] }),
    );
    await expect.poll(() => [...server.catalog.values()][0]?.Status === 'passing', { timeout: 5_000 }).toBe(true);
    const checks = Object.values(client.allocChecks(a.ID));
    expect(checks).toMatchObject([
      { Check: 'alive', Service: 'api', Task: '', Group: 'web', Mode: 'healthiness', Status: 'success' },
    ]);
    await new Promise<void>((r) => tcp.close(() => r()));
    await expect.poll(() => [...server.catalog.values()][0]?.Status === 'critical', { timeout: 5_000 }).toBe(true);
    expect(Object.values(client.allocChecks(a.ID))[0]!.Status).toBe('failure');
  });

  it('runs script checks inside the task through the driver, for task and group services', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    const script = {
      Name: 'probe',
      Type: 'script',
      Command: '/bin/check',
      Args: ['--deep'],
      Interval: 50e6,
      Timeout: 500e6,
    };
    const a = server.place(
      allocWith(client, {
        task: [{ Name: 'web', PortLabel: 'http', Checks: [script] }],
        group: [{ Name: 'api', PortLabel: 'http', Checks: [{ ...script, TaskName: 'main' }] }],
      }),
    );
    await expect
      .poll(() => server.catalog.size === 2 && [...server.catalog.values()].every((r) => r.Status === 'passing'), {
        timeout: 5_000,
      })
      .toBe(true);
    const outputs = Object.values(client.allocChecks(a.ID)).map((c) => [c.Service, c.Task, c.Status, c.Output.trim()]);
    expect(outputs.sort()).toEqual([
      ['api', '', 'success', '/bin/check --deep'],
      ['web', 'main', 'success', '/bin/check --deep'],
    ]);
  });

  it('restarts the task through check_restart after the limit of failures, saying why', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    // Nothing listens on this port: the check fails at once, every time.
    const { port, server: tcp } = await listener();
    await new Promise<void>((r) => tcp.close(() => r()));
    const check = tcpCheck({ CheckRestart: { Limit: 2, Grace: 0, IgnoreWarnings: false } });
    const alloc = allocWith(client, { port, task: [{ Name: 'web', PortLabel: 'http', Checks: [check] }] });
    alloc.Job.TaskGroups[0]!.RestartPolicy = { Attempts: 5, Interval: 60e9, Delay: 10e6, Mode: 'fail' };
    const a = server.place(alloc);
    const restarted = () =>
      server.allocs.get(a.ID)?.TaskStates?.main?.Events.find((e) => e.Type === 'Restart Signaled');
    await expect.poll(() => restarted() !== undefined, { timeout: 5_000 }).toBe(true);
    expect(restarted()!.RestartReason).toBe('healthcheck: check "alive" unhealthy');
    await expect
      .poll(() => server.allocs.get(a.ID)?.TaskStates?.main?.State === 'running' && server.catalog.size === 1, {
        timeout: 5_000,
      })
      .toBe(true);
  });

  it('counts check_restart restarts against the restart policy, as Nomad does, and fails the task when they run out', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    const { port, server: tcp } = await listener();
    await new Promise<void>((r) => tcp.close(() => r()));
    const check = tcpCheck({ CheckRestart: { Limit: 1, Grace: 0, IgnoreWarnings: false } });
    const alloc = allocWith(client, { port, task: [{ Name: 'web', PortLabel: 'http', Checks: [check] }] });
    alloc.Job.TaskGroups[0]!.RestartPolicy = { Attempts: 1, Interval: 60e9, Delay: 10e6, Mode: 'fail' };
    const a = server.place(alloc);
    const main = () => server.allocs.get(a.ID)?.TaskStates?.main;
    await expect.poll(() => main()?.State === 'dead', { timeout: 8_000 }).toBe(true);
    expect(main()!.Failed).toBe(true);
    expect(main()!.Restarts).toBe(1);
    expect(main()!.Events.map((e) => e.Type)).toContain('Not Restarting');
    expect(main()!.Events.filter((e) => e.Type === 'Restart Signaled').length).toBe(2);
  });

  it('holds deployment health while a check fails and reports healthy once it passes (health_check = "checks")', async () => {
    const server = new CatalogServer();
    const client = await startClient(server);
    const { port, server: tcp } = await listener();
    await new Promise<void>((r) => tcp.close(() => r()));
    const update = build.update({ MinHealthyTime: 100e6, HealthyDeadline: 20e9, ProgressDeadline: 60e9 });
    const a = server.place({
      ...allocWith(client, { port, update, group: [{ Name: 'api', PortLabel: 'http', Checks: [tcpCheck()] }] }),
      DeploymentID: 'dep-1',
    });
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 600));
    expect(server.allocs.get(a.ID)?.DeploymentStatus?.Healthy ?? null).toBeNull();
    tcp.listen(port, '127.0.0.1');
    await expect.poll(() => server.allocs.get(a.ID)?.DeploymentStatus?.Healthy === true, { timeout: 5_000 }).toBe(true);
  });
});
