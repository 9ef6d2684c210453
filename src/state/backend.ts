/**
 * The durable side of the state store. The store keeps everything in memory and hands each committed
 * write transaction to a backend as one batch; the write is acknowledged only when `apply` returns
 * (or its promise resolves). On start, `load` streams every row back. SQLite is the first backend;
 * etcd comes later, and both must pass `testing/backend-conformance.ts`.
 */
import type { TableName } from './schema.js';

export interface BackendBatch {
  /** The state index of this write. Strictly greater than every earlier batch's. */
  index: number;
  /** The last-modified index of every table this batch touches. */
  tableIndexes: Partial<Record<TableName, number>>;
  /** Row upserts (value set) and deletes (value null), last write per key wins. */
  changes: BackendChange[];
}

export interface BackendChange {
  table: TableName;
  key: string;
  value: unknown | null;
  /**
   * Allocations only: the row's creation index (its `CreateIndex`), on upserts and deletes alike. It never
   * changes for an allocation, so a backend may store the rows in creation order, keyed by (order, key): SQLite
   * then appends new allocations at the end of its table instead of inserting them at random places (keyed by
   * random UUIDs alone, each commit of a plan rewrote about one page per allocation). Other backends ignore it.
   */
  order?: number;
  /** Allocations only: the order the row was stored under before, when it differs from `order` (never expected). */
  staleOrder?: number;
}

export interface LoadedMeta {
  index: number;
  tableIndexes: Partial<Record<TableName, number>>;
}

export interface StateBackend {
  /** Streams every stored row to `visit`, then returns the stored indexes (0 for an empty store). */
  load(visit: (table: TableName, key: string, value: unknown) => void, signal?: AbortSignal): Promise<LoadedMeta>;
  /** Makes one batch durable, atomically. May return synchronously (SQLite) or a promise (etcd). */
  apply(batch: BackendBatch): void | Promise<void>;
  /**
   * True when `apply` may be called again before the previous promise settles: the backend commits
   * batches in the order they were handed over, and after one fails it refuses every later one.
   * Otherwise the store waits for each commit before handing over the next batch.
   */
  readonly ordered?: boolean;
  /**
   * For an `ordered` backend: accept batches again after one failed. The store calls it once every batch
   * handed over has settled, and then resends from its last committed state.
   */
  recover?(): void;
  /** Writes a consistent copy of every committed write to `file` (`/v1/operator/snapshot`). */
  backup?(file: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A backend that keeps its "disk" in a Map: for tests, and for stores that need no durability.
 * Values are stored as JSON text so a reload hands back fresh objects, like a real backend.
 */
export class MemoryBackend implements StateBackend {
  readonly rows = new Map<string, string>();
  meta: LoadedMeta = { index: 0, tableIndexes: {} };
  closed = false;

  async load(visit: (table: TableName, key: string, value: unknown) => void): Promise<LoadedMeta> {
    for (const [k, v] of this.rows) {
      const sep = k.indexOf('\u0002');
      visit(k.slice(0, sep) as TableName, k.slice(sep + 1), JSON.parse(v));
    }
    return { index: this.meta.index, tableIndexes: { ...this.meta.tableIndexes } };
  }

  apply(batch: BackendBatch): void {
    if (this.closed) throw new Error('backend closed');
    for (const c of batch.changes) {
      const k = `${c.table}\u0002${c.key}`;
      if (c.value === null) this.rows.delete(k);
      else this.rows.set(k, JSON.stringify(c.value));
    }
    this.meta = { index: batch.index, tableIndexes: { ...this.meta.tableIndexes, ...batch.tableIndexes } };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
