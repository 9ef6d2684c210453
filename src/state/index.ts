/**
 * The state store: in-memory indexed tables with O(1) snapshots, a monotonic index, blocking queries
 * per table, and a durable backend (SQLite now, etcd later) behind `StateBackend`.
 */
export {
  StateStore,
  StateSnapshot,
  WriteTxn,
  type StateStoreOptions,
  type WriteResult,
  type CommittedWrite,
} from './store.js';
export { StateView } from './view.js';
export { MemoryBackend, type StateBackend, type BackendBatch, type LoadedMeta } from './backend.js';
export {
  SqliteBackend,
  ThreadedSqliteBackend,
  type SqliteBackendOptions,
  addKeystoreToSnapshot,
  inspectSnapshot,
  restoreSnapshot,
  saveSnapshot,
} from './sqlite/index.js';
export {
  EtcdBackend,
  EtcdClient,
  etcdFailure,
  prefixEnd,
  type Compare,
  type EtcdBackendOptions,
  type EtcdMember,
} from './etcd/index.js';
export {
  tableSpecs,
  tableNames,
  nsKey,
  jobVersionKey,
  type TableName,
  type TableRows,
  type TableSpec,
  type JobScalingEvents,
  type VariableRow,
  type RootKeyRow,
} from './schema.js';
export {
  DEFAULT_JOB_TRACKED_VERSIONS,
  jobSpecChanged,
  computeJobStatus,
  isPeriodicOrParameterized,
  upsertJob,
  updateJobInPlace,
  purgeJob,
  refreshJobStatus,
  ensureSummary,
  applyAllocToSummary,
  setQueued,
  type UpsertJobResult,
} from './job-ops.js';
export {
  upsertAllocs,
  updateAllocsFromClient,
  becameClientTerminal,
  upsertEvals,
  upsertNode,
  updateNodeStatus,
  type ClientAllocChange,
} from './alloc-ops.js';
