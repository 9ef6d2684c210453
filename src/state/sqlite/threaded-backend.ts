/**
 * The SQLite backend with its SQLite work (row encoding, statements, commits) on a worker thread, so the
 * main thread's share of a write is building the batch and handing it over.
 *
 *   apply(batch) ──postMessage──► worker: core.apply (one SQL transaction) ──► { seq, ok } ──► promise resolves
 *        (returns a promise at once;                 batches run in the order sent; after one fails,
 *         several may be in flight)                   every later one is refused without touching disk
 *                                                     until recover() (the store calls it once idle)
 *
 * Batches are sent as objects (structured clone) rather than JSON text: the clone writes an allocation's
 * shared job once per message, and JSON encoding then runs in the worker (measured: see BENCHMARKS.md).
 * The store acknowledges a write only when its promise resolves, i.e. after the worker committed it.
 * A worker that dies (crash, terminate) fails every batch in flight and every later one with a DroverError;
 * the database then holds exactly a prefix of the batches sent, so a restart reloads what was acknowledged
 * (and possibly batches committed just before the crash whose answer was lost, as with any crash).
 *
 * Loading at start runs in the calling thread over its own connection, closed before the worker opens.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { TableName } from '../schema.js';
import type { BackendBatch, LoadedMeta, StateBackend } from '../backend.js';
import { DroverError } from '../../errors/index.js';
import { checkAfterLoad, checkBeforeOpen, MarkerWriter } from './integrity.js';
import { saveSnapshot } from './snapshot.js';
import { openSqliteCore, type SqliteCoreConfig } from './sqlite-core.js';
import { loadThrough, openCore, sqliteCoreConfig, type SqliteBackendOptions } from './sqlite-backend.js';

type Reply = { seq: number; ok: true } | { seq: number; ok: false; error: string };

/**
 * The worker's program, run from source (`eval`) so it needs no separate build output: the compiled agent
 * and the TypeScript sources under vitest both hand over the same self-contained function.
 */
function workerSource(): string {
  return `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlitePath);
const openSqliteCore = (${openSqliteCore.toString()});
let core;
let failed;
try {
  core = openSqliteCore(Database, workerData.cfg);
} catch (e) {
  failed = 'cannot open the state database: ' + (e && e.message);
}
parentPort.on('message', (m) => {
  if (m.type === 'recover') {
    if (core) failed = undefined;
    return;
  }
  if (m.type === 'close') {
    if (core) core.close();
    parentPort.close();
    return;
  }
  if (failed !== undefined) {
    parentPort.postMessage({ seq: m.seq, ok: false, error: failed });
    return;
  }
  try {
    core.apply(m.batch);
    parentPort.postMessage({ seq: m.seq, ok: true });
  } catch (e) {
    failed = 'batch ' + m.batch.index + ' was not committed, so later batches are refused: ' + (e && e.message);
    parentPort.postMessage({ seq: m.seq, ok: false, error: 'SQLite refused batch ' + m.batch.index + ': ' + (e && e.message) });
  }
});
`;
}

interface InFlight {
  seq: number;
  index: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class ThreadedSqliteBackend implements StateBackend {
  /** Batches may be handed over before earlier ones commit: the worker keeps their order. */
  readonly ordered = true;
  private readonly cfg: SqliteCoreConfig;
  private worker: Worker | undefined;
  private readonly inFlight: InFlight[] = [];
  private seq = 0;
  private dead: DroverError | undefined;
  private closed = false;
  private exited: Promise<void> = Promise.resolve();

  private readonly marker: MarkerWriter;

  constructor(private readonly opts: SqliteBackendOptions) {
    this.cfg = sqliteCoreConfig(opts);
    this.marker = new MarkerWriter(opts.dataDir, opts.logger);
  }

  async load(
    visit: (table: TableName, key: string, value: unknown) => void,
    signal?: AbortSignal,
  ): Promise<LoadedMeta> {
    if (this.worker !== undefined)
      throw new DroverError('Internal', 'the SQLite state must be loaded before the first write');
    checkBeforeOpen(this.opts);
    const core = openCore(this.cfg);
    try {
      const meta = loadThrough(core, visit, signal);
      checkAfterLoad(this.opts, meta.index);
      this.marker.reset(meta.index);
      return meta;
    } finally {
      core.close();
    }
  }

  apply(batch: BackendBatch): Promise<void> {
    if (this.closed) return Promise.reject(new DroverError('Internal', 'SQLite state backend is closed'));
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const w = this.ensureWorker();
    const seq = ++this.seq;
    return new Promise<void>((resolve, reject) => {
      // Throws synchronously on a row that cannot be cloned: the caller's write fails, nothing was sent.
      w.postMessage({ type: 'apply', seq, batch });
      this.inFlight.push({
        seq,
        index: batch.index,
        resolve: () => {
          this.marker.note(batch.index);
          resolve();
        },
        reject,
      });
      // A commit in flight keeps the process alive; an idle worker does not.
      if (this.inFlight.length === 1) w.ref();
    });
  }

  /** A consistent copy over a separate read-only connection (WAL readers do not block the worker). */
  async backup(file: string): Promise<void> {
    await saveSnapshot(this.cfg.file, file);
  }

  recover(): void {
    if (this.worker !== undefined && this.dead === undefined && !this.closed)
      this.worker.postMessage({ type: 'recover' });
  }

  /** For tests: the worker thread, to terminate it as a crash would. */
  get thread(): Worker | undefined {
    return this.worker;
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const sqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(workerSource(), { eval: true, workerData: { sqlitePath, cfg: this.cfg } });
    w.unref();
    w.on('message', (r: Reply) => this.onReply(r));
    w.on('error', (e) => this.die(`SQLite state worker crashed: ${e.message}`));
    this.exited = new Promise((resolve) => {
      w.once('exit', (code) => {
        this.die(`SQLite state worker exited (code ${code})`);
        resolve();
      });
    });
    this.worker = w;
    return w;
  }

  private onReply(r: Reply): void {
    const head = this.inFlight.shift();
    if (head === undefined || head.seq !== r.seq) {
      this.die(`SQLite state worker answered batch #${r.seq} out of order`);
      return;
    }
    if (this.inFlight.length === 0) this.worker?.unref();
    if (r.ok) head.resolve();
    else head.reject(new DroverError('Internal', r.error));
  }

  /** Fails everything in flight and everything after: the worker is gone or cannot be trusted. */
  private die(why: string): void {
    if (this.dead === undefined && !this.closed)
      this.dead = new DroverError('Internal', `${why}; state writes are refused until the agent restarts`);
    const err = this.dead ?? new DroverError('Internal', 'SQLite state backend is closed');
    for (const f of this.inFlight.splice(0)) {
      f.reject(new DroverError('Internal', `${why} before committing batch ${f.index}`, { cause: err }));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    if (w === undefined) return;
    // Batches in flight are still committed and answered: the close message queues behind them.
    w.ref();
    w.postMessage({ type: 'close' });
    await this.exited;
    this.marker.flush();
  }
}
