/**
 * A small etcd v3 client over etcd's gRPC-gateway JSON API (`POST /v3/kv/range`, `/v3/kv/txn`, ...),
 * using Node's built-in fetch. Why not the `etcd3` package: it pulls in grpc-js and protobufjs for a
 * handful of calls Drover needs, while the gateway ships in every etcd ≥ 3.4 and speaks plain JSON.
 *
 * Keys and values travel base64-encoded; 64-bit numbers travel as decimal strings and are read back
 * as JS numbers (revisions and lease IDs stay far below 2^53 in practice; lease IDs are kept as text).
 * Fields at their zero value are omitted by the gateway (`succeeded: false` is simply absent).
 *
 * Several endpoints may be given: a request that cannot reach one tries the next, and the client
 * sticks to the last endpoint that answered.
 */
import { DroverError } from '../../errors/index.js';

export interface EtcdKV {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  lease?: string;
}

export interface RangeOptions {
  /** End of the range, exclusive; `prefixEnd(key)` for a prefix. */
  rangeEnd?: Buffer;
  limit?: number;
  /** Read at this revision (0: the latest). */
  revision?: number;
  keysOnly?: boolean;
  /** Serve from the local member without a quorum round (may be stale). */
  serializable?: boolean;
}

export interface RangeResult {
  kvs: EtcdKV[];
  more: boolean;
  /** The store revision the read saw. */
  revision: number;
}

export type Compare =
  | { key: Buffer; target: 'CREATE'; createRevision: number; result?: 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL' }
  | { key: Buffer; target: 'MOD'; modRevision: number; result?: 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL' };

export type TxnOp =
  | { put: { key: Buffer; value: Buffer; lease?: string } }
  | { deleteRange: { key: Buffer; rangeEnd?: Buffer } }
  | { range: { key: Buffer; rangeEnd?: Buffer } };

export interface TxnResult {
  succeeded: boolean;
  /** The store revision after the transaction (unchanged when nothing was written). */
  revision: number;
  /** For each `range` op of the branch that ran, the keys it found. */
  ranges: EtcdKV[][];
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: EtcdKV;
}

export interface EtcdMember {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

export interface EtcdClientOptions {
  endpoints: string[];
  /** Deadline of one unary request (default 5 s). */
  requestTimeoutMs?: number;
}

type Json = Record<string, unknown>;

const b64 = (b: Buffer) => b.toString('base64');
const num = (v: unknown) => (v === undefined ? 0 : Number(v));

function kvOf(raw: Json): EtcdKV {
  return {
    key: Buffer.from((raw.key as string | undefined) ?? '', 'base64'),
    value: Buffer.from((raw.value as string | undefined) ?? '', 'base64'),
    createRevision: num(raw.create_revision),
    modRevision: num(raw.mod_revision),
    version: num(raw.version),
    lease: raw.lease as string | undefined,
  };
}

/** The first key after every key that starts with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** etcd answered with an error (e.g. request too large, quota exceeded, compacted revision). */
export class EtcdResponseError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'EtcdResponseError';
  }
}

/** Maps an etcd failure to the error Drover reports. */
export function etcdFailure(e: unknown, what: string): DroverError {
  if (e instanceof DroverError) return e;
  if (e instanceof EtcdResponseError && /database space exceeded/.test(e.message)) {
    return new DroverError(
      'StorageFull',
      `etcd refused ${what}: its storage quota is exhausted (raise --quota-backend-bytes, compact and defragment): ${e.message}`,
    );
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new DroverError('Unavailable', `etcd ${what} failed: ${msg}`, { cause: e });
}

function opJson(op: TxnOp): Json {
  if ('put' in op)
    return {
      request_put: { key: b64(op.put.key), value: b64(op.put.value), ...(op.put.lease ? { lease: op.put.lease } : {}) },
    };
  if ('deleteRange' in op)
    return {
      request_delete_range: {
        key: b64(op.deleteRange.key),
        ...(op.deleteRange.rangeEnd ? { range_end: b64(op.deleteRange.rangeEnd) } : {}),
      },
    };
  return {
    request_range: { key: b64(op.range.key), ...(op.range.rangeEnd ? { range_end: b64(op.range.rangeEnd) } : {}) },
  };
}

function compareJson(c: Compare): Json {
  const base = { key: b64(c.key), result: c.result ?? 'EQUAL' };
  return c.target === 'CREATE'
    ? { ...base, target: 'CREATE', create_revision: String(c.createRevision) }
    : { ...base, target: 'MOD', mod_revision: String(c.modRevision) };
}

export class EtcdClient {
  /** The client URLs, without trailing slashes (the lease keeper's worker thread calls them too). */
  readonly endpoints: string[];
  private current = 0;
  private readonly timeoutMs: number;

  constructor(opts: EtcdClientOptions) {
    if (opts.endpoints.length === 0) throw new DroverError('BadRequest', 'etcd: at least one endpoint is needed');
    this.endpoints = opts.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = opts.requestTimeoutMs ?? 5000;
  }

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return this.endpoints[this.current]!;
  }

  /** One unary call, trying every endpoint once when one cannot be reached. */
  async call(path: string, body: Json, signal?: AbortSignal): Promise<Json> {
    let lastErr: unknown;
    for (let tried = 0; tried < this.endpoints.length; tried++) {
      const i = (this.current + tried) % this.endpoints.length;
      const url = `${this.endpoints[i]!}${path}`;
      const timeout = AbortSignal.timeout(this.timeoutMs);
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (e) {
        if (signal?.aborted) throw e;
        lastErr = e instanceof Error && e.cause instanceof Error ? new Error(`${url}: ${e.cause.message}`) : e;
        continue;
      }
      const text = await res.text();
      let parsed: Json;
      try {
        parsed = JSON.parse(text) as Json;
      } catch {
        lastErr = new Error(`${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
        continue;
      }
      if (!res.ok || parsed.error !== undefined) {
        const code = num(parsed.code);
        const message = String(parsed.message ?? parsed.error ?? `HTTP ${res.status}`);
        // 14 = UNAVAILABLE (no leader, member stopping): another member may serve it.
        if (code === 14) {
          lastErr = new EtcdResponseError(code, `${url}: ${message}`);
          continue;
        }
        throw new EtcdResponseError(code, message);
      }
      this.current = i;
      return parsed;
    }
    const last = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new Error(`no etcd endpoint answered (${this.endpoints.join(', ')}); last error: ${last}`, {
      cause: lastErr,
    });
  }

  async range(key: Buffer, opts: RangeOptions = {}, signal?: AbortSignal): Promise<RangeResult> {
    const r = await this.call(
      '/v3/kv/range',
      {
        key: b64(key),
        ...(opts.rangeEnd ? { range_end: b64(opts.rangeEnd) } : {}),
        ...(opts.limit ? { limit: String(opts.limit) } : {}),
        ...(opts.revision ? { revision: String(opts.revision) } : {}),
        ...(opts.keysOnly ? { keys_only: true } : {}),
        ...(opts.serializable ? { serializable: true } : {}),
      },
      signal,
    );
    return {
      kvs: ((r.kvs as Json[] | undefined) ?? []).map(kvOf),
      more: r.more === true,
      revision: num((r.header as Json).revision),
    };
  }

  /** Every key under `prefix` (from `from`, before `rangeEnd` when given) at one revision, in pages of `pageSize`. */
  async *rangeAll(
    prefix: Buffer,
    opts: { revision?: number; pageSize?: number; from?: Buffer; rangeEnd?: Buffer } = {},
    signal?: AbortSignal,
  ): AsyncGenerator<EtcdKV[], void> {
    const end = opts.rangeEnd ?? prefixEnd(prefix);
    let from = opts.from ?? prefix;
    let revision = opts.revision ?? 0;
    for (;;) {
      const page = await this.range(from, { rangeEnd: end, limit: opts.pageSize ?? 64, revision }, signal);
      revision = page.revision;
      if (page.kvs.length > 0) yield page.kvs;
      if (!page.more || page.kvs.length === 0) return;
      from = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  async put(key: Buffer, value: Buffer, signal?: AbortSignal): Promise<number> {
    const r = await this.call('/v3/kv/put', { key: b64(key), value: b64(value) }, signal);
    return num((r.header as Json).revision);
  }

  async txn(compare: Compare[], success: TxnOp[], failure: TxnOp[] = [], signal?: AbortSignal): Promise<TxnResult> {
    const r = await this.call(
      '/v3/kv/txn',
      { compare: compare.map(compareJson), success: success.map(opJson), failure: failure.map(opJson) },
      signal,
    );
    const ranges = ((r.responses as Json[] | undefined) ?? [])
      .filter((x) => x.response_range !== undefined)
      .map((x) => (((x.response_range as Json).kvs as Json[] | undefined) ?? []).map(kvOf));
    return { succeeded: r.succeeded === true, revision: num((r.header as Json).revision), ranges };
  }

  async deleteRange(key: Buffer, rangeEnd: Buffer | undefined, signal?: AbortSignal): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key), ...(rangeEnd ? { range_end: b64(rangeEnd) } : {}) }, signal);
  }

  /** Discards history before `revision`; an older revision already compacted is not an error. */
  async compact(revision: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.call('/v3/kv/compaction', { revision: String(revision) }, signal);
    } catch (e) {
      if (e instanceof EtcdResponseError && /compacted/.test(e.message)) return;
      throw e;
    }
  }

  async leaseGrant(ttlSeconds: number, signal?: AbortSignal): Promise<{ id: string; ttl: number }> {
    const r = await this.call('/v3/lease/grant', { TTL: String(ttlSeconds) }, signal);
    return { id: String(r.ID), ttl: num(r.TTL) };
  }

  /** Renews a lease once; returns the remaining TTL in seconds (0: the lease is gone). */
  async leaseKeepAlive(id: string, signal?: AbortSignal): Promise<number> {
    const r = await this.call('/v3/lease/keepalive', { ID: id }, signal);
    return num((r.result as Json | undefined)?.TTL);
  }

  async leaseRevoke(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id }, signal);
  }

  async memberList(signal?: AbortSignal): Promise<EtcdMember[]> {
    const r = await this.call('/v3/cluster/member/list', {}, signal);
    return ((r.members as Json[] | undefined) ?? []).map((m) => ({
      ID: String(m.ID),
      name: String(m.name ?? ''),
      peerURLs: (m.peerURLs as string[] | undefined) ?? [],
      clientURLs: (m.clientURLs as string[] | undefined) ?? [],
    }));
  }

  /**
   * Watches `prefix` from `startRevision` until `signal` aborts, calling `onEvents` in order. Rejects when
   * the stream breaks or the revision was compacted (`compactRevision` is then set on the error).
   */
  async watch(
    prefix: Buffer,
    startRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const body = {
      create_request: { key: b64(prefix), range_end: b64(prefixEnd(prefix)), start_revision: String(startRevision) },
    };
    const res = await fetch(`${this.endpoint}/v3/watch`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      signal,
    });
    if (!res.ok || !res.body) throw new Error(`etcd watch: HTTP ${res.status}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Json;
        if (msg.error)
          throw new EtcdResponseError(num((msg.error as Json).grpc_code), String((msg.error as Json).message));
        const result = (msg.result ?? {}) as Json;
        if (result.compact_revision !== undefined && num(result.compact_revision) > 0) {
          throw Object.assign(
            new EtcdResponseError(
              11,
              `watch revision ${startRevision} was compacted (oldest kept: ${String(result.compact_revision)})`,
            ),
            { compactRevision: num(result.compact_revision) },
          );
        }
        if (result.canceled === true)
          throw new EtcdResponseError(1, `etcd canceled the watch: ${String(result.cancel_reason ?? '')}`);
        const events = ((result.events as Json[] | undefined) ?? []).map((ev) => ({
          type: ev.type === 'DELETE' ? ('DELETE' as const) : ('PUT' as const),
          kv: kvOf(ev.kv as Json),
        }));
        if (events.length > 0) onEvents(events, num((result.header as Json).revision));
      }
    }
    if (!signal.aborted) throw new Error('etcd watch stream ended');
  }
}
