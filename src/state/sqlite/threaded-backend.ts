/**
 * The SQLite backend with its SQLite work (statements, commits, fsyncs) on a worker thread, so the main
 * thread's share of a write is encoding the batch's rows and handing the strings over.
 *
 *   apply(batch) ─ encode rows (main thread) ─ queued; after this turn of the event loop, every batch queued
 *        │                                     in it goes in one postMessage (strings only)
 *        └─ promise ◄── { seq, committed } ◄── worker: the batches of every message that arrived meanwhile in
 *                                              one SQL transaction (one commit, one fsync), in the order sent;
 *                                              after one fails, every later one is refused without touching
 *                                              disk until recover() (the store calls it once idle)
 *
 * Rows are encoded on the main thread (`makeRowCodec`, the same encoding as the in-thread backend) and only
 * strings cross to the worker: cloning a string is a copy, where cloning the batch's objects walked every field
 * of every allocation and cost the main thread more than the SQLite work it moved (see BENCHMARKS.md). Each
 * job is sent once (its JSON beside the first batch that references it); after a refused batch the main thread
 * forgets which jobs it sent, so the batches after recover() send them again (INSERT OR IGNORE).
 * The store acknowledges a write only when its promise resolves, i.e. after the worker committed it (group
 * commit: a group that fails is committed again one batch at a time, so the batches before the failing one are
 * kept and acknowledged, and it and every later one refused).
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
import {
  makeRowCodec,
  openSqliteCore,
  type EncodedBatch,
  type RowCodec,
  type SqliteCoreConfig,
} from './sqlite-core.js';
import { loadThrough, openCore, sqliteCoreConfig, type SqliteBackendOptions } from './sqlite-backend.js';

/**
 * The answer to one message: its first `committed` batches are on disk; the next one failed with `error` (SQLite's
 * refusal), or with `refused` when an earlier message's batch failed, and every later one is `refused`.
 */
interface Reply {
  seq: number;
  committed: number;
  error?: string;
  refused?: string;
}

/**
 * The worker's program, run from source (`eval`) so it needs no separate build output: the compiled agent
 * and the TypeScript sources under vitest both hand over the same self-contained functions.
 */
function workerSource(): string {
  return `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlitePath);
const makeRowCodec = (${makeRowCodec.toString()});
const openSqliteCore = (${openSqliteCore.toString()});
let core;
let failed;
try {
  core = openSqliteCore(Database, workerData.cfg, makeRowCodec);
} catch (e) {
  failed = 'cannot open the state database: ' + (e && e.message);
}
let queue = [];
parentPort.on('message', (m) => {
  // Everything that arrives in one turn is handled together: consecutive applies become one transaction.
  if (queue.push(m) === 1) setImmediate(drain);
});
function drain() {
  const msgs = queue;
  queue = [];
  let group = [];
  for (const m of msgs) {
    if (m.type === 'apply') {
      group.push(m);
      continue;
    }
    commit(group);
    group = [];
    if (m.type === 'recover') {
      if (core) failed = undefined;
    } else if (m.type === 'close') {
      if (core) core.close();
      parentPort.close();
      return;
    }
  }
  commit(group);
}
function commit(group) {
  if (group.length === 0) return;
  if (failed === undefined) {
    const all = [];
    for (const m of group) for (const b of m.batches) all.push(b);
    try {
      core.applyEncoded(all);
      for (const m of group) parentPort.postMessage({ seq: m.seq, committed: m.batches.length });
      return;
    } catch {
      // Rolled back whole: again one batch at a time, keeping the ones before the failing batch.
    }
  }
  for (const m of group) {
    let n = 0;
    let error;
    for (const b of m.batches) {
      if (failed !== undefined) break;
      try {
        core.applyEncoded([b]);
        n++;
      } catch (e) {
        error = 'SQLite refused batch ' + b.index + ': ' + (e && e.message);
        failed = 'batch ' + b.index + ' was not committed, so later batches are refused: ' + (e && e.message);
      }
    }
    parentPort.postMessage(n === m.batches.length ? { seq: m.seq, committed: n } : { seq: m.seq, committed: n, error, refused: failed });
  }
}
`;
}

interface Pending {
  encoded: EncodedBatch;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface InFlight {
  seq: number;
  batches: Pending[];
}

export class ThreadedSqliteBackend implements StateBackend {
  /** Batches may be handed over before earlier ones commit: the worker keeps their order. */
  readonly ordered = true;
  private readonly cfg: SqliteCoreConfig;
  private worker: Worker | undefined;
  /** Encoded, not yet posted (posted together just after the current turn of the event loop). */
  private pending: Pending[] = [];
  private readonly inFlight: InFlight[] = [];
  private seq = 0;
  private dead: DroverError | undefined;
  /**
   * Set when a batch could not be encoded here: the worker never saw it, so this side refuses every later
   * batch until recover(), as the worker does after a batch SQLite refused; the disk keeps a prefix.
   */
  private refused: DroverError | undefined;
  private closed = false;
  private exited: Promise<void> = Promise.resolve();
  /** Encodes on this thread; its job set is "sent to the worker", forgotten after a refused batch. */
  private readonly codec: RowCodec = makeRowCodec(() => {
    throw new Error('the threaded backend collects jobs per batch');
  });

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
    if (this.refused !== undefined) return Promise.reject(this.refused);
    let encoded: EncodedBatch;
    this.codec.begin();
    try {
      // Throws on a row JSON cannot encode: the caller's write fails, nothing is sent.
      encoded = this.codec.encodeBatch(batch);
    } catch (e) {
      this.codec.end(false);
      const err = e instanceof Error ? e : new Error(String(e));
      this.refused = new DroverError(
        'Internal',
        `batch ${batch.index} was not committed, so later batches are refused: ${err.message}`,
      );
      return Promise.reject(err);
    }
    this.codec.end(true);
    return new Promise<void>((resolve, reject) => {
      const p: Pending = {
        encoded,
        resolve: () => {
          this.marker.note(batch.index);
          resolve();
        },
        reject,
      };
      // setImmediate, not a microtask: one message then holds every write started in this turn of the loop.
      if (this.pending.push(p) === 1) setImmediate(() => this.send());
    });
  }

  /** Posts the pending batches as one message. */
  private send(): void {
    const batches = this.pending;
    if (batches.length === 0) return;
    this.pending = [];
    if (this.dead !== undefined) {
      for (const p of batches) p.reject(this.dead);
      return;
    }
    const w = this.ensureWorker();
    const seq = ++this.seq;
    w.postMessage({ type: 'apply', seq, batches: batches.map((p) => p.encoded) });
    this.inFlight.push({ seq, batches });
    // A commit in flight keeps the process alive; an idle worker does not.
    if (this.inFlight.length === 1) w.ref();
  }

  /** A consistent copy over a separate read-only connection (WAL readers do not block the worker). */
  async backup(file: string): Promise<void> {
    await saveSnapshot(this.cfg.file, file);
  }

  recover(): void {
    // The refused batches may have carried jobs the later ones rely on: send every job again from here on.
    this.codec.forgetJobs();
    this.refused = undefined;
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
      this.die(`SQLite state worker answered message #${r.seq} out of order`);
      return;
    }
    if (this.inFlight.length === 0) this.worker?.unref();
    head.batches.forEach((p, i) => {
      if (i < r.committed) p.resolve();
      else {
        const why = (i === r.committed ? r.error : undefined) ?? r.refused;
        p.reject(new DroverError('Internal', why ?? `SQLite did not commit batch ${p.encoded.index}`));
      }
    });
  }

  /** Fails everything in flight and everything after: the worker is gone or cannot be trusted. */
  private die(why: string): void {
    if (this.dead === undefined && !this.closed)
      this.dead = new DroverError('Internal', `${why}; state writes are refused until the agent restarts`);
    const err = this.dead ?? new DroverError('Internal', 'SQLite state backend is closed');
    const lost = this.inFlight.splice(0).flatMap((f) => f.batches);
    lost.push(...this.pending.splice(0));
    for (const p of lost) {
      p.reject(new DroverError('Internal', `${why} before committing batch ${p.encoded.index}`, { cause: err }));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Batches already handed over are sent now, then committed and answered: the close message queues behind them.
    this.send();
    const w = this.worker;
    if (w === undefined) return;
    // Batches in flight are still committed and answered: the close message queues behind them.
    w.ref();
    w.postMessage({ type: 'close' });
    await this.exited;
    this.marker.flush();
  }
}
