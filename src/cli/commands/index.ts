/** Every command, once. A new command is one file here plus one line in this list. */
import type { CommandSpec } from '../command.js';
import { agent } from './agent.js';
import { allocLogs } from './alloc-logs.js';
import { allocFs } from './alloc-fs.js';
import { allocExec } from './alloc-exec.js';
import { eventStream } from './event-stream.js';
import { allocRestart } from './alloc-restart.js';
import { allocSignal } from './alloc-signal.js';
import { allocStop } from './alloc-stop.js';
import { allocStatus } from './alloc-status.js';
import { deploymentStatus } from './deployment-status.js';
import { SCALING_COMMANDS } from './scaling-policy.js';
import { evalStatus } from './eval-status.js';
import { gateway } from './gateway.js';
import { gatewayRoutes } from './gateway-routes.js';
import { gatewayCerts } from './gateway-certs.js';
import { jobDispatch } from './job-dispatch.js';
import { jobHistory } from './job-history.js';
import { jobPeriodicForce } from './job-periodic-force.js';
import { jobScalingEvents } from './job-scaling-events.js';
import { jobInspect } from './job-inspect.js';
import { jobPlan } from './job-plan.js';
import { jobPromote } from './job-promote.js';
import { jobRestart } from './job-restart.js';
import { jobRevert } from './job-revert.js';
import { jobRun } from './job-run.js';
import { jobInit } from './job-init.js';
import { jobScale } from './job-scale.js';
import { jobStatus } from './job-status.js';
import { jobStop } from './job-stop.js';
import { jobValidate } from './job-validate.js';
import { nodeDrain } from './node-drain.js';
import { nodeEligibility } from './node-eligibility.js';
import { nodeStatus } from './node-status.js';
import { operatorSnapshotRestore, operatorSnapshotSave } from './operator-snapshot.js';
import { serviceInfo, serviceList } from './service.js';
import { varGet } from './var-get.js';
import { varList } from './var-list.js';
import { keyringList, keyringRemove, keyringRotate } from './operator-keyring.js';
import { tlsCaCreate, tlsCertCreate } from './tls.js';
import { varPurge } from './var-purge.js';
import { varPut } from './var-put.js';
import { kvDelete, kvGet, kvPut } from './kv.js';
import { version } from './version.js';
import { operatorRaftListPeers, serverJoin, serverMembers } from './server-members.js';
import { ACL_COMMANDS } from './acl.js';
import { NAMESPACE_COMMANDS } from './namespace.js';
import { INTENTION_COMMANDS } from './intention.js';
import { sim } from './sim.js';

export const COMMANDS: readonly CommandSpec[] = [
  agent,
  operatorSnapshotSave,
  operatorSnapshotRestore,
  sim,
  jobRun,
  jobInit,
  jobPlan,
  jobStatus,
  jobStop,
  jobInspect,
  jobValidate,
  jobHistory,
  jobRevert,
  jobPromote,
  jobScale,
  jobDispatch,
  jobPeriodicForce,
  jobScalingEvents,
  jobRestart,
  allocStatus,
  allocLogs,
  allocFs,
  allocExec,
  eventStream,
  allocRestart,
  allocSignal,
  allocStop,
  nodeStatus,
  nodeEligibility,
  nodeDrain,
  evalStatus,
  deploymentStatus,
  serviceList,
  serviceInfo,
  gateway,
  gatewayRoutes,
  gatewayCerts,
  varPut,
  varGet,
  varList,
  varPurge,
  kvPut,
  kvGet,
  kvDelete,
  ...ACL_COMMANDS,
  ...NAMESPACE_COMMANDS,
  ...INTENTION_COMMANDS,
  ...SCALING_COMMANDS,
  keyringList,
  keyringRotate,
  keyringRemove,
  tlsCaCreate,
  tlsCertCreate,
  version,
  serverMembers,
  serverJoin,
  operatorRaftListPeers,
];
