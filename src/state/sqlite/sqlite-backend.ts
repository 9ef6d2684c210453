/**
 * The SQLite backend (better-sqlite3). One SQL table per state table (`key TEXT PRIMARY KEY, value
 * TEXT` holding JSON) and a `meta` table for the state index and each table's last-modified index.
 * Each batch is one SQL transaction.
 *
 * Durability: WAL mode with synchronous=NORMAL by default. In WAL mode a commit is written to the WAL
 * file before `apply` returns; NORMAL only skips the fsync, so an acknowledged write survives the
 * process being SIGKILLed (the OS still holds the pages) but the last transactions may be lost on
 * power loss or a kernel crash. `synchronous: 'FULL'` fsyncs every commit for that case, at a
 * throughput cost.
 *
 * Allocations carry their whole job (denormalised, as Nomad does). Stored as is, a million allocations
 * of one job would repeat the job a million times, so the job is stored once in `alloc_jobs`, keyed by
 * namespace, ID and ModifyIndex (a job object is unique per ModifyIndex), and referenced from the row.
 * On load the references are resolved to one shared object per key.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tableNames, type TableName } from '../schema.js';
import type { BackendBatch, LoadedMeta, StateBackend } from '../backend.js';
import { aborted } from '../../errors/index.js';

export interface SqliteBackendOptions {
  /** Directory for `state.db`; created when missing. ':memory:' keeps the database in memory. */
  dataDir: string;
  synchronous?: 'NORMAL' | 'FULL';
}

const JOB_REF = '$jobRef';

function sqlName(t: string): string {
  return `t_${t}`;
}

interface JobLike {
  Namespace?: string;
  ID?: string;
  ModifyIndex?: number;
}

export class SqliteBackend implements StateBackend {
  private readonly db: Database.Database;
  private readonly upserts = new Map<TableName, Database.Statement>();
  private readonly deletes = new Map<TableName, Database.Statement>();
  private readonly putMeta: Database.Statement;
  private readonly putAllocJob: Database.Statement;
  private readonly applyTxn: (batch: BackendBatch) => void;
  /**
   * Job references known to be in `alloc_jobs`. Every allocation of a plan carries the same job, so without
   * this each one would serialise the whole job again only for INSERT OR IGNORE to drop it: that was the
   * largest single cost of persisting a plan. `batchJobs` holds the ones written by the transaction in
   * progress; they join `storedJobs` only once it commits, so a rolled-back batch cannot leave a stale entry.
   */
  private readonly storedJobs = new Set<string>();
  private readonly batchJobs = new Set<string>();

  constructor(opts: SqliteBackendOptions) {
    let file = ':memory:';
    if (opts.dataDir !== ':memory:') {
      mkdirSync(opts.dataDir, { recursive: true });
      file = join(opts.dataDir, 'state.db');
    }
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    // The default 2 MB page cache is tiny next to a state of a million allocations: inserts at random keys
    // then re-read B-tree pages for every batch. 128 MB (a bound, not an allocation) and checkpointing the
    // WAL every ≈ 40 MB instead of every 4 MB took a quarter off the CPU time of persisting plans (C1M bench).
    this.db.pragma('cache_size = -131072');
    this.db.pragma('wal_autocheckpoint = 10000');
    this.db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    this.db.exec('CREATE TABLE IF NOT EXISTS alloc_jobs (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    for (const t of tableNames) {
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${sqlName(t)} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      this.upserts.set(t, this.db.prepare(`INSERT OR REPLACE INTO ${sqlName(t)} (key, value) VALUES (?, ?)`));
      this.deletes.set(t, this.db.prepare(`DELETE FROM ${sqlName(t)} WHERE key = ?`));
    }
    this.putMeta = this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
    this.putAllocJob = this.db.prepare('INSERT OR IGNORE INTO alloc_jobs (key, value) VALUES (?, ?)');
    this.applyTxn = this.db.transaction((batch: BackendBatch) => this.applyRows(batch));
  }

  private applyRows(batch: BackendBatch): void {
    for (const c of batch.changes) {
      if (c.value === null) {
        this.deletes.get(c.table)!.run(c.key);
        continue;
      }
      this.upserts.get(c.table)!.run(c.key, this.encode(c.table, c.value));
    }
    this.putMeta.run('index', batch.index);
    for (const [t, i] of Object.entries(batch.tableIndexes)) this.putMeta.run(`table:${t}`, i);
  }

  private encode(table: TableName, value: unknown): string {
    if (table !== 'allocs') return JSON.stringify(value);
    const job = (value as { Job?: JobLike | null }).Job;
    if (job == null || typeof job !== 'object') return JSON.stringify(value);
    const ref = `${job.Namespace}\u0000${job.ID}\u0000${job.ModifyIndex ?? 0}`;
    if (!this.storedJobs.has(ref) && !this.batchJobs.has(ref)) {
      this.putAllocJob.run(ref, JSON.stringify(job));
      this.batchJobs.add(ref);
    }
    return JSON.stringify({ ...(value as object), Job: { [JOB_REF]: ref } });
  }

  apply(batch: BackendBatch): void {
    this.batchJobs.clear();
    this.applyTxn(batch);
    for (const ref of this.batchJobs) this.storedJobs.add(ref);
    this.batchJobs.clear();
  }

  async load(visit: (table: TableName, key: string, value: unknown) => void, signal?: AbortSignal): Promise<LoadedMeta> {
    const jobs = new Map<string, unknown>();
    for (const row of this.db.prepare('SELECT key, value FROM alloc_jobs').iterate() as Iterable<{ key: string; value: string }>) {
      jobs.set(row.key, JSON.parse(row.value));
    }
    const referenced = new Set<string>();
    for (const t of tableNames) {
      if (signal?.aborted) throw aborted();
      const it = this.db.prepare(`SELECT key, value FROM ${sqlName(t)}`).iterate() as Iterable<{ key: string; value: string }>;
      for (const row of it) {
        const v = JSON.parse(row.value) as Record<string, unknown>;
        const ref = t === 'allocs' ? (v.Job as Record<string, string> | null)?.[JOB_REF] : undefined;
        if (ref !== undefined) {
          v.Job = jobs.get(ref) ?? null;
          referenced.add(ref);
        }
        visit(t, row.key, v);
      }
    }
    this.dropUnreferencedJobs(jobs, referenced);
    const meta: LoadedMeta = { index: 0, tableIndexes: {} };
    for (const row of this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: number }[]) {
      if (row.key === 'index') meta.index = row.value;
      else if (row.key.startsWith('table:')) meta.tableIndexes[row.key.slice(6) as TableName] = row.value;
    }
    return meta;
  }

  /** Jobs no allocation points to any more are garbage: collected at load, where it costs nothing extra. */
  private dropUnreferencedJobs(jobs: Map<string, unknown>, referenced: Set<string>): void {
    const del = this.db.prepare('DELETE FROM alloc_jobs WHERE key = ?');
    const drop = this.db.transaction(() => {
      for (const k of jobs.keys()) if (!referenced.has(k)) del.run(k);
    });
    drop();
    for (const k of referenced) this.storedJobs.add(k);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
