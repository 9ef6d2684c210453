import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ServiceHealthStatus, ServiceRegistration } from '../structs/index.js';
import { ManualClock } from './clock.js';
import { buildServiceWorkloads } from './registrations.js';
import { ServiceRegistrar, type RegistrationWriter } from './registrar.js';
import type { RestartRequest } from './check-runner.js';
import { fixtureAlloc, fixtureJob, SEC } from './testing/fixtures.js';

function workloads() {
  const job = fixtureJob({
    taskServices: [
      {
        Name: 'web',
        PortLabel: 'http',
        Checks: [
          {
            Name: 'alive',
            Type: 'tcp',
            Interval: SEC,
            Timeout: SEC,
            CheckRestart: { Limit: 2, Grace: 0, IgnoreWarnings: false },
          },
        ],
      },
      { Name: 'admin', PortLabel: 'admin' },
      {
        Name: 'script',
        PortLabel: 'admin',
        Checks: [{ Name: 'sh', Type: 'script', Command: '/bin/check', Args: ['x'], Interval: SEC, Timeout: SEC }],
      },
    ],
  });
  return buildServiceWorkloads({
    alloc: fixtureAlloc(job),
    node: { ID: 'node-1', Datacenter: 'dc1' },
    advertiseIP: '10.0.0.9',
    task: 'web',
  });
}

class MemoryWriter implements RegistrationWriter {
  catalog = new Map<string, ServiceRegistration>();
  writes: ServiceRegistration[][] = [];
  deletes: string[][] = [];
  failNext = 0;
  async upsert(regs: ServiceRegistration[]) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('server unavailable');
    }
    this.writes.push(regs);
    for (const r of regs) this.catalog.set(r.ID, r);
  }
  async delete(ids: string[]) {
    this.deletes.push(ids);
    for (const id of ids) this.catalog.delete(id);
  }
}

const stops: AbortController[] = [];
afterEach(() => {
  for (const c of stops.splice(0)) c.abort();
});

function setup(tcp: () => ServiceHealthStatus, writer = new MemoryWriter()) {
  const clock = new ManualClock();
  const restarts: Array<[string, RestartRequest]> = [];
  const execs: unknown[] = [];
  const reg = new ServiceRegistrar({
    workloads: workloads(),
    writer,
    clock,
    probes: { tcp: async () => ({ status: tcp(), output: '' }) },
    exec: (task) => async (cmd, args) => {
      execs.push([task, cmd, args]);
      return { exitCode: 0, output: 'ok' };
    },
    onRestartNeeded: (task, req) => restarts.push([task, req]),
  });
  const ctl = new AbortController();
  stops.push(ctl);
  return { reg, writer, clock, restarts, execs, ctl };
}

describe('ServiceRegistrar', () => {
  it('registers every instance at once, checked ones in their initial status', async () => {
    const { reg, writer, ctl } = setup(() => 'passing');
    await reg.start(ctl.signal);
    expect(writer.writes).toHaveLength(1);
    expect(writer.writes[0]?.map((r) => [r.ServiceName, r.Status])).toEqual([
      ['web', 'critical'],
      ['admin', 'passing'],
      ['script', 'critical'],
    ]);
  });

  it('pushes a registration only when its status changes', async () => {
    let status: ServiceHealthStatus = 'passing';
    const { reg, writer, clock, ctl } = setup(() => status);
    await reg.start(ctl.signal);
    await clock.advance(0);
    const web = () => writer.catalog.get(reg.registrations().find((r) => r.ServiceName === 'web')!.ID)!;
    expect(web().Status).toBe('passing');
    const after = writer.writes.length;
    await clock.advance(5000);
    expect(writer.writes.length).toBe(after);
    status = 'critical';
    await clock.advance(1000);
    expect(web().Status).toBe('critical');
    expect(web().Checks![0]).toMatchObject({ Name: 'alive', Status: 'critical' });
    expect(writer.writes.length).toBe(after + 1);
  });

  it('runs script checks in the task they belong to', async () => {
    const { reg, writer, clock, execs, ctl } = setup(() => 'passing');
    await reg.start(ctl.signal);
    await clock.advance(0);
    expect(execs[0]).toEqual(['web', '/bin/check', ['x']]);
    expect([...writer.catalog.values()].find((r) => r.ServiceName === 'script')!.Status).toBe('passing');
  });

  it('asks for a restart of the right task on check_restart', async () => {
    const { reg, clock, restarts, ctl } = setup(() => 'critical');
    await reg.start(ctl.signal);
    await clock.advance(1000);
    expect(restarts).toHaveLength(1);
    expect(restarts[0]?.[0]).toBe('web');
    expect(restarts[0]?.[1].checkName).toBe('alive');
  });

  it('retries a failed write with the latest state', async () => {
    const writer = new MemoryWriter();
    writer.failNext = 1;
    const { reg, clock, ctl } = setup(() => 'passing', writer);
    const started = reg.start(ctl.signal);
    await clock.advance(1000);
    await started;
    await clock.advance(0);
    expect(writer.catalog.size).toBe(3);
    expect([...writer.catalog.values()].find((r) => r.ServiceName === 'web')!.Status).toBe('passing');
  });

  it('deregisters every instance, then waits the shutdown delay', async () => {
    const { reg, writer, clock, ctl } = setup(() => 'passing');
    await reg.start(ctl.signal);
    await clock.advance(0);
    let done = false;
    const p = reg.deregister(5000).then(() => (done = true));
    await clock.advance(0);
    expect(writer.catalog.size).toBe(0);
    expect(writer.deletes[0]).toHaveLength(3);
    expect(done).toBe(false);
    await clock.advance(5000);
    await p;
    expect(done).toBe(true);
    // Checks have stopped: no more writes.
    const n = writer.writes.length;
    await clock.advance(10_000);
    expect(writer.writes.length).toBe(n);
  });

  it('ends with the catalog equal to the latest state, whatever flaps happen during slow writes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<ServiceHealthStatus>('passing', 'critical', 'warning'), {
          minLength: 1,
          maxLength: 12,
        }),
        async (statuses) => {
          const writer = new MemoryWriter();
          const slow: RegistrationWriter = {
            upsert: async (regs) => {
              await new Promise((r) => setImmediate(r));
              await writer.upsert(regs);
            },
            delete: (ids) => writer.delete(ids),
          };
          let i = 0;
          const { reg, clock, ctl } = setup(() => statuses[Math.min(i++, statuses.length - 1)]!, slow as MemoryWriter);
          await reg.start(ctl.signal);
          await clock.advance(statuses.length * 1000);
          ctl.abort();
          const latest = reg.registrations().map((r) => [r.ID, r.Status]);
          return JSON.stringify([...writer.catalog.values()].map((r) => [r.ID, r.Status])) === JSON.stringify(latest);
        },
      ),
      { numRuns: 30 },
    );
  });
});
