import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { MemoryBackend, type BackendBatch, type StateBackend } from './backend.js';
import { SqliteBackend } from './sqlite/sqlite-backend.js';
import { ThreadedSqliteBackend } from './sqlite/threaded-backend.js';
import { StateStore } from './store.js';
import { WAKE_SLICE } from './watch.js';
import { DroverError } from '../errors/index.js';
import { build } from '../testing/builders.js';

const open = (backend: StateBackend = new MemoryBackend()) => StateStore.open({ backend, logger: nullLogger });

describe('StateStore', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('gives every write the next index and records it on the tables it touched', async () => {
    const s = await open();
    const n = build.node({ ID: 'n1' });
    const r1 = await s.write((tx) => tx.put('nodes', n));
    const r2 = await s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    expect([r1.index, r2.index]).toEqual([1, 2]);
    const snap = s.snapshot();
    expect(snap.tableIndex('nodes')).toBe(1);
    expect(snap.tableIndex('jobs')).toBe(2);
    expect(snap.tableIndex('allocs')).toBe(0);
    expect(snap.index()).toBe(2);
  });

  it('keeps a snapshot unchanged while later writes continue', async () => {
    const s = await open();
    const job = build.job({ ID: 'a' });
    await s.write((tx) => tx.put('jobs', job));
    const before = s.snapshot();
    await s.write((tx) => {
      tx.put('jobs', { ...job, Priority: 90 });
      tx.put('allocs', build.alloc({ Job: job, NodeID: 'n1' }));
    });
    expect(before.jobByID('default', 'a')?.Priority).toBe(50);
    expect(before.allocsByJob('default', 'a')).toHaveLength(0);
    expect(s.snapshot().jobByID('default', 'a')?.Priority).toBe(90);
    expect(s.snapshot().allocsByNode('n1')).toHaveLength(1);
  });

  it('discards a transaction whose function throws', async () => {
    const s = await open();
    await expect(
      s.write((tx) => {
        tx.put('jobs', build.job({ ID: 'a' }));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(s.snapshot().jobByID('default', 'a')).toBeUndefined();
    expect(s.latestIndex()).toBe(0);
  });

  it('moves a row between secondary index buckets when the indexed field changes', async () => {
    const s = await open();
    const a = build.alloc({ Job: build.job({ ID: 'a' }), NodeID: 'n1' });
    await s.write((tx) => tx.put('allocs', a));
    await s.write((tx) => tx.put('allocs', { ...a, NodeID: 'n2' }));
    const snap = s.snapshot();
    expect(snap.allocsByNode('n1')).toHaveLength(0);
    expect(snap.allocsByNode('n2').map((x) => x.ID)).toEqual([a.ID]);
    await s.write((tx) => tx.delete('allocs', a.ID));
    expect(s.snapshot().allocsByNode('n2')).toHaveLength(0);
    expect(s.snapshot().allocsByJob('default', 'a')).toHaveLength(0);
  });

  it('lets a transaction read its own writes', async () => {
    const s = await open();
    const seen = await s.write((tx) => {
      tx.put('allocs', build.alloc({ Job: build.job({ ID: 'a' }), NodeID: 'n1' }));
      return tx.allocsByNode('n1').length;
    });
    expect(seen.result).toBe(1);
  });

  it('freezes stored rows under test so shared objects cannot be mutated', async () => {
    const s = await open();
    const job = build.job({ ID: 'a' });
    await s.write((tx) => tx.put('jobs', job));
    const stored = s.snapshot().jobByID('default', 'a')!;
    expect(() => {
      (stored as { Priority: number }).Priority = 1;
    }).toThrow();
  });

  it('shows readers only durable writes when the backend is asynchronous, and keeps their order', async () => {
    const applied: number[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const backend: StateBackend = {
      load: async () => ({ index: 0, tableIndexes: {} }),
      apply: async (b: BackendBatch) => {
        await gate;
        applied.push(b.index);
      },
      close: async () => {},
    };
    const s = await open(backend);
    const w1 = s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    const w2 = s.write((tx) => {
      // Built on the first write although it is not durable yet.
      expect(tx.jobByID('default', 'a')).toBeDefined();
      tx.put('jobs', build.job({ ID: 'b' }));
    });
    expect(s.snapshot().jobByID('default', 'a')).toBeUndefined();
    release();
    await Promise.all([w1, w2]);
    expect(applied).toEqual([1, 2]);
    expect(s.snapshot().jobs()).toHaveLength(2);
  });

  it('drops a write the backend failed to persist and accepts the next one, readers staying on durable state', async () => {
    let fail = false;
    const backend: StateBackend = {
      load: async () => ({ index: 0, tableIndexes: {} }),
      apply: () => {
        if (fail) throw new Error('disk full');
      },
      close: async () => {},
    };
    const s = await open(backend);
    await s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    fail = true;
    const epoch = s.epoch;
    await expect(s.write((tx) => tx.put('jobs', build.job({ ID: 'b' })))).rejects.toMatchObject({ code: 'Internal' });
    // The backend threw synchronously, so no reader saw the dropped tip: plans read before stay valid.
    expect(s.epoch).toBe(epoch);
    expect(s.writeHealth()).toMatchObject({ ok: false, error: 'disk full' });
    fail = false;
    const c = await s.write((tx) => tx.put('jobs', build.job({ ID: 'c' })));
    expect(c.index).toBe(2);
    expect(
      s
        .snapshot()
        .jobs()
        .map((j) => j.ID),
    ).toEqual(['a', 'c']);
    expect(s.writeHealth()).toEqual({ ok: true });
  });

  it('refuses a write the backend fenced off (another server leads) as NotLeader, not as an internal error', async () => {
    const backend: StateBackend = {
      load: async () => ({ index: 0, tableIndexes: {} }),
      apply: () => {
        throw new DroverError('NotLeader', 'this server is no longer the writer');
      },
      close: async () => {},
    };
    const s = await open(backend);
    await expect(s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })))).rejects.toMatchObject({
      code: 'NotLeader',
      message: expect.stringContaining('no longer the writer') as unknown,
    });
  });

  it('fails every write built on a failed batch in flight, then resumes from the durable state', async () => {
    const pending: { index: number; settle: (ok: boolean) => void }[] = [];
    const backend: StateBackend = {
      load: async () => ({ index: 0, tableIndexes: {} }),
      apply: (batch) =>
        new Promise<void>((resolve, reject) => {
          pending.push({ index: batch.index, settle: (ok) => (ok ? resolve() : reject(new Error('I/O error'))) });
        }),
      close: async () => {},
    };
    const s = await open(backend);
    const a = s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    const b = s.write((tx) => tx.put('jobs', build.job({ ID: 'b' })));
    const refused = expect(s.write((tx) => tx.put('jobs', build.job({ ID: 'c' })))).rejects.toMatchObject({
      code: 'Internal',
    });
    pending.shift()?.settle(false);
    await expect(a).rejects.toMatchObject({ code: 'Internal' });
    await expect(b).rejects.toMatchObject({ code: 'Internal' });
    await refused;
    const d = s.write((tx) => tx.put('jobs', build.job({ ID: 'd' })));
    await vi.waitFor(() => expect(pending.length).toBe(1));
    expect(pending[0]?.index).toBe(1);
    pending.shift()?.settle(true);
    await d;
    expect(
      s
        .snapshot()
        .jobs()
        .map((j) => j.ID),
    ).toEqual(['d']);
  });

  it('never commits a batch built on a failed one, even when the backend wrongly accepts it', async () => {
    const pending: { index: number; settle: (ok: boolean) => void }[] = [];
    const backend: StateBackend = {
      ordered: true,
      load: async () => ({ index: 0, tableIndexes: {} }),
      // Breaks the contract on purpose: it keeps accepting batches after one failed.
      apply: (batch) =>
        new Promise<void>((resolve, reject) => {
          pending.push({ index: batch.index, settle: (ok) => (ok ? resolve() : reject(new Error('I/O error'))) });
        }),
      recover: () => {},
      close: async () => {},
    };
    const s = await open(backend);
    const epoch = s.epoch;
    const a = s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    const b = s.write((tx) => tx.put('jobs', build.job({ ID: 'b' })));
    await vi.waitFor(() => expect(pending.length).toBe(2));
    pending.shift()?.settle(false);
    pending.shift()?.settle(true);
    await expect(a).rejects.toMatchObject({ code: 'Internal' });
    await expect(b).rejects.toMatchObject({ code: 'Internal' });
    expect(s.snapshot().jobs()).toEqual([]);
    expect(s.latestIndex()).toBe(0);
    expect(s.epoch).toBe(epoch + 1);
  });

  it('refuses a write that changed nothing when the tip it read from is dropped', async () => {
    const pending: { settle: (ok: boolean) => void }[] = [];
    const backend: StateBackend = {
      load: async () => ({ index: 0, tableIndexes: {} }),
      apply: () =>
        new Promise<void>((resolve, reject) => {
          pending.push({ settle: (ok) => (ok ? resolve() : reject(new Error('I/O error'))) });
        }),
      close: async () => {},
    };
    const s = await open(backend);
    const a = s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    // Reads the uncommitted job and changes nothing: its answer depends on the first write.
    const n = s.write((tx) => tx.jobByID('default', 'a')?.ID);
    await vi.waitFor(() => expect(pending.length).toBe(1));
    pending.shift()?.settle(false);
    await expect(a).rejects.toMatchObject({ code: 'Internal' });
    await expect(n).rejects.toMatchObject({ code: 'Internal' });
    // Once nothing is in flight, a no-op write answers at once from the durable state.
    await expect(s.write((tx) => tx.jobByID('default', 'a')?.ID)).resolves.toEqual({ result: undefined, index: 0 });
  });

  it('inserts 100,000 allocations in batches of 1,000 and snapshots stay consistent meanwhile', async () => {
    const s = await open();
    const job = build.job({ ID: 'big' });
    const base = build.alloc({ Job: job, NodeID: 'n0' });
    const early = s.snapshot();
    let mid = s.snapshot();
    for (let b = 0; b < 100; b++) {
      await s.write((tx) => {
        for (let i = 0; i < 1000; i++) tx.put('allocs', { ...base, ID: `a-${b}-${i}`, NodeID: `n${i % 50}` });
      });
      if (b === 49) mid = s.snapshot();
    }
    expect(early.allocsByJob('default', 'big')).toHaveLength(0);
    expect(mid.allocsByJob('default', 'big')).toHaveLength(50_000);
    expect(s.snapshot().allocsByJob('default', 'big')).toHaveLength(100_000);
    expect(s.snapshot().allocsByNode('n7')).toHaveLength(2000);
    // 100k rows take a few seconds alone and far longer beside other suites on two cores: a generous bound.
  }, 120_000);
});

describe.each([
  ['SQLite in the main thread', (dir: string): StateBackend => new SqliteBackend({ dataDir: dir })],
  ['SQLite on a worker thread', (dir: string): StateBackend => new ThreadedSqliteBackend({ dataDir: dir })],
])('StateStore over %s', (_name, make) => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('restores every table and the index after a close without clean shutdown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-state-'));
    dirs.push(dir);
    const s1 = await open(make(dir));
    const job = build.job({ ID: 'a' });
    const node = build.node({ ID: 'n1' });
    await s1.write((tx) => tx.put('jobs', job));
    await s1.write((tx) => {
      tx.put('nodes', node);
      tx.put('allocs', build.alloc({ Job: job, NodeID: 'n1' }));
    });
    // No close: the first store is simply abandoned, as after a crash.
    const s2 = await open(make(dir));
    const snap = s2.snapshot();
    expect(snap.index()).toBe(2);
    expect(snap.tableIndex('jobs')).toBe(1);
    expect(snap.tableIndex('allocs')).toBe(2);
    expect(snap.jobByID('default', 'a')).toEqual(job);
    expect(snap.nodeByID('n1')).toEqual(node);
    expect(snap.allocsByNode('n1')).toHaveLength(1);
    const r = await s2.write((tx) => tx.put('jobs', build.job({ ID: 'b' })));
    expect(r.index).toBe(3);
    await s2.close();
    await s1.close();
  });

  it('fails a write whose row cannot be stored and keeps accepting writes after it, in flight or not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-state-'));
    dirs.push(dir);
    const s1 = await open(make(dir));
    await s1.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    // 20,000 levels: JSON.stringify (and structured clone) overflow the stack on this.
    let deep: unknown = 'leaf';
    for (let i = 0; i < 20_000; i++) deep = { x: deep };
    const bad = s1.write((tx) =>
      tx.put('jobs', { ...build.job({ ID: 'deep' }), Meta: deep as Record<string, string> }),
    );
    const after = s1.write((tx) => tx.put('jobs', build.job({ ID: 'b' })));
    await expect(bad).rejects.toMatchObject({ code: 'Internal' });
    await after.catch(() => undefined);
    const c = await s1.write((tx) => tx.put('jobs', build.job({ ID: 'c' })));
    expect(c.index).toBeGreaterThan(1);
    await s1.close();
    const s2 = await open(make(dir));
    const ids = s2
      .snapshot()
      .jobs()
      .map((j) => j.ID);
    expect(ids).not.toContain('deep');
    expect(ids).toEqual(expect.arrayContaining(['a', 'c']));
    expect(s2.latestIndex()).toBe(c.index);
    await s2.close();
  });

  it('persists 20,000 allocations written in batches of 1,000 without waiting between them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-state-'));
    dirs.push(dir);
    const s1 = await open(make(dir));
    const job = build.job({ ID: 'big' });
    const base = build.alloc({ Job: job, NodeID: 'n0' });
    const writes = Array.from({ length: 20 }, (_, b) =>
      s1.write((tx) => {
        for (let i = 0; i < 1000; i++) tx.put('allocs', { ...base, ID: `a-${b}-${i}`, NodeID: `n${i % 50}` });
      }),
    );
    expect((await Promise.all(writes)).map((w) => w.index)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await s1.close();
    const s2 = await open(make(dir));
    expect([s2.latestIndex(), s2.snapshot().allocsByJob('default', 'big').length]).toEqual([20, 20_000]);
    expect(s2.snapshot().allocByID('a-19-999')?.Job).toEqual(job);
    await s2.close();
  });
});

describe('StateStore blocking queries', () => {
  it('wakes a waiter when a watched table passes its index', async () => {
    const s = await open();
    const p = s.waitForIndex(['jobs'], 0, 5_000);
    await s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    await expect(p).resolves.toBe(1);
    expect(s.watcherCount()).toBe(0);
  });

  it('does not wake a waiter for writes to other tables, and times out with the current index', async () => {
    const s = await open();
    await s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    const started = Date.now();
    const p = s.waitForIndex(['jobs'], 1, 80);
    await s.write((tx) => tx.put('nodes', build.node({ ID: 'n1' })));
    await expect(p).resolves.toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
  });

  it('answers at once when the table is already past the index', async () => {
    const s = await open();
    await s.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    await expect(s.waitForIndex(['jobs', 'allocs'], 0, 60_000)).resolves.toBe(1);
  });

  it('returns when the signal aborts and leaves no watcher behind', async () => {
    const s = await open();
    const ac = new AbortController();
    const p = s.waitForIndex(['allocs'], 0, 60_000, ac.signal);
    expect(s.watcherCount()).toBe(1);
    ac.abort();
    await expect(p).resolves.toBe(0);
    expect(s.watcherCount()).toBe(0);
  });

  it('holds 10,000 concurrent watchers and wakes them all with one write', async () => {
    const s = await open();
    const ps = Array.from({ length: 10_000 }, () => s.waitForIndex(['evals'], 0, 60_000));
    expect(s.watcherCount()).toBe(10_000);
    await s.write((tx) => tx.put('evals', { ID: 'e' } as never));
    const got = await Promise.all(ps);
    expect(new Set(got)).toEqual(new Set([1]));
  });

  it('answers the watchers one write wakes a slice per turn of the event loop, so other work runs in between', async () => {
    const s = await open();
    let answered = 0;
    const ps = Array.from({ length: WAKE_SLICE * 4 }, () =>
      s.waitForIndex(['evals'], 0, 60_000).then((i) => {
        answered++;
        return i;
      }),
    );
    let answeredWhenTimerRan = -1;
    await s.write((tx) => tx.put('evals', { ID: 'e' } as never));
    // Work queued now runs between two slices: some watchers are answered by then, not all of them.
    setImmediate(() => (answeredWhenTimerRan = answered));
    const got = await Promise.all(ps);
    expect(new Set(got)).toEqual(new Set([1]));
    expect(answeredWhenTimerRan).toBeGreaterThanOrEqual(WAKE_SLICE);
    expect(answeredWhenTimerRan).toBeLessThan(WAKE_SLICE * 4);
    expect(s.watcherCount()).toBe(0);
  });

  it('marks itself closed, so a watcher woken by close knows no write woke it', async () => {
    const s = await open();
    const p = s.waitForIndex(['jobs'], 0, 60_000);
    expect(s.isClosed).toBe(false);
    await s.close();
    await expect(p).resolves.toBe(0);
    expect(s.isClosed).toBe(true);
  });
});

describe('StateStore secondary indexes', () => {
  it('returns the updated row from an index lookup after an update that keeps its indexed value', async () => {
    const s = await open();
    const job = build.job({ ID: 'a' });
    const a = build.alloc({ Job: job, NodeID: 'n1' });
    await s.write((tx) => tx.put('allocs', a));
    const before = s.snapshot();
    expect(before.allocsByNode('n1').map((x) => x.ClientStatus)).toEqual([a.ClientStatus]);
    await s.write((tx) => tx.put('allocs', { ...a, ClientStatus: 'running' }));
    expect(
      s
        .snapshot()
        .allocsByNode('n1')
        .map((x) => x.ClientStatus),
    ).toEqual(['running']);
    // The older snapshot (and its cached bucket) still answers with the row it had.
    expect(before.allocsByNode('n1').map((x) => x.ClientStatus)).toEqual([a.ClientStatus]);
  });

  it('sees its own updates inside a write transaction and moves a row between buckets', async () => {
    const s = await open();
    const job = build.job({ ID: 'a' });
    const a = build.alloc({ Job: job, NodeID: 'n1' });
    await s.write((tx) => tx.put('allocs', a));
    s.snapshot().allocsByNode('n1'); // fills the cache for the frozen bucket
    const seen = await s.write((tx) => {
      tx.put('allocs', { ...a, ClientStatus: 'running' });
      const mid = tx.allocsByNode('n1').map((x) => x.ClientStatus);
      tx.put('allocs', { ...a, NodeID: 'n2' });
      return { mid, n1: tx.allocsByNode('n1').length, n2: tx.allocsByNode('n2').map((x) => x.ID) };
    });
    expect(seen.result).toEqual({ mid: ['running'], n1: 0, n2: [a.ID] });
    const snap = s.snapshot();
    expect([snap.allocsByNode('n1').length, snap.allocsByNode('n2').length]).toEqual([0, 1]);
  });

  it('hands each caller its own array, so sorting one answer cannot change the next', async () => {
    const s = await open();
    const job = build.job({ ID: 'a' });
    await s.write((tx) => {
      for (let i = 0; i < 3; i++) tx.put('allocs', build.alloc({ Job: job, NodeID: 'n1' }));
    });
    const snap = s.snapshot();
    const first = snap.allocsByNode('n1');
    first.length = 0;
    expect(snap.allocsByNode('n1')).toHaveLength(3);
  });
});
