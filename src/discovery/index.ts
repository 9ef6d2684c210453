/**
 * Service discovery building blocks: the catalog (Nomad's native service API shapes and queries), building
 * registrations from an allocation, health checks, the DNS server, and Nomad Variables logic.
 * Imports only structs, errors, logging and the dns2 package, so the server, the client, the HTTP layer,
 * templates and the gateway can all use it without cycles.
 *
 * ## Seams: how the rest of Drover plugs in
 *
 * **Server / state store** keeps `ServiceRegistration` rows (with the optional `Status`, `Checks`, `Meta` fields
 * Drover adds) and variables; it calls only pure functions from here:
 * - `GET /v1/services?namespace=` → `serviceListStubs(regs, { namespace })`, `X-Nomad-Index` = `catalogIndex(regs)`.
 * - `GET /v1/service/:name?namespace=&tag=&choose=` → `filterService(regs, { name, namespace, tag })` (health is not
 *   a filter in Nomad's API: pass `healthy: 'passing'` only for DNS/gateway/template use), then
 *   `chooseInstances(found, n, key)` for `?choose=n|key`.
 * - `PUT /v1/var/:path?cas=` → `applyVariableWrite(current, body, { cas: parseCas(q.cas), index, now })`: on
 *   `{ ok: false, conflict }` answer 409 with `conflict` as the body (Nomad's shape). `DELETE` →
 *   `applyVariableDelete`. `GET /v1/vars?prefix=&per_page=&next_token=` → `listVariables` (send `X-Nomad-NextToken`).
 * - Template reads of `nomadVar` from a task: `taskMayReadVariable(identity, variable, { aclsDisabled })`.
 *
 * **Client** (a services task hook, and the alloc runner for group services):
 * - at task start: `buildServiceWorkloads({ alloc, node, advertiseIP, task, interpolate, driverNetwork, allocIP })`
 *   with `interpolate = (s) => interpolateString(s, ctx.interpolation)` from src/client; omit `task` for the
 *   group's services.
 * - `new ServiceRegistrar({ workloads, writer: { upsert: rpc.upsertServiceRegistrations, delete:
 *   rpc.deleteServiceRegistrations }, exec: (task) => (cmd, args, ms) => driver.execTask(...).then(r => ({
 *   exitCode: r.exitCode, output: r.stdout + r.stderr })), onRestartNeeded: (task, req) => ctx.restart(...) })`,
 *   then `start(signal)`; it writes only when a status changes.
 * - before killing the task: `registrar.deregister(shutdownDelayMs)` (removes the instances, then waits
 *   shutdown_delay); after a restart: `registrar.taskRestarted()` (check_restart grace starts again).
 * - deployment health: `deploymentHealthy(checks with their OnUpdate and current Status)`.
 * - `GET /v1/client/allocation/:id/checks` (and checks in `alloc status`): `registrar.checkStatuses(group)`.
 *
 * **Agent**: `startDnsServer({ host, port, domain, source: registrationDnsSource(() => state.serviceRegistrations(),
 * { datacenter }), logger })`. An agent without the server's state (client-only, or a standalone gateway) runs a
 * `CatalogFollower` (blocking queries on `/v1/services` and `/v1/service/:name`) and passes
 * `registrationDnsSource(() => follower.registrations())`; any other source implements `DnsCatalogSource`.
 *
 * **Templates / gateway**: `filterService(regs, { name, namespace, tag, healthy: 'passing' })` mapped with
 * `templateServiceInstance`; `serviceListStubs` for `services`/`nomadServices`.
 */
export {
  catalogIndex,
  chooseInstances,
  filterService,
  registrationChanged,
  registrationStatus,
  serviceListStubs,
  serviceRegistrationID,
  templateServiceInstance,
  worstStatus,
  type ServiceFilter,
  type ServiceRegistrationListStub,
  type ServiceRegistrationStub,
} from './catalog.js';
export { allocCheckStatuses, type AllocCheckStatus } from './alloc-checks.js';
export { CatalogFollower, type CatalogFollowerOptions } from './catalog-follower.js';
export {
  buildServiceWorkloads,
  type BuildRegistrationsInput,
  type DriverNetworkInfo,
  type ResolvedCheck,
  type ServiceWorkload,
} from './registrations.js';
export { CheckRunner, type CheckRunnerOptions, type RestartRequest } from './check-runner.js';
export {
  CheckRestartTracker,
  CheckStatusTracker,
  deploymentHealthy,
  type CheckRestartConfig,
  type ThresholdConfig,
} from './check-state.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export {
  defaultProbes,
  grpcProbe,
  httpProbe,
  httpStatusToHealth,
  MAX_OUTPUT,
  scriptProbe,
  tcpProbe,
  type Probe,
  type ProbeResult,
  type ProbeSet,
  type ScriptExec,
} from './probes.js';
export { ServiceRegistrar, type RegistrationWriter, type ServiceRegistrarOptions } from './registrar.js';
export {
  answerQuestion,
  decodeAddrLabel,
  encodeAddrLabel,
  parseQueryName,
  type DnsCatalogSource,
  type DnsInstance,
  type ParsedName,
} from './dns-names.js';
export { registrationDnsSource, type RegistrationDnsSourceOptions } from './dns-source.js';
export { startDnsServer, type DnsServer, type DnsServerOptions } from './dns-server.js';
export {
  applyVariableDelete,
  applyVariableWrite,
  listVariables,
  MAX_VARIABLE_SIZE,
  parseCas,
  taskMayReadVariable,
  validateVariable,
  variableMetadata,
  variablePathProblems,
  variableProblems,
  type ListOptions,
  type TaskIdentity,
  type Variable,
  type VariableLock,
  type VariableMetadata,
  type VariableOutcome,
  type WriteOptions,
} from './variables.js';
export {
  applyKvPut,
  kvDeleteTargets,
  kvKeyProblems,
  kvKeys,
  kvUnder,
  kvValue,
  MAX_KV_KEY_BYTES,
  MAX_KV_VALUE_BYTES,
  parseKvFlags,
  validateKvKey,
  type KvPutRequest,
} from './kv.js';
