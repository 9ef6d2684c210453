/** The deployment watcher driven by the real scheduler, with allocation health reported as a client would. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { build } from '../testing/builders.js';
import { newScheduler } from '../scheduler/index.js';
import { isDroverError } from '../errors/index.js';
import type { AllocListStub, Deployment, Job, UpdateStrategy } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

let s: Server | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

const S = 1e9;
function rolling(over: Partial<UpdateStrategy> = {}, count = 3, cmd = 'v0'): Job {
  const j = build.job({ ID: 'web' });
  const tg = j.TaskGroups[0]!;
  tg.Count = count;
  tg.Tasks[0]!.Config = { run_for: '10s', version: cmd };
  tg.Update = build.update({
    HealthCheck: 'task_states',
    MinHealthyTime: S,
    HealthyDeadline: 60 * S,
    ProgressDeadline: 600 * S,
    ...over,
  });
  return j;
}

async function start(): Promise<Server> {
  s = await testServer({ newScheduler });
  await s.start();
  await s.nodeRegister(build.node({ ID: 'n1' }));
  await s.nodeRegister(build.node({ ID: 'n2' }));
  return s;
}

const live = async (srv: Server): Promise<AllocListStub[]> =>
  (await srv.jobs.allocations('default', 'web', true)).value.filter(
    (a) => a.DesiredStatus === 'run' && !['complete', 'failed', 'lost'].includes(a.ClientStatus),
  );

async function report(srv: Server, allocs: AllocListStub[], healthy: boolean): Promise<void> {
  await srv.updateAllocs(
    allocs.map((a) => ({
      ID: a.ID,
      ClientStatus: healthy ? 'running' : 'failed',
      ClientDescription: '',
      TaskStates: {},
      DeploymentStatus: {
        Healthy: healthy,
        Timestamp: new Date().toISOString(),
        Canary: a.DeploymentStatus?.Canary ?? false,
        ModifyIndex: 0,
      },
    })),
  );
}

/** Acts as every client: reports each new allocation of `version` healthy until the deployment ends. */
async function healAll(srv: Server, version: number): Promise<Deployment> {
  const done = new Set<string>();
  return vi.waitUntil(
    async () => {
      const fresh = (await live(srv)).filter((a) => a.JobVersion === version && !done.has(a.ID));
      for (const a of fresh) done.add(a.ID);
      if (fresh.length > 0) await report(srv, fresh, true);
      const d = (await srv.jobs.deployments('default', 'web')).value[0];
      return d && d.JobVersion === version && d.Status !== 'running' ? d : undefined;
    },
    { timeout: 8_000 },
  );
}

describe('deployment watcher', () => {
  it('rolls a changed job out max_parallel at a time and marks the deployment successful and the version stable', async () => {
    const srv = await start();
    await srv.jobs.register(rolling());
    expect((await healAll(srv, 0)).Status).toBe('successful');
    expect((await srv.jobs.get('default', 'web')).value.Stable).toBe(true);

    await srv.jobs.register(rolling({}, 3, 'v1'));
    // max_parallel 1: until one new allocation is healthy, only one is placed.
    const first = await vi.waitUntil(
      async () => ((await live(srv)).filter((a) => a.JobVersion === 1).length === 1 ? live(srv) : undefined),
      { timeout: 5_000 },
    );
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 200));
    expect((await live(srv)).filter((a) => a.JobVersion === 1)).toHaveLength(1);
    expect(first.filter((a) => a.JobVersion === 0)).toHaveLength(2);
    const d = await healAll(srv, 1);
    expect(d).toMatchObject({ Status: 'successful', StatusDescription: 'Deployment completed successfully' });
    expect(d.TaskGroups['web']).toMatchObject({
      DesiredTotal: 3,
      PlacedAllocs: 3,
      HealthyAllocs: 3,
      UnhealthyAllocs: 0,
    });
    const now = await live(srv);
    expect(now.map((a) => a.JobVersion)).toEqual([1, 1, 1]);
    expect((await srv.jobs.get('default', 'web')).value).toMatchObject({ Version: 1, Stable: true });
  });

  it('fails the deployment on an unhealthy allocation and auto-reverts to the latest stable version', async () => {
    const srv = await start();
    await srv.jobs.register(rolling({ AutoRevert: true }));
    await healAll(srv, 0);
    await srv.jobs.register(rolling({ AutoRevert: true }, 3, 'broken'));
    const bad = await vi.waitUntil(
      async () =>
        (await live(srv)).filter((a) => a.JobVersion === 1).length === 1 &&
        (await live(srv)).filter((a) => a.JobVersion === 1),
      { timeout: 5_000 },
    );
    await report(srv, bad as AllocListStub[], false);
    const failed = await vi.waitUntil(
      async () =>
        (await srv.jobs.deployments('default', 'web')).value.find((d) => d.JobVersion === 1 && d.Status === 'failed'),
      { timeout: 5_000 },
    );
    expect(failed.StatusDescription).toBe('Failed due to unhealthy allocations - rolling back to job version 0');
    const job = (await srv.jobs.get('default', 'web')).value;
    expect(job.Version).toBe(2);
    expect(job.TaskGroups[0]?.Tasks[0]?.Config).toEqual({ run_for: '10s', version: 'v0' });
    const history = (await srv.jobs.versionHistory('default', 'web', true)).value;
    expect(history.Versions.map((v) => v.Version)).toEqual([2, 1, 0]);
    expect(history.Diffs).toHaveLength(2);
    expect(history.Diffs![0]?.Type).toBe('Edited');
  });

  it('auto-promotes a healthy canary and then completes the rollout', async () => {
    const srv = await start();
    await srv.jobs.register(rolling({ Canary: 1, AutoPromote: true }));
    await healAll(srv, 0);
    await srv.jobs.register(rolling({ Canary: 1, AutoPromote: true }, 3, 'v1'));
    const canary = await vi.waitUntil(async () => (await live(srv)).find((a) => a.JobVersion === 1), {
      timeout: 5_000,
    });
    expect(canary.DeploymentStatus?.Canary).toBe(true);
    expect((await live(srv)).filter((a) => a.JobVersion === 0)).toHaveLength(3);
    const d = await healAll(srv, 1);
    expect(d.Status).toBe('successful');
    expect(d.TaskGroups['web']).toMatchObject({ Promoted: true, DesiredCanaries: 1, HealthyAllocs: 3 });
    expect((await live(srv)).map((a) => a.JobVersion)).toEqual([1, 1, 1]);
  });

  it('waits for a manual promotion, refusing it while the canary is not healthy', async () => {
    const srv = await start();
    await srv.jobs.register(rolling({ Canary: 1 }, 2));
    await healAll(srv, 0);
    await srv.jobs.register(rolling({ Canary: 1 }, 2, 'v1'));
    const canary = await vi.waitUntil(async () => (await live(srv)).find((a) => a.JobVersion === 1), {
      timeout: 5_000,
    });
    const d = (await srv.jobs.deployments('default', 'web')).value[0]!;
    const refused = await srv.deployments.promote(d.ID, true, null).catch((e: unknown) => e);
    expect(isDroverError(refused)).toBe(true);
    expect((refused as Error).message).toMatch(/0\/1 healthy/);
    await report(srv, [canary], true);
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 200));
    expect((await srv.deployments.get(d.ID)).value).toMatchObject({
      Status: 'running',
      StatusDescription: 'Deployment is running but requires manual promotion',
    });
    const res = await srv.deployments.promote(d.ID, true, null);
    expect(res.EvalID).not.toBe('');
    expect((await healAll(srv, 1)).Status).toBe('successful');
  });

  it('pauses, resumes and fails a deployment through the API', async () => {
    const srv = await start();
    await srv.jobs.register(rolling());
    await healAll(srv, 0);
    await srv.jobs.register(rolling({}, 3, 'v1'));
    const d = await vi.waitUntil(
      async () => (await srv.jobs.deployments('default', 'web')).value.find((x) => x.JobVersion === 1),
      { timeout: 5_000 },
    );
    await srv.deployments.pause(d.ID, true);
    expect((await srv.deployments.get(d.ID)).value).toMatchObject({
      Status: 'paused',
      StatusDescription: 'Deployment is paused',
    });
    await srv.deployments.pause(d.ID, false);
    expect((await srv.deployments.get(d.ID)).value.Status).toBe('running');
    await srv.deployments.fail(d.ID);
    expect((await srv.deployments.get(d.ID)).value).toMatchObject({
      Status: 'failed',
      StatusDescription: 'Deployment marked as failed',
    });
    expect(isDroverError(await srv.deployments.pause(d.ID, true).catch((e: unknown) => e))).toBe(true);
    expect((await srv.deployments.list({})).value.map((x) => x.ID)).toContain(d.ID);
    expect((await srv.deployments.allocations(d.ID)).value.length).toBeGreaterThan(0);
  });

  it('fails a deployment that makes no progress before its progress deadline', async () => {
    const srv = await start();
    await srv.jobs.register(rolling({ MinHealthyTime: 0.1 * S, HealthyDeadline: 0.2 * S, ProgressDeadline: 0.3 * S }));
    const d = await vi.waitUntil(
      async () => (await srv.jobs.deployments('default', 'web')).value.find((x) => x.Status === 'failed'),
      { timeout: 5_000 },
    );
    expect(d.StatusDescription).toBe('Failed due to progress deadline');
    expect(d.TaskGroups['web']!.RequireProgressBy).not.toBeNull();
  });

  it('cancels a running deployment when a newer version is registered or the job stops', async () => {
    const srv = await start();
    await srv.jobs.register(rolling());
    const d0 = await vi.waitUntil(async () => (await srv.jobs.deployments('default', 'web')).value[0], {
      timeout: 5_000,
    });
    await srv.jobs.register(rolling({}, 3, 'v1'));
    await expect
      .poll(async () => (await srv.deployments.get(d0.ID)).value.Status === 'cancelled', {
        timeout: 5_000,
        message: 'v0 deployment cancelled',
      })
      .toBeTruthy();
    expect((await srv.deployments.get(d0.ID)).value.StatusDescription).toBe('Cancelled due to newer version of job');
    const d1 = await vi.waitUntil(
      async () => (await srv.jobs.deployments('default', 'web')).value.find((d) => d.JobVersion === 1),
      { timeout: 5_000 },
    );
    await srv.jobs.deregister('default', 'web', false);
    await expect
      .poll(async () => (await srv.deployments.get(d1.ID)).value.Status === 'cancelled', {
        timeout: 5_000,
        message: 'v1 deployment cancelled',
      })
      .toBeTruthy();
    expect((await srv.deployments.get(d1.ID)).value.StatusDescription).toBe('Cancelled because job is stopped');
  });

  it('counts an allocation updated in place into a new deployment as placed there, with its health reset', async () => {
    const srv = await start();
    await srv.jobs.register(rolling({}, 2));
    await healAll(srv, 0);
    await srv.jobs.register({ ...rolling({}, 2), Priority: 60 });
    const d1 = await vi.waitUntil(
      async () =>
        (await srv.jobs.deployments('default', 'web')).value.find(
          (d) => d.JobVersion === 1 && d.TaskGroups['web']!.PlacedAllocs === 2,
        ),
      { timeout: 5_000 },
    );
    const moved = await live(srv);
    expect(moved.map((a) => [a.JobVersion, a.DeploymentStatus?.Healthy ?? null])).toEqual([
      [1, null],
      [1, null],
    ]);
    expect(d1.TaskGroups['web']?.HealthyAllocs).toBe(0);
    expect((await healAll(srv, 1)).Status).toBe('successful');
  });

  it('reverts a job to an earlier version on request, as a new version', async () => {
    const srv = await start();
    await srv.jobs.register(rolling());
    await srv.jobs.register(rolling({}, 3, 'v1'));
    const r = await srv.jobs.revert('default', 'web', 0);
    expect(r.EvalID).not.toBe('');
    const job = (await srv.jobs.get('default', 'web')).value;
    expect(job.Version).toBe(2);
    expect(job.TaskGroups[0]?.Tasks[0]?.Config).toEqual({ run_for: '10s', version: 'v0' });
    expect(isDroverError(await srv.jobs.revert('default', 'web', 0, 1).catch((e: unknown) => e))).toBe(true);
  });
});
