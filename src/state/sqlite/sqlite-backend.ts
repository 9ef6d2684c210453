/**
 * The SQLite backend (better-sqlite3), running in the calling thread: `apply` returns once the
 * transaction is committed. The storage layout lives in `sqlite-core.ts`; `ThreadedSqliteBackend` runs
 * the same code in a worker thread.
 *
 * Durability: WAL mode with synchronous=NORMAL by default. In WAL mode a commit is written to the WAL
 * file before `apply` returns; NORMAL only skips the fsync, so an acknowledged write survives the
 * process being SIGKILLed (the OS still holds the pages) but the last transactions may be lost on
 * power loss or a kernel crash. `synchronous: 'FULL'` fsyncs every commit for that case, at a
 * throughput cost.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tableNames, type TableName } from '../schema.js';
import type { BackendBatch, LoadedMeta, StateBackend } from '../backend.js';
import { aborted } from '../../errors/index.js';
import { openSqliteCore, type SqliteCore, type SqliteCoreConfig } from './sqlite-core.js';

export interface SqliteBackendOptions {
  /** Directory for `state.db`; created when missing. ':memory:' keeps the database in memory. */
  dataDir: string;
  synchronous?: 'NORMAL' | 'FULL';
}

/** Where the database of `opts` lives, creating its directory. */
export function sqliteCoreConfig(opts: SqliteBackendOptions): SqliteCoreConfig {
  let file = ':memory:';
  if (opts.dataDir !== ':memory:') {
    mkdirSync(opts.dataDir, { recursive: true });
    file = join(opts.dataDir, 'state.db');
  }
  return { file, synchronous: opts.synchronous ?? 'NORMAL', tableNames };
}

/** Loads every row through `core`, mapping an abort to the usual error. */
export function loadThrough(core: SqliteCore, visit: (table: TableName, key: string, value: unknown) => void, signal?: AbortSignal): LoadedMeta {
  try {
    return core.load(visit, () => signal?.aborted === true);
  } catch (e) {
    if (signal?.aborted) throw aborted();
    throw e;
  }
}

export class SqliteBackend implements StateBackend {
  private readonly core: SqliteCore;

  constructor(opts: SqliteBackendOptions) {
    this.core = openSqliteCore(Database, sqliteCoreConfig(opts));
  }

  /** The connection, for tests that inspect pragmas. */
  get db(): Database.Database {
    return this.core.db;
  }

  apply(batch: BackendBatch): void {
    this.core.apply(batch);
  }

  async load(visit: (table: TableName, key: string, value: unknown) => void, signal?: AbortSignal): Promise<LoadedMeta> {
    return loadThrough(this.core, visit, signal);
  }

  async close(): Promise<void> {
    this.core.close();
  }
}
