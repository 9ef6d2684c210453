/**
 * The copy-on-write core. A `Root` is an immutable value: one persistent map of rows per table plus
 * one persistent map per secondary index. A snapshot is just a reference to a Root, so taking one is
 * O(1) whatever the table sizes. A write transaction makes mutable copies (`asMutable`, O(1)) of only
 * the tables it touches; committing freezes them into a new Root. Rows are never mutated after insert:
 * an update stores a new object.
 */
import { Map as IMap } from 'immutable';
import { internalError } from '../errors/index.js';
import { liveAllocUsage, type Allocation, type NodeResourceUsage } from '../structs/index.js';
import { tableNames, tableSpecs, type TableName, type TableRows, type TableSpec } from './schema.js';

/**
 * One bucket of a secondary index: the rows (not just their keys) whose indexed value is the bucket's.
 * Holding rows lets `byIndex` read a bucket without one lookup (and one string hash) per row in the
 * big rows map: the scheduler and the plan applier read every allocation of a node per evaluation,
 * which made those lookups most of the server's CPU time at C1M scale. A put replaces the row in its
 * buckets too, so a bucket is a new value whenever any of its rows changes.
 */
export type Bucket = IMap<string, unknown>;

export interface TableData {
  rows: IMap<string, unknown>;
  idx: Record<string, IMap<string, Bucket>>;
  /** The index of the last write that changed this table. */
  index: number;
}

/** The buckets of one of the table's declared indexes (every declared index has its map from the start). */
function indexBuckets(t: TableData, index: string): IMap<string, Bucket> {
  const buckets = t.idx[index];
  if (buckets === undefined) throw internalError(`state table has no index "${index}"`);
  return buckets;
}

export interface Root {
  index: number;
  tables: Record<TableName, TableData>;
  /**
   * Per node, the summed resources of its live allocations, kept current by every allocation write
   * (see `UsageDeltas`). Derived data, never persisted: a load rebuilds it through the same puts.
   */
  nodeUsage: IMap<string, NodeResourceUsage>;
}

export function emptyRoot(): Root {
  const tables = {} as Record<TableName, TableData>;
  for (const name of tableNames) {
    const idx: Record<string, IMap<string, Bucket>> = {};
    for (const i of Object.keys(tableSpecs[name].indexes)) idx[i] = IMap();
    tables[name] = { rows: IMap(), idx, index: 0 };
  }
  return { index: 0, tables, nodeUsage: IMap() };
}

const indexEntryCache = new Map<TableName, [string, (row: unknown) => string | undefined][]>();
function indexEntries(name: TableName): [string, (row: unknown) => string | undefined][] {
  let e = indexEntryCache.get(name);
  if (e == null) {
    e = Object.entries((tableSpecs[name] as unknown as TableSpec<unknown>).indexes);
    indexEntryCache.set(name, e);
  }
  return e;
}

/** Read access shared by snapshots (a frozen Root) and write transactions (their working copy). */
export abstract class TableReader {
  protected abstract table(name: TableName): TableData;

  get<N extends TableName>(name: N, key: string): TableRows[N] | undefined {
    return this.table(name).rows.get(key) as TableRows[N] | undefined;
  }

  /** Rows whose secondary index `index` has the value `value`. Order is not defined. */
  byIndex<N extends TableName>(name: N, index: string, value: string): TableRows[N][] {
    const b = this.table(name).idx[index]?.get(value);
    if (b == null) return [];
    if (!this.isFrozenBucket(name, index, value)) return bucketArray(b) as TableRows[N][];
    let rows = bucketRowsCache.get(b);
    if (rows === undefined) bucketRowsCache.set(b, (rows = bucketArray(b)));
    // A copy: callers may sort or push, and the cached array is shared by every later reader.
    return rows.slice() as TableRows[N][];
  }

  /** False for a bucket a write transaction is changing in place (its identity does not track its content). */
  protected isFrozenBucket(_name: TableName, _index: string, _value: string): boolean {
    return true;
  }

  /** Whether any row of one bucket of a secondary index passes `test`; stops at the first, copies nothing. */
  someByIndex<N extends TableName>(
    name: N,
    index: string,
    value: string,
    test: (row: TableRows[N]) => boolean,
  ): boolean {
    const b = this.table(name).idx[index]?.get(value);
    return b != null && b.some((row) => test(row as TableRows[N]));
  }

  /** Calls `fn` with every row of one bucket of a secondary index, in no defined order; copies nothing. */
  forEachByIndex<N extends TableName>(name: N, index: string, value: string, fn: (row: TableRows[N]) => void): void {
    this.table(name)
      .idx[index]?.get(value)
      ?.forEach((row) => {
        // A block body, not `forEach(fn)`: Immutable's forEach stops early when the callback returns false.
        fn(row as TableRows[N]);
      });
  }

  /** How many rows are in one bucket of a secondary index, without reading them. */
  countByIndex(name: TableName, index: string, value: string): number {
    return this.table(name).idx[index]?.get(value)?.size ?? 0;
  }

  all<N extends TableName>(name: N): IterableIterator<TableRows[N]> {
    return this.table(name).rows.values() as IterableIterator<TableRows[N]>;
  }

  count(name: TableName): number {
    return this.table(name).rows.size;
  }

  /** Rows whose primary key starts with `prefix` (a linear scan: fine for CLI prefix lookups). */
  *keysWithPrefix(name: TableName, prefix: string): IterableIterator<string> {
    for (const k of this.table(name).rows.keys()) if (k.startsWith(prefix)) yield k;
  }

  tableIndex(name: TableName): number {
    return this.table(name).index;
  }

  /**
   * An object that stays the same exactly as long as the table's rows do (readers may cache what they
   * derive from the table under it, in a WeakMap).
   */
  rowsVersion(name: TableName): object {
    return this.table(name).rows;
  }

  /** The summed usage of the node's live allocations; undefined when it has none. */
  abstract nodeUsage(nodeID: string): NodeResourceUsage | undefined;

  /** Every node holding live allocations, with its sum. */
  abstract nodeUsages(): Iterable<[string, NodeResourceUsage]>;
}

/**
 * Frozen buckets are immutable values, so the array of their rows can be kept beside them: an unchanged
 * node's allocations are then read by every later evaluation without walking the bucket again.
 */
const bucketRowsCache = new WeakMap<Bucket, unknown[]>();

function bucketArray(b: Bucket): unknown[] {
  const out: unknown[] = [];
  b.forEach((row) => {
    out.push(row);
  });
  return out;
}

/** A frozen view of one Root. */
export class RootReader extends TableReader {
  constructor(readonly root: Root) {
    super();
  }
  protected table(name: TableName): TableData {
    return this.root.tables[name];
  }
  index(): number {
    return this.root.index;
  }
  nodeUsage(nodeID: string): NodeResourceUsage | undefined {
    return this.root.nodeUsage.get(nodeID);
  }
  nodeUsages(): Iterable<[string, NodeResourceUsage]> {
    return this.root.nodeUsage.entries();
  }
}

/** One row change, as the durable backends see it: `value` null means deleted. */
export interface RowChange {
  table: TableName;
  key: string;
  value: unknown | null;
}

/**
 * The working copy of a write transaction. Reads see the transaction's own writes. Index buckets that
 * the transaction touches are made mutable once and frozen again at commit, so inserting a batch of
 * 1,000 allocations of one job copies the job's bucket once, not 1,000 times.
 */
/** An allocation's creation index, the order a backend may store it in (0 when a row has none). */
export function allocOrder(row: unknown): number {
  const ci = (row as { CreateIndex?: unknown } | null | undefined)?.CreateIndex;
  return typeof ci === 'number' && Number.isFinite(ci) ? ci : 0;
}

export class TxnTables extends TableReader {
  private readonly work = new Map<TableName, TableData>();
  /** Per table, the "index\u0001value" buckets made mutable by this transaction. */
  private readonly mutableBuckets = new Map<TableName, Set<string>>();
  readonly changes = new Map<TableName, Map<string, unknown | null>>();
  /**
   * Allocations only: for each one this transaction changes, the order (`allocOrder`) of the row as it was
   * before the transaction, undefined when there was none: what a backend storing rows in creation order has.
   * Taken from the lookup `put` and `delete` make anyway (at a million allocations, another costs seconds).
   */
  readonly storedAllocOrders = new Map<string, number | undefined>();
  private readonly usage: UsageDeltas;

  constructor(
    private readonly base: Root,
    readonly index: number,
  ) {
    super();
    this.usage = new UsageDeltas(base.nodeUsage);
  }

  nodeUsage(nodeID: string): NodeResourceUsage | undefined {
    return this.usage.get(nodeID);
  }

  nodeUsages(): Iterable<[string, NodeResourceUsage]> {
    return this.usage.entries();
  }

  protected table(name: TableName): TableData {
    return this.work.get(name) ?? this.base.tables[name];
  }

  private writable(name: TableName): TableData {
    let t = this.work.get(name);
    if (t == null) {
      const b = this.base.tables[name];
      const idx: Record<string, IMap<string, Bucket>> = {};
      for (const [k, v] of Object.entries(b.idx)) idx[k] = v.asMutable();
      t = { rows: b.rows.asMutable(), idx, index: this.index };
      this.work.set(name, t);
    }
    return t;
  }

  /** A table this transaction changes has no stable version yet. */
  override rowsVersion(name: TableName): object {
    return this.work.has(name) ? {} : super.rowsVersion(name);
  }

  protected override isFrozenBucket(name: TableName, index: string, value: string): boolean {
    return !(this.mutableBuckets.get(name)?.has(`${index}\u0001${value}`) ?? false);
  }

  /** Adds the row to the bucket, or replaces the row already there under `id`. */
  private bucketSet(name: TableName, t: TableData, index: string, value: string, id: string, row: unknown): void {
    const seen = this.touchedBuckets(name);
    const bk = `${index}\u0001${value}`;
    const buckets = indexBuckets(t, index);
    let cur = buckets.get(value);
    if (!seen.has(bk)) {
      cur = (cur ?? IMap<string, unknown>()).asMutable();
      seen.add(bk);
      buckets.set(value, cur);
    }
    cur!.set(id, row);
  }

  private bucketRemove(name: TableName, t: TableData, index: string, value: string, id: string): void {
    const seen = this.touchedBuckets(name);
    const bk = `${index}\u0001${value}`;
    const buckets = indexBuckets(t, index);
    let cur = buckets.get(value);
    if (cur == null) return;
    if (!seen.has(bk)) {
      cur = cur.asMutable();
      seen.add(bk);
      buckets.set(value, cur);
    }
    cur.remove(id);
  }

  private touchedBuckets(name: TableName): Set<string> {
    let s = this.mutableBuckets.get(name);
    if (s == null) {
      s = new Set();
      this.mutableBuckets.set(name, s);
    }
    return s;
  }

  put<N extends TableName>(name: N, row: TableRows[N]): void {
    const spec = tableSpecs[name] as unknown as TableSpec<TableRows[N]>;
    const key = spec.key(row);
    const t = this.writable(name);
    const old = t.rows.get(key) as TableRows[N] | undefined;
    for (const [iname, fn] of indexEntries(name) as [string, (r: TableRows[N]) => string | undefined][]) {
      const nv = fn(row);
      const ov = old === undefined ? undefined : fn(old);
      if (ov !== undefined && ov !== nv) this.bucketRemove(name, t, iname, ov, key);
      if (nv !== undefined) this.bucketSet(name, t, iname, nv, key, row);
    }
    t.rows.set(key, row);
    if (name === 'allocs') {
      this.usage.replace(old as Allocation | undefined, row as Allocation);
      if (!this.storedAllocOrders.has(key))
        this.storedAllocOrders.set(key, old === undefined ? undefined : allocOrder(old));
    }
    this.record(name, key, row);
  }

  delete(name: TableName, key: string): boolean {
    const cur = this.table(name).rows.get(key);
    if (cur === undefined) return false;
    const t = this.writable(name);
    for (const [iname, fn] of indexEntries(name)) {
      const ov = fn(cur);
      if (ov !== undefined) this.bucketRemove(name, t, iname, ov, key);
    }
    t.rows.remove(key);
    if (name === 'allocs') {
      this.usage.replace(cur as Allocation, undefined);
      if (!this.storedAllocOrders.has(key)) this.storedAllocOrders.set(key, allocOrder(cur));
    }
    this.record(name, key, null);
    return true;
  }

  private record(name: TableName, key: string, value: unknown | null): void {
    let m = this.changes.get(name);
    if (m == null) {
      m = new Map();
      this.changes.set(name, m);
    }
    m.set(key, value);
  }

  hasChanges(): boolean {
    return this.changes.size > 0;
  }

  /** Freezes the working copies into a new Root. The transaction must not be used afterwards. */
  freeze(): Root {
    const tables = { ...this.base.tables };
    for (const [name, t] of this.work) {
      for (const bk of this.mutableBuckets.get(name) ?? []) {
        const sep = bk.indexOf('\u0001');
        const v = indexBuckets(t, bk.slice(0, sep));
        const value = bk.slice(sep + 1);
        const s = v.get(value);
        if (s == null) continue;
        if (s.size === 0) v.remove(value);
        else v.set(value, s.asImmutable());
      }
      const idx: Record<string, IMap<string, Bucket>> = {};
      for (const [k, v] of Object.entries(t.idx)) idx[k] = v.asImmutable();
      tables[name] = {
        rows: t.rows.asImmutable(),
        idx,
        index: this.changes.has(name) ? this.index : this.base.tables[name].index,
      };
    }
    return { index: this.hasChanges() ? this.index : this.base.index, tables, nodeUsage: this.usage.freeze() };
  }
}

interface WorkingUsage {
  cpu: number;
  memoryMB: number;
  diskMB: number;
  allocs: number;
  ports: Map<number, number> | null;
  portCollisions: number;
  /** False while `ports` is still the published map of the base Root (copied before the first change). */
  ownPorts: boolean;
}

/**
 * The per-node sums of one write transaction: a node's published sum is copied the first time an
 * allocation write touches the node, updated in place for the rest of the transaction, and published
 * (as a new immutable value) at freeze. A write costs O(ports of the allocation), whatever the number
 * of allocations on the node: this is what lets the scheduler and the plan applier read a node's usage
 * in O(1) instead of summing its allocations on every evaluation.
 */
class UsageDeltas {
  private readonly work = new Map<string, WorkingUsage>();

  constructor(private readonly base: IMap<string, NodeResourceUsage>) {}

  get(nodeID: string): NodeResourceUsage | undefined {
    const w = this.work.get(nodeID);
    if (w === undefined) return this.base.get(nodeID);
    return w.allocs === 0 ? undefined : w;
  }

  *entries(): IterableIterator<[string, NodeResourceUsage]> {
    for (const [id, u] of this.base) if (!this.work.has(id)) yield [id, u];
    for (const [id, w] of this.work) if (w.allocs > 0) yield [id, w];
  }

  /** Accounts for one allocation row changing from `prev` to `next` (either may be absent). */
  replace(prev: Allocation | undefined, next: Allocation | undefined): void {
    const pu = prev === undefined ? null : liveAllocUsage(prev);
    const nu = next === undefined ? null : liveAllocUsage(next);
    if (pu === nu && prev?.NodeID === next?.NodeID) return; // same object (or both terminal) on the same node
    if (pu !== null) this.apply(prev!.NodeID, pu, -1);
    if (nu !== null) this.apply(next!.NodeID, nu, 1);
  }

  private apply(
    nodeID: string,
    u: { cpu: number; memoryMB: number; diskMB: number; ports: number[] },
    sign: 1 | -1,
  ): void {
    let w = this.work.get(nodeID);
    if (w === undefined) {
      const b = this.base.get(nodeID);
      w = {
        cpu: b?.cpu ?? 0,
        memoryMB: b?.memoryMB ?? 0,
        diskMB: b?.diskMB ?? 0,
        allocs: b?.allocs ?? 0,
        ports: (b?.ports as Map<number, number> | null) ?? null,
        portCollisions: b?.portCollisions ?? 0,
        ownPorts: false,
      };
      this.work.set(nodeID, w);
    }
    w.cpu += sign * u.cpu;
    w.memoryMB += sign * u.memoryMB;
    w.diskMB += sign * u.diskMB;
    w.allocs += sign;
    if (u.ports.length === 0) return;
    if (!w.ownPorts) {
      w.ports = new Map(w.ports ?? []);
      w.ownPorts = true;
    }
    const ports = w.ports!;
    for (const p of u.ports) {
      const before = ports.get(p) ?? 0;
      const n = before + sign;
      if (sign > 0 ? before > 0 : n > 0) w.portCollisions += sign;
      if (n <= 0) ports.delete(p);
      else ports.set(p, n);
    }
  }

  freeze(): IMap<string, NodeResourceUsage> {
    if (this.work.size === 0) return this.base;
    return this.base.withMutations((m) => {
      for (const [id, w] of this.work) {
        if (w.allocs <= 0) m.remove(id);
        else
          m.set(id, {
            cpu: w.cpu,
            memoryMB: w.memoryMB,
            diskMB: w.diskMB,
            allocs: w.allocs,
            ports: w.ports === null || w.ports.size === 0 ? null : w.ports,
            portCollisions: w.portCollisions,
          });
      }
    });
  }
}
