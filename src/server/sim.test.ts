/** `simulate`: what-ifs on a fork of a server's state, answered by the real scheduler, the live state untouched. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { build } from '../testing/builders.js';
import { newScheduler } from '../scheduler/index.js';
import { isDroverError } from '../errors/index.js';
import type { Job } from '../structs/index.js';
import type { Server } from './server.js';
import { maxFitSearch } from './sim.js';
import { testServer } from './testing/harness.js';

let s: Server;

function job(id: string, count: number, cpu: number, over: Partial<Job> = {}): Job {
  const tg = build.job().TaskGroups[0]!;
  return build.job({
    ID: id,
    Update: { MaxParallel: 0 } as Job['Update'],
    TaskGroups: [
      { ...tg, Name: id, Count: count, Tasks: [{ ...tg.Tasks[0]!, Resources: { CPU: cpu, MemoryMB: 64 } }] },
    ],
    ...over,
  });
}

const live = async (id: string) =>
  (await s.jobs.allocations('default', id, true)).value.filter(
    (a) => a.DesiredStatus === 'run' && !['complete', 'failed', 'lost'].includes(a.ClientStatus),
  ).length;

async function settle(evalID: string): Promise<void> {
  await expect
    .poll(async () => ['complete', 'blocked'].includes((await s.evals.get(evalID)).value.Status), { timeout: 5000 })
    .toBe(true);
}

async function run(j: Job): Promise<void> {
  await settle((await s.jobs.register(j)).EvalID);
}

beforeEach(async () => {
  s = await testServer({ newScheduler });
  await s.start();
  // Two 4 GHz clients in dc1; "big" asks 3 GHz per instance, so two of its four fit and two are blocked today.
  await s.nodeRegister(build.node({ ID: 'aaaa1111-0000-4000-8000-000000000001', Name: 'client-1' }));
  await s.nodeRegister(build.node({ ID: 'bbbb2222-0000-4000-8000-000000000002', Name: 'client-2' }));
  await run(job('big', 4, 3000));
  await run(job('small', 1, 500));
});
afterEach(async () => {
  await s.stop();
});

describe('simulate', () => {
  it('lets a blocked job fit after adding two nodes like client-1, and leaves the live state as it was', async () => {
    expect(await live('big')).toBe(2);
    const index = s.store.latestIndex();
    const r = await s.simulate!({ AddNodes: [{ Count: 2, Like: 'client-1' }] });
    const big = r.Groups.find((g) => g.JobID === 'big')!;
    expect(big).toMatchObject({ Desired: 4, RunningBefore: 2, Running: 4, Placed: 2, Unplaced: 0, Metrics: null });
    expect(r.Changes).toEqual(['add 2 nodes like client-1']);
    expect(r.Nodes.filter((n) => n.Added).map((n) => n.Name)).toEqual(['client-1-sim-1', 'client-1-sim-2']);
    expect(r.Nodes.filter((n) => n.Added).every((n) => n.CPU.Used === 3000 && n.CPUBefore === 0)).toBe(true);
    // Each added node carries what was placed on it, per group, for the UI's picture.
    expect(r.Nodes.filter((n) => n.Added).map((n) => n.Placed)).toEqual([
      [{ Namespace: 'default', JobID: 'big', TaskGroup: 'big', Count: 1, CPU: 3000, MemoryMB: 64 }],
      [{ Namespace: 'default', JobID: 'big', TaskGroup: 'big', Count: 1, CPU: 3000, MemoryMB: 64 }],
    ]);
    expect(r.Nodes.find((n) => n.Name === 'client-1')).toMatchObject({ Placed: [], Stopped: 0, Preempted: 0 });
    expect(r.Capacity.Nodes).toBe(4);
    expect(s.store.latestIndex()).toBe(index);
    expect(await live('big')).toBe(2);
    expect((await s.nodes.list({})).value).toHaveLength(2);
  });

  it('says what does not fit and why, with the scheduler’s own exhausted dimension', async () => {
    const r = await s.simulate!({ Scale: [{ JobID: 'big', Group: '', Count: 6 }] });
    const big = r.Groups.find((g) => g.JobID === 'big')!;
    expect(big).toMatchObject({ Desired: 6, Running: 2, Placed: 0, Unplaced: 4 });
    expect(big.Metrics?.DimensionExhausted?.cpu).toBeGreaterThan(0);
    expect(r.Changes).toEqual(['scale big/big to 6']);
  });

  it('finds the largest count that fits, and that count really fits while one more is blocked', async () => {
    const r = await s.simulate!({ MaxCount: { JobID: 'small', Group: '' } });
    // 1 GHz is left on each client after big's two instances: two 500 MHz instances each.
    expect(r.MaxCount).toMatchObject({ JobID: 'small', TaskGroup: 'small', Count: 4, Current: 1 });
    expect(r.MaxCount!.Metrics?.DimensionExhausted?.cpu).toBeGreaterThan(0);
    // The capacity bound (not fitting), the count placed there (fits), one more (does not): no bisection.
    expect(r.MaxCount!.Probes).toBeLessThanOrEqual(3);
    await run(job('small', 4, 500));
    expect(await live('small')).toBe(4);
    await run(job('small', 5, 500));
    expect(await live('small')).toBe(4);
  });

  it('replaces what a removed node or a failed datacenter ran, as far as capacity allows', async () => {
    const onClient1 = s.store
      .snapshot()
      .allocsByNode('aaaa1111-0000-4000-8000-000000000001')
      .filter((a) => a.DesiredStatus === 'run').length;
    expect(onClient1).toBeGreaterThan(0);
    const removed = await s.simulate!({ RemoveNodes: ['client-1'] });
    expect(removed.Groups.find((g) => g.JobID === 'big')).toMatchObject({ Running: 1, Unplaced: 3 });
    expect(removed.Nodes.find((n) => n.Name === 'client-1')).toMatchObject({
      Status: 'down',
      Allocs: 0,
      Stopped: onClient1,
    });
    const failed = await s.simulate!({ FailDatacenters: ['dc1'] });
    expect(failed.Groups.find((g) => g.JobID === 'small')).toMatchObject({ RunningBefore: 1, Running: 0, Unplaced: 1 });
    expect(failed.Capacity.Nodes).toBe(0);
  });

  it('drains a node by moving its allocations to the others, the node left empty', async () => {
    const r = await s.simulate!({
      DrainNodes: ['client-2'],
      AddNodes: [{ Count: 1, Like: 'client-2', CPU: 8000 }],
    });
    expect(r.Nodes.find((n) => n.Name === 'client-2')).toMatchObject({
      SchedulingEligibility: 'ineligible',
      Allocs: 0,
    });
    expect(r.Nodes.find((n) => n.Name === 'client-2-sim-1')?.CPU.Total).toBe(8000);
    expect(r.Groups.find((g) => g.JobID === 'big')).toMatchObject({ Running: 3, Unplaced: 1 });
  });

  it('registers a job file’s job only in the copy', async () => {
    const r = await s.simulate!({ Jobs: [job('new', 2, 100)] });
    expect(r.Groups.find((g) => g.JobID === 'new')).toMatchObject({ Placed: 2, Running: 2, RunningBefore: 0 });
    expect(r.Changes).toEqual(['register job new']);
    await expect(s.jobs.get('default', 'new')).rejects.toThrow(/not found/);
  });

  it('refuses unknown nodes, jobs and groups, naming the field of each', async () => {
    const err = await s.simulate!({
      AddNodes: [{ Count: 0, Like: 'nope' }],
      Scale: [{ JobID: 'big', Group: 'x', Count: 1 }],
      MaxCount: { JobID: 'ghost', Group: '' },
    }).catch((e: unknown) => e);
    expect(isDroverError(err, 'BadRequest')).toBe(true);
    const paths = (err as { problems: { path: string }[] }).problems.map((p) => p.path);
    expect(paths).toEqual(['AddNodes[0].Count', 'AddNodes[0].Like', 'Scale[0].Group', 'MaxCount.JobID']);
  });

  it('refuses more than 20,000 instances asked in all, naming the Scale or Jobs entry that passes the limit', async () => {
    const scaled = await s.simulate!({ Scale: [{ JobID: 'big', Group: '', Count: 20_001 }] }).catch((e: unknown) => e);
    expect(isDroverError(scaled, 'BadRequest')).toBe(true);
    expect((scaled as { problems: { path: string; message: string }[] }).problems).toEqual([
      { path: 'Scale[0].Count', message: expect.stringMatching(/20001 instances .* at most 20000/) },
    ]);
    const jobs = await s.simulate!({ Jobs: [job('a', 15_000, 1), job('b', 15_000, 1)] }).catch((e: unknown) => e);
    expect(isDroverError(jobs, 'BadRequest')).toBe(true);
    expect((jobs as { problems: { path: string }[] }).problems.map((p) => p.path)).toEqual(['Jobs[1]']);
  });

  it('runs one simulation at a time: a second one meanwhile is refused as busy, a later one runs', async () => {
    const first = s.simulate!({ AddNodes: [{ Count: 1, Like: 'client-1' }] });
    const second = await s.simulate!({ AddNodes: [{ Count: 1, Like: 'client-1' }] }).catch((e: unknown) => e);
    expect(isDroverError(second, 'SimulationBusy')).toBe(true);
    expect((second as Error).message).toMatch(/a simulation is already running/);
    expect((await first).Changes).toEqual(['add 1 node like client-1']);
    expect((await s.simulate!({ RemoveNodes: ['client-1'] })).Changes).toEqual(['remove node client-1']);
  });
});

describe('the max-count search', () => {
  /** A probe where counts up to `max` fit and a failing count reports only `placed` placed. */
  const probeUpTo = (max: number, placed: number) => {
    const seen: number[] = [];
    const probe = (count: number) => {
      seen.push(count);
      return Promise.resolve({ fits: count <= max, placed: count <= max ? count : placed });
    };
    return { seen, probe };
  };

  it('bisects when the scheduler placed far fewer than fit, instead of counting up one by one', async () => {
    const { seen, probe } = probeUpTo(700, 100);
    const r = await maxFitSearch(1001, probe, 40);
    expect(r).toMatchObject({ count: 700, truncated: false });
    expect(seen.length).toBeLessThanOrEqual(14);
    expect(r.probes).toBe(seen.length);
  });

  it('takes three probes when the placed count is the answer', async () => {
    const { seen, probe } = probeUpTo(4, 4);
    expect(await maxFitSearch(11, probe, 40)).toMatchObject({ count: 4, truncated: false });
    expect(seen).toEqual([11, 4, 5]);
  });

  it('says so when the probe limit stops it before the answer', async () => {
    const { probe } = probeUpTo(700, 100);
    const r = await maxFitSearch(100_001, probe, 4);
    expect(r.truncated).toBe(true);
    expect(r.count).toBeLessThan(700);
    expect(r.probes).toBe(4);
  });
});
