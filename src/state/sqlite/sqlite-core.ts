/**
 * The SQLite storage logic shared by the in-thread backend and the worker-thread one. One SQL table per
 * state table (`key TEXT PRIMARY KEY, value TEXT` holding JSON) and a `meta` table for the state index and
 * each table's last-modified index. Each batch is one SQL transaction.
 *
 * The database's format is `PRAGMA user_version` (see STATE_DB_FORMAT): written when the database is created,
 * checked before anything else on every open, so a database of a newer format is refused untouched.
 *
 * `openSqliteCore` must stay self-contained: it references nothing outside its own body (no imports, no
 * module-level names), because the worker thread runs it from its source text (`Function.prototype.toString`),
 * which is what lets one file serve both the compiled agent and the TypeScript sources under vitest.
 *
 * Allocations carry their whole job (denormalised, as Nomad does). Stored as is, a million allocations
 * of one job would repeat the job a million times, so the job is stored once in `alloc_jobs`, keyed by
 * namespace, ID and ModifyIndex (a job object is unique per ModifyIndex), and referenced from the row.
 * On load the references are resolved to one shared object per key.
 */
import type Database from 'better-sqlite3';
import type { TableName } from '../schema.js';
import type { BackendBatch, LoadedMeta } from '../backend.js';

export interface SqliteCore {
  readonly db: Database.Database;
  apply(batch: BackendBatch): void;
  /** Several batches in one SQL transaction (one commit, one fsync): all of them are committed, or none. */
  applyMany(batches: readonly BackendBatch[]): void;
  /**
   * Batches encoded by `makeRowCodec(...).encodeBatch` elsewhere (the main thread) in one SQL transaction: only
   * the statements run here. All of them are committed, or none.
   */
  applyEncoded(batches: readonly EncodedBatch[]): void;
  /** Streams every row; `isAborted` is polled between tables. Collects unreferenced alloc jobs. */
  load(visit: (table: TableName, key: string, value: unknown) => void, isAborted: () => boolean): LoadedMeta;
  close(): void;
}

/**
 * A batch with its rows already encoded (what `ThreadedSqliteBackend` posts to its worker: strings only, which
 * cost the structured clone a copy each, where the batch's objects cost it a walk of every field).
 */
export interface EncodedBatch {
  index: number;
  /** Flat pairs: table, key. */
  keys: string[];
  /**
   * Flat pairs, one per pair of `keys`: the allocation's order and its stale order (`BackendChange.order` and
   * `staleOrder`), null where there is none (every other table).
   */
  orders: (number | null)[];
  /**
   * The encoded rows of `keys`, in order, joined by newlines ('' for a delete): one string clones as one copy,
   * where a string per row costs the clone a step each. JSON text never holds a raw newline, nor is it empty.
   * A batch whose rows would pass `rowsPieceChars` (`makeRowCodec`) is cut into several such strings (V8's largest string is
   * ≈ 512 M characters: one plan of ≈ 500k placements), each holding whole rows.
   */
  rows: string[];
  /** Flat pairs: job reference, job JSON, for `alloc_jobs` (INSERT OR IGNORE), written before the rows. */
  jobs: string[];
  tableIndexes: BackendBatch['tableIndexes'];
}

/** How rows are encoded and decoded, and which allocation jobs are known to be written. See `makeRowCodec`. */
export interface RowCodec {
  readonly JOB_REF: string;
  encode(table: string, value: unknown): string;
  /** `batch` encoded; the jobs it references and no earlier batch sent go into its `jobs` (between begin/end). */
  encodeBatch(batch: BackendBatch): EncodedBatch;
  /** The stored allocation row `text` as written (its job reference still unresolved). */
  decodeAlloc(text: string): unknown;
  isPlainObject(v: unknown): v is Record<string, unknown>;
  /** Starts a batch (or group): jobs written from here on are pending until `end`. */
  begin(): void;
  /** Ends it: committed (`ok`), its jobs are known to be written; otherwise they are forgotten. */
  end(ok: boolean): void;
  markStored(ref: string): void;
  /** Forgets every job known to be written (after a refused batch: the next ones write their jobs again). */
  forgetJobs(): void;
}

/**
 * The on-disk format this build writes and reads, kept in `PRAGMA user_version`. Format 1: the tables above
 * and positional allocation rows (`ROW_POSITIONAL`, ALLOC_KEYS / METRIC_KEYS below). Format 2: the allocation
 * table `t_allocs (ci, key, value)` has a unique index on (creation index, ID) instead of one on the ID alone, so
 * new allocations are appended at the end of the table and of its index instead of being inserted at random
 * places of an index by their UUIDs; a format-1 database is converted when opened. A database without the marker (0: written before it existed) is format 1.
 * Raise this, with code that reads (or converts) every older format, whenever what an older build would misread
 * is written.
 */
export const STATE_DB_FORMAT = 2;

/** What `openSqliteCore` throws for a database of a newer format, untouched and closed. */
export interface StateFormatError extends Error {
  code: 'StateFormat';
  found: number;
  known: number;
}

export interface SqliteCoreConfig {
  /** The database file, or ':memory:'. */
  file: string;
  /** STATE_DB_FORMAT (passed in: this function cannot see module-level names). */
  format: number;
  synchronous: 'NORMAL' | 'FULL';
  tableNames: readonly TableName[];
}

export function openSqliteCore(
  DatabaseCtor: typeof Database,
  cfg: SqliteCoreConfig,
  makeCodec: typeof makeRowCodec,
): SqliteCore {
  const sqlName = (t: string): string => `t_${t}`;
  // The format, read over a read-only connection before anything is written: a newer database is left exactly
  // as found (a read-write connection would checkpoint its WAL on close). No file yet: a new database.
  let found = 0;
  // (An in-memory database, used by tests, is always new and cannot be opened read-only.)
  if (cfg.file !== ':memory:' && cfg.file !== '')
    try {
      const probe = new DatabaseCtor(cfg.file, { readonly: true, fileMustExist: true });
      try {
        found = probe.pragma('user_version', { simple: true }) as number;
      } finally {
        probe.close();
      }
    } catch (e) {
      if (!/unable to open|does not exist/i.test((e as Error).message)) throw e;
    }
  if (found > cfg.format) {
    const e = new Error(
      `${cfg.file} is in state format ${found}, but this Drover reads formats up to ${cfg.format}`,
    ) as StateFormatError;
    e.code = 'StateFormat';
    e.found = found;
    e.known = cfg.format;
    throw e;
  }
  const db = new DatabaseCtor(cfg.file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${cfg.synchronous}`);
  // The default 2 MB page cache is tiny next to a state of a million allocations: inserts at random keys
  // then re-read B-tree pages for every batch. 128 MB (a bound, not an allocation) and checkpointing the
  // WAL every ≈ 40 MB instead of every 4 MB took a quarter off the CPU time of persisting plans (C1M bench).
  db.pragma('cache_size = -131072');
  db.pragma('wal_autocheckpoint = 10000');
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)');
  db.exec('CREATE TABLE IF NOT EXISTS alloc_jobs (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  // Allocations in creation order (format 2): an ordinary rowid table (rows appended, stored in place up to
  // ≈ 4 KB) with a unique index on (CreateIndex, ID), which never changes for an allocation, so a plan's new rows
  // go to the end of both B-trees. Keyed by their random UUIDs (format 1's automatic index on `key`), each commit
  // of a plan dirtied (and wrote to the WAL, then checkpointed) about one index page per allocation: most of what
  // persisting the C1M cost. (WITHOUT ROWID would need no second B-tree, but keeps only ≈ 1 KB of a row in its
  // page and moves the rest of each ≈ 1 KB allocation row to an overflow page of its own.) `ci` defaults to 0
  // for rows written without one (tests that write rows by hand).
  const allocsTable = sqlName('allocs');
  const createAllocs = (): void => {
    db.exec(`CREATE TABLE ${allocsTable} (ci INTEGER NOT NULL DEFAULT 0, key TEXT NOT NULL, value TEXT NOT NULL)`);
    db.exec(`CREATE UNIQUE INDEX ${allocsTable}_order ON ${allocsTable} (ci, key)`);
  };
  const upserts = new Map<string, Database.Statement>();
  const deletes = new Map<string, Database.Statement>();
  for (const t of cfg.tableNames) {
    if (t !== 'allocs') {
      db.exec(`CREATE TABLE IF NOT EXISTS ${sqlName(t)} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      upserts.set(t, db.prepare(`INSERT OR REPLACE INTO ${sqlName(t)} (key, value) VALUES (?, ?)`));
      deletes.set(t, db.prepare(`DELETE FROM ${sqlName(t)} WHERE key = ?`));
    }
  }
  const allocColumns = (db.prepare(`PRAGMA table_info(${allocsTable})`).all() as { name: string }[]).map((c) => c.name);
  if (allocColumns.length === 0) createAllocs();
  else if (!allocColumns.includes('ci')) {
    // Format 1: rows keyed by ID alone. Copied in one transaction, in creation order, each under its
    // CreateIndex read from the row (0 when unreadable: a damaged row is still refused by `load`, not here).
    const ciAt = 26; // 1 + the index of CreateIndex in format 1's ALLOC_KEYS (ROW_POSITIONAL rows)
    db.function('drover_alloc_order', { deterministic: true }, (text: unknown): number => {
      let v: unknown;
      try {
        v = JSON.parse(String(text));
      } catch {
        return 0;
      }
      const ci = Array.isArray(v)
        ? v[0] === 1
          ? v[ciAt]
          : undefined // [0, value]: the value is an array, with no CreateIndex
        : (v as { CreateIndex?: unknown } | null)?.CreateIndex;
      return typeof ci === 'number' && Number.isFinite(ci) ? ci : 0;
    });
    const old = sqlName('allocs_format1');
    const count = (t: string): number => db.prepare(`SELECT count(*) FROM ${t} NOT INDEXED`).pluck().get() as number;
    try {
      db.transaction(() => {
        db.exec(`ALTER TABLE ${allocsTable} RENAME TO ${old}`);
        createAllocs();
        // The old table read whole in its own (rowid) order, not through its index on `key`: quick_check does
        // not compare an index with its table, and a row the index lacked would be lost here.
        db.exec(
          `INSERT INTO ${allocsTable} (ci, key, value) ` +
            `SELECT drover_alloc_order(value), key, value FROM ${old} NOT INDEXED ORDER BY 1, 2`,
        );
        const before = count(old);
        const after = count(allocsTable);
        if (before !== after) throw new Error(`${before} allocation rows before, ${after} after`);
        db.exec(`DROP TABLE ${old}`);
        db.pragma(`user_version = ${cfg.format}`);
      })();
    } catch (e) {
      throw new Error(
        `converting the state database from format 1 to ${cfg.format} failed and left it as it was ` +
          `(is the disk full?): ${(e as Error).message}`,
        { cause: e },
      );
    }
    // The copy went through the WAL: into the database and out of the WAL now, not at the next checkpoint.
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  const putAlloc = db.prepare(`INSERT OR REPLACE INTO ${allocsTable} (ci, key, value) VALUES (?, ?, ?)`);
  const delAlloc = db.prepare(`DELETE FROM ${allocsTable} WHERE ci = ? AND key = ?`);
  // A delete that names no order (a caller other than the store): found by ID, with a scan of the table.
  const delAllocAnyOrder = db.prepare(`DELETE FROM ${allocsTable} WHERE key = ?`);
  /** An allocation row's order when its change names none (as `allocOrder` in store.ts). */
  const orderOf = (value: unknown): number => {
    const ci = (value as { CreateIndex?: unknown } | null)?.CreateIndex;
    return typeof ci === 'number' && Number.isFinite(ci) ? ci : 0;
  };
  // A new database is in this build's format; an older one (an unmarked one is format 1, the only format before
  // the marker) was converted above.
  if (found < cfg.format) db.pragma(`user_version = ${cfg.format}`);
  const putMeta = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
  const putAllocJob = db.prepare('INSERT OR IGNORE INTO alloc_jobs (key, value) VALUES (?, ?)');
  const codec = makeCodec((ref, json) => putAllocJob.run(ref, json));
  const { JOB_REF, encode, decodeAlloc, isPlainObject } = codec;

  const putBatchMeta = (index: number, tableIndexes: BackendBatch['tableIndexes']): void => {
    putMeta.run('index', index);
    for (const [t, i] of Object.entries(tableIndexes)) putMeta.run(`table:${t}`, i);
  };
  const applyOne = (batch: BackendBatch): void => {
    for (const c of batch.changes) {
      if (c.table === 'allocs') {
        if (c.staleOrder !== undefined) delAlloc.run(c.staleOrder, c.key);
        if (c.value !== null) putAlloc.run(c.order ?? orderOf(c.value), c.key, encode(c.table, c.value));
        else if (c.order !== undefined) delAlloc.run(c.order, c.key);
        else delAllocAnyOrder.run(c.key);
        continue;
      }
      const stmt = c.value === null ? deletes.get(c.table) : upserts.get(c.table);
      if (stmt === undefined) throw new Error(`unknown state table ${JSON.stringify(c.table)} in batch ${batch.index}`);
      if (c.value === null) stmt.run(c.key);
      else stmt.run(c.key, encode(c.table, c.value));
    }
    putBatchMeta(batch.index, batch.tableIndexes);
  };
  const applyEncodedTxn = db.transaction((batches: readonly EncodedBatch[]) => {
    for (const b of batches) {
      const { keys, jobs, orders } = b;
      for (let i = 0; i < jobs.length; i += 2) putAllocJob.run(jobs[i], jobs[i + 1]);
      let piece = 0;
      let rows = b.rows[0] ?? '';
      let at = 0;
      for (let i = 0; i < keys.length; i += 2) {
        // Past the last row of this piece (n rows hold n - 1 newlines): the next piece.
        if (at > rows.length) {
          rows = b.rows[++piece] ?? '';
          at = 0;
        }
        let end = rows.indexOf('\n', at);
        if (end < 0) end = rows.length;
        const value = rows.slice(at, end);
        at = end + 1;
        const t = keys[i]!;
        if (t === 'allocs') {
          const order = orders[i];
          const stale = orders[i + 1];
          if (stale != null) delAlloc.run(stale, keys[i + 1]);
          if (value !== '') putAlloc.run(order, keys[i + 1], value);
          else if (order != null) delAlloc.run(order, keys[i + 1]);
          else delAllocAnyOrder.run(keys[i + 1]);
          continue;
        }
        const stmt = value === '' ? deletes.get(t) : upserts.get(t);
        if (stmt === undefined) throw new Error(`unknown state table ${JSON.stringify(t)} in batch ${b.index}`);
        if (value === '') stmt.run(keys[i + 1]);
        else stmt.run(keys[i + 1], value);
      }
      putBatchMeta(b.index, b.tableIndexes);
    }
  });
  const applyGroupTxn = db.transaction((batches: readonly BackendBatch[]) => {
    for (const b of batches) applyOne(b);
  });
  const applyMany = (batches: readonly BackendBatch[]): void => {
    codec.begin();
    let ok = false;
    try {
      applyGroupTxn(batches);
      ok = true;
    } finally {
      codec.end(ok);
    }
  };

  return {
    db,
    apply(batch) {
      applyMany([batch]);
    },
    applyMany,
    applyEncoded(batches) {
      applyEncodedTxn(batches);
    },
    load(visit, isAborted) {
      // Damaged pages are refused here rather than found by a query later (or never).
      const check = db.pragma('quick_check', { simple: true }) as string;
      if (check !== 'ok') throw new Error(`state database integrity check failed: PRAGMA quick_check: ${check}`);
      const jobs = new Map<string, unknown>();
      for (const row of db.prepare('SELECT key, value FROM alloc_jobs').iterate() as Iterable<{
        key: string;
        value: string;
      }>) {
        jobs.set(row.key, JSON.parse(row.value));
      }
      const referenced = new Set<string>();
      for (const t of cfg.tableNames) {
        if (isAborted()) throw new Error('aborted');
        const it = db.prepare(`SELECT key, value FROM ${sqlName(t)}`).iterate() as Iterable<{
          key: string;
          value: string;
        }>;
        for (const row of it) {
          const v = (t === 'allocs' ? decodeAlloc(row.value) : JSON.parse(row.value)) as Record<string, unknown>;
          const ref =
            t === 'allocs' && isPlainObject(v) ? (v.Job as Record<string, string> | null)?.[JOB_REF] : undefined;
          if (ref !== undefined) {
            v.Job = jobs.get(ref) ?? null;
            referenced.add(ref);
          }
          visit(t, row.key, v);
        }
      }
      // Jobs no allocation points to any more are garbage: collected at load, where it costs nothing extra.
      const del = db.prepare('DELETE FROM alloc_jobs WHERE key = ?');
      db.transaction(() => {
        for (const k of jobs.keys()) if (!referenced.has(k)) del.run(k);
      })();
      for (const k of referenced) codec.markStored(k);
      const meta: LoadedMeta = { index: 0, tableIndexes: {} };
      for (const row of db.prepare('SELECT key, value FROM meta').all() as { key: string; value: number }[]) {
        if (row.key === 'index') meta.index = row.value;
        else if (row.key.startsWith('table:')) meta.tableIndexes[row.key.slice(6) as TableName] = row.value;
      }
      return meta;
    },
    close() {
      if (db.open) db.close();
    },
  };
}

/**
 * The row encoding of `openSqliteCore` (positional allocation rows, jobs stored once in `alloc_jobs`), usable
 * apart from a database: `ThreadedSqliteBackend` encodes on the main thread and posts only strings. `putJob`
 * writes a job not yet known to be stored (the core runs the INSERT; `encodeBatch` collects it instead).
 * Self-contained like `openSqliteCore` (the worker runs it from its source text).
 */
export function makeRowCodec(
  putJob: (ref: string, json: string) => void,
  // The most characters of one string of `EncodedBatch.rows` (a parameter, as this function's source also runs
  // in the SQLite worker, where no module constant exists; tests pass a small one).
  rowsPieceChars = 64 * 1024 * 1024,
): RowCodec {
  const JOB_REF = '$jobRef';
  /**
   * Job references known to be in `alloc_jobs`. Every allocation of a plan carries the same job, so without
   * this each one would serialise the whole job again only for INSERT OR IGNORE to drop it: that was the
   * largest single cost of persisting a plan. `batchJobs` holds the ones written by the transaction in
   * progress; they join `storedJobs` only once it commits, so a rolled-back batch cannot leave a stale entry.
   */
  const storedJobs = new Set<string>();
  const batchJobs = new Set<string>();
  /**
   * Every job version with allocations adds a reference, and nothing removes one: past this many the set starts
   * again (the next allocation of each job serialises it once more, for INSERT OR IGNORE to drop), so a
   * long-lived agent's memory does not grow with the number of job versions it ever placed.
   */
  const STORED_JOBS_MAX = 10_000;

  /**
   * Compact allocation rows. Most of a stored allocation was its key names (≈ 750 of ≈ 1,750 bytes: the
   * allocation's and its metric's), so an allocation with exactly the fields of `ALLOC_KEYS` (every one defined,
   * no other) is stored as the array `[ROW_POSITIONAL, value of each key in that order]`, and its metric
   * likewise (`METRIC_KEYS`) when it has exactly those. Anything else is stored as before (a JSON object), or as
   * `[ROW_ARRAY, value]` when the value itself is an array, so every row decodes to what was written. Rows of
   * older versions (JSON objects) still load. Key order is the one `newAllocation` and `newAllocMetric` write.
   *
   * The two key lists are on-disk format 1 of the tag `ROW_POSITIONAL`: never edit them. A new allocation field
   * makes rows fall back to the object form until a new tag with its own key list is added (and decoded beside
   * this one). A positional row whose tag or length does not match is refused as damaged, never read shifted.
   */
  const ROW_POSITIONAL = 1;
  const ROW_ARRAY = 0;
  const ALLOC_KEYS = [
    'ID',
    'Namespace',
    'EvalID',
    'Name',
    'NodeID',
    'NodeName',
    'JobID',
    'Job',
    'TaskGroup',
    'AllocatedResources',
    'Metrics',
    'DesiredStatus',
    'DesiredDescription',
    'DesiredTransition',
    'ClientStatus',
    'ClientDescription',
    'TaskStates',
    'DeploymentID',
    'DeploymentStatus',
    'FollowupEvalID',
    'PreviousAllocation',
    'NextAllocation',
    'RescheduleTracker',
    'PreemptedAllocations',
    'PreemptedByAllocation',
    'CreateIndex',
    'ModifyIndex',
    'AllocModifyIndex',
    'CreateTime',
    'ModifyTime',
  ] as const;
  const METRIC_KEYS = [
    'NodesEvaluated',
    'NodesFiltered',
    'NodesInPool',
    'NodesAvailable',
    'ClassFiltered',
    'ConstraintFiltered',
    'NodesExhausted',
    'ClassExhausted',
    'DimensionExhausted',
    'QuotaExhausted',
    'ResourcesExhausted',
    'Scores',
    'ScoreMetaData',
    'AllocationTime',
    'CoalescedFailures',
    'NodePool',
  ] as const;
  const JOB_AT = ALLOC_KEYS.indexOf('Job') + 1;
  const METRICS_AT = ALLOC_KEYS.indexOf('Metrics') + 1;
  /** `[ROW_POSITIONAL, ...values]` when `v` has exactly `keys`, each defined; otherwise undefined. */
  const positional = (v: Record<string, unknown>, keys: readonly string[]): unknown[] | undefined => {
    let n = 0;
    for (const _ in v) n++;
    if (n !== keys.length) return undefined;
    const out = new Array<unknown>(keys.length + 1);
    out[0] = ROW_POSITIONAL;
    for (let i = 0; i < keys.length; i++) {
      const x = v[keys[i]!];
      if (x === undefined) return undefined;
      out[i + 1] = x;
    }
    return out;
  };
  const fromPositional = (a: readonly unknown[], keys: readonly string[]): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) o[keys[i]!] = a[i + 1];
    return o;
  };
  const damagedRow = (v: readonly unknown[]): Error =>
    new Error(
      `state database: an allocation row has an unknown layout (tag ${JSON.stringify(v[0])}, ${v.length} values): ` +
        'written by a newer Drover, or damaged; refusing to load it shifted',
    );
  const isPlainObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);

  const encode = (table: string, value: unknown): string => {
    if (table !== 'allocs') return JSON.stringify(value);
    if (Array.isArray(value)) return JSON.stringify([ROW_ARRAY, value]);
    if (!isPlainObject(value)) return JSON.stringify(value);
    const job = value.Job as { Namespace?: string; ID?: string; ModifyIndex?: number } | null | undefined;
    let jobRef: unknown = job;
    if (job != null && typeof job === 'object') {
      const ref = `${job.Namespace}\u0000${job.ID}\u0000${job.ModifyIndex ?? 0}`;
      if (!storedJobs.has(ref) && !batchJobs.has(ref)) {
        if (collect !== undefined) collect.push(ref, JSON.stringify(job));
        else putJob(ref, JSON.stringify(job));
        batchJobs.add(ref);
      }
      jobRef = { [JOB_REF]: ref };
    }
    const row = positional(value, ALLOC_KEYS);
    if (row === undefined) return JSON.stringify(jobRef === job ? value : { ...value, Job: jobRef });
    row[JOB_AT] = jobRef;
    const m = row[METRICS_AT];
    if (isPlainObject(m)) row[METRICS_AT] = positional(m, METRIC_KEYS) ?? m;
    // An array there would read back as a positional metric: such a row keeps the object form.
    else if (Array.isArray(m)) return JSON.stringify({ ...value, Job: jobRef });
    return JSON.stringify(row);
  };
  /** The stored allocation row `text` as written (its job reference still unresolved). */
  const decodeAlloc = (text: string): unknown => {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v)) return v;
    if (v[0] === ROW_ARRAY && v.length === 2) return v[1];
    if (v[0] !== ROW_POSITIONAL || v.length !== ALLOC_KEYS.length + 1) throw damagedRow(v);
    const o = fromPositional(v, ALLOC_KEYS);
    const m = o.Metrics;
    if (Array.isArray(m)) {
      if (m[0] !== ROW_POSITIONAL || m.length !== METRIC_KEYS.length + 1) throw damagedRow(v);
      o.Metrics = fromPositional(m, METRIC_KEYS);
    }
    return o;
  };

  let collect: string[] | undefined;
  const encodeBatch = (batch: BackendBatch): EncodedBatch => {
    const keys: string[] = [];
    const orders: (number | null)[] = [];
    const pieces: string[] = [];
    let rows: string[] = [];
    let chars = 0;
    const jobs: string[] = [];
    collect = jobs;
    try {
      for (const c of batch.changes) {
        keys.push(c.table, c.key);
        if (c.table !== 'allocs') orders.push(null, null);
        else {
          // Upserts always name their order (the row's own when the change does not); deletes may not (null).
          const own = (c.value as { CreateIndex?: unknown } | null)?.CreateIndex;
          const order =
            c.order ?? (c.value === null ? null : typeof own === 'number' && Number.isFinite(own) ? own : 0);
          orders.push(order, c.staleOrder ?? null);
        }
        const text = c.value === null ? '' : (encode(c.table, c.value) as string | undefined);
        // (JSON.stringify of undefined or a function: the in-thread backend's NOT NULL refuses it likewise.)
        if (typeof text !== 'string') throw new Error(`${c.table}/${c.key}: the value cannot be stored as JSON`);
        if (rows.length > 0 && chars + text.length + 1 > rowsPieceChars) {
          pieces.push(rows.join('\n'));
          rows = [];
          chars = 0;
        }
        rows.push(text);
        chars += text.length + 1;
      }
      if (rows.length > 0) pieces.push(rows.join('\n'));
    } finally {
      collect = undefined;
    }
    return { index: batch.index, keys, orders, rows: pieces, jobs, tableIndexes: batch.tableIndexes };
  };
  return {
    JOB_REF,
    encode,
    encodeBatch,
    decodeAlloc,
    isPlainObject,
    begin() {
      batchJobs.clear();
    },
    end(ok) {
      if (ok) {
        if (storedJobs.size + batchJobs.size > STORED_JOBS_MAX) storedJobs.clear();
        for (const ref of batchJobs) storedJobs.add(ref);
      }
      batchJobs.clear();
    },
    markStored(ref) {
      storedJobs.add(ref);
    },
    forgetJobs() {
      storedJobs.clear();
      batchJobs.clear();
    },
  };
}
