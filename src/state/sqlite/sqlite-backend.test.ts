import Database from 'better-sqlite3';
import { closeSync, fstatSync, fsync as realFsync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsyncThread, SqliteBackend, type FsyncFn, type SqliteBackendOptions } from './sqlite-backend.js';
import { ThreadedSqliteBackend } from './threaded-backend.js';
import { STATE_DB_FORMAT } from './sqlite-core.js';
import { inspectSnapshot, restoreSnapshot, saveSnapshot } from './snapshot.js';
import { describeBackendConformance } from '../testing/backend-conformance.js';
import { withBackend } from '../testing/with-backend.js';
import { MemoryBackend } from '../backend.js';
import { StateStore } from '../store.js';
import { nullLogger } from '../../logging/index.js';
import { newAllocation, type Allocation, type Job } from '../../structs/index.js';
import { newAllocMetric } from '../../scheduler/feasible/metrics.js';

describeBackendConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
  return {
    open: () => new SqliteBackend({ dataDir: dir }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeBackendConformance('sqlite without group commit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
  return {
    open: () => new SqliteBackend({ dataDir: dir, groupCommit: false }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeBackendConformance('sqlite on a worker thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
  return {
    open: () => new ThreadedSqliteBackend({ dataDir: dir }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeBackendConformance('memory', async () => {
  const shared = new MemoryBackend();
  return {
    // The memory backend's "disk" is the object itself: reopening hands back the same one, unclosed.
    open: () => {
      shared.closed = false;
      return shared;
    },
    dispose: async () => {},
  };
});

describe('SqliteBackend', () => {
  it('runs in WAL mode so a commit is on disk before apply returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      await withBackend(new SqliteBackend({ dataDir: dir }), (b) => {
        expect(b.db.pragma('journal_mode', { simple: true })).toBe('wal');
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteBackend job references', () => {
  const job = (modifyIndex: number) => ({
    Namespace: 'default',
    ID: 'web',
    ModifyIndex: modifyIndex,
    Meta: { v: String(modifyIndex) },
  });
  const alloc = (id: string, j: ReturnType<typeof job>) => ({ ID: id, Namespace: 'default', JobID: 'web', Job: j });

  async function reload(dir: string): Promise<Map<string, { Job: unknown }>> {
    const allocs = new Map<string, { Job: unknown }>();
    await withBackend(new SqliteBackend({ dataDir: dir }), (b) =>
      b.load((table, key, value) => {
        if (table === 'allocs') allocs.set(key, value as { Job: unknown });
      }),
    );
    return allocs;
  }

  it('restores the job of allocations written in later batches, after the first batch stored it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      await withBackend(new SqliteBackend({ dataDir: dir }), async (b) => {
        await b.apply({
          index: 1,
          tableIndexes: { allocs: 1 },
          changes: [{ table: 'allocs', key: 'a1', value: alloc('a1', job(5)) }],
        });
        await b.apply({
          index: 2,
          tableIndexes: { allocs: 2 },
          changes: [{ table: 'allocs', key: 'a2', value: alloc('a2', job(5)) }],
        });
        await b.apply({
          index: 3,
          tableIndexes: { allocs: 3 },
          changes: [{ table: 'allocs', key: 'a3', value: alloc('a3', job(7)) }],
        });
      });
      const allocs = await reload(dir);
      expect([allocs.get('a1')?.Job, allocs.get('a2')?.Job, allocs.get('a3')?.Job]).toEqual([job(5), job(5), job(7)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stores the job again after a batch that referenced it was rolled back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      await withBackend(new SqliteBackend({ dataDir: dir, groupCommit: false }), async (b) => {
        const broken = {
          index: 1,
          tableIndexes: { allocs: 1 },
          changes: [
            { table: 'allocs' as const, key: 'a1', value: alloc('a1', job(5)) },
            { table: 'nope' as never, key: 'x', value: {} },
          ],
        };
        expect(() => b.apply(broken)).toThrow();
        await b.apply({
          index: 1,
          tableIndexes: { allocs: 1 },
          changes: [{ table: 'allocs', key: 'a2', value: alloc('a2', job(5)) }],
        });
      });
      const allocs = await reload(dir);
      expect([allocs.has('a1'), allocs.get('a2')?.Job]).toEqual([false, job(5)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteBackend group commit', () => {
  /** The keys on disk and the index they reach, from a fresh backend over `dir`. */
  const onDisk = (dir: string) =>
    withBackend(new SqliteBackend({ dataDir: dir }), async (b) => {
      const keys: string[] = [];
      const meta = await b.load((_t, key) => keys.push(key));
      return [keys.sort(), meta.index];
    });
  const batch = (index: number, key: string, table = 'jobs') => ({
    index,
    tableIndexes: { [table]: index },
    changes: [{ table: table as 'jobs', key, value: { ID: key, Namespace: 'default' } }],
  });

  it('acknowledges the batches handed over in one turn only once committed, and keeps them all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      await withBackend(new SqliteBackend({ dataDir: dir }), async (b) => {
        expect(b.ordered).toBe(true);
        const commits: number[] = [];
        const acks = [1, 2, 3].map((i) => (b.apply(batch(i, `j${i}`)) as Promise<void>).then(() => commits.push(i)));
        // Nothing is acknowledged before the group has committed.
        expect(commits).toEqual([]);
        await Promise.all(acks);
        expect(commits).toEqual([1, 2, 3]);
      });
      expect(await onDisk(dir)).toEqual([['j1', 'j2', 'j3'], 3]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the batches before a failing one in its group and refuses it and every later one until recover', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      await withBackend(new SqliteBackend({ dataDir: dir }), async (b) => {
        const settled = [batch(1, 'j1'), batch(2, 'x', 'nope'), batch(3, 'j3')].map((x) =>
          (b.apply(x) as Promise<void>).then(
            () => 'ok',
            (e: Error) => e.message,
          ),
        );
        const results = await Promise.all(settled);
        expect(results[0]).toBe('ok');
        expect(results[1]).toMatch(/unknown state table "nope"/);
        expect(results[2]).toMatch(/batch 2 was not committed/);
        await expect(b.apply(batch(4, 'j4'))).rejects.toThrow(/batch 2 was not committed/);
        b.recover();
        await b.apply(batch(2, 'j2'));
      });
      expect(await onDisk(dir)).toEqual([['j1', 'j2'], 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('FsyncThread', () => {
  it('refuses every fsync once its thread is gone, instead of leaving it unanswered', async () => {
    const t = new FsyncThread();
    const dir = mkdtempSync(join(tmpdir(), 'drover-fsync-'));
    const fd = openSync(join(dir, 'f'), 'w');
    const sync = () => new Promise<unknown>((resolve) => t.fsync(fd, (err) => resolve(err)));
    try {
      expect(await sync()).toBeNull();
      // The thread dies under it (not through close()): the next fsync is answered with an error at once.
      await (t as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      expect(await sync()).toMatchObject({ message: 'the fsync thread exited' });
      expect(await sync()).toMatchObject({ message: 'the fsync thread exited' });
    } finally {
      closeSync(fd);
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteBackend WAL fsync off the event loop', () => {
  const batch = (index: number, key: string) => ({
    index,
    tableIndexes: { jobs: index },
    changes: [{ table: 'jobs' as const, key, value: { ID: key, Namespace: 'default' } }],
  });
  /** An fsync that holds each call until the test releases it, recording the descriptor it was given. */
  const heldFsync = () => {
    const calls: { fd: number; release: (err?: NodeJS.ErrnoException) => void }[] = [];
    const fsync: FsyncFn = (fd, cb) => calls.push({ fd, release: (err) => fsyncCb(fd, err, cb) });
    // The real fsync runs too, so what the test acknowledges is on the disk.
    const fsyncCb = (
      fd: number,
      err: NodeJS.ErrnoException | undefined,
      cb: (e: NodeJS.ErrnoException | null) => void,
    ) => (err ? cb(err) : realFsync(fd, cb));
    return { calls, fsync };
  };
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };

  it('commits at synchronous=NORMAL and acknowledges a group only once the WAL file is fsynced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      const { calls, fsync } = heldFsync();
      await withBackend(new SqliteBackend({ dataDir: dir }, { fsync }), async (b) => {
        expect(b.db.pragma('synchronous', { simple: true })).toBe(1);
        const acked: number[] = [];
        const first = [1, 2].map((i) => (b.apply(batch(i, `j${i}`)) as Promise<void>).then(() => acked.push(i)));
        await turns(5);
        // Committed in one transaction (readable by another connection) but not acknowledged before its fsync.
        expect(calls).toHaveLength(1);
        expect(acked).toEqual([]);
        const peek = new Database(join(dir, 'state.db'), { readonly: true });
        expect(peek.prepare('SELECT count(*) FROM t_jobs').pluck().get()).toBe(2);
        peek.close();
        // The descriptor fsynced is the WAL file's, where the commit is.
        expect(fstatSync(calls[0]!.fd).ino).toBe(statSync(join(dir, 'state.db-wal')).ino);
        // Batches handed over while that fsync is in flight wait for it, and then go in one transaction.
        const second = [3, 4].map((i) => (b.apply(batch(i, `j${i}`)) as Promise<void>).then(() => acked.push(i)));
        await turns(5);
        expect(calls).toHaveLength(1);
        calls[0]!.release();
        await Promise.all(first);
        expect(acked).toEqual([1, 2]);
        await turns(5);
        expect(calls).toHaveLength(2);
        expect(acked).toEqual([1, 2]);
        calls[1]!.release();
        await Promise.all(second);
        expect(acked).toEqual([1, 2, 3, 4]);
      });
      const keys: string[] = [];
      await withBackend(new SqliteBackend({ dataDir: dir }), (b) => b.load((_t, key) => keys.push(key)));
      expect(keys.sort()).toEqual(['j1', 'j2', 'j3', 'j4']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses the group and every later write when the fsync fails, even after recover', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      const { calls, fsync } = heldFsync();
      await withBackend(new SqliteBackend({ dataDir: dir }, { fsync }), async (b) => {
        const p = b.apply(batch(1, 'j1')) as Promise<void>;
        await turns(3);
        calls[0]!.release(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
        await expect(p).rejects.toThrow(/fsync of the state WAL failed/);
        b.recover();
        await expect(b.apply(batch(2, 'j2'))).rejects.toThrow(/until the agent restarts/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not fsync with synchronous=NORMAL, nor without group commit (SQLite syncs at FULL there)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      const { calls, fsync } = heldFsync();
      await withBackend(new SqliteBackend({ dataDir: dir, synchronous: 'NORMAL' }, { fsync }), async (b) => {
        await b.apply(batch(1, 'j1'));
      });
      await withBackend(new SqliteBackend({ dataDir: dir, groupCommit: false }, { fsync }), async (b) => {
        expect(b.db.pragma('synchronous', { simple: true })).toBe(2);
        await b.apply(batch(2, 'j2'));
      });
      expect(calls).toHaveLength(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A placed allocation as the plan applier stores it (its job, a metric, CreateIndex 7). */
const job = { Namespace: 'default', ID: 'web', ModifyIndex: 4, Meta: { v: '4' } } as unknown as Job;
const placed = (id: string): Allocation => {
  const metric = newAllocMetric();
  metric.NodesAvailable = { dc1: 5000 };
  metric.NodesInPool = 5000;
  metric.NodePool = 'default';
  metric.NodesEvaluated = 3;
  metric.ScoreMetaData = [{ NodeID: 'n1', Scores: { binpack: 0.5 }, NormScore: 0.5 }];
  return newAllocation(
    {
      ID: id,
      EvalID: 'e1',
      Name: 'web.web[0]',
      NodeID: 'n1',
      NodeName: 'node-1',
      Job: job,
      TaskGroup: 'web',
      AllocatedResources: {
        Tasks: { web: { Cpu: { CpuShares: 100 }, Memory: { MemoryMB: 128, MemoryMaxMB: 0 }, Networks: null } },
        TaskLifecycles: null,
        Shared: { DiskMB: 300, Networks: null, Ports: null },
      },
    },
    1_700_000_000_000_000_000,
    { Metrics: metric, CreateIndex: 7, ModifyIndex: 7, AllocModifyIndex: 7 },
  );
};

describe('SqliteBackend allocation rows', () => {
  async function roundTrip(
    values: Record<string, unknown>,
  ): Promise<{ rows: Map<string, string>; back: Map<string, unknown> }> {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      const rows = await withBackend(new SqliteBackend({ dataDir: dir }), async (b) => {
        await b.apply({
          index: 1,
          tableIndexes: { allocs: 1 },
          changes: Object.entries(values).map(([key, value]) => ({ table: 'allocs' as const, key, value })),
        });
        const all = b.db.prepare('SELECT key, value FROM t_allocs').all() as { key: string; value: string }[];
        return new Map(all.map((r) => [r.key, r.value]));
      });
      const back = new Map<string, unknown>();
      await withBackend(new SqliteBackend({ dataDir: dir }), (r) =>
        r.load((table, key, value) => {
          if (table === 'allocs') back.set(key, value);
        }),
      );
      return { rows, back };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('stores a placed allocation without its key names and reads it back field for field, in order', async () => {
    const a = placed('a1');
    const { rows, back } = await roundTrip({ a1: a });
    const row = rows.get('a1')!;
    // Positional: no key name of the allocation or its metric is in the row.
    expect(row.startsWith('[1,')).toBe(true);
    expect(row).not.toContain('DesiredStatus');
    expect(row).not.toContain('NodesEvaluated');
    expect(row.length).toBeLessThan(JSON.stringify({ ...a, Job: null }).length * 0.7);
    expect(back.get('a1')).toStrictEqual(a);
    expect(Object.keys(back.get('a1') as object)).toEqual(Object.keys(a));
    expect(Object.keys((back.get('a1') as Allocation).Metrics!)).toEqual(Object.keys(a.Metrics!));
  });

  it('loads a row an older version wrote as an object, and refuses a positional row of another layout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      const old = { ...placed('old'), Job: null };
      await withBackend(new SqliteBackend({ dataDir: dir }), async (b) => {
        await b.apply({ index: 1, tableIndexes: { allocs: 1 }, changes: [] });
        b.db.prepare('INSERT INTO t_allocs (key, value) VALUES (?, ?)').run('old', JSON.stringify(old));
      });
      await withBackend(new SqliteBackend({ dataDir: dir }), async (r) => {
        const back = new Map<string, unknown>();
        await r.load((table, key, value) => {
          if (table === 'allocs') back.set(key, value);
        });
        expect(back.get('old')).toStrictEqual(old);
        // One value short of format 1 (a newer or damaged layout): an error, never fields read one place off.
        const stored = r.db.prepare('SELECT value FROM t_allocs WHERE key = ?').pluck().get('old') as string;
        expect(Array.isArray(JSON.parse(stored))).toBe(false);
        r.db.prepare('INSERT INTO t_allocs (key, value) VALUES (?, ?)').run('short', JSON.stringify([1, 'a', 'b']));
        r.db.prepare('INSERT INTO t_allocs (key, value) VALUES (?, ?)').run('tag', JSON.stringify([2, 'a']));
      });
      for (const bad of ['short', 'tag'])
        await withBackend(new SqliteBackend({ dataDir: dir }), async (x) => {
          await expect(x.load(() => {})).rejects.toThrow(/unknown layout/);
          x.db.prepare('DELETE FROM t_allocs WHERE key = ?').run(bad);
        });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads back every other shape as written', async () => {
    const extra = { ...placed('x'), AllocStates: [{ Field: 'ClientStatus', Value: 'unknown', Time: 1 }] };
    const missing: Record<string, unknown> = { ...placed('m') };
    delete missing.NextAllocation;
    const undef = { ...placed('u'), NextAllocation: undefined };
    const metricExtra = placed('me');
    (metricExtra.Metrics as unknown as Record<string, unknown>).Other = 1;
    const metricArray = { ...placed('ma'), Metrics: [1, 2] };
    const noJob = { ...placed('nj'), Job: null };
    const values: Record<string, unknown> = {
      extra,
      missing,
      undef,
      metricExtra,
      metricArray,
      noJob,
      array: [1, 'a', { b: 2 }],
      arrayZero: [0, 'x'],
      scalar: 'just a string',
      partial: { ID: 'p', Job: job },
    };
    const { back } = await roundTrip(values);
    for (const [k, v] of Object.entries(values)) expect([k, back.get(k)]).toEqual([k, v]);
    expect(back.get('undef')).not.toHaveProperty('NextAllocation');
    expect(back.get('missing')).not.toHaveProperty('NextAllocation');
  });
});

describe.each([
  ['in the main thread', (o: SqliteBackendOptions) => new SqliteBackend(o)],
  ['on a worker thread', (o: SqliteBackendOptions) => new ThreadedSqliteBackend(o)],
])('the SQLite state format marker, %s', (_name, make) => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'drover-sqlite-format-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  /** Runs `fn` on the raw database file, as another program (or another Drover) would. */
  const raw = <T>(file: string, fn: (db: Database.Database) => T): T => {
    const db = new Database(file);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const userVersion = (file: string) => raw(file, (db) => db.pragma('user_version', { simple: true }));
  const jobBatch = (index: number) => ({
    index,
    tableIndexes: { jobs: index },
    changes: [{ table: 'jobs' as const, key: `default\u0000j${index}`, value: { ID: `j${index}` } }],
  });
  /** Opens a backend with `o`, loads it and closes it: the jobs it loaded. */
  const loadJobs = async (o: SqliteBackendOptions) => {
    const keys: string[] = [];
    await withBackend(make(o), (b) => b.load((t, k) => (t === 'jobs' ? keys.push(k) : undefined)));
    return keys;
  };

  it("marks a new database with this build's format when it creates it", async () => {
    const dir = tempDir();
    await withBackend(make({ dataDir: dir }), async (b) => {
      await b.load(() => undefined);
      await b.apply(jobBatch(1));
    });
    expect(STATE_DB_FORMAT).toBe(2);
    expect(userVersion(join(dir, 'state.db'))).toBe(STATE_DB_FORMAT);
  });

  /**
   * A database as format 1 wrote it (and as one from before the marker is, with user_version 0): allocations
   * keyed by ID alone, rows positional, as an object, or unreadable.
   */
  const writeFormat1 = (file: string, marker: 0 | 1) =>
    raw(file, (db) => {
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)');
      db.exec('CREATE TABLE alloc_jobs (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      db.exec('CREATE TABLE t_jobs (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      db.exec('CREATE TABLE t_allocs (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      db.prepare('INSERT INTO meta VALUES (?, ?)').run('index', 9);
      db.prepare('INSERT INTO t_jobs VALUES (?, ?)').run('default\u0000j1', JSON.stringify({ ID: 'j1' }));
      const positional = { ...placed('p1'), Job: null, CreateIndex: 7, Metrics: null };
      // The format-1 encoding of `positional` (tag 1, then each of its keys' values in the order written).
      const row = [1, ...Object.values(positional)];
      expect(row).toHaveLength(31);
      db.prepare('INSERT INTO t_allocs VALUES (?, ?)').run('p1', JSON.stringify(row));
      db.prepare('INSERT INTO t_allocs VALUES (?, ?)').run('o1', JSON.stringify({ ID: 'o1', CreateIndex: 5 }));
      db.prepare('INSERT INTO t_allocs VALUES (?, ?)').run('n1', JSON.stringify({ ID: 'n1' }));
      db.prepare('INSERT INTO t_allocs VALUES (?, ?)').run('arr', JSON.stringify([0, [1, 2]]));
      db.pragma(`user_version = ${marker}`);
      return positional;
    });

  for (const marker of [0, 1] as const)
    it(`converts a format-1 database (user_version ${marker}) to allocations keyed by creation order`, async () => {
      const dir = tempDir();
      const file = join(dir, 'state.db');
      const positional = writeFormat1(file, marker);
      const allocs = new Map<string, unknown>();
      await withBackend(make({ dataDir: dir }), async (b) => {
        await b.load((t, k, v) => (t === 'allocs' ? allocs.set(k, v) : undefined));
        // Deleted by its order, as the store names it: the converted row is where the order says.
        await b.apply({
          index: 10,
          tableIndexes: { allocs: 10 },
          changes: [{ table: 'allocs', key: 'o1', value: null, order: 5 }],
        });
      });
      expect(allocs.get('p1')).toStrictEqual(positional);
      expect(allocs.get('o1')).toEqual({ ID: 'o1', CreateIndex: 5 });
      expect(allocs.get('n1')).toEqual({ ID: 'n1' });
      expect(allocs.get('arr')).toEqual([1, 2]);
      expect(userVersion(file)).toBe(STATE_DB_FORMAT);
      raw(file, (db) => {
        // Copied in creation order: the table's own (rowid) order.
        expect(db.prepare('SELECT ci, key FROM t_allocs').all()).toEqual([
          { ci: 0, key: 'arr' },
          { ci: 0, key: 'n1' },
          { ci: 7, key: 'p1' },
        ]);
        expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE '%format1%'").pluck().get()).toBe(0);
      });
      expect(await loadJobs({ dataDir: dir })).toEqual(['default\u0000j1']);
    });

  it('refuses to start when the conversion fails, saying so, and leaves the database as it was', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.db');
    writeFormat1(file, 1);
    // A table in the way of the conversion's rename: the copy cannot start.
    raw(file, (db) => db.exec('CREATE TABLE t_allocs_format1 (x)'));
    await expect(loadJobs({ dataDir: dir })).rejects.toThrow(
      /converting the state database from format 1 to 2 failed and left it as it was/,
    );
    expect(userVersion(file)).toBe(1);
    raw(file, (db) => expect(db.prepare('SELECT count(*) FROM t_allocs').pluck().get()).toBe(4));
  });

  it('stores allocations in creation order and moves a row whose order changed', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.db');
    await withBackend(make({ dataDir: dir }), async (b) => {
      await b.load(() => undefined);
      await b.apply({
        index: 1,
        tableIndexes: { allocs: 1 },
        changes: [
          { table: 'allocs', key: 'zz', value: { ID: 'zz', CreateIndex: 1 }, order: 1 },
          // No order named (a caller other than the store): the row's own CreateIndex.
          { table: 'allocs', key: 'aa', value: { ID: 'aa', CreateIndex: 2 } },
          { table: 'allocs', key: 'mm', value: { ID: 'mm', CreateIndex: 3 }, order: 3 },
        ],
      });
      await b.apply({
        index: 2,
        tableIndexes: { allocs: 2 },
        changes: [
          { table: 'allocs', key: 'mm', value: { ID: 'mm', CreateIndex: 4 }, order: 4, staleOrder: 3 },
          // A delete naming no order finds the row by its ID.
          { table: 'allocs', key: 'aa', value: null },
        ],
      });
    });
    raw(file, (db) =>
      expect(db.prepare('SELECT ci, key FROM t_allocs').all()).toEqual([
        { ci: 1, key: 'zz' },
        { ci: 4, key: 'mm' },
      ]),
    );
  });

  it('keeps the store and the table in step: allocations deleted or moved by the store are gone after a reopen', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.db');
    const open = async () => StateStore.open({ backend: make({ dataDir: dir }), logger: nullLogger });
    const store = await open();
    const alloc = (id: string, ci: number) => ({ ...placed(id), CreateIndex: ci }) as Allocation;
    // Stored under their CreateIndex (2 and 3), whatever the IDs' order.
    await store.write((tx) => tx.put('allocs', alloc('b', 2)));
    await store.write((tx) => tx.put('allocs', alloc('a', 3)));
    // Created and deleted in one write: never stored, nothing to delete.
    await store.write((tx) => {
      tx.put('allocs', alloc('c', 4));
      tx.delete('allocs', 'c');
    });
    // Deleted by the store: found under the order it was stored with (the row's CreateIndex).
    await store.write((tx) => tx.delete('allocs', 'b'));
    // A row whose CreateIndex changed (never expected): moved, not stored twice.
    await store.write((tx) => tx.put('allocs', alloc('a', 9)));
    // Created by one write and deleted by the next before the first is durable (the group commit takes both):
    // the delete names the order the first one stores.
    const created = store.write((tx) => tx.put('allocs', alloc('d', 11)));
    const deleted = store.write((tx) => tx.delete('allocs', 'd'));
    await Promise.all([created, deleted]);
    await store.close();
    raw(file, (db) => expect(db.prepare('SELECT ci, key FROM t_allocs').all()).toEqual([{ ci: 9, key: 'a' }]));
    const again = await open();
    expect([...again.snapshot().allocs()].map((a) => [a.ID, a.CreateIndex])).toEqual([['a', 9]]);
    await again.close();
  });

  it('refuses a database of a newer format, naming the file and both formats, and leaves it untouched', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.db');
    raw(file, (db) => {
      db.exec('CREATE TABLE newer_layout (x)');
      db.pragma(`user_version = ${STATE_DB_FORMAT + 1}`);
    });
    for (const recover of [false, true])
      await expect(loadJobs({ dataDir: dir, recover })).rejects.toMatchObject({
        code: 'StateFormat',
        message: expect.stringContaining(
          `${file} is in state format ${STATE_DB_FORMAT + 1}, but this Drover reads formats up to ${STATE_DB_FORMAT}: ` +
            'it was written by a newer Drover, ' +
            'and downgrades are not supported',
        ),
        details: { file, found: STATE_DB_FORMAT + 1, known: STATE_DB_FORMAT },
      });
    raw(file, (db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(STATE_DB_FORMAT + 1);
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual(['newer_layout']);
    });
  });

  it('refuses to restore a snapshot of a newer format, and keeps the marker through save and restore', async () => {
    const dir = tempDir();
    await withBackend(make({ dataDir: dir }), async (b) => {
      await b.load(() => undefined);
      await b.apply(jobBatch(1));
    });
    const snap = join(tempDir(), 'snap.db');
    await saveSnapshot(join(dir, 'state.db'), snap);
    expect(inspectSnapshot(snap)).toEqual({ index: 1 });
    const target = tempDir();
    restoreSnapshot(snap, target);
    expect(userVersion(join(target, 'state.db'))).toBe(STATE_DB_FORMAT);
    expect(await loadJobs({ dataDir: target })).toEqual(['default\u0000j1']);
    raw(snap, (db) => db.pragma(`user_version = ${STATE_DB_FORMAT + 1}`));
    expect(() => restoreSnapshot(snap, tempDir())).toThrow(
      expect.objectContaining({
        code: 'StateFormat',
        message: expect.stringContaining(`${snap} is in state format ${STATE_DB_FORMAT + 1}`),
      }),
    );
  });
});
