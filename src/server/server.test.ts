import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isDroverError } from '../errors/index.js';
import { SqliteBackend } from '../state/index.js';
import { build } from '../testing/builders.js';
import type { Job } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

const servers: Server[] = [];
const dirs: string[] = [];
async function server(...args: Parameters<typeof testServer>): Promise<Server> {
  const s = await testServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const liveAllocs = async (s: Server, job = 'web') =>
  (await s.jobs.allocations('default', job, true)).value.filter(
    (a) => a.DesiredStatus === 'run' && !['complete', 'failed', 'lost'].includes(a.ClientStatus),
  );

/** Waits, 3 s at most, for an evaluation to complete. */
const evalComplete = (s: Server, id: string, message: string) =>
  expect.poll(async () => (await s.evals.get(id)).value.Status, { timeout: 3000, message }).toBe('complete');

/** Registers node n1 and job `web` with `count` allocations, waits (3 s at most) until they run; returns the job. */
async function runWeb(s: Server, count: number, message: string): Promise<Job> {
  await s.nodeRegister(build.node({ ID: 'n1' }));
  const job = build.job({ ID: 'web' });
  job.TaskGroups[0]!.Count = count;
  await s.jobs.register(job);
  await expect.poll(async () => (await liveAllocs(s)).length, { timeout: 3000, message }).toBe(count);
  return job;
}

describe('Server job lifecycle', () => {
  it('schedules a registered job: eval completes, allocations land in state, job runs', async () => {
    const s = await server();
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const job = build.job({ ID: 'web' });
    job.TaskGroups[0]!.Count = 3;
    const r = await s.jobs.register(job);
    expect(r.EvalID).not.toBe('');
    await evalComplete(s, r.EvalID, 'eval complete');
    const allocs = await liveAllocs(s);
    expect(allocs).toHaveLength(3);
    expect(new Set(allocs.map((a) => a.Name))).toEqual(new Set(['web.web[0]', 'web.web[1]', 'web.web[2]']));
    const got = (await s.jobs.get('default', 'web')).value;
    expect(got.Status).toBe('running');
    expect(got.Version).toBe(0);
    const sum = (await s.jobs.summary('default', 'web')).value;
    expect(sum.Summary.web).toMatchObject({ Starting: 3, Queued: 0 });
  });

  it('increments the version only when the spec changes, but always creates an eval', async () => {
    const s = await server();
    const job = build.job({ ID: 'web' });
    const r0 = await s.jobs.register(job);
    const r1 = await s.jobs.register(job);
    expect(r1.EvalID).not.toBe(r0.EvalID);
    expect((await s.jobs.get('default', 'web')).value.Version).toBe(0);
    expect(r1.JobModifyIndex).toBe(r0.JobModifyIndex);
    await s.jobs.register({ ...job, Priority: 70 });
    const v = (await s.jobs.get('default', 'web')).value;
    expect(v.Version).toBe(1);
    expect((await s.jobs.versions('default', 'web')).value.map((j) => j.Version)).toEqual([1, 0]);
  });

  it('cancels the evals that newer registers superseded, with the reason', async () => {
    const s = await server();
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    // Two jobs, each registered three times at once: the broker supersedes evals of each job separately.
    const jobs = [build.job({ ID: 'web' }), build.job({ ID: 'api' })];
    const regs = await Promise.all(
      [50, 51, 52].flatMap((Priority) => jobs.map((job) => s.jobs.register({ ...job, Priority }))),
    );
    for (const r of regs.slice(-2)) await evalComplete(s, r.EvalID, 'the newest evals complete');
    const cancelled = await vi.waitUntil(
      async () => {
        const evs = (await Promise.all(jobs.map((j) => s.jobs.evaluations('default', j.ID))))
          .flatMap((r) => r.value)
          .filter((e) => e.Status === 'canceled');
        return new Set(evs.map((e) => e.JobID)).size === 2 ? evs : undefined;
      },
      { timeout: 3000 },
    );
    expect(cancelled.every((e) => e.StatusDescription.includes('more recent evaluation'))).toBe(true);
  });

  it('keeps only the last 6 versions', async () => {
    const s = await server();
    for (let p = 1; p <= 9; p++) await s.jobs.register(build.job({ ID: 'web', Priority: p * 10 }));
    expect((await s.jobs.versions('default', 'web')).value.map((j) => j.Version)).toEqual([8, 7, 6, 5, 4, 3]);
  });

  it('refuses a register whose check-index does not match, and registers when it does', async () => {
    const s = await server();
    const r = await s.jobs.register(build.job({ ID: 'web' }), { enforceIndex: 0 });
    const err = await s.jobs
      .register(build.job({ ID: 'web', Priority: 60 }), { enforceIndex: 0 })
      .catch((e: unknown) => e);
    expect(isDroverError(err, 'CheckIndexMismatch')).toBe(true);
    await expect(
      s.jobs.register(build.job({ ID: 'web', Priority: 60 }), { enforceIndex: r.JobModifyIndex }),
    ).resolves.toMatchObject({ EvalID: expect.any(String) });
  });

  it('rejects a job without task groups with a validation error naming the path', async () => {
    const s = await server();
    const err = await s.jobs.register(build.job({ ID: 'web', TaskGroups: [] })).catch((e: unknown) => e);
    expect(isDroverError(err, 'JobValidation')).toBe(true);
    expect((err as { problems: { path?: string }[] }).problems[0]?.path).toBe('TaskGroups');
  });

  it('stops every allocation on deregister and keeps the stopped job', async () => {
    const s = await server();
    await s.start();
    await runWeb(s, 2, 'two allocs');
    const d = await s.jobs.deregister('default', 'web', false);
    await evalComplete(s, d.EvalID, 'stop eval');
    expect(await liveAllocs(s)).toHaveLength(0);
    const stopped = (await s.jobs.get('default', 'web')).value;
    expect(stopped.Stop).toBe(true);
    expect(stopped.Status).toBe('dead');
  });

  it('purges the job, its versions and summary but leaves allocations for GC', async () => {
    const s = await server();
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.jobs.register(build.job({ ID: 'web' }));
    await expect.poll(async () => (await liveAllocs(s)).length === 1, { timeout: 3000, message: 'alloc' }).toBeTruthy();
    const d = await s.jobs.deregister('default', 'web', true);
    await evalComplete(s, d.EvalID, 'purge eval');
    await expect(s.jobs.get('default', 'web')).rejects.toMatchObject({ code: 'JobNotFound' });
    await expect(s.jobs.versions('default', 'web')).rejects.toMatchObject({ code: 'JobNotFound' });
    await expect(s.jobs.summary('default', 'web')).rejects.toMatchObject({ code: 'JobNotFound' });
    const all = (await s.jobs.allocations('default', 'web', true)).value;
    expect(all).toHaveLength(1);
    expect(all[0]?.DesiredStatus).toBe('stop');
  });

  it('treats a deregister of an unknown job as done, as Nomad does, and writes nothing', async () => {
    const s = await server();
    const before = s.store.latestIndex();
    const d = await s.jobs.deregister('default', 'nope', true);
    expect(d).toMatchObject({ EvalID: '', EvalCreateIndex: 0, Index: before });
    expect(s.store.latestIndex()).toBe(before);
  });
});

describe('Server blocked evals and client updates', () => {
  it('blocks an eval that cannot place and retries it when a node joins', async () => {
    const s = await server();
    await s.start();
    const r = await s.jobs.register(build.job({ ID: 'web' }));
    await evalComplete(s, r.EvalID, 'first eval');
    const first = (await s.evals.get(r.EvalID)).value;
    expect(first.BlockedEval).not.toBe('');
    expect((await s.evals.get(first.BlockedEval)).value.Status).toBe('blocked');
    expect(s.stats().blocked.totalBlocked).toBe(1);
    expect((await s.jobs.summary('default', 'web')).value.Summary.web!.Queued).toBe(1);
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await expect
      .poll(async () => (await liveAllocs(s)).length === 1, { timeout: 3000, message: 'placement after node joined' })
      .toBeTruthy();
    await evalComplete(s, first.BlockedEval, 'blocked eval done');
  });

  it('unblocks when allocations on a full node finish', async () => {
    const s = await server();
    await s.start();
    const node = build.node({ ID: 'n1' });
    node.NodeResources.Cpu.CpuShares = 150;
    await s.nodeRegister(node);
    await s.jobs.register(build.job({ ID: 'a' }));
    await expect
      .poll(async () => (await liveAllocs(s, 'a')).length === 1, { timeout: 3000, message: 'a placed' })
      .toBeTruthy();
    await s.jobs.register(build.job({ ID: 'b' }));
    await expect.poll(() => s.stats().blocked.totalBlocked === 1, { timeout: 3000, message: 'b blocked' }).toBeTruthy();
    const [a] = await liveAllocs(s, 'a');
    await s.updateAllocs([{ ID: a!.ID, ClientStatus: 'complete', ClientDescription: '', TaskStates: null }]);
    // A complete alloc of a service job is not replaced by the fake scheduler only because it is terminal;
    // what matters here is that b got the freed capacity.
    await expect
      .poll(async () => (await liveAllocs(s, 'b')).length === 1, { timeout: 3000, message: 'b placed' })
      .toBeTruthy();
  });

  it('updates the summary from client status and reschedules a failed allocation', async () => {
    const s = await server();
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.jobs.register(build.job({ ID: 'web' }));
    const [a] = await vi.waitUntil(
      async () => {
        const l = await liveAllocs(s);
        return l.length === 1 ? l : undefined;
      },
      { timeout: 3_000 },
    );
    await s.updateAllocs([{ ID: a!.ID, ClientStatus: 'running', ClientDescription: '', TaskStates: null }]);
    expect((await s.jobs.summary('default', 'web')).value.Summary.web).toMatchObject({ Running: 1, Starting: 0 });
    await s.updateAllocs([{ ID: a!.ID, ClientStatus: 'failed', ClientDescription: 'boom', TaskStates: null }]);
    expect((await s.jobs.summary('default', 'web')).value.Summary.web).toMatchObject({ Running: 0, Failed: 1 });
    const evals = (await s.jobs.evaluations('default', 'web')).value;
    expect(evals.some((e) => e.TriggeredBy === 'alloc-failure')).toBe(true);
    await expect
      .poll(async () => (await liveAllocs(s)).some((x) => x.ID !== a!.ID), { timeout: 3000, message: 'replacement' })
      .toBeTruthy();
  });

  it('answers getClientAllocs when the node gets work, and times out with the same index otherwise', async () => {
    const s = await server();
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const empty = await s.getClientAllocs('n1', 0, 0);
    expect(empty.allocs).toHaveLength(0);
    const t0 = Date.now();
    const idle = await s.getClientAllocs('n1', empty.index, 60);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
    expect(idle.allocs).toHaveLength(0);
    const waiting = s.getClientAllocs('n1', idle.index, 3000);
    await s.jobs.register(build.job({ ID: 'web' }));
    const got = await waiting;
    expect(got.allocs).toHaveLength(1);
    expect(got.index).toBeGreaterThan(idle.index);
    // The client's own status report does not wake its next query.
    await s.updateAllocs([{ ID: got.allocs[0]!.ID, ClientStatus: 'running', ClientDescription: '', TaskStates: null }]);
    const again = await s.getClientAllocs('n1', got.index, 50);
    expect(again.index).toBe(got.index);
  });
});

describe('Server eval failures', () => {
  it('fails an eval whose scheduler keeps throwing and schedules a delayed follow-up', async () => {
    let calls = 0;
    const s = await server({
      newScheduler: () => ({
        process: async () => {
          calls++;
          throw new Error('scheduler bug');
        },
      }),
      failedFollowUpDelayMs: 60_000,
    });
    await s.start();
    const r = await s.jobs.register(build.job({ ID: 'web' }));
    const failed = await vi.waitUntil(
      async () => {
        const e = (await s.evals.get(r.EvalID)).value;
        return e.Status === 'failed' && e.NextEval !== '' ? e : undefined;
      },
      { timeout: 3000 },
    );
    expect(calls).toBe(3);
    const next = (await s.evals.get(failed.NextEval)).value;
    expect(next).toMatchObject({ TriggeredBy: 'failed-follow-up', Status: 'pending', PreviousEval: r.EvalID });
    expect(Date.parse(next.WaitUntil!)).toBeGreaterThan(Date.now() + 50_000);
    expect(s.stats().broker.delayed).toBe(1);
  });
});

describe('Server heartbeats', () => {
  it('marks a node down when its TTL passes and replaces its allocations elsewhere', async () => {
    const s = await server({ heartbeat: { minTTLms: 60, maxHeartbeatsPerSecond: 50, gracems: 20 } });
    await s.start();
    const r1 = await s.nodeRegister(build.node({ ID: 'n1' }));
    expect(r1.heartbeatTTLms).toBe(60);
    await s.jobs.register(build.job({ ID: 'web' }));
    const [a] = await vi.waitUntil(
      async () => {
        const l = await liveAllocs(s);
        return l.length === 1 ? l : undefined;
      },
      { timeout: 3_000 },
    );
    expect(a!.NodeID).toBe('n1');
    // n2 keeps heartbeating; n1 does not.
    await s.nodeRegister(build.node({ ID: 'n2' }));
    const beat = setInterval(() => void s.nodeUpdateStatus('n2', 'ready').catch(() => {}), 20);
    try {
      await expect
        .poll(async () => (await s.nodes.get('n1')).value.Status === 'down', { timeout: 2000, message: 'n1 down' })
        .toBeTruthy();
      const evals = (await s.jobs.evaluations('default', 'web')).value;
      expect(evals.some((e) => e.TriggeredBy === 'node-update' && e.NodeID === 'n1')).toBe(true);
      await expect
        .poll(async () => (await liveAllocs(s)).some((x) => x.NodeID === 'n2'), {
          timeout: 2000,
          message: 'replacement on n2',
        })
        .toBeTruthy();
      expect((await s.allocs.get(a!.ID)).value.ClientStatus).toBe('lost');
      expect((await s.nodes.get('n2')).value.Status).toBe('ready');
    } finally {
      clearInterval(beat);
    }
  });

  it("removes a down node's service instances from the catalog, since its dead client cannot", async () => {
    const s = await server({ heartbeat: { minTTLms: 60, maxHeartbeatsPerSecond: 50, gracems: 20 } });
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.nodeRegister(build.node({ ID: 'n2' }));
    const reg = (id: string, node: string) => ({
      ID: id,
      ServiceName: 'web',
      Namespace: 'default',
      NodeID: node,
      Datacenter: 'dc1',
      JobID: 'web',
      AllocID: `alloc-${id}`,
      Tags: null,
      Address: '127.0.0.1',
      Port: 8080,
      CreateIndex: 0,
      ModifyIndex: 0,
    });
    await s.upsertServiceRegistrations([reg('i1', 'n1'), reg('i2', 'n2')]);
    const beat = setInterval(() => void s.nodeUpdateStatus('n2', 'ready').catch(() => {}), 20);
    try {
      await expect
        .poll(async () => (await s.nodes.get('n1')).value.Status === 'down', { timeout: 2000, message: 'n1 down' })
        .toBeTruthy();
      expect((await s.services.get('default', 'web', {})).value.map((r) => r.ID)).toEqual(['i2']);
    } finally {
      clearInterval(beat);
    }
  });

  it('scales the TTL with the number of nodes', async () => {
    const s = await server({ heartbeat: { minTTLms: 1000, maxHeartbeatsPerSecond: 2, gracems: 0 } });
    expect(s.ctx.heartbeats.ttlFor(1)).toBe(1000);
    expect(s.ctx.heartbeats.ttlFor(10)).toBe(5000);
  });
});

describe('Server durability and restart', () => {
  it('restores jobs, allocations, evaluations and the index from SQLite after an unclean stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-server-'));
    dirs.push(dir);
    const s1 = await server({}, new SqliteBackend({ dataDir: dir }));
    await s1.start();
    const job = await runWeb(s1, 2, 'placed');
    const before = s1.store.latestIndex();
    const allocIDs = (await liveAllocs(s1)).map((a) => a.ID).sort();
    // A second server opens the same data dir while the first is still open: as after SIGKILL.
    const s2 = await server({}, new SqliteBackend({ dataDir: dir }));
    expect(s2.store.latestIndex()).toBe(before);
    expect((await s2.jobs.get('default', 'web')).value.Version).toBe(0);
    expect((await s2.jobs.evaluations('default', 'web')).value.length).toBeGreaterThan(0);
    expect((await s2.nodes.get('n1')).value.Status).toBe('ready');
    await s1.stop();
    await s2.start();
    // The restarted scheduler sees the existing allocations: no duplicates after a re-evaluation.
    const r = await s2.jobs.register(job);
    expect(r.Index).toBe(before + 1);
    await evalComplete(s2, r.EvalID, 'eval after restart');
    expect((await liveAllocs(s2)).map((a) => a.ID).sort()).toEqual(allocIDs);
  });

  it('re-enqueues pending evals found in state on start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-server-'));
    dirs.push(dir);
    const s1 = await server({}, new SqliteBackend({ dataDir: dir }));
    // Not started: the eval is written but never scheduled.
    await s1.nodeRegister(build.node({ ID: 'n1' }));
    const r = await s1.jobs.register(build.job({ ID: 'web' }));
    await s1.stop();
    const s2 = await server({}, new SqliteBackend({ dataDir: dir }));
    await s2.start();
    await evalComplete(s2, r.EvalID, 'recovered eval');
    expect(await liveAllocs(s2)).toHaveLength(1);
  });
});

describe('Server service registrations', () => {
  it('stores registrations from clients, finds them by name, and deletes them', async () => {
    const s = await server();
    const reg = {
      ID: 'r1',
      ServiceName: 'web',
      Namespace: 'default',
      NodeID: 'n1',
      Datacenter: 'dc1',
      JobID: 'web',
      AllocID: 'a1',
      Tags: null,
      Address: '127.0.0.1',
      Port: 8080,
      CreateIndex: 0,
      ModifyIndex: 0,
    };
    await s.upsertServiceRegistrations([reg]);
    const snap = s.store.snapshot();
    expect(snap.serviceRegistrationsByName('default', 'web').map((r) => r.Port)).toEqual([8080]);
    expect(snap.serviceRegistrationsByAlloc('a1')[0]?.CreateIndex).toBe(snap.tableIndex('service_registrations'));
    await s.deleteServiceRegistrations(['r1']);
    expect(s.store.snapshot().serviceRegistrationsByName('default', 'web')).toHaveLength(0);
  });
});

describe('Server reads', () => {
  it('resolves unique prefixes and refuses ambiguous ones', async () => {
    const s = await server();
    await s.nodeRegister(build.node({ ID: 'abc11111-0000-0000-0000-000000000000' }));
    await s.nodeRegister(build.node({ ID: 'abc22222-0000-0000-0000-000000000000' }));
    expect(s.resolvePrefix('node', 'abc1')).toBe('abc11111-0000-0000-0000-000000000000');
    expect(() => s.resolvePrefix('node', 'abc')).toThrow(expect.objectContaining({ code: 'BadRequest' }));
    expect(() => s.resolvePrefix('node', 'zzz')).toThrow(expect.objectContaining({ code: 'NodeNotFound' }));
    await s.jobs.register(build.job({ ID: 'web-frontend' }));
    expect(s.resolvePrefix('job', 'web-')).toBe('web-frontend');
  });

  it('lists jobs by prefix with their summaries, and blocks until the jobs table changes', async () => {
    const s = await server();
    await s.jobs.register(build.job({ ID: 'api' }));
    const r = await s.jobs.register(build.job({ ID: 'web' }));
    const list = await s.jobs.list({ prefix: 'w' });
    expect(list.value.map((j) => j.ID)).toEqual(['web']);
    expect(list.value[0]!.JobSummary?.Summary.web).toBeDefined();
    expect(list.index).toBeGreaterThanOrEqual(r.Index);
    const blocked = s.jobs.list({ minIndex: list.index, waitMs: 3000 });
    await s.jobs.register(build.job({ ID: 'worker' }));
    expect((await blocked).value.map((j) => j.ID)).toEqual(['api', 'web', 'worker']);
  });
});
