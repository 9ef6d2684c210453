/**
 * Nomad Variables (`/v1/var/:path`, `/v1/vars`) and the read side of the service catalog (`/v1/services`,
 * `/v1/service/:name`), each read a blocking query on its table. The rules (validation, check-and-set, listing,
 * catalog shapes) are the discovery module's; the storage is the state store's. Writes of variables are check-and-set when the
 * caller gives `cas`: 0 means "must not exist yet", N means "its ModifyIndex must still be N"; a mismatch is an
 * outcome (the caller answers 409 with the current variable, as Nomad), not an exception.
 */
import type { ServiceRegistration, ServiceRegistrationListStub, Variable, VariableMetadata } from '../structs/index.js';
import { nsKey, type VariableRow } from '../state/index.js';
import { DroverError, unknownNamespace } from '../errors/index.js';
import {
  applyVariableDelete,
  applyVariableWrite,
  chooseInstances,
  filterService,
  listVariables,
  serviceListStubs,
} from '../discovery/index.js';
import type { QueryOptions, QueryResult, VariableWriteResult } from './types.js';
import { nowNs, type ServerContext } from './context.js';
import { blockingQuery, DEFAULT_WAIT_MS, MAX_WAIT_MS, waitForChange } from './read-endpoints.js';
import type { StateSnapshot, TableName } from '../state/index.js';

/**
 * blockingQuery, plus one edge: a table never written answers index 1 (never 0, as Nomad), yet its first write
 * may itself commit at index 1, which a wait for "above 1" would miss. A template waiting for a variable that
 * does not exist yet on a fresh server is exactly that case.
 */
async function catalogQuery<T>(
  ctx: ServerContext,
  tables: readonly TableName[],
  q: QueryOptions | undefined,
  answer: (snap: StateSnapshot) => T,
): Promise<QueryResult<T>> {
  if (q?.minIndex === 1 && ctx.store.snapshot().maxTableIndex(tables) === 0) {
    await waitForChange(ctx, tables, 0, Math.min(q.waitMs ?? DEFAULT_WAIT_MS, MAX_WAIT_MS), q.signal);
    return blockingQuery(ctx, tables, undefined, answer);
  }
  return blockingQuery(ctx, tables, q, answer);
}

/** The API's shape of a stored or computed variable (no Lock: Drover has no variable locks yet). */
function toVariable(r: Variable): Variable {
  return {
    Namespace: r.Namespace,
    Path: r.Path,
    Items: { ...r.Items },
    CreateIndex: r.CreateIndex,
    ModifyIndex: r.ModifyIndex,
    CreateTime: r.CreateTime,
    ModifyTime: r.ModifyTime,
  };
}

/** A stored row, its items decrypted (a row written before encryption existed holds them in plaintext). */
function opened(ctx: ServerContext, r: VariableRow): Variable {
  const v = toVariable(r);
  if (r.KeyID && r.Data) v.Items = ctx.keyring.open(r.Namespace, r.Path, { KeyID: r.KeyID, Data: r.Data });
  return v;
}

/** The row to store: the items sealed with the active key, none in plaintext. */
function sealed(ctx: ServerContext, v: Variable): VariableRow {
  const { KeyID, Data } = ctx.keyring.seal(v.Namespace, v.Path, v.Items ?? {});
  return { ...toVariable(v), Items: {}, KeyID, Data };
}

/**
 * Moves every variable not sealed with the active key to it (after a full rotation), a batch per write so the
 * store is never held long; a variable changed meanwhile is already under the new key and is skipped.
 */
export async function reencryptVariables(ctx: ServerContext, signal: AbortSignal): Promise<number> {
  let moved = 0;
  for (;;) {
    if (signal.aborted) return moved;
    const active = ctx.keyring.active()?.KeyID;
    const batch = [...ctx.store.snapshot().tables.all('variables')].filter((r) => r.KeyID !== active).slice(0, 100);
    if (batch.length === 0) break;
    await ctx.store.write((txn) => {
      for (const old of batch) {
        const cur = txn.tables.get('variables', nsKey(old.Namespace, old.Path));
        if (!cur || cur.KeyID === active) continue;
        // Same indexes: re-encryption is not a change of the variable (CAS and blocking readers see none).
        txn.put('variables', {
          ...sealed(ctx, opened(ctx, cur)),
          CreateIndex: cur.CreateIndex,
          ModifyIndex: cur.ModifyIndex,
        });
        moved++;
      }
    });
  }
  ctx.logger.info('variables re-encrypted with the active key', { count: moved });
  return moved;
}

/**
 * Variable lists already answered, per server, by namespace and prefix, with the variables index they were
 * built at: the thousands of blocking queries one write wakes (templates, UIs) share one frozen list, and so
 * one JSON encoding (http/reply.ts caches the bytes of a frozen list).
 */
const variableLists = new WeakMap<ServerContext, Map<string, { index: number; items: VariableMetadata[] }>>();
const VARIABLE_LISTS_KEPT = 64;

export function variableList(ctx: ServerContext, q: QueryOptions): Promise<QueryResult<VariableMetadata[]>> {
  const namespace = q.namespace ?? 'default';
  return catalogQuery(ctx, ['variables'], q, (s) => {
    let lists = variableLists.get(ctx);
    if (!lists) variableLists.set(ctx, (lists = new Map()));
    const key = `${namespace}\u0000${q.prefix ?? ''}`;
    const index = s.maxTableIndex(['variables']);
    const hit = lists.get(key);
    if (hit && hit.index === index) return hit.items;
    const items = Object.freeze(listVariables(s.tables.all('variables'), { namespace, prefix: q.prefix }).items);
    if (lists.size >= VARIABLE_LISTS_KEPT) lists.clear();
    lists.set(key, { index, items: items as VariableMetadata[] });
    return items as VariableMetadata[];
  });
}

/** The variable, or null when absent: the index is meaningful either way, so a template can block on a missing one. */
export function variableGet(
  ctx: ServerContext,
  namespace: string,
  path: string,
  q?: QueryOptions,
): Promise<QueryResult<Variable | null>> {
  return catalogQuery(ctx, ['variables'], q, (s) => {
    const row = s.tables.get('variables', nsKey(namespace, path));
    return row ? opened(ctx, row) : null;
  });
}

export async function variablePut(
  ctx: ServerContext,
  v: Pick<Variable, 'Namespace' | 'Path' | 'Items'>,
  opts: { cas?: number } = {},
): Promise<VariableWriteResult> {
  const req = { Namespace: v.Namespace || 'default', Path: v.Path, Items: v.Items ?? {} };
  const now = nowNs(ctx);
  const { result, index } = await ctx.store.write((txn) => {
    if (req.Namespace !== 'default' && !txn.tables.get('namespaces', req.Namespace))
      throw unknownNamespace(req.Namespace);
    const row = txn.tables.get('variables', nsKey(req.Namespace, req.Path));
    const current = row && opened(ctx, row);
    const out = applyVariableWrite(current, req, { cas: opts.cas, index: txn.writeIndex, now });
    if (out.ok && out.variable) txn.put('variables', sealed(ctx, toVariable(out.variable)));
    return out;
  });
  return result.ok
    ? { ok: true, variable: result.variable && toVariable(result.variable), index }
    : { ok: false, conflict: toVariable(result.conflict), index };
}

export async function variableDelete(
  ctx: ServerContext,
  namespace: string,
  path: string,
  opts: { cas?: number } = {},
): Promise<VariableWriteResult> {
  const key = nsKey(namespace, path);
  const { result, index } = await ctx.store.write((txn) => {
    const row = txn.tables.get('variables', key);
    const out = applyVariableDelete(row && opened(ctx, row), { Namespace: namespace, Path: path }, opts);
    if (out.ok) txn.delete('variables', key);
    return out;
  });
  return result.ok ? { ok: true, variable: null, index } : { ok: false, conflict: toVariable(result.conflict), index };
}

export function serviceList(ctx: ServerContext, q: QueryOptions): Promise<QueryResult<ServiceRegistrationListStub[]>> {
  const namespace = q.namespace ?? 'default';
  return catalogQuery(ctx, ['service_registrations'], q, (s) =>
    serviceListStubs(s.tables.all('service_registrations'), { namespace }),
  );
}

/** What `GET /v1/service/:name` filters on besides the name. */
export interface ServiceGetFilter {
  tag?: string;
  /**
   * Drover's addition: `passing` keeps passing instances only (what DNS, the gateway and templates serve).
   * Absent or `any`: every instance, as Nomad's native API answers.
   */
  health?: 'passing' | 'any';
  /** Nomad's `?choose=n|key`: n instances picked by rendezvous hashing on key. */
  choose?: { n: number; key: string };
}

/** The instances of a service, sorted by ID; see ServiceGetFilter. */
export function serviceGet(
  ctx: ServerContext,
  namespace: string,
  name: string,
  q?: QueryOptions & ServiceGetFilter,
): Promise<QueryResult<ServiceRegistration[]>> {
  return catalogQuery(ctx, ['service_registrations'], q, (s) => {
    const found = filterService(s.serviceRegistrationsByName(namespace, name), {
      name,
      namespace,
      tag: q?.tag || undefined,
      healthy: q?.health ?? 'any',
    });
    return q?.choose ? chooseInstances(found, q.choose.n, q.choose.key) : found;
  });
}

/** Every registration, for readers inside the agent (the DNS server) that filter for themselves. */
export function allServiceRegistrations(ctx: ServerContext): ServiceRegistration[] {
  return [...ctx.store.snapshot().tables.all('service_registrations')];
}

export async function serviceDelete(ctx: ServerContext, namespace: string, name: string, id: string): Promise<number> {
  const { index } = await ctx.store.write((txn) => {
    const r = txn.tables.get('service_registrations', id);
    if (!r || r.Namespace !== namespace || r.ServiceName !== name)
      throw new DroverError('ServiceNotFound', `service registration "${id}" of service "${name}" not found`);
    txn.delete('service_registrations', id);
  });
  return index;
}
