/**
 * The SQLite backend (better-sqlite3), running in the calling thread: `apply` returns once the
 * transaction is committed. The storage layout lives in `sqlite-core.ts`; `ThreadedSqliteBackend` runs
 * the same code in a worker thread.
 *
 * Durability: WAL mode with synchronous=FULL by default: every commit is fsynced before `apply` returns, so
 * an acknowledged write survives power loss and a kernel crash, not only the process being killed. NORMAL
 * skips that fsync (the last transactions may be lost on power loss) for more throughput: see BENCHMARKS.md
 * for the cost and docs/operations.md for the setting (`server { sqlite_synchronous = "normal" }`).
 * Start-up refuses damaged or shortened state (integrity.ts) unless `recover` is set.
 */
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { tableNames, type TableName } from '../schema.js';
import type { BackendBatch, LoadedMeta, StateBackend } from '../backend.js';
import { aborted, stateCorrupt, stateFormatTooNew } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import { checkAfterLoad, checkBeforeOpen, MarkerWriter } from './integrity.js';
import {
  makeRowCodec,
  openSqliteCore,
  STATE_DB_FORMAT,
  type SqliteCore,
  type SqliteCoreConfig,
  type StateFormatError,
} from './sqlite-core.js';

export interface SqliteBackendOptions {
  /** Directory for `state.db`; created when missing. ':memory:' keeps the database in memory. */
  dataDir: string;
  /** Default FULL (fsync on every commit). */
  synchronous?: 'NORMAL' | 'FULL';
  /** Start even when the integrity checks find loss (`drover agent -recover`). */
  recover?: boolean;
  /**
   * Group commit (default true): the batches handed over in one turn of the event loop are committed together
   * in one SQL transaction, with one fsync, just after that turn; each is acknowledged only once that
   * transaction has committed. false commits each batch inside `apply`.
   */
  groupCommit?: boolean;
  logger?: Logger;
}

/** Where the database of `opts` lives, creating its directory. */
export function sqliteCoreConfig(opts: SqliteBackendOptions): SqliteCoreConfig {
  let file = ':memory:';
  if (opts.dataDir !== ':memory:') {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    file = join(opts.dataDir, 'state.db');
    // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database file's mode.
    closeSync(openSync(file, 'a', 0o600));
  }
  return { file, format: STATE_DB_FORMAT, synchronous: opts.synchronous ?? 'FULL', tableNames };
}

/**
 * Opens the database of `cfg` in this thread. A newer format is refused with `StateFormat` (naming the file and
 * both formats; `-recover` does not override it), anything else SQLite cannot open with `StateCorrupt`.
 */
export function openCore(cfg: SqliteCoreConfig): SqliteCore {
  try {
    return openSqliteCore(Database, cfg, makeRowCodec);
  } catch (e) {
    const f = e as Partial<StateFormatError>;
    if (f.code === 'StateFormat') throw stateFormatTooNew(cfg.file, f.found ?? 0, f.known ?? cfg.format);
    throw stateCorrupt(`cannot open the state database ${cfg.file}: ${(e as Error).message}`);
  }
}

/** Loads every row through `core`, mapping an abort to the usual error. */
export function loadThrough(
  core: SqliteCore,
  visit: (table: TableName, key: string, value: unknown) => void,
  signal?: AbortSignal,
): LoadedMeta {
  try {
    return core.load(visit, () => signal?.aborted === true);
  } catch (e) {
    if (signal?.aborted) throw aborted();
    const msg = (e as Error).message ?? String(e);
    // A database SQLite cannot read at all is as much a refusal to start as a failed quick_check.
    if (/integrity check failed|malformed|not a database|corrupt/i.test(msg))
      throw stateCorrupt(`${msg}; refusing to start. Restore a snapshot (drover operator snapshot restore)`);
    throw e;
  }
}

interface Queued {
  batch: BackendBatch;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class SqliteBackend implements StateBackend {
  private readonly core: SqliteCore;
  private readonly marker: MarkerWriter;
  /** With group commit, batches may be handed over before earlier ones commit; they commit in that order. */
  readonly ordered: boolean;
  private queue: Queued[] = [];
  /** Set when a group failed: later batches are refused until the store calls recover(). */
  private failed: Error | undefined;

  constructor(private readonly opts: SqliteBackendOptions) {
    const cfg = sqliteCoreConfig(opts);
    checkBeforeOpen(opts);
    this.core = openCore(cfg);
    this.marker = new MarkerWriter(opts.dataDir, opts.logger);
    this.ordered = opts.groupCommit !== false;
  }

  /** The connection, for tests that inspect pragmas. */
  get db(): Database.Database {
    return this.core.db;
  }

  apply(batch: BackendBatch): void | Promise<void> {
    if (!this.ordered) {
      this.core.apply(batch);
      this.marker.note(batch.index);
      return;
    }
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      // setImmediate, not a microtask: the group then holds every write started in this turn of the loop
      // (a register's job, its evaluation, the HTTP requests parsed in the same poll phase).
      if (this.queue.push({ batch, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  /** Commits every queued batch in one transaction, then acknowledges them; a failure rejects them all. */
  private flush(): void {
    const group = this.queue;
    if (group.length === 0) return;
    this.queue = [];
    if (this.failed) {
      for (const q of group) q.reject(this.failed);
      return;
    }
    try {
      if (group.length === 1) this.core.apply(group[0]!.batch);
      else this.core.applyMany(group.map((q) => q.batch));
    } catch {
      // The group rolled back whole. Commit it again one batch at a time, so the batches before the one that
      // fails are kept and it and every later one (maybe built on it) are refused, as without grouping.
      this.flushOneByOne(group);
      return;
    }
    this.marker.note(group.at(-1)!.batch.index);
    for (const q of group) q.resolve();
  }

  private flushOneByOne(group: Queued[]): void {
    for (const q of group) {
      if (this.failed) {
        q.reject(this.failed);
        continue;
      }
      try {
        this.core.apply(q.batch);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.failed = new Error(
          `batch ${q.batch.index} was not committed, so later batches are refused: ${err.message}`,
          {
            cause: err,
          },
        );
        q.reject(err);
        continue;
      }
      this.marker.note(q.batch.index);
      q.resolve();
    }
  }

  recover(): void {
    this.failed = undefined;
  }

  async load(
    visit: (table: TableName, key: string, value: unknown) => void,
    signal?: AbortSignal,
  ): Promise<LoadedMeta> {
    const meta = loadThrough(this.core, visit, signal);
    checkAfterLoad(this.opts, meta.index);
    this.marker.reset(meta.index);
    return meta;
  }

  /** A consistent copy of the database (SQLite's online backup) at `file`. */
  async backup(file: string): Promise<void> {
    await this.core.db.backup(file);
  }

  async close(): Promise<void> {
    // Batches already handed over are committed (or refused) before the database closes.
    this.flush();
    this.core.close();
    this.marker.flush();
  }
}
