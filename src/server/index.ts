/**
 * The server: eval broker, blocked evals, plan queue + applier, scheduler workers, heartbeats and the
 * endpoints behind ServerAPI. `createServer` opens the state; `start` begins scheduling.
 */
export { createServer, etcdPrefix, Server, type ServerOptions } from './server.js';
export { EtcdLeadership, type LeadershipOptions, type Term } from './leadership.js';
export type * from './types.js';
export { EvalBroker, type EvalBrokerOptions, type BrokerStats } from './eval-broker.js';
export { BlockedEvals, type BlockedEvalsOptions } from './blocked-evals.js';
export { PlanApplier, evaluateAndCommit, nodeFits, type PlanApplierOptions } from './plan-applier.js';
export type { AllocsFitFn, FitCheck } from './plan-fit.js';
export { HeartbeatTimers, defaultHeartbeatOptions, type HeartbeatOptions } from './heartbeats.js';
export { Worker, WorkerPlanner, SCHEDULER_TYPES, type NewSchedulerFn, type WorkerDeps } from './worker.js';
export {
  jobDiff,
  annotateJobDiff,
  AnnotationForcesCreate,
  AnnotationForcesDestroy,
  AnnotationForcesInplaceUpdate,
  AnnotationForcesDestructiveUpdate,
} from './job-diff.js';
export { guardJob } from './job-endpoints.js';
export {
  admitJob,
  admittedNamespace,
  defaultAdmissionSteps,
  unsupportedFeatures,
  canonicalize,
  validate as validateJobStep,
  type AdmissionSteps,
  type AdmissionContext,
  type JobMutator,
  type JobValidator,
} from './admission.js';
export { jobListStub, DEFAULT_WAIT_MS, MAX_WAIT_MS } from './read-endpoints.js';
export {
  DeploymentWatcher,
  DeploymentDescription,
  deploymentsAfterHealth,
  type DeploymentWatcherOptions,
} from './deployment-watcher.js';
export { parseCron, type CronSchedule } from './cron.js';
export { PeriodicDispatcher, periodicSchedules, nextLaunch, periodicChildID, childJobs } from './periodic.js';
export { dispatchProblems, dispatchedJobID, DISPATCH_PAYLOAD_LIMIT } from './dispatch.js';
export { scaleBoundsProblem, scaleStatus, TRACKED_SCALING_EVENTS } from './scaling.js';
export { Autoscaler, type AutoscalerOptions } from './autoscaler.js';
export {
  gatewaySource,
  nomadApmSource,
  prometheusSource,
  type MetricQuery,
  type MetricSource,
} from './autoscaler-sources.js';
export { scalingPolicyID } from './scaling-policies.js';
export { NodeDrainer, decideDrain, type DrainDecision } from './drainer.js';
export type { NodeRequest } from './node-identity.js';
export { Keyring, type RootKeyMeta } from './keyring.js';
export {
  EventBroker,
  eventMatches,
  ALL_TOPICS,
  BUFFER_WRITES,
  type EventBatch,
  type EventFilter,
  type EventSink,
  type EventSubscription,
  type EventTopic,
  type StreamEvent,
} from './event-broker.js';
export { MeshEndpoints, type IntentionInput, type MeshOptions } from './mesh-endpoints.js';
