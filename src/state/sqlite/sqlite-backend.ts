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
import { aborted, stateCorrupt } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import { checkAfterLoad, checkBeforeOpen, MarkerWriter } from './integrity.js';
import { openSqliteCore, type SqliteCore, type SqliteCoreConfig } from './sqlite-core.js';

export interface SqliteBackendOptions {
  /** Directory for `state.db`; created when missing. ':memory:' keeps the database in memory. */
  dataDir: string;
  /** Default FULL (fsync on every commit). */
  synchronous?: 'NORMAL' | 'FULL';
  /** Start even when the integrity checks find loss (`drover agent -recover`). */
  recover?: boolean;
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
  return { file, synchronous: opts.synchronous ?? 'FULL', tableNames };
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

export class SqliteBackend implements StateBackend {
  private readonly core: SqliteCore;
  private readonly marker: MarkerWriter;

  constructor(private readonly opts: SqliteBackendOptions) {
    const cfg = sqliteCoreConfig(opts);
    checkBeforeOpen(opts);
    try {
      this.core = openSqliteCore(Database, cfg);
    } catch (e) {
      throw stateCorrupt(`cannot open the state database ${cfg.file}: ${(e as Error).message}`);
    }
    this.marker = new MarkerWriter(opts.dataDir, opts.logger);
  }

  /** The connection, for tests that inspect pragmas. */
  get db(): Database.Database {
    return this.core.db;
  }

  apply(batch: BackendBatch): void {
    this.core.apply(batch);
    this.marker.note(batch.index);
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
    this.core.close();
    this.marker.flush();
  }
}
