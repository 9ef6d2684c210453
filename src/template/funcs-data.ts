/**
 * consul-template's API functions (service, nomadService, services, key, ls, tree, nomadVar, env, file, ...),
 * reading a TemplateData snapshot and recording every lookup as a Dependency.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { arity, type FuncMap } from './builtins.js';
import {
  dependencyKey,
  type Dependency,
  type KVPair,
  type NodeInfo,
  type ServiceInstance,
  type ServiceProvider,
  type TemplateData,
  type VariableMeta,
} from './data.js';
import { goMap, goStruct, markStructClass, StringMap } from './values.js';

/** Per-render state shared by the data functions. */
export interface RenderContext {
  data: TemplateData;
  /** Every dependency looked up, by key. */
  deps: Map<string, Dependency>;
  /** Dependencies whose data was not loaded yet: the output used placeholders. */
  missing: Map<string, Dependency>;
  /** Dependencies whose data is loaded but absent where the function blocks (key, nomadVar): no output yet. */
  blocked: Map<string, Dependency>;
  namespace: string;
  /** The `file` function's confinement: relative paths resolve from taskDir and must stay within allocDir. */
  sandbox?: { taskDir: string; allocDir: string };
}

function record(ctx: RenderContext, d: Dependency): string {
  const k = dependencyKey(d);
  if (!ctx.deps.has(k)) ctx.deps.set(k, d);
  return k;
}

function missing(ctx: RenderContext, d: Dependency): void {
  ctx.missing.set(dependencyKey(d), d);
}

function blocked(ctx: RenderContext, d: Dependency): void {
  ctx.blocked.set(dependencyKey(d), d);
}

const SERVICE_RE = /^(?:([\w=:.-]+)\.)?([\w-]+)(?:@([\w.-]+))?(?:~([\w.-]+))?$/;
const HEALTH = new Set(['any', 'passing', 'warning', 'critical', 'maintenance']);

/** Parses consul-template's `<TAG>.<NAME>@<DC>~<NEAR>|<FILTER>` plus optional filter arguments. */
export function parseServiceQuery(
  provider: ServiceProvider,
  namespace: string,
  query: string,
  filterArgs: string[] = [],
): Dependency & { kind: 'service' } {
  let q = query;
  const filters: string[] = [];
  const bar = q.indexOf('|');
  if (bar >= 0) {
    filters.push(...q.slice(bar + 1).split(','));
    q = q.slice(0, bar);
  }
  for (const a of filterArgs) filters.push(...a.split(','));
  const m = SERVICE_RE.exec(q.trim());
  if (!m) throw new Error(`invalid service query: ${JSON.stringify(query)}`);
  const statuses = filters.map((f) => f.trim().toLowerCase()).filter((f) => f !== '');
  for (const s of statuses) if (!HEALTH.has(s)) throw new Error(`invalid health status: ${JSON.stringify(s)}`);
  const any = statuses.includes('any');
  return {
    kind: 'service',
    provider,
    name: m[2]!,
    tag: m[1] ?? '',
    dc: m[3] ?? '',
    namespace,
    healthy: any ? 'any' : 'passing',
    statuses: any ? [] : statuses,
  };
}

function passesFilter(inst: ServiceInstance, dep: Dependency & { kind: 'service' }): boolean {
  if (dep.tag && !inst.Tags.includes(dep.tag)) return false;
  const status = inst.Status ?? 'passing';
  if (dep.statuses.length) return dep.statuses.includes(status);
  return dep.healthy === 'any' || status === 'passing';
}

/** consul-template's HealthService: what `service` entries expose. */
export class HealthService {
  Node: string;
  NodeID: string;
  NodeAddress: string;
  NodeDatacenter: string;
  NodeTaggedAddresses: StringMap;
  NodeMeta: StringMap;
  ServiceMeta: StringMap;
  Address: string;
  ID: string;
  Name: string;
  Kind = '';
  Tags: string[];
  Checks: unknown[];
  Status: string;
  Port: number;
  Namespace: string;
  Datacenter: string;
  AllocID: string;
  JobID: string;
  constructor(s: ServiceInstance) {
    this.Node = s.Node ?? s.NodeID ?? '';
    this.NodeID = s.NodeID ?? '';
    this.NodeAddress = s.NodeAddress ?? s.Address;
    this.NodeDatacenter = s.Datacenter ?? '';
    this.NodeTaggedAddresses = new StringMap();
    this.NodeMeta = new StringMap(s.NodeMeta);
    this.ServiceMeta = new StringMap(s.Meta);
    this.Address = s.Address;
    this.ID = s.ID;
    this.Name = s.Name;
    this.Tags = [...s.Tags];
    this.Checks = (s.Checks ?? []).map((c) => goStruct({ ...c }, '*api.HealthCheck'));
    this.Status = s.Status ?? 'passing';
    this.Port = s.Port;
    this.Namespace = s.Namespace ?? '';
    this.Datacenter = s.Datacenter ?? '';
    this.AllocID = s.AllocID ?? '';
    this.JobID = s.JobID ?? '';
  }
}
markStructClass(HealthService, '*dependency.HealthService');

/** consul-template's NomadService (Node is the node ID there), plus NodeID and Status for convenience. */
export class NomadService {
  ID: string;
  Name: string;
  Namespace: string;
  Node: string;
  NodeID: string;
  Datacenter: string;
  JobID: string;
  AllocID: string;
  Tags: string[];
  Address: string;
  Port: number;
  Status: string;
  constructor(s: ServiceInstance) {
    this.ID = s.ID;
    this.Name = s.Name;
    this.Namespace = s.Namespace ?? '';
    this.Node = s.NodeID ?? '';
    this.NodeID = s.NodeID ?? '';
    this.Datacenter = s.Datacenter ?? '';
    this.JobID = s.JobID ?? '';
    this.AllocID = s.AllocID ?? '';
    this.Tags = [...s.Tags];
    this.Address = s.Address;
    this.Port = s.Port;
    this.Status = s.Status ?? 'passing';
  }
}
markStructClass(NomadService, '*dependency.NomadService');

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function lookupServices(ctx: RenderContext, provider: ServiceProvider, args: unknown[]): unknown[] {
  // nomadService also has a load-spreading form: nomadService <count> <hash key> <query>.
  let pick: { count: number; key: string } | undefined;
  let rest = args.map(String);
  if (provider === 'nomad' && args.length === 3 && typeof args[0] === 'number') {
    pick = { count: args[0], key: String(args[1]) };
    rest = [String(args[2])];
  }
  const dep = parseServiceQuery(provider, ctx.namespace, rest[0] ?? '', rest.slice(1));
  record(ctx, dep);
  const found = ctx.data.services({
    provider,
    name: dep.name,
    tag: dep.tag,
    dc: dep.dc,
    namespace: dep.namespace,
    healthy: dep.healthy,
    statuses: dep.statuses,
  });
  if (found === undefined) {
    missing(ctx, dep);
    return [];
  }
  let list = found.filter((s) => passesFilter(s, dep));
  // Stable output: consul-template sorts by node then ID so re-renders do not reorder.
  list.sort((a, b) => cmp(a.Node ?? a.NodeID ?? '', b.Node ?? b.NodeID ?? '') || cmp(a.ID, b.ID));
  if (pick)
    list = [...list]
      .sort((a, b) => fnv1a(pick!.key + a.ID) - fnv1a(pick!.key + b.ID))
      .slice(0, Math.max(0, pick.count));
  return provider === 'nomad' ? list.map((x) => new NomadService(x)) : list.map((x) => new HealthService(x));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function lookupServiceNames(ctx: RenderContext, provider: ServiceProvider, query?: unknown): unknown[] {
  let dc = '';
  if (typeof query === 'string' && query !== '') {
    const m = /^@([\w.-]+)$/.exec(query);
    if (!m) throw new Error(`invalid services query: ${JSON.stringify(query)}`);
    dc = m[1]!;
  }
  const dep: Dependency = { kind: 'services', provider, dc, namespace: ctx.namespace };
  record(ctx, dep);
  const found = ctx.data.serviceNames({ provider, dc, namespace: ctx.namespace });
  if (found === undefined) {
    missing(ctx, dep);
    return [];
  }
  return [...found]
    .sort((a, b) => cmp(a.Name, b.Name))
    .map((s) =>
      goStruct(
        { Name: s.Name, Tags: [...s.Tags].sort(), Namespace: s.Namespace ?? ctx.namespace },
        provider === 'nomad' ? '*dependency.NomadServicesSnippet' : '*dependency.CatalogSnippet',
      ),
    );
}

function splitDc(q: string): { path: string; dc: string } {
  const at = q.lastIndexOf('@');
  return at > 0 ? { path: q.slice(0, at), dc: q.slice(at + 1) } : { path: q, dc: '' };
}

/** KeyPair as consul-template's ls/tree return: Key is relative to the prefix. */
function kvPairs(prefix: string, pairs: KVPair[]) {
  const base = prefix.replace(/^\/+/, '').replace(/\/*$/, '/');
  return pairs
    .filter((p) => !p.Path.endsWith('/'))
    .map((p) => {
      const full = p.Path.replace(/^\/+/, '');
      const key = full.startsWith(base) ? full.slice(base.length) : full;
      return goStruct({ Path: full, Key: key, Value: p.Value }, '*dependency.KeyPair');
    })
    .sort((a, b) => cmp(a.Key, b.Key));
}

function kvGet(ctx: RenderContext, query: string, mode: 'key' | 'exists' | 'default', def = ''): unknown {
  const { path: p, dc } = splitDc(query);
  const dep: Dependency = { kind: 'kv', path: p, dc };
  record(ctx, dep);
  const v = ctx.data.kv ? ctx.data.kv(p, dc) : null;
  if (v === undefined) {
    missing(ctx, dep);
    return mode === 'exists' ? false : mode === 'default' ? def : '';
  }
  if (mode === 'exists') return v !== null;
  if (v === null) {
    if (mode === 'key') blocked(ctx, dep);
    return mode === 'default' ? def : '';
  }
  return v;
}

function kvList(ctx: RenderContext, query: string, recursive: boolean, safe: boolean): unknown[] {
  const { path: p, dc } = splitDc(query);
  const dep: Dependency = { kind: 'kvList', prefix: p, dc, recursive };
  record(ctx, dep);
  const pairs = ctx.data.kvList ? ctx.data.kvList(p, dc, recursive) : [];
  if (pairs === undefined) {
    missing(ctx, dep);
    return [];
  }
  if (safe && pairs.length === 0) blocked(ctx, dep);
  return kvPairs(p, pairs);
}

/** `@dc` of `nodes "@dc"` and `node "name@dc"`. */
function nodeQuery(q: unknown, what: string): { name: string; dc: string } {
  if (q === undefined || q === '') return { name: '', dc: '' };
  const m = /^([\w.-]*)(?:@([\w.-]+))?$/.exec(String(q));
  if (!m) throw new Error(`invalid ${what} query: ${JSON.stringify(q)}`);
  return { name: m[1] ?? '', dc: m[2] ?? '' };
}

function catalogNode(n: NodeInfo) {
  return goStruct(
    {
      ID: n.ID,
      Node: n.Node,
      Address: n.Address,
      Datacenter: n.Datacenter,
      TaggedAddresses: goMap({ lan: n.Address, wan: n.Address }, ''),
      Meta: goMap({ ...n.Meta }, ''),
    },
    '*dependency.Node',
  );
}

/** The nodes of the catalog (Drover's client nodes), sorted by name as Consul's catalog answers them. */
function readNodes(ctx: RenderContext, dc: string): NodeInfo[] {
  const dep: Dependency = { kind: 'nodes', dc };
  record(ctx, dep);
  const found = ctx.data.nodes ? ctx.data.nodes(dc) : [];
  if (found === undefined) {
    missing(ctx, dep);
    return [];
  }
  return [...found].sort((a, b) => cmp(a.Node, b.Node) || cmp(a.ID, b.ID));
}

/** consul-template's `datacenters`: every datacenter with a node, sorted. */
function datacenters(ctx: RenderContext): string[] {
  return [...new Set(readNodes(ctx, '').map((n) => n.Datacenter))].sort(cmp);
}

function nodes(ctx: RenderContext, q?: unknown): unknown[] {
  return readNodes(ctx, nodeQuery(q, 'nodes').dc).map(catalogNode);
}

/**
 * consul-template's `node`: this task's node without an argument (`node.unique.name`), or the node named;
 * `.Node` is the node, `.Services` the services registered on it (Drover's catalog is not per node: empty).
 */
function node(ctx: RenderContext, q?: unknown): unknown {
  const { name, dc } = nodeQuery(q, 'node');
  const want = name || ctx.data.env('node.unique.name') || '';
  const n = readNodes(ctx, dc).find((x) => x.Node === want);
  return n ? goStruct({ Node: catalogNode(n), Services: [] }, '*dependency.CatalogNode') : null;
}

const META = Symbol('meta');

/** One item of a Nomad variable: prints as its value (fmt.Stringer), with .Key and .Value fields. */
export class NomadVarItem {
  constructor(
    readonly Key: string,
    readonly Value: string,
  ) {}
  String(): string {
    return this.Value;
  }
}
markStructClass(NomadVarItem, '*dependency.NomadVarItem');

/** A Nomad variable's items, keyed by item name; ranging gives name and item; methods as consul-template's. */
/** Orders [key, value] pairs by key as Array.prototype.sort orders strings (UTF-16 code units). */
function byKey([a]: [string, unknown], [b]: [string, unknown]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class NomadVarItems {
  constructor(items: Record<string, string>, meta: VariableMeta) {
    for (const [k, v] of Object.entries(items).sort(byKey))
      (this as unknown as Record<string, unknown>)[k] = new NomadVarItem(k, v);
    Object.defineProperty(this, META, { value: meta, enumerable: false });
    goMap(this, new NomadVarItem('', ''));
  }
  private get entries(): NomadVarItem[] {
    return (Object.entries(this) as [string, NomadVarItem][]).sort(byKey).map(([, item]) => item);
  }
  Keys(): string[] {
    return this.entries.map((e) => e.Key);
  }
  Values(): string[] {
    return this.entries.map((e) => e.Value);
  }
  Tuples(): NomadVarItem[] {
    return this.entries;
  }
  /** The items as a plain map of name to value string. */
  Items(): Record<string, string> {
    return goMap(Object.fromEntries(this.entries.map((e) => [e.Key, e.Value])), '');
  }
  ItemsMap(): Record<string, string> {
    return this.Items();
  }
  Metadata(): VariableMeta {
    return goStruct({ ...(this as unknown as { [META]: VariableMeta })[META] }, '*dependency.NomadVarMeta');
  }
}

function nomadVar(ctx: RenderContext, query: string, mode: 'get' | 'exists'): unknown {
  // `path@namespace` reads another namespace, as in consul-template.
  const { path: p, dc: ns } = splitDc(query);
  const namespace = ns || ctx.namespace;
  const dep: Dependency = { kind: 'var', path: p, namespace };
  record(ctx, dep);
  const v = ctx.data.variable ? ctx.data.variable(p, namespace) : null;
  if (v === undefined) {
    missing(ctx, dep);
    return mode === 'exists' ? false : goMap({}, '');
  }
  if (mode === 'exists') return v !== null;
  if (v === null) {
    blocked(ctx, dep);
    return goMap({}, '');
  }
  return new NomadVarItems(v.items, v.meta);
}

function nomadVarList(ctx: RenderContext, prefix: string): unknown[] {
  const { path: p, dc: ns } = splitDc(prefix);
  const namespace = ns || ctx.namespace;
  const dep: Dependency = { kind: 'varList', prefix: p, namespace };
  record(ctx, dep);
  const list = ctx.data.variableList ? ctx.data.variableList(p, namespace) : [];
  if (list === undefined) {
    missing(ctx, dep);
    return [];
  }
  return [...list].sort((a, b) => cmp(a.Path, b.Path)).map((m) => goStruct({ ...m }, '*dependency.NomadVarMeta'));
}

/** Resolves `p` like Nomad's template `file`: relative to the task dir, and never outside the alloc dir. */
export function resolveConfined(root: string, base: string, p: string): string {
  const abs = path.resolve(base, p);
  const rootReal = realOrSelf(path.resolve(root));
  const real = realOrSelf(abs);
  const rel = path.relative(rootReal, real);
  if (rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) {
    throw new Error(`file ${JSON.stringify(p)} is outside the allocation directory`);
  }
  return real;
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    // A path that does not exist yet: resolve its parent's symlinks, keep the last part.
    const parent = path.dirname(p);
    if (parent === p) return p;
    return path.join(realOrSelf(parent), path.basename(p));
  }
}

function readFile(ctx: RenderContext, p: string): string {
  if (!ctx.sandbox) throw new Error('file is not available: no allocation directory');
  const abs = resolveConfined(ctx.sandbox.allocDir, ctx.sandbox.taskDir, p);
  record(ctx, { kind: 'file', path: abs });
  return fs.readFileSync(abs, 'utf8');
}

/**
 * The data functions, reading the current render's context through `current` (built once per runner, so a
 * render does not allocate a function table).
 */
export function dataFuncs(current: () => RenderContext): FuncMap {
  const V = Infinity;
  return {
    service: arity(1, V, (...a: unknown[]) => lookupServices(current(), 'consul', a)),
    connect: arity(1, V, (...a: unknown[]) => lookupServices(current(), 'consul', a)),
    nomadService: arity(1, 3, (...a: unknown[]) => lookupServices(current(), 'nomad', a)),
    services: arity(0, 1, (q?: unknown) => lookupServiceNames(current(), 'consul', q)),
    nomadServices: arity(0, 1, (q?: unknown) => lookupServiceNames(current(), 'nomad', q)),
    datacenters: arity(0, 1, () => datacenters(current())),
    nodes: arity(0, 1, (q?: unknown) => nodes(current(), q)),
    node: arity(0, 1, (q?: unknown) => node(current(), q)),
    key: arity(1, 1, (q: string) => kvGet(current(), String(q), 'key')),
    keyExists: arity(1, 1, (q: string) => kvGet(current(), String(q), 'exists')),
    keyOrDefault: arity(2, 2, (q: string, d: unknown) => kvGet(current(), String(q), 'default', String(d))),
    ls: arity(1, 1, (q: string) => kvList(current(), String(q), false, false)),
    safeLs: arity(1, 1, (q: string) => kvList(current(), String(q), false, true)),
    tree: arity(1, 1, (q: string) => kvList(current(), String(q), true, false)),
    safeTree: arity(1, 1, (q: string) => kvList(current(), String(q), true, true)),
    nomadVar: arity(1, 1, (q: string) => nomadVar(current(), String(q), 'get')),
    nomadVarExists: arity(1, 1, (q: string) => nomadVar(current(), String(q), 'exists')),
    nomadVarList: arity(0, 1, (q?: string) => nomadVarList(current(), q === undefined ? '' : String(q))),
    env: arity(1, 1, (name: string) => current().data.env(String(name)) ?? ''),
    mustEnv: arity(1, 1, (name: string) => {
      const v = current().data.env(String(name));
      if (v === undefined) throw new Error(`required environment variable ${name} is missing`);
      return v;
    }),
    envOrDefault: arity(2, 2, (name: string, d: unknown) => {
      const v = current().data.env(String(name));
      return v === undefined || v === '' ? String(d) : v;
    }),
    file: arity(1, 1, (p: string) => readFile(current(), String(p))),
  };
}

export const DATA_FUNC_NAMES = [
  'service',
  'connect',
  'nomadService',
  'services',
  'nomadServices',
  'datacenters',
  'nodes',
  'node',
  'key',
  'keyExists',
  'keyOrDefault',
  'ls',
  'safeLs',
  'tree',
  'safeTree',
  'nomadVar',
  'nomadVarExists',
  'nomadVarList',
  'env',
  'mustEnv',
  'envOrDefault',
  'file',
];
