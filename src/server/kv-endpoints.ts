/**
 * The Consul-compatible key/value store (`/v1/kv/<key>`): reads are blocking queries on the `kv` table, writes
 * one state-store transaction each, so a check-and-set and a recursive delete are atomic. The rules (key
 * validation, cas, key listing) are the discovery module's; the HTTP route only decodes and encodes.
 */
import type { KVEntry } from '../structs/index.js';
import { applyKvPut, kvDeleteTargets, kvUnder, validateKvKey, type KvPutRequest } from '../discovery/index.js';
import { badRequest } from '../errors/index.js';
import type { ServerContext } from './context.js';
import type { QueryOptions, QueryResult } from './types.js';
import { blockingQuery } from './read-endpoints.js';

/** Every entry whose key starts with `prefix` ('' for all), sorted by key. */
export function kvList(ctx: ServerContext, prefix: string, q?: QueryOptions): Promise<QueryResult<KVEntry[]>> {
  validateKvKey(prefix, { allowEmpty: true });
  return blockingQuery(ctx, ['kv'], q, (s) => kvUnder(s.tables.all('kv'), prefix));
}

/** One entry, or null when absent (the index still lets a caller block until it is created). */
export function kvGet(ctx: ServerContext, key: string, q?: QueryOptions): Promise<QueryResult<KVEntry | null>> {
  validateKvKey(key);
  return blockingQuery(ctx, ['kv'], q, (s) => s.tables.get('kv', key) ?? null);
}

/** Stores the value; `ok` false when the check-and-set failed (nothing written). */
export async function kvPut(ctx: ServerContext, req: KvPutRequest): Promise<{ ok: boolean; index: number }> {
  validateKvKey(req.Key);
  const { result, index } = await ctx.store.write((txn) => {
    const row = applyKvPut(txn.tables.get('kv', req.Key), req, txn.writeIndex);
    if (row) txn.put('kv', row);
    return row !== null;
  });
  return { ok: result, index };
}

/** Deletes the key, or every key under it with `recurse`; `ok` false when the check-and-set failed. */
export async function kvDelete(
  ctx: ServerContext,
  key: string,
  opts: { recurse?: boolean; cas?: number } = {},
): Promise<{ ok: boolean; index: number }> {
  // An empty key with recurse empties the store, as Consul's `DELETE /v1/kv/?recurse`; alone it names nothing.
  validateKvKey(key, { allowEmpty: opts.recurse === true });
  if (opts.cas !== undefined && opts.recurse) throw badRequest('cas and recurse cannot be used together on a delete');
  const { result, index } = await ctx.store.write((txn) => {
    const keys = kvDeleteTargets(txn.tables.all('kv'), key, opts);
    for (const k of keys ?? []) txn.delete('kv', k);
    return keys !== null;
  });
  return { ok: result, index };
}
