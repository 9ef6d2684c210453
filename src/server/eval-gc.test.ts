import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { MemoryBackend, purgeJob, StateStore, upsertAllocs, upsertEvals, upsertJob } from '../state/index.js';
import { build } from '../testing/builders.js';
import type { Evaluation } from '../structs/index.js';
import type { Server } from './server.js';
import { collectEvals, evalGCIntervalMs } from './eval-gc.js';
import { testServer } from './testing/harness.js';

const open = () => StateStore.open({ backend: new MemoryBackend(), logger: nullLogger });
const MIN = 60_000;

describe('evaluation garbage collection', () => {
  it('deletes terminal evaluations older than the threshold and keeps the rest', async () => {
    const store = await open();
    const now = { t: 0 };
    const ctx = { store, clock: { now: () => now.t } };
    const job = build.job({ ID: 'web' });
    await store.write((txn) => upsertJob(txn, job, { nowNs: 0 }));
    const at = async (ms: number, over: Partial<Evaluation>) => {
      now.t = ms;
      const { result } = await store.write((txn) => upsertEvals(txn, [build.eval({ Job: job, ...over })], ms * 1e6));
      return result[0]!.ID;
    };
    const oldComplete = await at(0, { Status: 'complete' });
    const oldFailed = await at(1, { Status: 'failed' });
    const oldPending = await at(2, { Status: 'pending' });
    const oldWithAlloc = await at(3, { Status: 'complete' });
    await store.write((txn) => upsertAllocs(txn, [build.alloc({ Job: job, NodeID: 'n1', EvalID: oldWithAlloc })], 3e6));
    const recent = await at(50 * MIN, { Status: 'complete' });
    const newest = await at(55 * MIN, { Status: 'complete' });

    now.t = 61 * MIN;
    expect(await collectEvals(ctx, 60 * MIN)).toBe(2);
    const left = new Set([...store.snapshot().evals()].map((e) => e.ID));
    expect(left).toEqual(new Set([oldPending, oldWithAlloc, recent, newest]));
    expect(left.has(oldComplete) || left.has(oldFailed)).toBe(false);
  });

  it("keeps a live job's newest evaluation however old, and drops it once the job is gone", async () => {
    const store = await open();
    const ctx = { store, clock: { now: () => 120 * MIN } };
    const job = build.job({ ID: 'batch-1' });
    await store.write((txn) => upsertJob(txn, job, { nowNs: 0 }));
    const { result } = await store.write((txn) => upsertEvals(txn, [build.eval({ Job: job, Status: 'complete' })], 0));
    expect(await collectEvals(ctx, 60 * MIN)).toBe(0);
    await store.write((txn) => purgeJob(txn, job.Namespace, job.ID));
    expect(await collectEvals(ctx, 60 * MIN)).toBe(1);
    expect(store.snapshot().evalByID(result[0]!.ID)).toBeUndefined();
  });

  it('deletes in batches of 1,000 so one pass never makes one huge write', async () => {
    const store = await open();
    const job = build.job({ ID: 'many' });
    await store.write((txn) =>
      upsertEvals(
        txn,
        Array.from({ length: 2_500 }, () => build.eval({ Job: job, Status: 'complete' })),
        0,
      ),
    );
    const before = store.snapshot().index();
    expect(await collectEvals({ store, clock: { now: () => 120 * MIN } }, 60 * MIN)).toBe(2_500);
    expect(store.snapshot().index() - before).toBe(3);
    expect([...store.snapshot().evals()]).toHaveLength(0);
  });

  it('looks a quarter of the threshold apart, between 1 s and 5 minutes', () => {
    expect(evalGCIntervalMs(60 * MIN)).toBe(5 * MIN);
    expect(evalGCIntervalMs(8_000)).toBe(2_000);
    expect(evalGCIntervalMs(100)).toBe(1_000);
  });
});

describe('a running server with a short eval_gc_threshold', () => {
  let srv: Server | undefined;
  afterEach(async () => {
    await srv?.stop();
    srv = undefined;
  });

  it('forgets the evaluations of repeated registers by itself, keeping the newest', async () => {
    srv = await testServer({ start: true, evalGCThresholdMs: 1_000 });
    const base = build.job({ ID: 'again' });
    const job = { ...base, TaskGroups: base.TaskGroups.map((g) => ({ ...g, Count: 0 })) };
    for (let i = 0; i < 5; i++) await srv.jobs.register({ ...job, Meta: { round: String(i) } });
    const evals = () => [...srv!.store.snapshot().evals()].filter((e) => e.JobID === 'again');
    expect(evals().length).toBe(5);
    await expect.poll(() => evals().length, { timeout: 15_000, interval: 200 }).toBe(1);
    expect(evals()[0]!.Status).toBe('complete');
  }, 20_000);
});
