/**
 * The Consul-compatible KV store (`/v1/kv/<key>`). A missing key or prefix is an answer (null / []), not an
 * error; a failed check-and-set is `false`, as Consul's API answers it.
 */
import type { KVEntry } from '../structs/index.js';
import { isApiError } from './errors.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';

/** Each segment escaped on its own, keeping the slashes (and a trailing one: `config/` is its own prefix). */
function kvURL(key: string): string {
  return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The bytes of an entry's value (Consul sends base64, or null for an empty value). */
export function kvEntryValue(e: KVEntry): Buffer {
  return e.Value === null ? Buffer.alloc(0) : Buffer.from(e.Value, 'base64');
}

export class KVAPI {
  constructor(private readonly http: HttpTransport) {}

  /** One entry, or null when the key does not exist. */
  async get(key: string, q: QueryOptions = {}): Promise<QueryResponse<KVEntry | null>> {
    const res = await this.orMissing(this.http.query<KVEntry[]>(kvURL(key), q));
    return { ...res, value: res.value?.[0] ?? null };
  }

  /** Every entry whose key starts with `prefix`. */
  async list(prefix: string, q: QueryOptions = {}): Promise<QueryResponse<KVEntry[]>> {
    const res = await this.orMissing(
      this.http.query<KVEntry[]>(kvURL(prefix), { ...q, params: { ...q.params, recurse: 'true' } }),
    );
    return { ...res, value: res.value ?? [] };
  }

  /** The key names under `prefix`; with a separator, cut after it (one "folder" level). */
  async keys(prefix: string, separator?: string, q: QueryOptions = {}): Promise<QueryResponse<string[]>> {
    const params: Record<string, string> = { ...q.params, keys: 'true' };
    if (separator !== undefined) params['separator'] = separator;
    const res = await this.orMissing(this.http.query<string[]>(kvURL(prefix), { ...q, params }));
    return { ...res, value: res.value ?? [] };
  }

  /** Writes the value; false when the check-and-set (`cas`: 0 = only if absent, N = ModifyIndex N) failed. */
  put(
    key: string,
    value: Uint8Array | string,
    opts: WriteOptions & { cas?: number; flags?: number } = {},
  ): Promise<boolean> {
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.http.write<boolean>('PUT', kvURL(key), body, withParams(opts));
  }

  /** Deletes the key (or every key under it with `recurse`); false when the check-and-set failed. */
  delete(key: string, opts: WriteOptions & { cas?: number; recurse?: boolean } = {}): Promise<boolean> {
    return this.http.write<boolean>('DELETE', kvURL(key), undefined, withParams(opts));
  }

  private async orMissing<T>(p: Promise<QueryResponse<T>>): Promise<QueryResponse<T | null>> {
    try {
      return await p;
    } catch (e) {
      if (isApiError(e) && e.httpStatus === 404) return { value: null, index: 0 };
      throw e;
    }
  }
}

function withParams(opts: WriteOptions & { cas?: number; flags?: number; recurse?: boolean }): WriteOptions {
  const { cas, flags, recurse, ...rest } = opts;
  const params: Record<string, string | number | boolean | undefined> = { ...rest.params };
  if (cas !== undefined) params['cas'] = cas;
  if (flags !== undefined) params['flags'] = flags;
  if (recurse) params['recurse'] = 'true';
  return { ...rest, params };
}
