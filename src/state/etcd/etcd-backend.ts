/**
 * The etcd backend: the state is a replicated log of compressed batches plus periodic snapshots, all
 * under one key prefix (default `/drover/global/`).
 *
 *   head                          {index, entry}: the last committed batch; every commit CASes on it
 *   log/<first index>             one entry = consecutive batches, DEFLATEd JSON (1 + bytes), or a
 *                                 header (2 + {chunks}) when the entry is larger than one chunk
 *   chunk/<first index>/<n>       the pieces of a large entry, written before its header
 *   snap                          {index, tableIndexes, chunks, attempt}: the latest snapshot
 *   snapdata/<index>-<attempt>/<n> its pieces (uploaded before `snap` names them)
 *
 * Why a log and not one key per row: etcd takes at most 128 operations per transaction and 1.5 MiB per
 * request by default, while one plan may write 1,000 allocations; one compressed entry per commit is
 * atomic whatever its size (a large entry's chunks are invisible until the small header naming them
 * commits), and the allocations' shared job is stored once per entry (see codec.ts).
 *
 *   apply(batch) ──► queue ──► pump: every queued batch becomes ONE entry (group commit)
 *       ──► txn [ head.mod == last seen (or absent) AND guard() ] put log/<i>, put head
 *            fails? ──► another writer moved the head: refuse this and every later batch (NotLeader)
 *       ──► every `snapshotEvery` entries: snapshot of the mirror, encoded as a stream beside the pump (writes
 *           go on), written between two entries; old log deleted in the same txn, etcd history compacted up to
 *           the previous snapshot (followers get one snapshot of slack)
 *
 * The head CAS alone makes writes linearisable: a writer whose view is stale cannot commit. `guard`
 * adds the leader-key compare for fencing a deposed leader.
 *
 * etcd flags: none are required (entries are chunked to fit the default --max-request-bytes and
 * --max-txn-ops); --quota-backend-bytes bounds the store (default 2 GiB) and Drover compacts its own
 * history, so --auto-compaction-* should stay off or be longer than a snapshot interval.
 */
import type { Logger } from '../../logging/index.js';
import { nullLogger } from '../../logging/index.js';
import { randomBytes } from 'node:crypto';
import { DroverError, aborted, stateCorrupt } from '../../errors/index.js';
import type { BackendBatch, LoadedMeta, StateBackend } from '../backend.js';
import type { TableName } from '../schema.js';
import { chunks, decodeBatches, decodeSnapshot, encodeBatches, encodeSnapshot } from './codec.js';
import {
  EtcdClient,
  EtcdResponseError,
  etcdFailure,
  type Compare,
  type EtcdKV,
  type TxnOp,
  type WatchEvent,
} from './etcd-client.js';
import { sleepOrAborted } from '../../lib/sleep.js';

export interface EtcdBackendOptions {
  endpoints: string[];
  /** Key prefix of this cluster's state (default `/drover/global/`). */
  prefix?: string;
  /** Snapshot after this many log entries (default 1000). */
  snapshotEveryEntries?: number;
  /** ...or after this many log bytes (default 64 MiB). */
  snapshotEveryBytes?: number;
  /** First delay before a failed snapshot is tried again (default 5 s); it doubles, up to 5 minutes. */
  snapshotRetryMs?: number;
  /** The clock the snapshot retry delay is read from (default Date.now; tests pass their own). */
  now?: () => number;
  /** Largest value written in one request (default 768 KiB: 1 MiB once base64-encoded). */
  chunkBytes?: number;
  /** Extra compares every write must pass (the leader key's create revision, for fencing). */
  guard?: () => Compare[];
  logger?: Logger;
  requestTimeoutMs?: number;
}

const pad = (n: number, w = 16) => String(n).padStart(w, '0');
const KIND_INLINE = 1;
const KIND_CHUNKED = 2;
/**
 * Group commit merges queued batches into one entry until it holds this many rows (a single larger batch still
 * makes one entry of its own): an entry is encoded as one JSON string, and this keeps it far below V8's largest
 * string (100,000 allocations are about 100 MB of JSON).
 */
const MAX_ENTRY_CHANGES = 100_000;
const SNAPSHOT_RETRY_MAX_MS = 5 * 60_000;

interface EncodedSnapshot {
  index: number;
  tableIndexes: BackendBatch['tableIndexes'];
  /** Names this attempt's pieces, `snapdata/<index>-<attempt>/<n>`: two attempts at one index never mix. */
  attempt: string;
  chunks: number;
  bytes: number;
  /** The log entries and bytes it covers (counted again if it fails). */
  entries: number;
  logBytes: number;
}

/** The value of `snap`. Snapshots written before attempts were named have none: `snapdata/<index>/`. */
interface SnapRecord {
  index: number;
  tableIndexes: LoadedMeta['tableIndexes'];
  chunks: number;
  attempt?: string;
}

const snapDir = (s: { index: number; attempt?: string }) =>
  s.attempt === undefined ? pad(s.index) : `${pad(s.index)}-${s.attempt}`;

interface Pending {
  batch: BackendBatch;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Keys {
  head: Buffer;
  snap: Buffer;
  log: Buffer;
  chunk: Buffer;
  snapdata: Buffer;
}

export class EtcdBackend implements StateBackend {
  readonly ordered = true;
  readonly client: EtcdClient;
  private readonly k: Keys;
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly chunkBytes: number;
  private readonly snapEntries: number;
  private readonly snapBytes: number;
  /** Every stored row by `table \u0002 key`: the source of snapshots (values shared with the store). */
  private readonly mirror = new Map<string, [TableName, string, unknown]>();
  private meta: LoadedMeta = { index: 0, tableIndexes: {} };
  /** Mod revision of `head` as this writer last saw it; 0 = absent. */
  private headRev = 0;
  /** etcd revision of the last load or commit: where a follower's watch resumes. */
  private revision = 0;
  private queue: Pending[] = [];
  private pumping: Promise<void> | undefined;
  private failed: Error | undefined;
  private isDeposed = false;
  private closed = false;
  private entriesSinceSnap = 0;
  private bytesSinceSnap = 0;
  private lastSnapRevision = 0;
  /** A snapshot being encoded beside the pump, and one encoded and waiting for the pump to write it. */
  private snapEncoding: Promise<void> | undefined;
  private snapReady: EncodedSnapshot | undefined;
  private snapFailures = 0;
  private snapRetryAt = 0;
  private readonly abort = new AbortController();
  private readonly now: () => number;

  constructor(private readonly opts: EtcdBackendOptions) {
    this.client = new EtcdClient({ endpoints: opts.endpoints, requestTimeoutMs: opts.requestTimeoutMs });
    this.prefix = opts.prefix ?? '/drover/global/';
    const key = (s: string) => Buffer.from(this.prefix + s);
    this.k = {
      head: key('head'),
      snap: key('snap'),
      log: key('log/'),
      chunk: key('chunk/'),
      snapdata: key('snapdata/'),
    };
    this.logger = opts.logger ?? nullLogger;
    this.chunkBytes = opts.chunkBytes ?? 768 * 1024;
    this.snapEntries = opts.snapshotEveryEntries ?? 1000;
    this.snapBytes = opts.snapshotEveryBytes ?? 64 * 1024 * 1024;
    this.now = opts.now ?? Date.now;
  }

  /**
   * True once a commit was refused because etcd's head or the leader key moved under this writer: it can never
   * write again, and its server must reload (a new term).
   */
  get deposed(): boolean {
    return this.isDeposed;
  }

  /** The etcd revision this backend's view is current at. */
  get currentRevision(): number {
    return this.revision;
  }

  async load(
    visit: (table: TableName, key: string, value: unknown) => void,
    signal?: AbortSignal,
  ): Promise<LoadedMeta> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.loadOnce(signal);
        break;
      } catch (e) {
        if (signal?.aborted) throw aborted();
        // The history we were reading was compacted under us by a new snapshot: read again.
        if (attempt < 5 && e instanceof EtcdResponseError && /compacted/.test(e.message)) continue;
        throw etcdFailure(e, `load of ${this.prefix}`);
      }
    }
    for (const [table, key, value] of this.mirror.values()) visit(table, key, value);
    return { index: this.meta.index, tableIndexes: { ...this.meta.tableIndexes } };
  }

  private async loadOnce(signal?: AbortSignal): Promise<void> {
    this.mirror.clear();
    this.meta = { index: 0, tableIndexes: {} };
    const head = await this.client.range(this.k.head, {}, signal);
    const rev = head.revision;
    this.headRev = head.kvs[0]?.modRevision ?? 0;
    const snap = (await this.client.range(this.k.snap, { revision: rev }, signal)).kvs[0];
    if (snap) {
      const s = JSON.parse(snap.value.toString('utf8')) as SnapRecord;
      const dir = `${this.prefix}snapdata/${snapDir(s)}/`;
      const data = await this.readChunks(Buffer.from(dir), s.chunks, rev, signal);
      let decoded: Awaited<ReturnType<typeof decodeSnapshot>>;
      try {
        decoded = await decodeSnapshot(data, (row) => this.mirror.set(`${row[0]}\u0002${row[1]}`, row));
      } catch (e) {
        throw stateCorrupt(
          `etcd snapshot at index ${s.index} (${dir}, ${s.chunks} chunks) cannot be read: ${(e as Error).message}`,
        );
      }
      this.meta = { index: decoded.index, tableIndexes: { ...decoded.tableIndexes } };
      this.lastSnapRevision = snap.modRevision;
    }
    const from = Buffer.from(`${this.prefix}log/${pad(this.meta.index + 1)}`);
    for await (const page of this.client.rangeAll(this.k.log, { revision: rev, from, pageSize: 16 }, signal)) {
      for (const kv of page) {
        for (const b of await this.readEntry(kv, rev, signal)) if (b.index > this.meta.index) this.applyToMirror(b);
        this.entriesSinceSnap++;
      }
    }
    this.revision = rev;
  }

  private async readEntry(kv: EtcdKV, rev: number, signal?: AbortSignal): Promise<BackendBatch[]> {
    const kind = kv.value[0];
    if (kind === KIND_INLINE) return decodeBatches(kv.value.subarray(1));
    if (kind === KIND_CHUNKED) {
      const h = JSON.parse(kv.value.subarray(1).toString('utf8')) as { chunks: number };
      const first = kv.key.toString('utf8').slice(this.k.log.length);
      return decodeBatches(await this.readChunks(Buffer.from(`${this.prefix}chunk/${first}/`), h.chunks, rev, signal));
    }
    throw new DroverError(
      'Internal',
      `etcd key ${kv.key.toString('utf8')} holds an unknown log entry kind ${String(kind)}`,
    );
  }

  /**
   * The pieces `000000` .. `count - 1` under `prefix`, by name: a failed earlier attempt at the same entry may
   * have left more pieces under it (orphans the next snapshot deletes), and they are not part of this value.
   */
  private async readChunks(prefix: Buffer, count: number, rev: number, signal?: AbortSignal): Promise<Buffer> {
    const parts: Buffer[] = [];
    const from = Buffer.concat([prefix, Buffer.from(pad(0, 6))]);
    const to = Buffer.concat([prefix, Buffer.from(pad(count, 6))]);
    for await (const page of this.client.rangeAll(prefix, { revision: rev, from, rangeEnd: to, pageSize: 1 }, signal))
      for (const kv of page) parts.push(kv.value);
    if (parts.length !== count)
      throw new DroverError(
        'Internal',
        `etcd: ${prefix.toString('utf8')} holds ${parts.length} chunks, ${count} expected`,
      );
    return Buffer.concat(parts);
  }

  private applyToMirror(b: BackendBatch): void {
    for (const c of b.changes) {
      const k = `${c.table}\u0002${c.key}`;
      if (c.value === null) this.mirror.delete(k);
      else this.mirror.set(k, [c.table, c.key, c.value]);
    }
    this.meta = { index: b.index, tableIndexes: { ...this.meta.tableIndexes, ...b.tableIndexes } };
  }

  /**
   * A follower's replica: hands every batch committed after this backend's load to `onBatch`, in index order,
   * until `signal` aborts. `onCurrent` is called whenever the replica is proven current: every batch up to
   * etcd's head is applied (checked after each entry and every `checkMs`). Rejects when etcd compacted history
   * this follower still needed (it fell a whole snapshot behind): reload then.
   *
   *   watch log/ from revision+1 ──► PUT log/<i> ──► read entry (chunks at its revision) ──► onBatch, in order
   *        ▲  stream broke: resume from the last revision applied          every checkMs: head.mod <= applied? current
   */
  async follow(
    onBatch: (b: BackendBatch) => void,
    onCurrent: () => void,
    signal: AbortSignal,
    checkMs = 500,
  ): Promise<void> {
    const checking = new AbortController();
    const stopChecks = AbortSignal.any([signal, checking.signal]);
    const checks = (async () => {
      while (!stopChecks.aborted) {
        try {
          const h = await this.client.range(this.k.head, { keysOnly: true }, stopChecks);
          if ((h.kvs[0]?.modRevision ?? 0) <= this.revision) onCurrent();
        } catch {
          // Not current as far as we know: LastContact grows until etcd answers again.
        }
        await sleepOrAborted(checkMs, stopChecks);
      }
    })();
    try {
      while (!signal.aborted) {
        const stream = new AbortController();
        const both = AbortSignal.any([signal, stream.signal]);
        let chain: Promise<void> = Promise.resolve();
        let failed: unknown;
        const handle = async (events: WatchEvent[]) => {
          for (const ev of events) {
            if (ev.type !== 'PUT' || ev.kv.modRevision <= this.revision) continue;
            for (const b of await this.readEntry(ev.kv, ev.kv.modRevision, both))
              if (b.index > this.meta.index) {
                this.applyToMirror(b);
                onBatch(b);
              }
            this.revision = ev.kv.modRevision;
          }
          onCurrent();
        };
        try {
          await this.client.watch(
            this.k.log,
            this.revision + 1,
            (events) => {
              chain = chain
                .then(() => handle(events))
                .catch((e: unknown) => {
                  failed ??= e;
                  stream.abort();
                });
            },
            both,
          );
        } catch (e) {
          if (!stream.signal.aborted) failed ??= e;
        }
        await chain;
        if (signal.aborted) break;
        if (failed instanceof EtcdResponseError && /compacted/.test(failed.message))
          throw etcdFailure(failed, `follow of ${this.prefix}`);
        this.logger.warn('etcd watch of the state log broke; resuming', {
          revision: this.revision,
          error: failed instanceof Error ? failed.message : String(failed),
        });
        await sleepOrAborted(200, signal);
      }
    } finally {
      checking.abort();
      await checks;
    }
  }

  /**
   * Accepts writes again after one failed (the store calls this once every batch handed over has settled). Safe
   * even when the failed commit's outcome is unknown (a connection lost mid-request): the next commit still CASes
   * on the head as this writer last saw it, so if that commit did land, the next one is refused (NotLeader) rather
   * than written over it, and the server steps down to reload (agent/ha-seat.ts).
   */
  recover(): void {
    this.failed = undefined;
  }

  apply(batch: BackendBatch): Promise<void> {
    if (this.closed) return Promise.reject(new DroverError('Internal', 'etcd backend closed'));
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      this.pumping ??= this.pump();
    });
  }

  /** Commits the queue, one entry per round; never throws (failures reject the waiting batches). */
  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.snapReady) {
        if (this.queue.length > 0) await this.commitQueued();
        await this.snapshotStep();
      }
    } finally {
      this.pumping = undefined;
    }
  }

  /** Commits the batches at the head of the queue as one entry, bounded in rows (see MAX_ENTRY_CHANGES). */
  private async commitQueued(): Promise<void> {
    let n = 0;
    for (let changes = 0; n < this.queue.length && n < 4096 && changes < MAX_ENTRY_CHANGES; n++)
      changes += this.queue[n]!.batch.changes.length;
    const items = this.queue.splice(0, n);
    if (this.failed) {
      for (const p of items) p.reject(this.failed);
      return;
    }
    try {
      await this.commitEntry(items.map((p) => p.batch));
    } catch (e) {
      this.failed = etcdFailure(e, 'write');
      this.logger.error('etcd write failed; refusing further writes', { error: this.failed.message });
      for (const p of items) p.reject(this.failed);
      return;
    }
    for (const p of items) p.resolve();
  }

  private headGuard(): Compare[] {
    const head: Compare =
      this.headRev === 0
        ? { key: this.k.head, target: 'CREATE', createRevision: 0 }
        : { key: this.k.head, target: 'MOD', modRevision: this.headRev };
    return [head, ...(this.opts.guard?.() ?? [])];
  }

  private async commitEntry(batches: BackendBatch[]): Promise<void> {
    const first = batches[0]!.index;
    const last = batches[batches.length - 1]!.index;
    const data = await encodeBatches(batches);
    const entryKey = Buffer.from(`${this.prefix}log/${pad(first)}`);
    let value: Buffer;
    if (data.length + 1 <= this.chunkBytes) {
      value = Buffer.concat([Buffer.from([KIND_INLINE]), data]);
    } else {
      const parts = chunks(data, this.chunkBytes);
      // Invisible until the header commits; a failed commit leaves orphans the next snapshot deletes.
      for (const [n, part] of parts.entries())
        await this.client.put(Buffer.from(`${this.prefix}chunk/${pad(first)}/${pad(n, 6)}`), part, this.abort.signal);
      value = Buffer.concat([Buffer.from([KIND_CHUNKED]), Buffer.from(JSON.stringify({ chunks: parts.length }))]);
    }
    const ops: TxnOp[] = [
      { put: { key: entryKey, value } },
      { put: { key: this.k.head, value: Buffer.from(JSON.stringify({ index: last, entry: first })) } },
    ];
    const r = await this.client.txn(this.headGuard(), ops, [], this.abort.signal);
    if (!r.succeeded) {
      this.isDeposed = true;
      throw notWriter(this.prefix);
    }
    this.headRev = r.revision;
    this.revision = r.revision;
    for (const b of batches) this.applyToMirror(b);
    this.entriesSinceSnap++;
    this.bytesSinceSnap += data.length;
  }

  /**
   * The snapshot's two halves, so that a large state never stalls the writes: when one is due, the rows are
   * captured (a list of references: the values are never mutated), then encoded and uploaded beside the pump,
   * which keeps committing (the pieces go under a name of this attempt's own and stay invisible until `snap`
   * names them); the pump then commits the snapshot between two entries, because its transaction compares the
   * head like every commit. Never throws: a failed snapshot is logged and tried again after a delay that doubles
   * up to SNAPSHOT_RETRY_MAX_MS (the log stays intact meanwhile, only longer).
   */
  private async snapshotStep(): Promise<void> {
    const ready = this.snapReady;
    if (ready) {
      this.snapReady = undefined;
      if (this.failed || this.isDeposed) return; // the next writer snapshots; this one may not be it
      try {
        const revision = await this.commitSnapshot(ready);
        this.snapFailures = 0;
        await this.compactBefore(revision); // never throws
      } catch (e) {
        this.snapshotFailed(e, ready.entries, ready.logBytes);
      }
      return;
    }
    if (this.snapEncoding || this.closed || this.failed || this.isDeposed || this.now() < this.snapRetryAt) return;
    if (this.entriesSinceSnap < this.snapEntries && this.bytesSinceSnap < this.snapBytes) return;
    const index = this.meta.index;
    const tableIndexes = { ...this.meta.tableIndexes };
    const rows = Array.from(this.mirror.values());
    const entries = this.entriesSinceSnap;
    const bytes = this.bytesSinceSnap;
    this.entriesSinceSnap = 0;
    this.bytesSinceSnap = 0;
    this.snapEncoding = (async () => {
      const data = await encodeSnapshot({ index, tableIndexes, rows }, this.abort.signal);
      const attempt = randomBytes(4).toString('hex');
      const parts = chunks(data, this.chunkBytes);
      const dir = `${this.prefix}snapdata/${snapDir({ index, attempt })}/`;
      for (const [n, part] of parts.entries())
        await this.client.put(Buffer.from(`${dir}${pad(n, 6)}`), part, this.abort.signal);
      return { index, tableIndexes, attempt, chunks: parts.length, bytes: data.length, entries, logBytes: bytes };
    })()
      .then(
        (snap) => {
          if (this.closed) return;
          this.snapReady = snap;
          this.pumping ??= this.pump();
        },
        (e: unknown) => {
          if (!this.closed) this.snapshotFailed(e, entries, bytes);
        },
      )
      .finally(() => {
        this.snapEncoding = undefined;
      });
  }

  private snapshotFailed(e: unknown, entries: number, bytes: number): void {
    // What the failed snapshot would have covered is still in the log: count it towards the next one.
    this.entriesSinceSnap += entries;
    this.bytesSinceSnap += bytes;
    this.snapFailures++;
    const delay = Math.min(SNAPSHOT_RETRY_MAX_MS, (this.opts.snapshotRetryMs ?? 5_000) * 2 ** (this.snapFailures - 1));
    this.snapRetryAt = this.now() + delay;
    this.logger.warn('etcd snapshot failed; trying again later', {
      error: e instanceof Error ? e.message : String(e),
      retryInMs: delay,
    });
  }

  /**
   * Makes an uploaded snapshot the current one and deletes the log (and older snapshots) it covers; resolves to
   * the etcd revision of that transaction.
   */
  private async commitSnapshot(s: EncodedSnapshot): Promise<number> {
    const { index, tableIndexes, attempt, chunks: count } = s;
    const upTo = (p: Buffer, i: number) => ({
      deleteRange: { key: p, rangeEnd: Buffer.from(`${p.toString('utf8')}${pad(i)}`) },
    });
    const record: SnapRecord = { index, tableIndexes, chunks: count, attempt };
    const ops: TxnOp[] = [
      { put: { key: this.k.snap, value: Buffer.from(JSON.stringify(record)) } },
      upTo(this.k.log, index + 1),
      upTo(this.k.chunk, index + 1),
      upTo(this.k.snapdata, index),
    ];
    const r = await this.client.txn(this.headGuard(), ops, [], this.abort.signal);
    if (!r.succeeded) {
      this.isDeposed = true;
      throw notWriter(this.prefix);
    }
    this.revision = Math.max(this.revision, r.revision);
    this.logger.info('etcd snapshot written', { index, chunks: count, bytes: s.bytes });
    return r.revision;
  }

  /**
   * Compacts etcd's history up to the previous snapshot (followers get one snapshot of slack). A failure here is
   * not a failed snapshot (that one is written): it is logged, and the next snapshot compacts further.
   */
  private async compactBefore(revision: number): Promise<void> {
    const previous = this.lastSnapRevision;
    this.lastSnapRevision = revision;
    if (previous === 0) return;
    try {
      await this.client.compact(previous, this.abort.signal);
    } catch (e) {
      this.logger.warn('etcd compaction after a snapshot failed', {
        revision: previous,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let batches already handed over finish; then stop anything still talking to etcd (and a snapshot
    // still being encoded: the log it would have replaced is intact).
    await this.pumping;
    this.abort.abort();
    await this.snapEncoding;
  }
}

function notWriter(prefix: string): DroverError {
  return new DroverError(
    'NotLeader',
    `another server wrote to the etcd state under ${prefix} since this one last read it; this server is no longer the writer`,
  );
}
