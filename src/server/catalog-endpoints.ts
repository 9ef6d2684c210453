/**
 * Nomad Variables (`/v1/var/:path`, `/v1/vars`) and the read side of the service catalog (`/v1/services`,
 * `/v1/service/:name`), each read a blocking query on its table. Writes of variables are check-and-set when the
 * caller gives `cas`: 0 means "must not exist yet", N means "its ModifyIndex must still be N"; a mismatch is an
 * outcome (the caller answers 409 with the current variable, as Nomad), not an exception.
 */
import type { ServiceRegistration, ServiceRegistrationListStub, Variable, VariableMetadata } from '../structs/index.js';
import { nsKey, type VariableRow } from '../state/index.js';
import { DroverError, type Problem } from '../errors/index.js';
import type { QueryOptions, QueryResult, VariableWriteResult } from './types.js';
import { nowNs, type ServerContext } from './context.js';
import { blockingQuery, DEFAULT_WAIT_MS, MAX_WAIT_MS } from './read-endpoints.js';
import type { StateSnapshot, TableName } from '../state/index.js';

/**
 * blockingQuery, plus one edge: a table never written answers index 1 (never 0, as Nomad), yet its first write
 * may itself commit at index 1, which a wait for "above 1" would miss. A template waiting for a variable that
 * does not exist yet on a fresh server is exactly that case.
 */
async function catalogQuery<T>(ctx: ServerContext, tables: readonly TableName[], q: QueryOptions | undefined, answer: (snap: StateSnapshot) => T): Promise<QueryResult<T>> {
  if (q?.minIndex === 1 && ctx.store.snapshot().maxTableIndex(tables) === 0) {
    await ctx.store.waitForIndex(tables, 0, Math.min(q.waitMs ?? DEFAULT_WAIT_MS, MAX_WAIT_MS), q.signal);
    return blockingQuery(ctx, tables, undefined, answer);
  }
  return blockingQuery(ctx, tables, q, answer);
}

const PATH_RE = /^[a-zA-Z0-9\-_~/]{1,128}$/;
const MAX_SIZE = 64 * 1024;

/** Nomad's rules: path characters and length; under `nomad/` only `nomad/jobs...` and `nomad/job-templates/<x>`. */
export function variableProblems(v: Pick<Variable, 'Namespace' | 'Path' | 'Items'>): Problem[] {
  const problems: Problem[] = [];
  if (v.Namespace === '*') problems.push({ message: 'cannot target the wildcard ("*") namespace', path: 'Namespace' });
  if (!PATH_RE.test(v.Path)) {
    problems.push({ message: `invalid path "${v.Path}": up to 128 characters of letters, digits, "-", "_", "~" and "/"`, path: 'Path' });
  } else {
    const parts = v.Path.split('/');
    if (parts[0] === 'nomad' && !(parts[1] === 'jobs' || (parts[1] === 'job-templates' && parts.length === 3))) {
      problems.push({ message: 'under "nomad/", variables may only be written at "nomad/jobs" and below, or one level below "nomad/job-templates"', path: 'Path' });
    }
  }
  const items = v.Items ?? {};
  const keys = Object.keys(items);
  if (keys.length === 0) problems.push({ message: 'empty variables are invalid: give at least one item', path: 'Items' });
  let size = 0;
  for (const k of keys) {
    if (typeof items[k] !== 'string') problems.push({ message: `item "${k}" must be a string`, path: `Items.${k}` });
    size += Buffer.byteLength(k) + Buffer.byteLength(String(items[k]));
  }
  if (size > MAX_SIZE) problems.push({ message: `variables are limited to 64KiB in total size (got ${size} bytes)`, path: 'Items' });
  return problems;
}

function toVariable(r: VariableRow): Variable {
  return { Namespace: r.Namespace, Path: r.Path, Items: { ...r.Items }, CreateIndex: r.CreateIndex, ModifyIndex: r.ModifyIndex, CreateTime: r.CreateTime, ModifyTime: r.ModifyTime };
}

function metadata(r: VariableRow): VariableMetadata {
  const { Items: _items, ...meta } = toVariable(r);
  return meta;
}

/** Nomad answers a failed check-and-set on an absent variable with an empty one at that path. */
function casConflict(current: VariableRow | undefined, ns: string, path: string, cas: number | undefined): Variable | undefined {
  if (cas === undefined) return undefined;
  if (!current) return cas === 0 ? undefined : { Namespace: ns, Path: path, Items: {}, CreateIndex: 0, ModifyIndex: 0, CreateTime: 0, ModifyTime: 0 };
  return current.ModifyIndex === cas ? undefined : toVariable(current);
}

export function variableList(ctx: ServerContext, q: QueryOptions): Promise<QueryResult<VariableMetadata[]>> {
  const ns = q.namespace ?? 'default';
  const prefix = q.prefix ?? '';
  return catalogQuery(ctx, ['variables'], q, (s) =>
    [...s.tables.all('variables')]
      .filter((v) => (ns === '*' || v.Namespace === ns) && v.Path.startsWith(prefix))
      .sort((a, b) => cmp(a.Namespace, b.Namespace) || cmp(a.Path, b.Path))
      .map(metadata),
  );
}

/** The variable, or null when absent: the index is meaningful either way, so a template can block on a missing one. */
export function variableGet(ctx: ServerContext, namespace: string, path: string, q?: QueryOptions): Promise<QueryResult<Variable | null>> {
  return catalogQuery(ctx, ['variables'], q, (s) => {
    const row = s.tables.get('variables', nsKey(namespace, path));
    return row ? toVariable(row) : null;
  });
}

export async function variablePut(ctx: ServerContext, v: Pick<Variable, 'Namespace' | 'Path' | 'Items'>, opts: { cas?: number } = {}): Promise<VariableWriteResult> {
  const req = { Namespace: v.Namespace || 'default', Path: v.Path, Items: v.Items ?? {} };
  const problems = variableProblems(req);
  if (problems.length > 0) throw new DroverError('BadRequest', problems.map((p) => p.message).join('; '), { problems });
  const now = nowNs(ctx);
  const { result, index } = await ctx.store.write((txn): VariableWriteResult => {
    const current = txn.tables.get('variables', nsKey(req.Namespace, req.Path));
    const conflict = casConflict(current, req.Namespace, req.Path, opts.cas);
    if (conflict) return { ok: false, conflict, index: txn.writeIndex };
    const row: VariableRow = {
      ...req,
      Items: { ...req.Items },
      CreateIndex: current?.CreateIndex ?? txn.writeIndex,
      ModifyIndex: txn.writeIndex,
      CreateTime: current?.CreateTime ?? now,
      ModifyTime: now,
    };
    txn.put('variables', row);
    return { ok: true, variable: toVariable(row), index: txn.writeIndex };
  });
  return result.ok ? result : { ...result, index };
}

export async function variableDelete(ctx: ServerContext, namespace: string, path: string, opts: { cas?: number } = {}): Promise<VariableWriteResult> {
  const { result, index } = await ctx.store.write((txn): VariableWriteResult => {
    const key = nsKey(namespace, path);
    const conflict = casConflict(txn.tables.get('variables', key), namespace, path, opts.cas);
    if (conflict) return { ok: false, conflict, index: 0 };
    txn.delete('variables', key);
    return { ok: true, variable: null, index: 0 };
  });
  return { ...result, index };
}

export function serviceList(ctx: ServerContext, q: QueryOptions): Promise<QueryResult<ServiceRegistrationListStub[]>> {
  const ns = q.namespace ?? 'default';
  return catalogQuery(ctx, ['service_registrations'], q, (s) => {
    const byNs = new Map<string, Map<string, Set<string>>>();
    for (const r of s.tables.all('service_registrations')) {
      if (ns !== '*' && r.Namespace !== ns) continue;
      const services = byNs.get(r.Namespace) ?? new Map<string, Set<string>>();
      byNs.set(r.Namespace, services);
      const tags = services.get(r.ServiceName) ?? new Set<string>();
      services.set(r.ServiceName, tags);
      for (const t of r.Tags ?? []) tags.add(t);
    }
    return [...byNs.keys()].sort().map((Namespace) => {
      const services = byNs.get(Namespace)!;
      return { Namespace, Services: [...services.keys()].sort().map((ServiceName) => ({ ServiceName, Tags: [...services.get(ServiceName)!].sort() })) };
    });
  });
}

/** Every instance of the service (Nomad's native API does not filter on checks); `tag` keeps those carrying it. */
export function serviceGet(ctx: ServerContext, namespace: string, name: string, q?: QueryOptions & { tag?: string }): Promise<QueryResult<ServiceRegistration[]>> {
  return catalogQuery(ctx, ['service_registrations'], q, (s) =>
    s
      .serviceRegistrationsByName(namespace, name)
      .filter((r) => !q?.tag || (r.Tags ?? []).includes(q.tag))
      .sort((a, b) => cmp(a.ID, b.ID)),
  );
}

export async function serviceDelete(ctx: ServerContext, namespace: string, name: string, id: string): Promise<number> {
  const { index } = await ctx.store.write((txn) => {
    const r = txn.tables.get('service_registrations', id);
    if (!r || r.Namespace !== namespace || r.ServiceName !== name) throw new DroverError('ServiceNotFound', `service registration "${id}" of service "${name}" not found`);
    txn.delete('service_registrations', id);
  });
  return index;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
