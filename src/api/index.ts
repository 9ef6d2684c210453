/**
 * The typed client of Drover's HTTP API. Other modules import this file, never the files behind it.
 */
export { DroverClient, DEFAULT_ADDRESS, normalizeAddress, type DroverClientConfig } from './client.js';
export {
  HttpTransport,
  type FetchLike,
  type QueryOptions,
  type QueryResponse,
  type WriteOptions,
  type TransportConfig,
} from './http.js';
export { ApiError, isApiError, isNotFound, errorFromResponse, connectionError } from './errors.js';
export type { JobsAPI, RegisterOptions } from './jobs.js';
export type { AllocationsAPI } from './allocations.js';
export type { EvaluationsAPI } from './evaluations.js';
export type { NodesAPI } from './nodes.js';
export type { DeploymentsAPI } from './deployments.js';
export type { ScalingAPI } from './scaling.js';
export type { VariablesAPI, VariableWriteResponse } from './variables.js';
export { kvEntryValue, type KVAPI } from './kv.js';
export type { KeyringAPI, RootKeyMeta } from './keyring.js';
export type { ServicesAPI, ServiceQueryOptions } from './services.js';
export type { IntentionsAPI, IntentionRequest } from './intentions.js';
export type {
  AgentAPI,
  StatusAPI,
  OperatorAPI,
  ServerMember,
  ServerMembers,
  RaftConfiguration,
  RaftServer,
} from './agent.js';
export type * from './types.js';
export { openExec, type ExecRequest, type ExecStream } from './exec.js';
