/** The server driven by the real scheduler (src/scheduler), as the agent runs it. */
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../testing/builders.js';
import { newScheduler } from '../scheduler/index.js';
import type { Job } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

let s: Server | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

const live = async (srv: Server, job = 'web') =>
  (await srv.jobs.allocations('default', job, true)).value.filter(
    (a) => a.DesiredStatus === 'run' && !['complete', 'failed', 'lost'].includes(a.ClientStatus),
  );

async function evalDone(srv: Server, id: string): Promise<void> {
  await expect
    .poll(async () => (await srv.evals.get(id)).value.Status === 'complete', {
      timeout: 5000,
      message: `eval ${id} complete`,
    })
    .toBeTruthy();
}

function withCount(j: Job, n: number): Job {
  const c = structuredClone(j);
  c.TaskGroups[0]!.Count = n;
  return c;
}

describe('Server with the real scheduler', () => {
  it('places every instance, plans no change for the same job, then replaces allocations on an edit', async () => {
    s = await testServer({ newScheduler });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.nodeRegister(build.node({ ID: 'n2' }));
    // max_parallel = 0: no rolling update (admission would fill the default one), so an edit replaces all at once.
    const job: Job = { ...withCount(build.job({ ID: 'web' }), 3), Update: { MaxParallel: 0 } as Job['Update'] };
    const r = await s.jobs.register(job);
    await evalDone(s, r.EvalID);
    const first = await live(s);
    expect(first).toHaveLength(3);
    expect((await s.jobs.plan(job, true)).Diff?.Type).toBe('None');
    const edited = structuredClone(job);
    edited.TaskGroups[0]!.Tasks[0]!.Config = { run_for: '1m' };
    const plan = await s.jobs.plan(edited, true);
    expect(plan.Diff?.Type).toBe('Edited');
    const r2 = await s.jobs.register(edited);
    await evalDone(s, r2.EvalID);
    expect((await s.jobs.get('default', 'web')).value.Version).toBe(1);
    const after = await live(s);
    expect(after).toHaveLength(3);
    expect(after.every((a) => a.JobVersion === 1)).toBe(true);
    expect(after.some((a) => first.some((f) => f.ID === a.ID))).toBe(false);
  });

  it('rolls an update through one allocation at a time as the new ones turn healthy', async () => {
    s = await testServer({ newScheduler });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const job = withCount(build.job({ ID: 'web' }), 3);
    job.TaskGroups[0]!.Update = build.update({
      HealthCheck: 'task_states',
      HealthyDeadline: 300e9,
      ProgressDeadline: 600e9,
    });
    // A stand-in client: every allocation the server wants running reports running, with its task running.
    const reported = new Set<string>();
    const client = setInterval(() => {
      void (async () => {
        const { allocs } = await s!.getClientAllocs('n1', 0, 0);
        const fresh = allocs.filter((a) => a.DesiredStatus === 'run' && !reported.has(a.ID));
        const done = allocs.filter((a) => a.DesiredStatus !== 'run' && a.ClientStatus === 'running');
        for (const a of fresh) reported.add(a.ID);
        const running = build.taskState({ State: 'running' });
        await s!.updateAllocs([
          ...fresh.map((a) => ({
            ID: a.ID,
            ClientStatus: 'running',
            ClientDescription: '',
            TaskStates: { srv: running },
          })),
          ...done.map((a) => ({
            ID: a.ID,
            ClientStatus: 'complete',
            ClientDescription: '',
            TaskStates: { srv: { ...running, State: 'dead' } },
          })),
        ]);
      })().catch(() => {});
    }, 15);
    try {
      await s.jobs.register(job);
      await expect
        .poll(async () => (await live(s!)).filter((a) => a.ClientStatus === 'running').length === 3, {
          timeout: 5000,
          message: 'v0 running',
        })
        .toBeTruthy();
      const edited = structuredClone(job);
      edited.TaskGroups[0]!.Tasks[0]!.Config = { run_for: '1m' };
      await s.jobs.register(edited);
      await expect
        .poll(
          async () => {
            const l = await live(s!);
            return l.length === 3 && l.every((a) => a.JobVersion === 1 && a.ClientStatus === 'running');
          },
          { timeout: 8000, message: 'v1 rolled out' },
        )
        .toBeTruthy();
      const deps = (await s.jobs.deployments('default', 'web')).value;
      expect(deps[0]).toMatchObject({ JobVersion: 1, Status: 'successful' });
      expect(deps[0]?.TaskGroups.web).toMatchObject({ PlacedAllocs: 3, HealthyAllocs: 3 });
      expect((await s.jobs.get('default', 'web')).value.Stable).toBe(true);
    } finally {
      clearInterval(client);
    }
  });

  it('blocks when nothing fits and places when a node joins', async () => {
    s = await testServer({ newScheduler });
    await s.start();
    const r = await s.jobs.register(build.job({ ID: 'web' }));
    await evalDone(s, r.EvalID);
    await expect
      .poll(() => s!.stats().blocked.totalBlocked === 1, { timeout: 3000, message: 'blocked eval' })
      .toBeTruthy();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await expect.poll(async () => (await live(s!)).length === 1, { timeout: 5000, message: 'placement' }).toBeTruthy();
  });
});
