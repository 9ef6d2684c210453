import { afterEach, describe, expect, it } from 'vitest';
import { isDroverError } from '../errors/index.js';
import { build } from '../testing/builders.js';
import { newScheduler } from '../scheduler/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

const live = async (s: Server) =>
  (await s.jobs.allocations('default', 'web', true)).value.filter((a) => a.DesiredStatus === 'run');

describe('alloc stop', () => {
  it('marks the allocation for migration and the scheduler replaces it, keeping the count', async () => {
    const s = await testServer({ newScheduler });
    servers.push(s);
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const job = build.job({ ID: 'web' });
    job.TaskGroups[0]!.Count = 2;
    const r = await s.jobs.register(job);
    await expect
      .poll(async () => (await s.evals.get(r.EvalID)).value.Status === 'complete', {
        timeout: 3000,
        message: 'first eval',
      })
      .toBeTruthy();
    const [victim] = await live(s);
    const res = await s.allocs.stop(victim!.ID);
    expect(res.Index).toBeGreaterThan(0);
    const ev = (await s.evals.get(res.EvalID)).value;
    expect(ev.TriggeredBy).toBe('alloc-stop');
    expect(ev.JobID).toBe('web');
    await expect
      .poll(async () => (await s.evals.get(res.EvalID)).value.Status === 'complete', {
        timeout: 3000,
        message: 'stop eval',
      })
      .toBeTruthy();
    const old = (await s.allocs.get(victim!.ID)).value;
    expect(old.DesiredStatus).toBe('stop');
    expect(old.DesiredTransition.Migrate).toBe(true);
    const now = await live(s);
    expect(now).toHaveLength(2);
    const replacement = now.find((a) => a.ID !== victim!.ID && a.Name === victim!.Name)!;
    expect((await s.allocs.get(replacement.ID)).value.PreviousAllocation).toBe(victim!.ID);
  });

  it('refuses an unknown or already stopped allocation', async () => {
    const s = await testServer({ newScheduler });
    servers.push(s);
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const r = await s.jobs.register(build.job({ ID: 'web' }));
    await expect
      .poll(async () => (await s.evals.get(r.EvalID)).value.Status === 'complete', {
        timeout: 3000,
        message: 'first eval',
      })
      .toBeTruthy();
    const unknown = await s.allocs.stop('0c0c0c0c-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(isDroverError(unknown, 'AllocNotFound')).toBe(true);
    const [a] = await live(s);
    const first = await s.allocs.stop(a!.ID, { noShutdownDelay: true });
    await expect
      .poll(async () => (await s.evals.get(first.EvalID)).value.Status === 'complete', {
        timeout: 3000,
        message: 'stop eval',
      })
      .toBeTruthy();
    expect((await s.allocs.get(a!.ID)).value.DesiredTransition.NoShutdownDelay).toBe(true);
    const again = await s.allocs.stop(a!.ID).catch((e: unknown) => e);
    expect(isDroverError(again, 'BadRequest')).toBe(true);
    expect((again as Error).message).toContain('is already terminal');
  });
});
