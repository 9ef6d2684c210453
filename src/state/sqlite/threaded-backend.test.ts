import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../../logging/index.js';
import { StateStore } from '../store.js';
import { build } from '../../testing/builders.js';
import { withBackend } from '../testing/with-backend.js';
import Database from 'better-sqlite3';
import { ThreadedSqliteBackend } from './threaded-backend.js';
import { makeRowCodec, openSqliteCore } from './sqlite-core.js';
import { sqliteCoreConfig } from './sqlite-backend.js';

describe('ThreadedSqliteBackend', () => {
  const dirs: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'drover-threaded-'));
    dirs.push(d);
    return d;
  };
  const openStore = async (dir: string) => {
    const backend = new ThreadedSqliteBackend({ dataDir: dir });
    const store = await StateStore.open({ backend, logger: nullLogger });
    cleanups.push(() => store.close().catch(() => undefined));
    return { backend, store };
  };
  /** The rows on disk (`table/key`) and the index they reach, read by a fresh backend over `dir`. */
  const onDisk = (dir: string) =>
    withBackend(new ThreadedSqliteBackend({ dataDir: dir }), async (reader) => {
      const keys: string[] = [];
      const meta = await reader.load((t, k) => keys.push(`${t}/${k}`));
      return { index: meta.index, keys };
    });
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('commits pipelined writes in index order and acknowledges each only once it is on disk', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    const job = build.job({ ID: 'web' });
    // 50 writes handed over without waiting: each is built on the previous one's uncommitted state.
    const writes = Array.from({ length: 50 }, (_, i) =>
      store.write((tx) => {
        if (i === 0) tx.put('jobs', job);
        tx.put('allocs', build.alloc({ Job: job, NodeID: 'n1', ID: `a${i}`, Name: `web.web[${i}]` }));
      }),
    );
    const acked: number[] = [];
    for (const w of writes) void w.then((r) => acked.push(r.index));
    await Promise.all(writes);
    expect(acked).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(store.latestIndex()).toBe(50);
    // A second reader over the same file sees all of them while the first store is still open.
    const { index, keys } = await onDisk(dir);
    expect([index, keys.filter((k) => k.startsWith('allocs/')).length]).toEqual([50, 50]);
  });

  it('fails the next write with a clear error when its worker dies, and a restart reloads exactly the acknowledged writes', async () => {
    const dir = tempDir();
    const { backend, store } = await openStore(dir);
    await store.write((tx) => tx.put('jobs', build.job({ ID: 'a' })));
    await store.write((tx) => tx.put('jobs', build.job({ ID: 'b' })));
    await backend.thread!.terminate();
    const err = await store.write((tx) => tx.put('jobs', build.job({ ID: 'c' }))).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'Internal',
      message: expect.stringMatching(/state store failed to persist a write: SQLite state worker exited/),
    });
    // Readers stay on what was acknowledged, and later writes are refused too.
    expect(
      store
        .snapshot()
        .jobs()
        .map((j) => j.ID),
    ).toEqual(['a', 'b']);
    await expect(store.write((tx) => tx.put('jobs', build.job({ ID: 'd' })))).rejects.toMatchObject({
      code: 'Internal',
    });
    const { store: again } = await openStore(dir);
    expect([
      again.latestIndex(),
      again
        .snapshot()
        .jobs()
        .map((j) => j.ID),
    ]).toEqual([2, ['a', 'b']]);
    await again.write((tx) => tx.put('jobs', build.job({ ID: 'e' })));
    expect(again.latestIndex()).toBe(3);
  });

  it('fails a write whose batch SQLite refuses, refuses the batches already sent after it, and keeps the disk at the last acknowledged write', async () => {
    const dir = tempDir();
    await withBackend(new ThreadedSqliteBackend({ dataDir: dir }), async (backend) => {
      await backend.load(() => undefined);
      await backend.apply({
        index: 1,
        tableIndexes: { jobs: 1 },
        changes: [{ table: 'jobs', key: 'default\u0000a', value: build.job({ ID: 'a' }) }],
      });
      const bad = backend.apply({
        index: 2,
        tableIndexes: { jobs: 2 },
        changes: [{ table: 'nope' as never, key: 'x', value: {} }],
      });
      const after = backend.apply({
        index: 3,
        tableIndexes: { jobs: 3 },
        changes: [{ table: 'jobs', key: 'default\u0000c', value: build.job({ ID: 'c' }) }],
      });
      await expect(bad).rejects.toThrow(/SQLite refused batch 2: unknown state table "nope"/);
      await expect(after).rejects.toThrow(/batch 2 was not committed, so later batches are refused/);
    });
    expect(await onDisk(dir)).toEqual({ index: 1, keys: ['jobs/default\u0000a'] });
  });

  it('refuses the batches after one it could not encode, until recover(), so the disk keeps a prefix', async () => {
    const dir = tempDir();
    await withBackend(new ThreadedSqliteBackend({ dataDir: dir }), async (backend) => {
      await backend.load(() => undefined);
      const put = (i: number, id: string, value: unknown) =>
        backend.apply({
          index: i,
          tableIndexes: { jobs: i },
          changes: [{ table: 'jobs', key: `default\u0000${id}`, value }],
        });
      await put(1, 'a', build.job({ ID: 'a' }));
      // JSON.stringify throws on a BigInt: the batch fails on this thread, before the worker sees it.
      const bad = put(2, 'b', { ...build.job({ ID: 'b' }), Meta: { n: 1n } });
      const after = put(3, 'c', build.job({ ID: 'c' }));
      await expect(bad).rejects.toThrow(/BigInt/);
      await expect(after).rejects.toThrow(/batch 2 was not committed, so later batches are refused/);
      backend.recover();
      await put(2, 'd', build.job({ ID: 'd' }));
    });
    expect(await onDisk(dir)).toEqual({ index: 2, keys: ['jobs/default\u0000a', 'jobs/default\u0000d'] });
  });

  it('writes the job of an allocation again after the batch that first carried it was refused', async () => {
    const dir = tempDir();
    const job = build.job({ ID: 'web' });
    const allocs = [1, 2].map((i) => build.alloc({ Job: job, NodeID: 'n1', ID: `a${i}`, Name: `web.web[${i}]` }));
    const alloc = (i: number) => allocs[i - 1]!;
    await withBackend(new ThreadedSqliteBackend({ dataDir: dir }), async (backend) => {
      await backend.load(() => undefined);
      // The job's JSON travels with the first batch that names it; that batch is refused whole.
      const bad = backend.apply({
        index: 1,
        tableIndexes: { allocs: 1 },
        changes: [
          { table: 'allocs', key: 'a1', value: alloc(1) },
          { table: 'nope' as never, key: 'x', value: {} },
        ],
      });
      await expect(bad).rejects.toThrow(/SQLite refused batch 1/);
      backend.recover();
      await backend.apply({
        index: 1,
        tableIndexes: { allocs: 1 },
        changes: [{ table: 'allocs', key: 'a2', value: alloc(2) }],
      });
    });
    const loaded: unknown[] = [];
    await withBackend(new ThreadedSqliteBackend({ dataDir: dir }), (reader) =>
      reader.load((t, _k, v) => {
        if (t === 'allocs') loaded.push(v);
      }),
    );
    expect(loaded).toEqual([alloc(2)]);
  });

  it('commits the batches still in flight when it is closed', async () => {
    const dir = tempDir();
    const sent = await withBackend(new ThreadedSqliteBackend({ dataDir: dir }), async (backend) => {
      await backend.load(() => undefined);
      return [1, 2, 3].map((i) =>
        backend.apply({
          index: i,
          tableIndexes: { jobs: i },
          changes: [{ table: 'jobs', key: `default\u0000j${i}`, value: build.job({ ID: `j${i}` }) }],
        }),
      );
    });
    // withBackend closed it with the three still in flight.
    await Promise.all(sent);
    expect((await onDisk(dir)).index).toBe(3);
  });
});

describe('encoded batches cut into pieces', () => {
  it('reads every row back, deletes included, when a batch spans several row strings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-pieces-'));
    try {
      const core = openSqliteCore(Database, sqliteCoreConfig({ dataDir: dir }), makeRowCodec);
      try {
        // 40 characters a piece: about one job row each, so every boundary case (a delete's empty row at the
        // start, middle and end of a piece) comes up.
        const codec = makeRowCodec(() => undefined, 40);
        const jobs = Array.from({ length: 6 }, (_, i) => build.job({ ID: `j${i}` }));
        const put = (i: number) => ({ table: 'jobs' as const, key: `default\u0000j${i}`, value: jobs[i]! });
        const del = (i: number) => ({ table: 'jobs' as const, key: `default\u0000j${i}`, value: null });
        const first = codec.encodeBatch({ index: 1, tableIndexes: { jobs: 1 }, changes: [0, 1, 2, 3, 4, 5].map(put) });
        const second = codec.encodeBatch({
          index: 2,
          tableIndexes: { jobs: 2 },
          changes: [del(0), put(1), del(2), del(3), put(4), del(5)],
        });
        expect(first.rows.length).toBeGreaterThan(1);
        expect(second.rows.length).toBeGreaterThan(1);
        core.applyEncoded([first, second]);
        const keys: string[] = [];
        const meta = core.load(
          (t, k) => keys.push(`${t}/${k}`),
          () => false,
        );
        expect([meta.index, keys]).toEqual([2, ['jobs/default\u0000j1', 'jobs/default\u0000j4']]);
      } finally {
        core.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
