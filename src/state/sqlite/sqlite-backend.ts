/**
 * The SQLite backend (better-sqlite3), running in the calling thread: `apply` settles once the batch is
 * committed (and, by default, fsynced). The storage layout lives in `sqlite-core.ts`; `ThreadedSqliteBackend`
 * runs the same code in a worker thread.
 *
 * Durability: WAL mode with synchronous=FULL by default: every acknowledged write is fsynced, so it survives
 * power loss and a kernel crash, not only the process being killed. NORMAL skips that fsync (the last
 * transactions may be lost on power loss) for more throughput: see BENCHMARKS.md for the cost and
 * docs/operations.md for the setting (`server { sqlite_synchronous = "normal" }`).
 * Start-up refuses damaged or shortened state (integrity.ts) unless `recover` is set.
 *
 * Group commit with FULL (the default) does not let SQLite fsync at each commit on this thread. The connection
 * runs with synchronous=NORMAL, and each group, once committed, is made durable by an asynchronous `fsync` of
 * the `-wal` file (on a thread of its own, see FsyncThread) before any of its batches is acknowledged:
 *
 *   apply ──► queue ──► (next turn of the loop) commit the queue: one transaction, frames appended to the WAL
 *                          ──► fdatasync(state.db-wal) on its own thread ──► acknowledge the groups it covers
 *
 * Groups go on committing while an fsync is in flight; one fsync runs at a time, and the next one covers every
 * group committed meanwhile. Why this is as durable as FULL:
 * - In WAL mode a commit is only appended frames (the pages and a commit frame, checksummed) in `-wal`; FULL
 *   differs from NORMAL only by the sync of that file at commit (SQLite's build here calls fsync; fdatasync, as
 *   here, is enough on Linux: the data and the size, not the timestamps). It flushes every written
 *   page of the file and its size, so after it returns every frame written before it started (the commit frames
 *   of the groups it covers included) is on the disk: the same state FULL leaves. A crash before it loses only unacknowledged groups, and SQLite's
 *   recovery drops a torn tail by its checksums, as it would under FULL.
 * - When SQLite restarts the WAL from its start (after a checkpoint copied every frame to `state.db`), it first
 *   fsyncs `state.db` (the checkpoint, synchronous at NORMAL too) and writes a new header with new salts, which
 *   NORMAL also syncs; frames older than the header are then in `state.db`, so rewriting them risks no
 *   acknowledged write, and our fsync covers the header and new frames together.
 * - SQLite creates the `-wal` file when a connection opens and unlinks it when its last connection closes (a
 *   clean stop), so it is created again at each start; its directory entry is made durable by one fsync of the
 *   data directory the first time this backend fsyncs the WAL. While the connection is open the file is not
 *   unlinked, so the descriptor kept here names the live file for the backend's life.
 * A failed fsync leaves it unknown what reached the disk: the group is refused and so is every later write,
 * until the agent restarts (and reloads what the disk holds).
 */
import Database from 'better-sqlite3';
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
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
   * in one SQL transaction (with FULL, fsynced off this thread, one fsync covering every group committed while
   * the previous one ran); each is acknowledged only once that transaction is durable. false commits (and, with FULL,
   * fsyncs) each batch inside `apply`.
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

/** How a group's batches came out of their commit: the error of each refused one, undefined for a kept one. */
type Outcome = (Error | undefined)[];

/** `fs.fsync`'s shape; tests pass one that holds the callback, to see that nothing is acknowledged before it. */
export type FsyncFn = (fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => void;

/**
 * A thread of its own that fsyncs descriptors of this process, one at a time, in order, with fdatasync (the
 * data and the size, not the timestamps). Not `fs.fsync`: libuv's
 * pool (4 threads) is shared with every other asynchronous file operation of the agent (the -dev client's
 * allocation and task files), so the WAL's fsync would wait behind them.
 */
export class FsyncThread {
  private readonly worker: Worker;
  private readonly waiting: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  /** Set once the thread failed or exited: every later fsync is refused with it (posting to it would hang). */
  private dead: Error | undefined;

  constructor() {
    this.worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { fdatasyncSync } = require('node:fs');
       parentPort.on('message', (fd) => {
         try { fdatasyncSync(fd); parentPort.postMessage(null); }
         catch (e) { parentPort.postMessage({ message: e.message, code: e.code }); }
       });`,
      { eval: true },
    );
    // Referenced only while an fsync is outstanding: an idle thread does not keep the agent alive, and one in
    // flight keeps it alive until its writes are acknowledged (or refused), e.g. through the store's close().
    this.worker.unref();
    this.worker.on('message', (m: { message: string; code?: string } | null) => {
      const cb = this.waiting.shift();
      if (this.waiting.length === 0) this.worker.unref();
      cb?.(m === null ? null : Object.assign(new Error(m.message), { code: m.code }));
    });
    this.worker.on('error', (e) => this.failAll(e));
    this.worker.on('exit', () => this.failAll(new Error('the fsync thread exited')));
  }

  fsync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void {
    const dead = this.dead;
    if (dead !== undefined) {
      setImmediate(() => cb(dead));
      return;
    }
    this.waiting.push(cb);
    this.worker.ref();
    this.worker.postMessage(fd);
  }

  private failAll(e: Error): void {
    this.dead ??= e;
    this.worker.unref();
    for (const cb of this.waiting.splice(0)) cb(e);
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

export class SqliteBackend implements StateBackend {
  private readonly core: SqliteCore;
  private readonly marker: MarkerWriter;
  /** With group commit, batches may be handed over before earlier ones commit; they commit in that order. */
  readonly ordered: boolean;
  private queue: Queued[] = [];
  /** A flush is scheduled (setImmediate) for the queue. */
  private scheduled = false;
  /** Set when a group failed: later batches are refused until the store calls recover(). */
  private failed: Error | undefined;
  /**
   * Group commit with FULL on a file: the WAL file's descriptor, fsynced asynchronously after each commit (see
   * the top of this file); opened at the first commit. undefined otherwise (commits are acknowledged at once).
   */
  private readonly walFile: string | undefined;
  private walFd: number | undefined;
  private readonly fsync: FsyncFn;
  private syncThread: FsyncThread | undefined;
  /** Settles when the fsync in flight has returned and the groups it covers are acknowledged. */
  private syncing: Promise<void> | undefined;
  /** Groups committed while an fsync was in flight: the next fsync covers them all. */
  private unsynced: { group: Queued[]; outcome: Outcome }[] = [];
  /** A failed fsync: what reached the disk is unknown, so every later batch is refused (recover() keeps it). */
  private syncFailed: Error | undefined;

  constructor(
    private readonly opts: SqliteBackendOptions,
    test?: { fsync?: FsyncFn },
  ) {
    const cfg = sqliteCoreConfig(opts);
    checkBeforeOpen(opts);
    this.ordered = opts.groupCommit !== false;
    const asyncSync = this.ordered && cfg.synchronous === 'FULL' && cfg.file !== ':memory:';
    this.walFile = asyncSync ? `${cfg.file}-wal` : undefined;
    this.fsync = test?.fsync ?? ((fd, cb) => (this.syncThread ??= new FsyncThread()).fsync(fd, cb));
    this.core = openCore(asyncSync ? { ...cfg, synchronous: 'NORMAL' } : cfg);
    this.marker = new MarkerWriter(opts.dataDir, opts.logger);
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
    const refused = this.syncFailed ?? this.failed;
    if (refused) return Promise.reject(refused);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      this.schedule();
    });
  }

  /**
   * setImmediate, not a microtask: the group then holds every write started in this turn of the loop (a
   * register's job, its evaluation, the HTTP requests parsed in the same poll phase). Groups commit while an
   * fsync is in flight; the next fsync covers them. (A minimum time between commits, for larger groups, was
   * measured slower in the API bench: 402 against 485 registers/s with 2 ms.)
   */
  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Commits every queued batch in one transaction; acknowledges them once durable (see the top of the file). */
  private flush(): void {
    const group = this.queue;
    if (group.length === 0) return;
    this.queue = [];
    const outcome = this.commitGroup(group);
    if (this.walFile === undefined || outcome.every((e) => e !== undefined)) {
      this.settle(group, outcome);
      return;
    }
    this.unsynced.push({ group, outcome });
    if (this.syncing === undefined) this.startSync();
  }

  /** One fsync for every group committed since the last one started; their acknowledgements follow it. */
  private startSync(): void {
    const covered = this.unsynced;
    this.unsynced = [];
    let done!: () => void;
    const syncing = new Promise<void>((resolve) => (done = resolve));
    this.syncing = syncing;
    const finish = (err: unknown): void => {
      if (err) this.syncFailedWith(err);
      if (this.syncing === syncing) this.syncing = undefined;
      for (const c of covered) this.settle(c.group, c.outcome);
      done();
      if (this.unsynced.length > 0 && this.syncing === undefined) this.startSync();
    };
    let fd: number;
    try {
      fd = this.openWal();
    } catch (e) {
      finish(e);
      return;
    }
    this.fsync(fd, finish);
  }

  /** Commits `group` (one transaction, or one by one after a failure), returning each batch's error. */
  private commitGroup(group: Queued[]): Outcome {
    const refused = this.syncFailed ?? this.failed;
    if (refused) return group.map(() => refused);
    try {
      if (group.length === 1) this.core.apply(group[0]!.batch);
      else this.core.applyMany(group.map((q) => q.batch));
      return group.map(() => undefined);
    } catch {
      // The group rolled back whole. Commit it again one batch at a time, so the batches before the one that
      // fails are kept and it and every later one (maybe built on it) are refused, as without grouping.
      return this.commitOneByOne(group);
    }
  }

  private commitOneByOne(group: Queued[]): Outcome {
    return group.map((q) => {
      if (this.failed) return this.failed;
      try {
        this.core.apply(q.batch);
        return undefined;
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.failed = new Error(
          `batch ${q.batch.index} was not committed, so later batches are refused: ${err.message}`,
          {
            cause: err,
          },
        );
        return err;
      }
    });
  }

  /** Acknowledges (or refuses) a committed group in order: the store commits in index order. */
  private settle(group: Queued[], outcome: Outcome): void {
    let last: number | undefined;
    for (let i = 0; i < group.length; i++) {
      const err = this.syncFailed ?? outcome[i];
      if (err) group[i]!.reject(err);
      else {
        last = group[i]!.batch.index;
        group[i]!.resolve();
      }
    }
    if (last !== undefined) this.marker.note(last);
  }

  /** The WAL's descriptor; the first time, the data directory is fsynced too (the WAL's directory entry). */
  private openWal(): number {
    if (this.walFd !== undefined) return this.walFd;
    const fd = openSync(this.walFile!, 'r');
    try {
      const dir = openSync(this.opts.dataDir, 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    this.walFd = fd;
    return fd;
  }

  private syncFailedWith(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    this.syncFailed ??= new Error(
      `fsync of the state WAL failed (${msg}): what reached the disk is unknown, so writes are refused until the agent restarts`,
      { cause: e },
    );
    this.opts.logger?.error('state WAL fsync failed; refusing writes until restart', { error: msg });
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

  /** Resolves once no group's fsync is in flight. */
  private async synced(): Promise<void> {
    while (this.syncing !== undefined) await this.syncing;
  }

  async close(): Promise<void> {
    // Batches already handed over are committed (or refused) and made durable before the database closes.
    await this.synced();
    this.flush();
    await this.synced();
    this.core.close();
    await this.syncThread?.close();
    this.syncThread = undefined;
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    this.marker.flush();
  }
}
