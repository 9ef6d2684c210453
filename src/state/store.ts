/**
 * The state store: in-memory tables behind copy-on-write Roots, a monotonic index, blocking queries,
 * and a durable backend that every write passes through before it is acknowledged.
 *
 *   write(fn) ──► fn runs on a working copy of the tip (sees every earlier write, even one not yet durable)
 *       │           throws? ──► discarded, nothing changes
 *       ▼
 *   tip = new Root ──► backend.apply(batch) (in order) ──► committed = Root ──► blocking queries wake
 *                                                                            └─► write() resolves
 *
 * Readers (`snapshot()`) see only committed Roots, so nothing is read that could still be lost.
 * A batch the backend refuses (disk full, a value it cannot encode) is rolled back there and dropped here:
 * the tip returns to the last committed Root once nothing built on it is in flight, and writes go on.
 * Writers build on the tip, so two writes in flight never overwrite each other. With a synchronous
 * backend the whole path runs inside `write` and tip == committed afterwards; an `ordered` backend (the
 * threaded SQLite one) receives each batch at once and commits it while later writes are built.
 */
import type { Logger } from '../logging/index.js';
import { DroverError, internalError, isDroverError } from '../errors/index.js';
import type { BackendBatch, BackendChange, StateBackend } from './backend.js';
import { isTableName, tableNames, tableSpecs, type TableName, type TableRows } from './schema.js';
import { allocOrder, emptyRoot, RootReader, TxnTables, type Root } from './tables.js';
import { StateView } from './view.js';
import { WatchRegistry } from './watch.js';

/** A consistent read-only view at one index; O(1) to take. */
export class StateSnapshot extends StateView {
  constructor(readonly root: Root) {
    const r = new RootReader(root);
    super(r, () => root.index);
  }
}

/** A write transaction: reads see its own writes; `index` is the index this write will commit at. */
export class WriteTxn extends StateView {
  constructor(private readonly txn: TxnTables) {
    super(txn, () => txn.index);
  }

  get writeIndex(): number {
    return this.txn.index;
  }

  put<N extends TableName>(name: N, row: TableRows[N]): void {
    if (StateStore.freezeRows) deepFreeze(row);
    this.txn.put(name, row);
  }

  delete(name: TableName, key: string): boolean {
    return this.txn.delete(name, key);
  }
}

/** Iterative, so a deeply nested row (refused later by the backend) cannot overflow the stack here. */
function deepFreeze(root: unknown): void {
  const todo = [root];
  while (todo.length > 0) {
    const o = todo.pop();
    if (o === null || typeof o !== 'object' || Object.isFrozen(o)) continue;
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) todo.push(v);
  }
}

/**
 * The backend rows of a write's changes. Allocations carry the order they are stored under (see
 * `BackendChange.order`): an upsert its own CreateIndex, a delete the one of the row as the transaction found it
 * (the row the backend has, or will have once the batches in flight commit, in order), 0 for a row never stored.
 */
function batchChanges(tx: TxnTables): BackendChange[] {
  const out: BackendChange[] = [];
  for (const [table, m] of tx.changes) {
    if (table !== 'allocs') {
      for (const [key, value] of m) out.push({ table, key, value });
      continue;
    }
    for (const [key, value] of m) {
      const before = tx.storedAllocOrders.get(key);
      if (value === null) {
        out.push({ table, key, value, order: before ?? 0 });
        continue;
      }
      const order = allocOrder(value);
      out.push(
        before === undefined || before === order
          ? { table, key, value, order }
          : { table, key, value, order, staleOrder: before },
      );
    }
  }
  return out;
}

/** The backend of a forked store: writes commit in memory only (synchronously) and vanish with the fork. */
const discardBackend: StateBackend = {
  load: () => Promise.resolve({ index: 0, tableIndexes: {} }),
  apply: () => undefined,
  close: () => Promise.resolve(),
};

export interface StateStoreOptions {
  backend: StateBackend;
  logger: Logger;
  signal?: AbortSignal;
}

/** One acknowledged write, as commit listeners see it: its index and every row it put (value) or deleted (null). */
export interface CommittedWrite {
  index: number;
  changes: ReadonlyArray<{ table: TableName; key: string; value: unknown }>;
}

export interface WriteResult<R> {
  result: R;
  /** The index the write committed at (the current index when it changed nothing). */
  index: number;
}

export class StateStore {
  /**
   * Deep-freeze every stored row, so a caller that mutates a shared object fails loudly. On by default
   * under vitest (NODE_ENV=test); it costs too much for a million allocations in production.
   */
  static freezeRows = process.env.NODE_ENV === 'test';

  private tip: Root;
  private committed: Root;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  /** Set while batches built on a failed one are still in flight: every write is refused until they settle. */
  private failed: Error | undefined;
  /** How many times the tip was dropped after a failed write (see `epoch`). */
  private dropped = 0;
  private writeError: { message: string; since: number } | undefined;
  private closed = false;
  private readonly watches: WatchRegistry;
  private readonly commitListeners = new Set<(w: CommittedWrite) => void>();
  /** Set on a follower's replica: why writes are refused here. */
  private replicaOf: (() => Error) | undefined;

  private constructor(
    root: Root,
    private readonly backend: StateBackend,
    private readonly logger: Logger,
  ) {
    this.tip = root;
    this.committed = root;
    this.watches = new WatchRegistry((tables) => {
      let m = 0;
      for (const t of tables) m = Math.max(m, this.committed.tables[t].index);
      return m;
    });
  }

  /** Opens a store over `backend`, loading everything it holds. */
  static async open(opts: StateStoreOptions): Promise<StateStore> {
    const root = emptyRoot();
    const loadTxn = new TxnTables(root, 0);
    const meta = await opts.backend.load((table, key, value) => {
      if (!isTableName(table)) return;
      const k = tableSpecs[table].key(value as never);
      if (k !== key) opts.logger.warn('stored row key differs from its computed key', { table, key, computed: k });
      loadTxn.put(table, value as never);
    }, opts.signal);
    const loaded = loadTxn.freeze();
    const tables = { ...loaded.tables };
    for (const t of tableNames) tables[t] = { ...tables[t], index: meta.tableIndexes[t] ?? 0 };
    const store = new StateStore({ index: meta.index, tables, nodeUsage: loaded.nodeUsage }, opts.backend, opts.logger);
    opts.logger.info('state loaded', {
      index: meta.index,
      jobs: tables.jobs.rows.size,
      allocs: tables.allocs.rows.size,
    });
    return store;
  }

  /**
   * A store that starts at `snap` and persists nothing: `drover sim` applies its what-ifs and the scheduler's
   * plans here, never to the live store. O(1): the copy shares every table with `snap` until a write touches it.
   */
  static fork(snap: StateSnapshot, logger: Logger): StateStore {
    return new StateStore(snap.root, discardBackend, logger);
  }

  /**
   * Makes this store a read-only replica: `write` is refused with `refusal()` (a follower's NotLeader) and
   * batches arrive through `replicate` instead, as the leader committed them.
   */
  makeReplica(refusal: () => Error): void {
    this.replicaOf = refusal;
  }

  /**
   * Applies one batch the leader committed (a follower's replica): the rows change as they did on the
   * leader, at the leader's index, and blocking queries and commit listeners wake as for a local write.
   * A batch at or below the current index was already applied and is skipped.
   */
  replicate(batch: BackendBatch): void {
    if (this.closed || batch.index <= this.committed.index) return;
    const tx = new TxnTables(this.committed, batch.index);
    const touched = new Set<TableName>();
    for (const c of batch.changes) {
      if (!isTableName(c.table)) continue;
      touched.add(c.table);
      if (c.value === null) tx.delete(c.table, c.key);
      else tx.put(c.table, c.value as never);
    }
    const next = { ...tx.freeze(), index: batch.index };
    this.tip = next;
    this.commit(next, [...touched], { index: batch.index, changes: batch.changes });
  }

  /** A consistent view of everything acknowledged so far. */
  snapshot(): StateSnapshot {
    return new StateSnapshot(this.committed);
  }

  /**
   * A view of the tip: every write applied so far, including those not yet durable. Only for a reader whose
   * own writes are ordered after them and re-checked against the tip (the scheduler: its plans go through the
   * plan applier, its eval updates commit after every batch it saw, and a failed batch refuses later ones).
   * Compare `epoch` before acting on it: it changes when a failed write's tip is dropped.
   */
  tipSnapshot(): StateSnapshot {
    return new StateSnapshot(this.tip);
  }

  /** Increases each time the tip is dropped back to the committed state after a failed write. */
  get epoch(): number {
    return this.dropped;
  }

  /** The index of the last acknowledged write. */
  latestIndex(): number {
    return this.committed.index;
  }

  /**
   * Runs `fn` as one atomic write. `fn` must be synchronous and must not keep the transaction. The
   * promise resolves once the write is durable; it rejects (and nothing changes) when `fn` throws.
   */
  write<R>(fn: (txn: WriteTxn) => R): Promise<WriteResult<R>> {
    if (this.closed) return Promise.reject(internalError('state store is closed'));
    if (this.replicaOf) return Promise.reject(this.replicaOf());
    if (this.failed)
      return Promise.reject(
        internalError(`state store is recovering from a failed write: ${this.failed.message}`, this.failed),
      );
    const base = this.tip;
    const tx = new TxnTables(base, base.index + 1);
    let result: R;
    try {
      result = fn(new WriteTxn(tx));
    } catch (e) {
      return Promise.reject(e);
    }
    if (!tx.hasChanges()) {
      // `result` was computed from the tip: if an earlier batch fails, that tip is dropped and so is the answer.
      const epoch = this.dropped;
      return this.afterPending().then(() => {
        if (this.failed !== undefined || this.dropped !== epoch)
          throw internalError('state store dropped the state this write was computed from: an earlier write failed');
        return { result, index: this.committed.index };
      });
    }
    const next = tx.freeze();
    this.tip = next;
    const batch = {
      index: next.index,
      tableIndexes: Object.fromEntries([...tx.changes.keys()].map((t) => [t, next.index])),
      changes: batchChanges(tx),
    };
    const touched = [...tx.changes.keys()];
    const written: CommittedWrite = { index: next.index, changes: batch.changes };
    if (this.pending === 0) {
      // Fast path: nothing in flight, so a synchronous backend commits right here.
      let r: void | Promise<void>;
      try {
        r = this.backend.apply(batch);
      } catch (e) {
        // Nothing else is in flight, so nothing was built on this batch: drop it and stay writable. The epoch
        // stays: the backend threw synchronously, so no reader ever saw this tip.
        this.tip = this.committed;
        return Promise.reject(this.fail(e, false));
      }
      if (!(r instanceof Promise)) {
        this.commit(next, touched, written);
        return Promise.resolve({ result, index: next.index });
      }
      return this.enqueue(r, next, touched, written).then(() => ({ result, index: next.index }));
    }
    if (this.backend.ordered === true) {
      // Pipelined: the backend keeps the order, so the batch goes now and commits while later writes are
      // built; it is still acknowledged only after every earlier batch (enqueue chains the commits).
      let r: void | Promise<void>;
      try {
        r = this.backend.apply(batch);
      } catch (e) {
        r = Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
      return this.enqueue(Promise.resolve(r), next, touched, written).then(() => ({ result, index: next.index }));
    }
    const p = this.chain.then(() => {
      // An earlier batch failed: this one must not reach the disk, or the disk would skip a write.
      if (this.failed) throw this.failed;
      return this.backend.apply(batch);
    });
    return this.enqueue(p, next, touched, written).then(() => ({ result, index: next.index }));
  }

  private enqueue(p: Promise<void>, next: Root, touched: TableName[], written: CommittedWrite): Promise<void> {
    this.pending++;
    // Commits (and so acknowledgements and wake-ups) happen in index order, whatever order `p` settles in.
    const done = Promise.all([this.chain, p]).then(
      () => {
        this.pending--;
        // An earlier batch failed, so this one was built on a tip that is being dropped: never commit it, even
        // if the backend (wrongly) accepted it.
        const failed = this.failed;
        if (failed !== undefined) {
          this.recoverWhenIdle();
          throw internalError(`state store is recovering from a failed write: ${failed.message}`, failed);
        }
        this.commit(next, touched, written);
        this.recoverWhenIdle();
      },
      (e: unknown) => {
        this.pending--;
        const err = this.fail(e, true);
        this.recoverWhenIdle();
        throw err;
      },
    );
    this.chain = done.catch(() => undefined);
    return done;
  }

  private afterPending(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : this.chain;
  }

  /**
   * Records a batch that did not become durable. The backend rolled it back, so the disk still holds exactly
   * the committed writes. With `poison`, later batches may have been built on it (memory is ahead of disk),
   * so every write is refused until those settle; then `recoverWhenIdle` drops the lost tip and writes resume.
   */
  private fail(e: unknown, poison: boolean): Error {
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.writeError === undefined)
      this.logger.error('state write failed; it was not acknowledged', { error: err.message });
    this.writeError = { message: err.message, since: this.writeError?.since ?? Date.now() };
    if (poison && this.failed === undefined) this.failed = err;
    // A write fenced off because another server leads now is that, not an internal error: clients retry a 503.
    if (isDroverError(e, 'NotLeader'))
      return new DroverError('NotLeader', `state store failed to persist a write: ${err.message}`);
    return internalError(`state store failed to persist a write: ${err.message}`, e);
  }

  /** After a failed batch, once nothing is in flight: back to the last durable state, writable again. */
  private recoverWhenIdle(): void {
    if (this.failed === undefined || this.pending > 0 || this.closed) return;
    this.failed = undefined;
    this.tip = this.committed;
    this.dropped++;
    this.backend.recover?.();
    this.logger.warn('state store dropped the writes that were not made durable and accepts writes again', {
      index: this.committed.index,
    });
  }

  /** Whether the last write reached the disk; a failure is reported until a later write succeeds. */
  writeHealth(): { ok: true } | { ok: false; error: string; since: number } {
    const w = this.writeError;
    return w === undefined ? { ok: true } : { ok: false, error: w.message, since: w.since };
  }

  private commit(next: Root, touched: TableName[], written: CommittedWrite): void {
    if (this.writeError !== undefined) {
      this.logger.info('state writes succeed again', { index: next.index });
      this.writeError = undefined;
    }
    this.committed = next;
    this.watches.notify(touched, next.index);
    for (const l of this.commitListeners) {
      try {
        l(written);
      } catch (e) {
        this.logger.error('commit listener failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  /**
   * Calls `fn` after each acknowledged write, in index order (the event stream is fed from here). `fn` must be
   * quick and must not write. Returns the function that removes it.
   */
  onCommit(fn: (w: CommittedWrite) => void): () => void {
    this.commitListeners.add(fn);
    return () => this.commitListeners.delete(fn);
  }

  /**
   * Blocking query: resolves with the highest last-modified index of `tables` once it passes
   * `minIndex`, or with the current one when `waitMs` elapses or `signal` aborts.
   */
  waitForIndex(tables: readonly TableName[], minIndex: number, waitMs: number, signal?: AbortSignal): Promise<number> {
    return this.watches.wait(tables, minIndex, waitMs, signal);
  }

  /** Resolves once the acknowledged state index reaches `index` (or the wait runs out). */
  async waitForStateIndex(index: number, waitMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    while (this.committed.index < index) {
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return false;
      await this.watches.wait(tableNames, this.committed.index, left, signal);
    }
    return true;
  }

  /** True once close() began: waiters woken now were not woken by a change. */
  get isClosed(): boolean {
    return this.closed;
  }

  watcherCount(): number {
    return this.watches.size();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    this.watches.closeAll();
    await this.backend.close();
  }
}
