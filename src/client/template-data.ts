/**
 * What a task's templates read, over the ServerRPC: a cache of variables and service instances filled by
 * reads with index 0 (TemplateDataLoader.load) and kept current by blocking queries (waitForChange). In `-dev`
 * the RPC is the server itself, so a wait is the state store's own blocking query; a remote client sends
 * `GET /v1/var/:path?index=N` and `GET /v1/service/:name?index=N`. Nothing polls.
 *
 * Variables are scoped as Nomad's implicit workload policy says: the job's namespace, and only `nomad/jobs`,
 * `nomad/jobs/<job>`, `.../<group>` and `.../<group>/<task>`. Anything else fails the render with a
 * "Permission denied" error that names the path. `key`, `keyOrDefault`, `ls` and `tree` read the server's
 * Consul-compatible KV store (`GET /v1/kv/<prefix>?recurse&index=N`); its index is the whole store's, so a wait
 * on a key goes on until the key's own value changes (a write to another key is not a change here).
 */
import type { KVEntry, Node, NodeListStub, ServiceRegistration, Variable } from '../structs/index.js';
import { DroverError } from '../errors/index.js';
import {
  dependencyKey,
  taskEnvLookup,
  type Dependency,
  type KVPair,
  type NodeInfo,
  type NomadVariable,
  type ServiceInstance,
  type ServiceQuery,
  type ServiceSummary,
  type TemplateData,
  type TemplateDataLoader,
  type VariableMeta,
} from '../template/index.js';
import { taskMayReadVariable, templateServiceInstance } from '../discovery/index.js';
import type { IndexedValue, ServerRPC } from './rpc.js';

/** Who reads: the task's workload identity. */
export interface TemplateIdentity {
  namespace: string;
  jobID: string;
  group: string;
  task: string;
}

export interface RpcTemplateDataOptions {
  rpc: ServerRPC;
  identity: TemplateIdentity;
  /** The task's environment (NOMAD_* and its env block). */
  env: Record<string, string>;
  node?: Node;
  /** How long one blocking query may be held by the server (Nomad's default is 5 minutes). */
  waitMs?: number;
}

interface Entry<T> {
  value: T;
  index: number;
}

/** The paths a task may read without an ACL policy (Nomad's implicit workload policy). */
export function implicitVariablePaths(id: TemplateIdentity): string[] {
  return [
    'nomad/jobs',
    `nomad/jobs/${id.jobID}`,
    `nomad/jobs/${id.jobID}/${id.group}`,
    `nomad/jobs/${id.jobID}/${id.group}/${id.task}`,
  ];
}

function mayRead(id: TemplateIdentity, namespace: string, path: string): boolean {
  return taskMayReadVariable(
    { Namespace: id.namespace, JobID: id.jobID, Group: id.group, Task: id.task },
    { Namespace: namespace, Path: path },
  );
}

export class RpcTemplateData implements TemplateData, TemplateDataLoader {
  private readonly vars = new Map<string, Entry<NomadVariable | null>>();
  private readonly varLists = new Map<string, Entry<VariableMeta[]>>();
  private readonly svcs = new Map<string, Entry<ServiceInstance[]>>();
  private readonly svcNames = new Map<string, Entry<ServiceSummary[]>>();
  private readonly kvs = new Map<string, Entry<string | null>>();
  private nodeInfos: Entry<NodeInfo[]> | undefined;
  private readonly kvLists = new Map<string, Entry<KVPair[]>>();
  /** What the server last answered for each dependency, to tell a change from a timeout. */
  private readonly raw = new Map<string, unknown>();
  private envLookup: (name: string) => string | undefined;
  private readonly waitMs: number;

  constructor(private readonly options: RpcTemplateDataOptions) {
    this.envLookup = taskEnvLookup(options.env, options.node);
    this.waitMs = options.waitMs ?? 5 * 60_000;
  }

  /** The task's env changes between starts (a template with env = true adds to it). */
  setEnv(env: Record<string, string>): void {
    this.envLookup = taskEnvLookup(env, this.options.node);
  }

  // ---- TemplateData: synchronous reads of the cache -------------------------------------------

  services(q: ServiceQuery): ServiceInstance[] | undefined {
    return this.svcs
      .get(key(q.namespace, q.name))
      ?.value.filter((s) => !q.dc || !s.Datacenter || s.Datacenter === q.dc);
  }

  serviceNames(q: { namespace: string }): ServiceSummary[] | undefined {
    return this.svcNames.get(q.namespace)?.value;
  }

  nodes(dc: string): NodeInfo[] | undefined {
    return this.nodeInfos?.value.filter((n) => !dc || n.Datacenter === dc);
  }

  kv(path: string): string | null | undefined {
    return this.kvs.get(path)?.value;
  }

  kvList(prefix: string, _dc: string, recursive: boolean): KVPair[] | undefined {
    return this.kvLists.get(kvListKey(prefix, recursive))?.value;
  }

  variable(path: string, namespace: string): NomadVariable | null | undefined {
    this.checkAccess(namespace, path);
    return this.vars.get(key(namespace, path))?.value;
  }

  variableList(prefix: string, namespace: string): VariableMeta[] | undefined {
    if (namespace !== this.options.identity.namespace) this.deny(namespace, prefix);
    return this.varLists
      .get(key(namespace, prefix))
      ?.value.filter((m) => mayRead(this.options.identity, m.Namespace, m.Path));
  }

  env(name: string): string | undefined {
    return this.envLookup(name);
  }

  index(dep: Dependency): number | undefined {
    return this.entry(dep)?.index;
  }

  // ---- loading and waiting --------------------------------------------------------------------

  /** Reads each dependency once (no blocking), so the next render has its data. */
  async load(deps: Dependency[], signal: AbortSignal): Promise<void> {
    await Promise.all(deps.map(async (d) => this.store(d, await this.fetch(d, 0, signal))));
  }

  /**
   * Blocks until one of `deps` has data newer than `last` (one blocking query per dependency, all cancelled
   * together), and resolves with the new indexes. Files are not watched.
   */
  readonly waitForChange = async (
    deps: Dependency[],
    last: ReadonlyMap<string, number>,
    signal: AbortSignal,
  ): Promise<ReadonlyMap<string, number>> => {
    const watched = deps.filter((d) => d.kind !== 'file');
    const inner = new AbortController();
    const onAbort = () => inner.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (watched.length === 0)
        await new Promise<never>((_, reject) =>
          inner.signal.addEventListener('abort', () => reject(inner.signal.reason), { once: true }),
        );
      return await Promise.any(
        watched.map((d) => this.waitOne(d, last.get(dependencyKey(d)) ?? this.index(d) ?? 0, inner.signal)),
      );
    } catch (e) {
      signal.throwIfAborted();
      throw e instanceof AggregateError ? e.errors[0] : e;
    } finally {
      inner.abort();
      signal.removeEventListener('abort', onAbort);
    }
  };

  private async waitOne(d: Dependency, since: number, signal: AbortSignal): Promise<ReadonlyMap<string, number>> {
    const before = JSON.stringify(this.raw.get(dependencyKey(d)));
    // The KV store's index moves on a write to any key: only a change of what this dependency reads counts.
    const byData = d.kind === 'kv' || d.kind === 'kvList' || d.kind === 'nodes';
    for (;;) {
      const res = await this.fetch(d, since, signal);
      signal.throwIfAborted();
      const changed = JSON.stringify(res.value) !== before;
      if (byData && !changed) {
        since = Math.max(since, res.index);
        continue;
      }
      // The data, not only the index: a server's first write to a table may commit at the index it already answered.
      if (res.index > since || changed) {
        this.store(d, res);
        return new Map([[dependencyKey(d), res.index]]);
      }
    }
  }

  private async fetch(d: Dependency, minIndex: number, signal: AbortSignal): Promise<IndexedValue<unknown>> {
    const rpc = this.options.rpc;
    const q = { minIndex, waitMs: this.waitMs, signal };
    switch (d.kind) {
      case 'var':
        return need(rpc.variableGet, 'variableGet').call(rpc, d.namespace, d.path, q);
      case 'varList':
        return need(rpc.variableList, 'variableList').call(rpc, { ...q, namespace: d.namespace, prefix: d.prefix });
      case 'service':
        return need(rpc.serviceGet, 'serviceGet').call(rpc, d.namespace, d.name, q);
      case 'services':
        return need(rpc.serviceList, 'serviceList').call(rpc, { ...q, namespace: d.namespace });
      case 'nodes': {
        // A node's heartbeat rewrites its row: only what templates show of it (and whether it is up) counts.
        const res = await need(rpc.nodeList, 'nodeList').call(rpc, q);
        return { value: res.value.filter((n) => n.Status !== 'down').map(nodeInfo), index: res.index };
      }
      case 'kv': {
        const res = await need(rpc.kvList, 'kvList').call(rpc, d.path, q);
        const e = res.value.find((x) => x.Key === d.path);
        return { value: e ? kvText(e) : null, index: res.index };
      }
      case 'kvList': {
        // `ls "config"` and `tree "config"` read the keys under `config/`, as consul-template.
        const base = d.prefix.replace(/\/*$/, '/').replace(/^\/+/, '');
        const res = await need(rpc.kvList, 'kvList').call(rpc, base === '/' ? '' : base, q);
        const pairs = res.value
          .filter((x) => d.recursive || !x.Key.slice(base === '/' ? 0 : base.length).includes('/'))
          .map((x) => ({ Path: x.Key, Value: kvText(x) }));
        return { value: pairs, index: res.index };
      }
      default:
        return { value: null, index: 1 };
    }
  }

  private store(d: Dependency, res: IndexedValue<unknown>): void {
    this.raw.set(dependencyKey(d), res.value);
    switch (d.kind) {
      case 'var': {
        const v = res.value as Variable | null;
        this.vars.set(key(d.namespace, d.path), { index: res.index, value: v ? toNomadVariable(v) : null });
        return;
      }
      case 'varList':
        this.varLists.set(key(d.namespace, d.prefix), { index: res.index, value: res.value as VariableMeta[] });
        return;
      case 'service':
        this.svcs.set(key(d.namespace, d.name), {
          index: res.index,
          value: (res.value as ServiceRegistration[]).map(templateServiceInstance),
        });
        return;
      case 'services': {
        const stubs = res.value as Array<{
          Namespace: string;
          Services: Array<{ ServiceName: string; Tags: string[] }>;
        }>;
        const own = stubs.find((s) => s.Namespace === d.namespace)?.Services ?? [];
        this.svcNames.set(d.namespace, {
          index: res.index,
          value: own.map((s) => ({ Name: s.ServiceName, Tags: s.Tags ?? [] })),
        });
        return;
      }
      case 'kv':
        this.kvs.set(d.path, { index: res.index, value: res.value as string | null });
        return;
      case 'nodes':
        this.nodeInfos = { index: res.index, value: res.value as NodeInfo[] };
        return;
      case 'kvList':
        this.kvLists.set(kvListKey(d.prefix, d.recursive), { index: res.index, value: res.value as KVPair[] });
        return;
      default:
        return;
    }
  }

  private entry(d: Dependency): Entry<unknown> | undefined {
    switch (d.kind) {
      case 'var':
        return this.vars.get(key(d.namespace, d.path));
      case 'varList':
        return this.varLists.get(key(d.namespace, d.prefix));
      case 'service':
        return this.svcs.get(key(d.namespace, d.name));
      case 'services':
        return this.svcNames.get(d.namespace);
      case 'kv':
        return this.kvs.get(d.path);
      case 'nodes':
        return this.nodeInfos;
      case 'kvList':
        return this.kvLists.get(kvListKey(d.prefix, d.recursive));
      default:
        return undefined;
    }
  }

  private checkAccess(namespace: string, path: string): void {
    if (!mayRead(this.options.identity, namespace, path)) this.deny(namespace, path);
  }

  private deny(namespace: string, path: string): never {
    const id = this.options.identity;
    throw new DroverError(
      'PermissionDenied',
      `Permission denied: task "${id.task}" of job "${id.jobID}" may not read variable "${path}" in namespace "${namespace}"; ` +
        `a task reads only ${implicitVariablePaths(id).join(', ')} in namespace "${id.namespace}"`,
    );
  }
}

function nodeInfo(n: NodeListStub): NodeInfo {
  return { ID: n.ID, Node: n.Name, Address: n.Address, Datacenter: n.Datacenter };
}

function kvListKey(prefix: string, recursive: boolean): string {
  return `${recursive ? 'tree' : 'ls'}\u0000${prefix}`;
}

/** A KV value as templates print it: its bytes as UTF-8 text. */
function kvText(e: KVEntry): string {
  return e.Value === null ? '' : Buffer.from(e.Value, 'base64').toString('utf8');
}

function key(namespace: string, name: string): string {
  return `${namespace}\u0000${name}`;
}

function need<F>(f: F | undefined, name: string): F {
  if (!f)
    throw new DroverError('Unavailable', `the server connection does not support ${name}: templates cannot read it`);
  return f;
}

function toNomadVariable(v: Variable): NomadVariable {
  const { Items, ...meta } = v;
  return { items: { ...Items }, meta };
}
