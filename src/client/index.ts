/**
 * The client agent: fingerprint, registration and heartbeats, alloc runners, task runners and their hooks,
 * log rotation, runtime interpolation, and the HTTP implementation of ServerRPC for remote clients.
 */
export {
  createClient,
  type Client,
  type ClientOptions,
  type ClientTiming,
  type ReadLogsOptions,
  type HostStats,
} from './client.js';
export type { ServerRPC, AllocClientUpdate, NodeRegisterResponse, BlockingReadOptions, IndexedValue } from './rpc.js';
export { TemplateHook, templateHookFactory, type TemplateHookOptions } from './template-hook.js';
export {
  ArtifactHook,
  artifactHookFactory,
  DEFAULT_ARTIFACT_CONFIG,
  type ArtifactClientConfig,
  type ArtifactHookOptions,
} from './artifact/index.js';
export {
  RpcTemplateData,
  implicitVariablePaths,
  type RpcTemplateDataOptions,
  type TemplateIdentity,
} from './template-data.js';
export {
  HttpServerRPC,
  type HttpServerRPCOptions,
  type RegisterResponseJSON,
  type ClientAllocsResponseJSON,
} from './rpc-http.js';
export type {
  TaskHook,
  TaskHookContext,
  TaskHookFactory,
  PrestartResult,
  AllocHook,
  AllocHookContext,
  AllocHookFactory,
} from './hooks.js';
export { ClientServices, type ClientServicesOptions } from './service-hook.js';
export {
  interpolateString,
  interpolateDeep,
  interpolateEnvBlock,
  lookupVariable,
  type InterpolationContext,
  type InterpolationNode,
} from './interpolate.js';
export { buildTaskEnv, nomadEnv, taskPorts, mergedMeta, type TaskEnvInput } from './task-env.js';
export { AllocRunner } from './alloc-runner.js';
export { TaskRunner, type PersistedTaskState } from './task-runner.js';
export { RestartTracker, defaultRestartPolicy, type RestartDecision } from './restart-tracker.js';
export { clientStatusFromTasks } from './alloc-status.js';
export { taskEvent } from './task-events.js';
export {
  allocResourceUsage,
  toResourceUsage,
  type AllocResourceUsage,
  type ResourceUsage,
  type TaskResourceUsageJSON,
} from './stats.js';
export { LogRotator, readLogFiles, logIndexes } from './logs/index.js';
export { hostFacts, hostAttributes, buildNode, CLIENT_VERSION } from './fingerprint.js';
export type { HostVolumeConfig } from './task-config.js';
export {
  AllocHealthWatcher,
  healthSettings,
  type CheckStatus,
  type CheckStatusSource,
  type HealthSettings,
  type AllocHealthWatcherOptions,
} from './alloc-health.js';
export {
  AllocNetworks,
  bridgeProblems,
  DEFAULT_BRIDGE,
  isolatedMode,
  type AllocNetworkStatus,
  type BridgeSettings,
} from './net/index.js';
