/**
 * The state tables and their secondary indexes. Adding a table is one entry here: the store, the
 * durable backends and the blocking queries all work from this list.
 */
import { evalTerminal } from '../structs/index.js';
import type {
  ACLMetaRow,
  ACLPolicy,
  ACLRole,
  ACLToken,
  Namespace,
  OneTimeToken,
  SigningKey,
  Intention,
  MeshCARow,
  Allocation,
  Deployment,
  Evaluation,
  Job,
  JobSummary,
  MultiregionRollout,
  Node,
  ScalingEvent,
  ServiceRegistration,
  Variable,
  KVEntry,
} from '../structs/index.js';

/** A secondary index maps a row to at most one index key (undefined: the row is not in this index). */
export type IndexFn<T> = (row: T) => string | undefined;

export interface TableSpec<T = unknown> {
  name: string;
  key(row: T): string;
  indexes: Record<string, IndexFn<T>>;
}

/** Composite keys: a NUL byte cannot appear in a namespace, job ID or path, so it separates parts safely. */
export function nsKey(namespace: string, id: string): string {
  return `${namespace}\u0000${id}`;
}

/** Versions are zero-padded so that the keys of one job sort by version. */
export function jobVersionKey(namespace: string, id: string, version: number): string {
  return `${namespace}\u0000${id}\u0000${String(version).padStart(10, '0')}`;
}

/** A Nomad variable as stored: its items sealed (encrypted at rest; see server/keyring.ts). */
export interface VariableRow extends Variable {
  /** Empty when the items are sealed: they are then in `Data`, under key `KeyID`. */
  Items: Record<string, string>;
  KeyID?: string;
  /** base64(nonce ‖ AES-256-GCM ciphertext ‖ tag) of the items' JSON. */
  Data?: string;
}

/**
 * A root key of the variables' keyring, when the servers share it through the state backend (etcd): the key
 * wrapped with the servers' key-encryption key (`Wrapping: 'kek'`; see server/keyring.ts and lib/kek.ts).
 */
export interface RootKeyRow {
  KeyID: string;
  Algorithm: 'aes256-gcm';
  CreateTime: number;
  CreateIndex: number;
  ModifyIndex: number;
  State: 'active' | 'inactive';
  WrappedKey: string;
  /** 'none': stored unwrapped (a cluster given no KEK, without ACLs or TLS). */
  Wrapping: 'kek' | 'none';
}

/** Scaling events of one job, per task group (Nomad's JobScalingEvents). */
export interface JobScalingEvents {
  Namespace: string;
  JobID: string;
  ScalingEvents: Record<string, ScalingEvent[]>;
  ModifyIndex: number;
}

function spec<T>(name: string, key: (row: T) => string, indexes: Record<string, IndexFn<T>> = {}): TableSpec<T> {
  return { name, key, indexes };
}

/** The one key of the nodes table's `draining` index. */
const DRAINING = 'draining';

export const tableSpecs = {
  jobs: spec<Job>('jobs', (j) => nsKey(j.Namespace, j.ID)),
  job_versions: spec<Job>('job_versions', (j) => jobVersionKey(j.Namespace, j.ID, j.Version ?? 0), {
    job: (j) => nsKey(j.Namespace, j.ID),
  }),
  job_summaries: spec<JobSummary>('job_summaries', (s) => nsKey(s.Namespace, s.JobID)),
  allocs: spec<Allocation>('allocs', (a) => a.ID, {
    job: (a) => nsKey(a.Namespace, a.JobID),
    node: (a) => a.NodeID || undefined,
    eval: (a) => a.EvalID || undefined,
    deployment: (a) => a.DeploymentID || undefined,
  }),
  evals: spec<Evaluation>('evals', (e) => e.ID, {
    job: (e) => nsKey(e.Namespace, e.JobID),
    // Only the job's evaluations still open (pending or blocked): the job status asks whether one exists on
    // every eval write, while the job's terminal evaluations pile up until GC.
    open_job: (e) => (evalTerminal(e) ? undefined : nsKey(e.Namespace, e.JobID)),
  }),
  // Draining nodes in one bucket, so the drainer finds them without scanning every node after every write.
  nodes: spec<Node>('nodes', (n) => n.ID, { draining: (n) => (n.DrainStrategy != null ? DRAINING : undefined) }),
  deployments: spec<Deployment>('deployments', (d) => d.ID, { job: (d) => nsKey(d.Namespace, d.JobID) }),
  service_registrations: spec<ServiceRegistration>('service_registrations', (s) => s.ID, {
    name: (s) => nsKey(s.Namespace, s.ServiceName),
    alloc: (s) => s.AllocID || undefined,
    node: (s) => s.NodeID || undefined,
    job: (s) => nsKey(s.Namespace, s.JobID),
  }),
  variables: spec<VariableRow>('variables', (v) => nsKey(v.Namespace, v.Path)),
  scaling_events: spec<JobScalingEvents>('scaling_events', (s) => nsKey(s.Namespace, s.JobID)),
  // The Consul-compatible key/value store (`/v1/kv`): one global keyspace, as a Consul datacenter's.
  kv: spec<KVEntry>('kv', (e) => e.Key),
  // Multiregion rollouts in progress (src/agent/multiregion.ts), so another leader or a restart continues them.
  multiregion_rollouts: spec<MultiregionRollout>('multiregion_rollouts', (r) => nsKey(r.Namespace, r.JobID)),
  // ACLs (src/acl): tokens are found by their secret on every request.
  acl_tokens: spec<ACLToken>('acl_tokens', (t) => t.AccessorID, { secret: (t) => t.SecretID }),
  acl_policies: spec<ACLPolicy>('acl_policies', (p) => p.Name),
  acl_roles: spec<ACLRole>('acl_roles', (r) => r.ID, { name: (r) => r.Name }),
  acl_one_time_tokens: spec<OneTimeToken>('acl_one_time_tokens', (t) => t.OneTimeSecretID),
  acl_meta: spec<ACLMetaRow>('acl_meta', (m) => m.Key),
  namespaces: spec<Namespace>('namespaces', (n) => n.Name),
  signing_keys: spec<SigningKey>('signing_keys', (k) => k.KeyID),
  // The service mesh (src/mesh): intentions by ID, found by (source, destination); the mesh CA.
  intentions: spec<Intention>('intentions', (i) => i.ID, {
    pair: (i) => `${i.SourceNS}\u0000${i.SourceName}\u0000${i.DestinationNS}\u0000${i.DestinationName}`,
  }),
  mesh_ca: spec<MeshCARow>('mesh_ca', (c) => c.ID),
  root_keys: spec<RootKeyRow>('root_keys', (k) => k.KeyID),
};

export type TableName = keyof typeof tableSpecs;

/** The row type of each table. */
export interface TableRows {
  jobs: Job;
  job_versions: Job;
  job_summaries: JobSummary;
  allocs: Allocation;
  evals: Evaluation;
  nodes: Node;
  deployments: Deployment;
  service_registrations: ServiceRegistration;
  variables: VariableRow;
  scaling_events: JobScalingEvents;
  kv: KVEntry;
  multiregion_rollouts: MultiregionRollout;
  acl_tokens: ACLToken;
  acl_policies: ACLPolicy;
  acl_roles: ACLRole;
  acl_one_time_tokens: OneTimeToken;
  acl_meta: ACLMetaRow;
  namespaces: Namespace;
  signing_keys: SigningKey;
  intentions: Intention;
  mesh_ca: MeshCARow;
  root_keys: RootKeyRow;
}

export const tableNames = Object.keys(tableSpecs) as TableName[];

export function isTableName(s: string): s is TableName {
  return Object.prototype.hasOwnProperty.call(tableSpecs, s);
}
