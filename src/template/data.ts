/**
 * What templates read, through an interface: the caller (the client's template hook, or a test) implements
 * TemplateData over whatever it has (a local catalog snapshot, a cache fed by blocking queries).
 *
 * Lookups are synchronous reads of a snapshot, as in consul-template's multi-phase rendering: a lookup answers
 * `undefined` when its data has not been loaded yet; the render then completes with placeholders, reports the
 * dependency as missing, and the runner loads it (TemplateDataLoader.load) and renders again. Every lookup made by
 * the template functions is recorded as a Dependency, so the runtime re-renders when exactly those change.
 */
import { nodeVariable, type Node } from '../structs/index.js';

export type ServiceProvider = 'nomad' | 'consul';

export interface ServiceQuery {
  provider: ServiceProvider;
  name: string;
  /** Only instances with this tag; '' for all. */
  tag: string;
  /** Datacenter (or region, for nomadService) from `name@dc`; '' for the local one. */
  dc: string;
  namespace: string;
  /** 'passing' (the default: healthy instances only) or 'any'. */
  healthy: 'passing' | 'any';
  /** consul-template's `|passing,warning` filters, when given. Empty means "healthy" as above. */
  statuses: string[];
}

/** A service instance as the data source knows it; the template functions shape it for `service`/`nomadService`. */
export interface ServiceInstance {
  ID: string;
  Name: string;
  Address: string;
  Port: number;
  Tags: string[];
  Namespace?: string;
  Datacenter?: string;
  NodeID?: string;
  /** Node name. */
  Node?: string;
  NodeAddress?: string;
  NodeMeta?: Record<string, string>;
  AllocID?: string;
  JobID?: string;
  Meta?: Record<string, string>;
  /** Aggregate check status: 'passing' | 'warning' | 'critical'. Absent means passing (no checks). */
  Status?: string;
  Checks?: Array<{ Name: string; Status: string; Output?: string; CheckID?: string }>;
}

export interface ServiceSummary {
  Name: string;
  Tags: string[];
  Namespace?: string;
}

/** A client node as consul-template's `nodes` and `node` show it (Consul's catalog node). */
export interface NodeInfo {
  ID: string;
  /** The node's name. */
  Node: string;
  Address: string;
  Datacenter: string;
  Meta?: Record<string, string>;
}

export interface KVPair {
  /** Full key path. */
  Path: string;
  Value: string;
}

export interface VariableMeta {
  Namespace: string;
  Path: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface NomadVariable {
  meta: VariableMeta;
  items: Record<string, string>;
}

/** A snapshot of everything templates may read. `undefined` means "not loaded yet"; `null` means "does not exist". */
export interface TemplateData {
  services(q: ServiceQuery): ServiceInstance[] | undefined;
  serviceNames(q: { provider: ServiceProvider; dc: string; namespace: string }): ServiceSummary[] | undefined;
  kv?(path: string, dc: string): string | null | undefined;
  /** Pairs under `prefix`: all of them when `recursive`, else only direct children (consul's `ls`). */
  kvList?(prefix: string, dc: string, recursive: boolean): KVPair[] | undefined;
  variable?(path: string, namespace: string): NomadVariable | null | undefined;
  /** The cluster's client nodes (every datacenter of the region); `dc` filters on one. */
  nodes?(dc: string): NodeInfo[] | undefined;
  variableList?(prefix: string, namespace: string): VariableMeta[] | undefined;
  /** Task environment, including node attributes as Nomad exposes them (`attr.cpu.numcores`, `node.unique.name`). */
  env(name: string): string | undefined;
  /** Raft index of a dependency's data as of this snapshot, for blocking queries. */
  index?(dep: Dependency): number | undefined;
}

/** Loads missing data into the snapshot behind TemplateData (e.g. one blocking query with index 0 per dependency). */
export interface TemplateDataLoader {
  load(deps: Dependency[], signal: AbortSignal): Promise<void>;
}

export type Dependency =
  | ({ kind: 'service' } & ServiceQuery)
  | { kind: 'services'; provider: ServiceProvider; dc: string; namespace: string }
  | { kind: 'kv'; path: string; dc: string }
  | { kind: 'nodes'; dc: string }
  | { kind: 'kvList'; prefix: string; dc: string; recursive: boolean }
  | { kind: 'var'; path: string; namespace: string }
  | { kind: 'varList'; prefix: string; namespace: string }
  | { kind: 'file'; path: string };

/** A stable identity for a dependency: equal lookups give equal keys. */
export function dependencyKey(d: Dependency): string {
  switch (d.kind) {
    case 'service':
      return `service:${d.provider}:${d.namespace}:${d.dc}:${d.tag}.${d.name}|${d.statuses.length ? d.statuses.join(',') : d.healthy}`;
    case 'services':
      return `services:${d.provider}:${d.namespace}:${d.dc}`;
    case 'kv':
      return `kv:${d.dc}:${d.path}`;
    case 'nodes':
      return `nodes:${d.dc}`;
    case 'kvList':
      return `kv${d.recursive ? 'Tree' : 'Ls'}:${d.dc}:${d.prefix}`;
    case 'var':
      return `var:${d.namespace}:${d.path}`;
    case 'varList':
      return `varList:${d.namespace}:${d.prefix}`;
    case 'file':
      return `file:${d.path}`;
  }
}

/**
 * Builds the `env` lookup Nomad gives templates: the task's environment, plus node fields and attributes under
 * the names used in job files (`node.unique.id`, `node.unique.name`, `node.datacenter`, `node.class`,
 * `node.pool`, `attr.<name>`, `meta.<name>`). The task environment wins on a name clash.
 */
export function taskEnvLookup(
  env: Record<string, string>,
  node?: Pick<Node, 'ID' | 'Name' | 'Datacenter' | 'NodeClass' | 'Attributes' | 'Meta'> & { NodePool?: string },
): (name: string) => string | undefined {
  return (name: string) => {
    if (Object.prototype.hasOwnProperty.call(env, name)) return env[name];
    return node ? nodeVariable(name, node) : undefined;
  };
}
