/**
 * An in-memory TemplateData with change indexes and a blocking `waitForChange`, for tests and for callers that
 * hold their data locally (it is also the reference for what an implementation must do). Every mutation bumps
 * one index and wakes the waiters whose dependencies it touches; nothing polls.
 */
import {
  dependencyKey,
  type Dependency,
  type KVPair,
  type NodeInfo,
  type NomadVariable,
  type ServiceInstance,
  type ServiceQuery,
  type ServiceSummary,
  type TemplateData,
  type VariableMeta,
} from './data.js';
import type { WaitForChange } from './watch.js';

export interface MemoryTemplateDataInit {
  services?: ServiceInstance[];
  kv?: Record<string, string>;
  nodes?: NodeInfo[];
  /** Variables by path, in the default namespace unless `namespace` is given. */
  variables?: Record<string, Record<string, string>>;
  env?: Record<string, string> | ((name: string) => string | undefined);
}

export class MemoryTemplateData implements TemplateData {
  private services_: ServiceInstance[] = [];
  private readonly kv_ = new Map<string, string>();
  private nodes_: NodeInfo[] = [];
  private readonly vars_ = new Map<string, NomadVariable>();
  /** Last change index per entity ("svc:<ns>:<name>", "kv:<path>", "var:<ns>:<path>"), tombstones included. */
  private readonly changed = new Map<string, number>();
  private lastIndex = 1;
  private readonly waiters = new Set<() => void>();
  private readonly envLookup: (name: string) => string | undefined;

  constructor(init: MemoryTemplateDataInit = {}) {
    for (const s of init.services ?? []) this.upsertService(s);
    for (const [k, v] of Object.entries(init.kv ?? {})) this.putKV(k, v);
    if (init.nodes) this.setNodes(init.nodes);
    for (const [p, items] of Object.entries(init.variables ?? {})) this.putVariable(p, items);
    const env = init.env ?? {};
    this.envLookup =
      typeof env === 'function' ? env : (n) => (Object.prototype.hasOwnProperty.call(env, n) ? env[n] : undefined);
  }

  // ---- mutations ------------------------------------------------------------------------------

  private bump(entity: string): void {
    this.changed.set(entity, ++this.lastIndex);
    for (const w of [...this.waiters]) w();
  }

  upsertService(s: ServiceInstance): void {
    this.services_ = this.services_.filter((x) => x.ID !== s.ID).concat([{ ...s }]);
    this.bump(`svc:${s.Namespace ?? 'default'}:${s.Name}`);
  }

  removeService(id: string): void {
    const s = this.services_.find((x) => x.ID === id);
    if (!s) return;
    this.services_ = this.services_.filter((x) => x.ID !== id);
    this.bump(`svc:${s.Namespace ?? 'default'}:${s.Name}`);
  }

  setNodes(nodes: NodeInfo[]): void {
    this.nodes_ = nodes.map((n) => ({ ...n }));
    this.bump('nodes');
  }

  putKV(path: string, value: string): void {
    this.kv_.set(path, value);
    this.bump(`kv:${path}`);
  }

  deleteKV(path: string): void {
    this.kv_.delete(path);
    this.bump(`kv:${path}`);
  }

  putVariable(path: string, items: Record<string, string>, namespace = 'default'): void {
    const key = `${namespace}:${path}`;
    const prev = this.vars_.get(key);
    const index = this.lastIndex + 1;
    const now = index * 1000;
    this.vars_.set(key, {
      items: { ...items },
      meta: {
        Namespace: namespace,
        Path: path,
        CreateIndex: prev?.meta.CreateIndex ?? index,
        ModifyIndex: index,
        CreateTime: prev?.meta.CreateTime ?? now,
        ModifyTime: now,
      },
    });
    this.bump(`var:${key}`);
  }

  deleteVariable(path: string, namespace = 'default'): void {
    this.vars_.delete(`${namespace}:${path}`);
    this.bump(`var:${namespace}:${path}`);
  }

  // ---- TemplateData ---------------------------------------------------------------------------

  services(q: ServiceQuery): ServiceInstance[] {
    return this.services_.filter(
      (s) =>
        s.Name === q.name &&
        (s.Namespace ?? 'default') === q.namespace &&
        (!q.dc || !s.Datacenter || s.Datacenter === q.dc),
    );
  }

  serviceNames(q: { namespace: string }): ServiceSummary[] {
    const byName = new Map<string, Set<string>>();
    for (const s of this.services_) {
      if ((s.Namespace ?? 'default') !== q.namespace) continue;
      const tags = byName.get(s.Name) ?? new Set<string>();
      for (const t of s.Tags) tags.add(t);
      byName.set(s.Name, tags);
    }
    return [...byName].map(([Name, tags]) => ({ Name, Tags: [...tags] }));
  }

  nodes(dc: string): NodeInfo[] {
    return this.nodes_.filter((n) => !dc || n.Datacenter === dc);
  }

  kv(path: string): string | null {
    return this.kv_.get(path) ?? null;
  }

  kvList(prefix: string, _dc: string, recursive: boolean): KVPair[] {
    const base = prefix.replace(/\/*$/, '/');
    const out: KVPair[] = [];
    for (const [Path, Value] of this.kv_) {
      if (!Path.startsWith(base)) continue;
      if (!recursive && Path.slice(base.length).includes('/')) continue;
      out.push({ Path, Value });
    }
    return out;
  }

  variable(path: string, namespace: string): NomadVariable | null {
    return this.vars_.get(`${namespace}:${path}`) ?? null;
  }

  variableList(prefix: string, namespace: string): VariableMeta[] {
    return [...this.vars_.values()]
      .filter((v) => v.meta.Namespace === namespace && v.meta.Path.startsWith(prefix))
      .map((v) => ({ ...v.meta }));
  }

  env(name: string): string | undefined {
    return this.envLookup(name);
  }

  index(dep: Dependency): number {
    const prefix = entityPrefix(dep);
    if (prefix === null) return 1;
    let max = 1;
    for (const [k, v] of this.changed)
      if ((prefix.exact ? k === prefix.key : k.startsWith(prefix.key)) && v > max) max = v;
    return max;
  }

  /** Blocks until one of `deps` has an index above `last`; resolves with the current indexes. */
  readonly waitForChange: WaitForChange = (deps, last, signal) =>
    new Promise<ReadonlyMap<string, number>>((resolve, reject) => {
      const check = (): boolean => {
        const now = new Map<string, number>();
        let changed = false;
        for (const d of deps) {
          const k = dependencyKey(d);
          const ix = this.index(d);
          now.set(k, ix);
          if (ix > (last.get(k) ?? 0)) changed = true;
        }
        if (!changed) return false;
        cleanup();
        resolve(now);
        return true;
      };
      const onAbort = () => {
        cleanup();
        reject(signal.reason);
      };
      const cleanup = () => {
        this.waiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
      };
      const wake = () => void check();
      if (signal.aborted) return reject(signal.reason);
      if (check()) return;
      this.waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });

  /** Number of pending waitForChange calls (tests assert that cancelled waits are cleaned up). */
  get pendingWaits(): number {
    return this.waiters.size;
  }
}

function entityPrefix(dep: Dependency): { key: string; exact: boolean } | null {
  switch (dep.kind) {
    case 'service':
      return { key: `svc:${dep.namespace}:${dep.name}`, exact: true };
    case 'services':
      return { key: `svc:${dep.namespace}:`, exact: false };
    case 'kv':
      return { key: `kv:${dep.path}`, exact: true };
    case 'nodes':
      return { key: 'nodes', exact: true };
    case 'kvList':
      return { key: `kv:${dep.prefix}`, exact: false };
    case 'var':
      return { key: `var:${dep.namespace}:${dep.path}`, exact: true };
    case 'varList':
      return { key: `var:${dep.namespace}:${dep.prefix}`, exact: false };
    case 'file':
      return null;
  }
}
