/** Periodic launches, dispatch, scaling and node drain on a real Server with the real scheduler. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isDroverError } from '../errors/index.js';
import { newScheduler } from '../scheduler/index.js';
import { build } from '../testing/builders.js';
import type { Allocation, Job } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

let s: Server | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

function fakeClock(iso: string) {
  let now = Date.parse(iso);
  return { now: () => now, set: (t: string) => void (now = Date.parse(t)) };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** A tiny client: reports the given allocations with a client status. */
async function report(srv: Server, allocs: Allocation[], status: string): Promise<void> {
  await srv.updateAllocs(
    allocs.map((a) => ({ ID: a.ID, ClientStatus: status, ClientDescription: '', TaskStates: {} })),
  );
}

/** A client whose health watcher found the allocations healthy (running for the migrate block's min_healthy_time). */
async function reportHealthy(srv: Server, allocs: Allocation[]): Promise<void> {
  const DeploymentStatus = { Healthy: true, Timestamp: new Date().toISOString(), Canary: false, ModifyIndex: 0 };
  await srv.updateAllocs(
    allocs.map((a) => ({ ID: a.ID, ClientStatus: 'running', ClientDescription: '', TaskStates: {}, DeploymentStatus })),
  );
}

const liveOn = (srv: Server, nodeID: string) =>
  srv.store
    .snapshot()
    .allocsByNode(nodeID)
    .filter((a) => a.DesiredStatus === 'run' && !['complete', 'failed', 'lost'].includes(a.ClientStatus));

const batchJob = (id: string, over: Partial<Job> = {}): Job => ({ ...build.job({ ID: id }), Type: 'batch', ...over });

/** Batch job `report`, launched every 10 seconds (UTC) unless `over` says otherwise. */
const periodic = (over: Partial<Job['Periodic'] & object> = {}) =>
  batchJob('report', {
    Periodic: {
      Enabled: true,
      Spec: '*/10 * * * * * *',
      SpecType: 'cron',
      ProhibitOverlap: false,
      TimeZone: 'UTC',
      ...over,
    },
  });

describe('periodic jobs', () => {
  it('registers a periodic parent without an eval and launches a child at each cron time', async () => {
    const clock = fakeClock('2026-01-01T00:00:01Z');
    s = await testServer({ newScheduler, clock, periodicTimer: false });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const r = await s.jobs.register(periodic());
    expect(r.EvalID).toBe('');
    expect((await s.jobs.get('default', 'report')).value.Status).toBe('running');
    expect(await s.periodic.tick()).toEqual([]);
    expect(s.periodic.nextLaunchOf('default', 'report')).toBe(Date.parse('2026-01-01T00:00:10Z'));
    clock.set('2026-01-01T00:00:10Z');
    const launched = await s.periodic.tick();
    expect(launched).toEqual([`report/periodic-${Date.parse('2026-01-01T00:00:10Z') / 1000}`]);
    const child = (await s.jobs.get('default', launched[0]!)).value;
    expect(child).toMatchObject({ ParentID: 'report', Periodic: null, Type: 'batch' });
    const evals = (await s.jobs.evaluations('default', child.ID)).value;
    expect(evals.map((e) => e.TriggeredBy)).toEqual(['periodic-job']);
    await expect.poll(() => liveOn(s!, 'n1').length === 1, { timeout: 3000, message: 'child placed' }).toBeTruthy();
    clock.set('2026-01-01T00:00:20Z');
    expect(await s.periodic.tick()).toHaveLength(1);
  });

  it('skips a launch while the previous child runs when prohibit_overlap is set, and force launches anyway', async () => {
    const clock = fakeClock('2026-01-01T00:00:01Z');
    s = await testServer({ newScheduler, clock, periodicTimer: false });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.jobs.register(periodic({ ProhibitOverlap: true }));
    clock.set('2026-01-01T00:00:10Z');
    expect(await s.periodic.tick()).toHaveLength(1);
    await expect
      .poll(() => liveOn(s!, 'n1').length === 1, { timeout: 3000, message: 'first child placed' })
      .toBeTruthy();
    await report(s, liveOn(s, 'n1'), 'running');
    clock.set('2026-01-01T00:00:20Z');
    expect(await s.periodic.tick()).toEqual([]);
    const forced = await s.jobs.periodicForce('default', 'report');
    expect(forced.EvalID).not.toBe('');
    // Once the child is done, the next time launches again.
    await report(
      s,
      [...s.store.snapshot().allocs()].filter((a) => a.JobID === 'report/periodic-1767225610'),
      'complete',
    );
    await expect
      .poll(async () => (await s!.jobs.get('default', 'report/periodic-1767225610')).value.Status === 'dead', {
        timeout: 3000,
        message: 'first child dead',
      })
      .toBeTruthy();
    await expect
      .poll(() => liveOn(s!, 'n1').length === 1, { timeout: 3000, message: 'forced child placed' })
      .toBeTruthy();
    await report(s, liveOn(s, 'n1'), 'complete');
    await expect
      .poll(
        () =>
          s!.store
            .snapshot()
            .jobs()
            .filter((j) => j.ParentID === 'report')
            .every((j) => j.Status === 'dead'),
        { timeout: 3000, message: 'children dead' },
      )
      .toBeTruthy();
    clock.set('2026-01-01T00:00:30Z');
    expect(await s.periodic.tick()).toHaveLength(1);
  });

  it('refuses to force a job that is not periodic', async () => {
    s = await testServer({ periodicTimer: false });
    await s.jobs.register(build.job({ ID: 'web' }));
    expect(isDroverError(await errorOf(s.jobs.periodicForce('default', 'web')), 'BadRequest')).toBe(true);
    expect(isDroverError(await errorOf(s.jobs.periodicForce('default', 'nope')), 'JobNotFound')).toBe(true);
  });
});

describe('dispatch of parameterized jobs', () => {
  const param = () =>
    batchJob('resize', {
      Meta: { quality: 'low' },
      ParameterizedJob: { Payload: 'required', MetaRequired: ['image'], MetaOptional: ['quality'] },
    });

  it('creates no eval for the parent, then a child with payload and merged meta and its own eval', async () => {
    s = await testServer({ periodicTimer: false });
    expect((await s.jobs.register(param())).EvalID).toBe('');
    const r = await s.jobs.dispatch('default', 'resize', {
      Payload: Buffer.from('hello').toString('base64'),
      Meta: { image: 'a.png' },
    });
    expect(r.DispatchedJobID).toMatch(/^resize\/dispatch-\d+-[0-9a-f]{8}$/);
    expect(r.EvalID).not.toBe('');
    const child = (await s.jobs.get('default', r.DispatchedJobID)).value;
    expect(child).toMatchObject({
      ParentID: 'resize',
      Dispatched: true,
      Payload: Buffer.from('hello').toString('base64'),
      Meta: { quality: 'low', image: 'a.png' },
    });
    expect((await s.jobs.evaluations('default', child.ID)).value).toHaveLength(1);
  });

  it('refuses missing required meta, unknown meta, a missing payload and a forbidden one', async () => {
    s = await testServer({ periodicTimer: false });
    await s.jobs.register(param());
    const p = Buffer.from('x').toString('base64');
    const msg = async (req: Parameters<Server['jobs']['dispatch']>[2]) =>
      ((await errorOf(s!.jobs.dispatch('default', 'resize', req))) as Error).message;
    expect(await msg({ Payload: p, Meta: {} })).toMatch(/missing required meta keys: image/);
    expect(await msg({ Payload: p, Meta: { image: 'a', color: 'red' } })).toMatch(/does not allow: color/);
    expect(await msg({ Meta: { image: 'a' } })).toMatch(/payload is required/);
    await s.jobs.register({
      ...param(),
      ParameterizedJob: { Payload: 'forbidden', MetaRequired: null, MetaOptional: null },
    });
    expect(await msg({ Payload: p })).toMatch(/payload is forbidden/);
    expect(isDroverError(await errorOf(s.jobs.dispatch('default', 'nope', {})), 'JobNotFound')).toBe(true);
  });

  it('answers the same dispatch for the same idempotency token', async () => {
    s = await testServer({ periodicTimer: false });
    await s.jobs.register(param());
    const req = { Payload: 'eA==', Meta: { image: 'a' }, IdempotencyToken: 'tok-1' };
    const a = await s.jobs.dispatch('default', 'resize', req);
    const b = await s.jobs.dispatch('default', 'resize', req);
    expect(b.DispatchedJobID).toBe(a.DispatchedJobID);
    expect(b.EvalID).toBe('');
  });
});

describe('scaling', () => {
  const scalable = () => {
    const j = build.job({ ID: 'web' });
    j.TaskGroups[0]!.Count = 2;
    j.TaskGroups[0]!.Scaling = { Min: 1, Max: 4, Enabled: true };
    return j;
  };

  it('scales within min and max: a new version, a job-scaling eval and a recorded event', async () => {
    s = await testServer({ periodicTimer: false });
    await s.jobs.register(scalable());
    const r = await s.jobs.scale('default', 'web', { Count: 4, Target: { Group: 'web' }, Message: 'more' });
    expect((await s.evals.get(r.EvalID)).value.TriggeredBy).toBe('job-scaling');
    const job = (await s.jobs.get('default', 'web')).value;
    expect(job.TaskGroups[0]?.Count).toBe(4);
    expect(job.Version).toBe(1);
    const st = (await s.jobs.scaleStatus('default', 'web')).value;
    expect(st.TaskGroups.web).toMatchObject({ Desired: 4 });
    expect(st.TaskGroups.web!.Events).toEqual([
      expect.objectContaining({ Count: 4, PreviousCount: 2, Message: 'more', EvalID: r.EvalID, Error: false }),
    ]);
  });

  it('refuses counts outside the scaling block with a message naming the bound', async () => {
    s = await testServer({ periodicTimer: false });
    await s.jobs.register(scalable());
    const tooMany = (await errorOf(s.jobs.scale('default', 'web', { Count: 5, Target: { Group: 'web' } }))) as Error;
    expect(isDroverError(tooMany, 'BadRequest')).toBe(true);
    expect(tooMany.message).toMatch(/greater than the scaling policy maximum 4/);
    expect(
      ((await errorOf(s.jobs.scale('default', 'web', { Count: 0, Target: { Group: 'web' } }))) as Error).message,
    ).toMatch(/less than the scaling policy minimum 1/);
    expect(
      ((await errorOf(s.jobs.scale('default', 'web', { Count: 2, Target: { Group: 'db' } }))) as Error).message,
    ).toMatch(/no task group "db"/);
    expect((await s.jobs.get('default', 'web')).value.Version).toBe(0);
  });

  it('records an error event without a count and without changing the job', async () => {
    s = await testServer({ periodicTimer: false });
    await s.jobs.register(scalable());
    const r = await s.jobs.scale('default', 'web', {
      Target: { Group: 'web' },
      Message: 'metrics unavailable',
      Error: true,
    });
    expect(r.EvalID).toBe('');
    const ev = (await s.jobs.scaleStatus('default', 'web')).value.TaskGroups.web!.Events![0]!;
    expect(ev).toMatchObject({ Count: null, Error: true, Message: 'metrics unavailable' });
  });
});

describe('node drain and eligibility', () => {
  async function drainSetup(count: number, maxParallel: number) {
    s = await testServer({ newScheduler, periodicTimer: false, drainer: false });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const job = build.job({ ID: 'web' });
    job.TaskGroups[0]!.Count = count;
    job.TaskGroups[0]!.Migrate = {
      MaxParallel: maxParallel,
      HealthCheck: 'task_states',
      MinHealthyTime: 0,
      HealthyDeadline: 0,
    };
    await s.jobs.register(job);
    await expect.poll(() => liveOn(s!, 'n1').length === count, { timeout: 3000, message: 'placed on n1' }).toBeTruthy();
    // A service job gets the default update block at admission, so its allocations belong to a deployment and
    // count for the drain only once their client reports them healthy.
    await reportHealthy(s, liveOn(s, 'n1'));
    await s.nodeRegister(build.node({ ID: 'n2' }));
    await s.nodeRegister(build.node({ ID: 'n3' }));
    return s;
  }
  const marked = (srv: Server) =>
    srv.store
      .snapshot()
      .allocsByNode('n1')
      .filter((a) => a.DesiredTransition?.Migrate);

  it('migrates at most max_parallel allocations at a time, waiting for replacements to run', async () => {
    const srv = await drainSetup(5, 2);
    const res = await srv.nodes.updateDrain('n1', { DrainSpec: { Deadline: 3600e9, IgnoreSystemJobs: false } });
    expect(res.NodeModifyIndex).toBeGreaterThan(0);
    const node = (await srv.nodes.get('n1')).value;
    expect(node.SchedulingEligibility).toBe('ineligible');
    expect(node.DrainStrategy).toMatchObject({ Deadline: 3600e9 });
    expect((await srv.drainer.step()).migrate).toHaveLength(2);
    expect((await srv.drainer.step()).migrate).toHaveLength(0);
    const replacements = () => [...liveOn(srv, 'n2'), ...liveOn(srv, 'n3')];
    await expect
      .poll(() => replacements().length === 2, { timeout: 3000, message: 'two replacements placed elsewhere' })
      .toBeTruthy();
    // Placed but not running yet: nothing more moves.
    expect((await srv.drainer.step()).migrate).toHaveLength(0);
    // Running but not yet reported healthy (the migrate block's min_healthy_time): still nothing moves.
    await report(srv, replacements(), 'running');
    expect((await srv.drainer.step()).migrate).toHaveLength(0);
    await reportHealthy(srv, replacements());
    expect((await srv.drainer.step()).migrate).toHaveLength(2);
    await expect.poll(() => replacements().length === 4, { timeout: 3000, message: 'four replacements' }).toBeTruthy();
    await reportHealthy(
      srv,
      replacements().filter((a) => a.ClientStatus === 'pending'),
    );
    expect((await srv.drainer.step()).migrate).toHaveLength(1);
    await expect.poll(() => replacements().length === 5, { timeout: 3000, message: 'five replacements' }).toBeTruthy();
    expect(marked(srv)).toHaveLength(5);
    await expect
      .poll(async () => (await srv.drainer.step()).done.includes('n1'), { timeout: 3000, message: 'drain complete' })
      .toBeTruthy();
    const after = (await srv.nodes.get('n1')).value;
    expect(after.DrainStrategy).toBeNull();
    expect(after.SchedulingEligibility).toBe('ineligible');
    expect(after.Events?.map((e) => e.Message)).toContain('Node drain complete');
  });

  it('forces every remaining allocation off once the deadline passes', async () => {
    const srv = await drainSetup(3, 1);
    await srv.nodes.updateDrain('n1', { DrainSpec: { Deadline: -1, IgnoreSystemJobs: false } });
    expect((await srv.drainer.step()).migrate).toHaveLength(3);
  });

  it('leaves batch allocations to finish and drains system jobs last', async () => {
    s = await testServer({ newScheduler, periodicTimer: false, drainer: false });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.jobs.register(batchJob('batch'));
    await s.jobs.register({ ...build.job({ ID: 'sys' }), Type: 'system' });
    await expect
      .poll(() => liveOn(s!, 'n1').length === 2, { timeout: 3000, message: 'batch and system placed' })
      .toBeTruthy();
    await report(s, liveOn(s, 'n1'), 'running');
    await s.nodes.updateDrain('n1', { DrainSpec: { Deadline: 3600e9, IgnoreSystemJobs: false } });
    expect((await s.drainer.step()).migrate).toHaveLength(0);
    await report(
      s,
      liveOn(s, 'n1').filter((a) => a.JobID === 'batch'),
      'complete',
    );
    const d = await s.drainer.step();
    expect(d.migrate.map((a) => a.JobID)).toEqual(['sys']);
  });

  it('makes a node ineligible and eligible again, refusing eligible while draining', async () => {
    s = await testServer({ periodicTimer: false, drainer: false });
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.nodes.updateEligibility('n1', 'ineligible');
    expect((await s.nodes.get('n1')).value.SchedulingEligibility).toBe('ineligible');
    await s.nodes.updateEligibility('n1', 'eligible');
    expect((await s.nodes.get('n1')).value.SchedulingEligibility).toBe('eligible');
    await s.nodes.updateDrain('n1', { DrainSpec: { Deadline: 0, IgnoreSystemJobs: false } });
    expect(isDroverError(await errorOf(s.nodes.updateEligibility('n1', 'eligible')), 'BadRequest')).toBe(true);
    await s.nodes.updateDrain('n1', { DrainSpec: null, MarkEligible: true });
    expect((await s.nodes.get('n1')).value).toMatchObject({ SchedulingEligibility: 'eligible', DrainStrategy: null });
    expect(isDroverError(await errorOf(s.nodes.updateEligibility('n1', 'maybe')), 'BadRequest')).toBe(true);
  });
});

describe('system jobs follow nodes', () => {
  it('places a system job on a node that joins after the job was registered', async () => {
    s = await testServer({ newScheduler, periodicTimer: false, drainer: false });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.jobs.register({ ...build.job({ ID: 'sys' }), Type: 'system' });
    await expect
      .poll(() => liveOn(s!, 'n1').length === 1, { timeout: 3000, message: 'system alloc on n1' })
      .toBeTruthy();
    await s.nodeRegister(build.node({ ID: 'n2' }));
    await expect
      .poll(() => liveOn(s!, 'n2').length === 1, { timeout: 3000, message: 'system alloc on the new node n2' })
      .toBeTruthy();
    expect(liveOn(s, 'n1')).toHaveLength(1);
  });
});

describe('periodic job validation and plan', () => {
  it('refuses a periodic job whose cron cannot be read, and plans the next launch of a valid one', async () => {
    const clock = fakeClock('2026-01-01T00:00:01Z');
    s = await testServer({ clock, periodicTimer: false });
    const bad = batchJob('bad', {
      Periodic: { Enabled: true, Spec: '99 * * * *', SpecType: 'cron', ProhibitOverlap: false, TimeZone: 'UTC' },
    });
    expect(((await errorOf(s.jobs.register(bad))) as Error).message).toMatch(/minute 99 is outside 0-59/);
    const good = batchJob('good', {
      Periodic: { Enabled: true, Spec: '@hourly', SpecType: 'cron', ProhibitOverlap: false, TimeZone: 'UTC' },
    });
    expect((await s.jobs.plan(good, false)).NextPeriodicLaunch).toBe('2026-01-01T01:00:00.000Z');
  });
});

describe('periodic jobs across a restart', () => {
  it('launches once at start when a launch came due while the server was down', async () => {
    const { MemoryBackend } = await import('../state/index.js');
    const backend = new MemoryBackend();
    const clock = fakeClock('2026-01-01T00:00:01Z');
    s = await testServer({ clock, periodicTimer: false, drainer: false }, backend);
    await s.start();
    await s.jobs.register(periodic());
    await s.stop();
    backend.closed = false; // the same durable state, opened again
    clock.set('2026-01-01T00:00:35Z');
    s = await testServer({ clock, periodicTimer: false, drainer: false }, backend);
    await s.start();
    const kids = await vi.waitUntil(
      () => {
        const k = s!.store
          .snapshot()
          .jobs()
          .filter((j) => j.ParentID === 'report');
        return k.length > 0 ? k : undefined;
      },
      { timeout: 3000 },
    );
    expect(kids.map((k) => k.ID)).toEqual([`report/periodic-${Date.parse('2026-01-01T00:00:35Z') / 1000}`]);
    expect(s.periodic.nextLaunchOf('default', 'report')).toBe(Date.parse('2026-01-01T00:00:40Z'));
  });
});
