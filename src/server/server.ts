/**
 * The server: state store + eval broker + blocked evals + plan applier + workers + heartbeats,
 * behind ServerAPI. One process, one "leader" (itself).
 *
 *   createServer ──► state loaded from the data dir ──► start() (unless `start: false`)
 *   start() ──► broker, blocked evals, plan queue enabled ──► pending evals re-enqueued, blocked evals
 *               re-blocked, every live node given a fresh heartbeat TTL ──► workers started
 *   stop()  ──► workers stopped, queues flushed, timers cleared, background writes awaited, store closed
 */
import {
  EvalStatusBlocked,
  EvalStatusPending,
  NodeStatusDown,
  type Allocation,
  type Job,
  type Node,
  type ServiceRegistration,
} from '../structs/index.js';
import {
  addKeystoreToSnapshot,
  EtcdBackend,
  SqliteBackend,
  StateStore,
  ThreadedSqliteBackend,
  type Compare,
  type StateBackend,
} from '../state/index.js';
import { join } from 'node:path';
import type { Logger } from '../logging/index.js';
import { badRequest, simulationBusy } from '../errors/index.js';
import {
  allocsFit as schedulerAllocsFit,
  computeNodeClass,
  defaultSchedulerConfiguration,
  newScheduler as schedulerNewScheduler,
  type Clock,
  type SchedulerConfiguration,
} from '../scheduler/index.js';
import type { AllocClientUpdate, NodeRegisterResponse, SimRequest, SimResult } from '../structs/index.js';
import type {
  AdmissionOptions,
  AllocsAPI,
  DeploymentsAPI,
  EvalsAPI,
  JobsAPI,
  KeyringAPI,
  KvAPI,
  NodesAPI,
  QueryOptions,
  ServerAPI,
  ServerStats,
  ServicesAPI,
  VariablesAPI,
} from './types.js';
import { admitJob, defaultAdmissionSteps, type AdmissionSteps } from './admission.js';
import { MeshEndpoints, type MeshOptions } from './mesh-endpoints.js';
import { BlockedEvals } from './blocked-evals.js';
import { EvalBroker, type EvalBrokerOptions } from './eval-broker.js';
import { defaultHeartbeatOptions, HeartbeatTimers, type HeartbeatOptions } from './heartbeats.js';
import { PlanApplier } from './plan-applier.js';
import type { AllocsFitFn } from './plan-fit.js';
import { Worker, type NewSchedulerFn } from './worker.js';
import { cancelEvals, failEval, routeEval, writeEvals, type ServerContext } from './context.js';
import * as jobs from './job-endpoints.js';
import * as client from './client-endpoints.js';
import * as reads from './read-endpoints.js';
import { PeriodicDispatcher, periodicSchedules } from './periodic.js';
import { DEFAULT_EVAL_GC_THRESHOLD_MS, runEvalGC } from './eval-gc.js';
import { NodeDrainer, nodeEvaluate, nodeUpdateDrain, nodeUpdateEligibility } from './drainer.js';
import { jobDispatch } from './dispatch.js';
import { jobScale, jobScaleStatus } from './scaling.js';
import { scalingPolicyGet, scalingPolicyList } from './scaling-policies.js';
import { Autoscaler, type AutoscalerOptions } from './autoscaler.js';
import * as deployments from './deployment-endpoints.js';
import { DeploymentWatcher } from './deployment-watcher.js';
import * as catalog from './catalog-endpoints.js';
import * as kv from './kv-endpoints.js';
import { allocStop } from './alloc-endpoints.js';
import { authorizeNodeRequest, type NodeRequest } from './node-identity.js';
import { Keyring } from './keyring.js';
import { EventBroker } from './event-broker.js';
import { simulate } from './sim.js';

export interface ServerOptions {
  /** Where state.db lives; ':memory:' for a throwaway server. Ignored when `backend` is given. */
  dataDir: string;
  logger: Logger;
  region?: string;
  datacenter?: string;
  clock?: Clock;
  /** In-process scheduler workers (default 2). */
  numWorkers?: number;
  /** Heartbeat TTLs; `graceMs` is accepted as another spelling of `gracems`. */
  heartbeat?: Partial<HeartbeatOptions> & { graceMs?: number };
  /** The scheduler constructor; the scheduler module's `newScheduler` by default (tests inject fakes). */
  newScheduler?: NewSchedulerFn;
  /** The plan applier's capacity check; the scheduler module's `allocsFit` by default, so both agree. */
  allocsFit?: AllocsFitFn;
  /** Computed node class; the scheduler module's `computeNodeClass` by default. */
  computeNodeClass?: (node: Node) => string;
  /** Start scheduling as soon as the state is loaded (default true). False: call `start()` yourself. */
  start?: boolean;
  schedulerConfig?: SchedulerConfiguration;
  broker?: Partial<
    Pick<EvalBrokerOptions, 'nackTimeoutMs' | 'deliveryLimit' | 'initialNackDelayMs' | 'subsequentNackDelayMs'>
  >;
  /** Delay before the follow-up eval of an eval that failed its delivery limit (Nomad: about a minute). */
  failedFollowUpDelayMs?: number;
  /** A durable backend other than SQLite or etcd (tests). */
  backend?: StateBackend;
  /** Keep the state on etcd (see EtcdBackend) instead of SQLite in `dataDir`. */
  etcd?: { endpoints: string[]; prefix?: string; guard?: () => Compare[] };
  /**
   * Keep the variables' root keys in the state (servers sharing etcd), wrapped with this key-encryption key
   * (`kek` undefined: unwrapped); absent: in `<dataDir>/keystore` (see keyring.ts).
   */
  sharedKeyring?: { kek: Buffer | undefined };
  /**
   * Deadline for every live node's first heartbeat after this server takes over as leader (Nomad's
   * failover TTL, 300 s there); 0: the normal TTL + grace.
   */
  failoverHeartbeatTTLms?: number;
  /** Versions of a job kept in history (Nomad: 6). */
  jobTrackedVersions?: number;
  /** What `leaderAddress` answers (the agent's RPC/HTTP address). */
  advertiseAddress?: string;
  /** False: periodic launches happen only through `server.periodic.tick()` (tests with a fake clock). */
  periodicTimer?: boolean;
  /** False: no background drainer (tests call `server.drainer.step()`). */
  drainer?: boolean;
  /** How often the drainer re-checks deadlines while a node drains (default 1000 ms). */
  drainPollMs?: number;
  /** SQLite synchronous mode (default FULL); see SqliteBackend. */
  sqliteSynchronous?: 'NORMAL' | 'FULL';
  /** Terminal evaluations older than this are deleted (Nomad's `eval_gc_threshold`, default 1 h); see eval-gc.ts. */
  evalGCThresholdMs?: number;
  /** Start even when the state's integrity checks find loss (`drover agent -recover`). */
  recover?: boolean;
  /** False: SQLite commits in the main thread (SqliteBackend) instead of a worker thread (ThreadedSqliteBackend). */
  sqliteWorkerThread?: boolean;
  /** The job blocks this build acts on: admission warns about the others a job uses (the agent passes its list). */
  supportedFeatures?: Set<string>;
  /** Job admission steps (admission.ts); the default mutators and validators when absent. */
  admission?: AdmissionSteps;
  /** The service mesh: default intention and leaf lifetime (mesh-endpoints.ts). */
  mesh?: MeshOptions;
  /** The horizontal autoscaler's metric sources (autoscaler.ts); absent: no autoscaler runs. */
  autoscaler?: AutoscalerOptions;
}

const systemClock: Clock = { now: () => Date.now() };

/** One signature per stored allocation row: a row that changes is a new object, and is signed again. */
const signedAllocs = new WeakMap<Allocation, Allocation>();
function withIdentities(a: Allocation, sign: (alloc: Allocation) => Record<string, string>): Allocation {
  let out = signedAllocs.get(a);
  if (out === undefined) signedAllocs.set(a, (out = { ...a, SignedIdentities: sign(a) }));
  return out;
}

export class Server implements ServerAPI {
  private readonly abort = new AbortController();
  private readonly workers: Worker[] = [];
  private readonly tasks = new Set<Promise<unknown>>();
  private started = false;
  private stopped = false;
  private advertise: string | undefined;
  readonly ctx: ServerContext;
  /** Launches children of periodic jobs; `tick()` is public for tests with a fake clock. */
  readonly periodic: PeriodicDispatcher;
  readonly drainer: NodeDrainer;
  private readonly admission: AdmissionSteps;
  /** The event stream (`/v1/event/stream`), fed from the store's commits. */
  readonly events: EventBroker;
  /** Intentions and the mesh CA (`/v1/connect/*`, sidecar certificates). */
  readonly mesh: MeshEndpoints;

  constructor(
    readonly store: StateStore,
    private readonly opts: ServerOptions,
  ) {
    const logger = opts.logger.child({ component: 'server' });
    const clock = opts.clock ?? systemClock;
    this.mesh = new MeshEndpoints(store, () => clock.now(), logger.child({ component: 'mesh' }), {
      ...opts.mesh,
      ...(opts.sharedKeyring?.kek ? { kek: opts.sharedKeyring.kek } : {}),
    });
    const ctx = {
      store,
      logger,
      clock,
      region: opts.region ?? 'global',
      datacenter: opts.datacenter ?? 'dc1',
      jobTrackedVersions: opts.jobTrackedVersions ?? 6,
      newScheduler: opts.newScheduler ?? schedulerNewScheduler,
      allocsFit: opts.allocsFit ?? schedulerAllocsFit,
      computeNodeClass: opts.computeNodeClass ?? computeNodeClass,
      schedulerConfig: () => opts.schedulerConfig ?? defaultSchedulerConfiguration(),
      background: (what: string, p: Promise<unknown>) => this.track(what, p),
      keyring: new Keyring(
        opts.dataDir,
        () => clock.now(),
        opts.sharedKeyring ? { store, kek: opts.sharedKeyring.kek } : undefined,
      ),
    } as ServerContext;
    ctx.broker = new EvalBroker({
      ...opts.broker,
      logger: logger.child({ component: 'eval-broker' }),
      clock,
      onFailed: (ev) =>
        failEval(ctx, ev, 'evaluation reached its delivery limit', opts.failedFollowUpDelayMs ?? 60_000),
      onCancel: (evs) => cancelEvals(ctx, evs, 'canceled after a more recent evaluation of the job was queued'),
    });
    ctx.blocked = new BlockedEvals({
      logger: logger.child({ component: 'blocked-evals' }),
      enqueue: (ev) => ctx.broker.enqueue(ev),
      onCancel: (evs) => cancelEvals(ctx, evs, 'canceled: a newer blocked evaluation of the job replaced it'),
    });
    ctx.plans = new PlanApplier({
      store,
      logger: logger.child({ component: 'plan-applier' }),
      clock,
      allocsFit: ctx.allocsFit,
      outstandingToken: (id) => ctx.broker.outstanding(id),
      onCommitted: (result, stoppedOn) => {
        const snap = store.snapshot();
        for (const id of stoppedOn) {
          const cls = snap.nodeByID(id)?.ComputedClass;
          if (cls) ctx.blocked.unblock(cls, result.AllocIndex);
        }
      },
    });
    const hb = { ...defaultHeartbeatOptions, ...opts.heartbeat };
    if (opts.heartbeat?.gracems == null && opts.heartbeat?.graceMs != null) hb.gracems = opts.heartbeat.graceMs;
    ctx.heartbeats = new HeartbeatTimers(hb, logger.child({ component: 'heartbeat' }), (nodeID) =>
      this.track('node down', client.nodeHeartbeatExpired(ctx, nodeID)),
    );
    this.ctx = ctx;
    this.admission = opts.admission ?? defaultAdmissionSteps;
    this.periodic = new PeriodicDispatcher(ctx, { useTimer: opts.periodicTimer !== false });
    this.drainer = new NodeDrainer(ctx, { pollMs: opts.drainPollMs });
    this.events = new EventBroker(store);
  }

  private track(what: string, p: Promise<unknown>): void {
    const t = p.catch((e: unknown) =>
      this.ctx.logger.error(`${what} failed`, { error: e instanceof Error ? e.message : String(e) }),
    );
    this.tasks.add(t);
    void t.finally(() => this.tasks.delete(t));
  }

  /** Enables the queues, restores in-flight work from state, and starts the workers. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { broker, blocked, plans, heartbeats, logger } = this.ctx;
    // A shared keyring's first key is made by the first server to lead (a no-op once the cluster has one).
    await this.ctx.keyring.init();
    broker.setEnabled(true);
    blocked.setEnabled(true);
    plans.setEnabled(true);
    heartbeats.setEnabled(true);
    const snap = this.store.snapshot();
    const evals = [...snap.evals()].sort((a, b) => a.CreateIndex - b.CreateIndex);
    let pending = 0;
    let blockedN = 0;
    for (const ev of evals) {
      if (ev.Status === EvalStatusPending) {
        broker.enqueue(ev);
        pending++;
      } else if (ev.Status === EvalStatusBlocked) {
        blocked.block(ev);
        blockedN++;
      }
    }
    const live = [...snap.nodes()].filter((n) => n.Status !== NodeStatusDown).map((n) => n.ID);
    heartbeats.initialize(live, this.opts.failoverHeartbeatTTLms ?? 0);
    const n = this.opts.numWorkers ?? 2;
    for (let i = 0; i < n; i++) {
      const w = new Worker(
        {
          store: this.store,
          broker,
          plans,
          logger,
          clock: this.ctx.clock,
          newScheduler: this.ctx.newScheduler,
          schedulerConfig: this.ctx.schedulerConfig,
          writeEvals: (evs) => writeEvals(this.ctx, evs),
          routeEval: (ev) => routeEval(this.ctx, ev),
        },
        i,
      );
      w.start(this.abort.signal);
      this.workers.push(w);
    }
    new DeploymentWatcher(this.ctx).start(this.abort.signal);
    this.periodic.setEnabled(true);
    if (this.opts.drainer !== false) this.track('node drainer', this.drainer.run(this.abort.signal));
    const gcThreshold = this.opts.evalGCThresholdMs ?? DEFAULT_EVAL_GC_THRESHOLD_MS;
    this.track('evaluation GC', runEvalGC(this.ctx, gcThreshold, this.abort.signal));
    if (this.opts.autoscaler)
      this.track('autoscaler', new Autoscaler(this.ctx, this.opts.autoscaler).run(this.abort.signal));
    logger.info('server started', {
      index: snap.index(),
      pending_evals: pending,
      blocked_evals: blockedN,
      nodes: live.length,
      workers: n,
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    const { broker, blocked, plans, heartbeats } = this.ctx;
    broker.setEnabled(false);
    blocked.setEnabled(false);
    plans.setEnabled(false);
    heartbeats.setEnabled(false);
    this.periodic.setEnabled(false);
    await Promise.all(this.workers.map((w) => w.stopped()));
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
    this.events.close();
    await this.store.close();
  }

  // One object per noun (types.ts); each forwards to the endpoint module that holds the logic.
  readonly jobs: JobsAPI = {
    register: async (input, opts = {}) => {
      const { job, warnings } = this.admit(input, opts);
      // A cron that cannot be read is refused at register, as Nomad does, not found out at launch time.
      if (job.Periodic?.Enabled) periodicSchedules(job);
      const res = await jobs.jobRegister(this.ctx, job, {
        ...opts,
        warnings: [...(opts.warnings ?? []), ...warnings],
      });
      this.followPeriodic(job.Namespace, job.ID);
      return res;
    },
    validate: async (input, opts) => ({ warnings: this.admit(input, opts).warnings }),
    deregister: async (namespace, jobID, purge) => {
      const res = await jobs.jobDeregister(this.ctx, namespace, jobID, purge);
      this.followPeriodic(namespace, jobID);
      return res;
    },
    plan: async (input, diff, opts) => {
      const { job, warnings } = this.admit(input, opts);
      const res = await jobs.jobPlan(this.ctx, job, diff);
      return { ...res, Warnings: [res.Warnings, ...warnings].filter(Boolean).join('\n') };
    },
    dispatch: (namespace, jobID, req) => jobDispatch(this.ctx, namespace, jobID, req),
    periodicForce: (namespace, jobID) => this.periodic.force(namespace, jobID),
    scale: (namespace, jobID, req) => jobScale(this.ctx, namespace, jobID, req),
    scaleStatus: (namespace, jobID, q) => jobScaleStatus(this.ctx, namespace, jobID, q),
    scalingPolicies: (q) => scalingPolicyList(this.ctx, q),
    scalingPolicy: (id, q) => scalingPolicyGet(this.ctx, id, q),
    evaluate: (namespace, jobID) => jobs.jobEvaluate(this.ctx, namespace, jobID),
    list: (q) => reads.jobList(this.ctx, q),
    get: (namespace, jobID, q) => reads.jobGet(this.ctx, namespace, jobID, q),
    versions: (namespace, jobID, q) => reads.jobVersions(this.ctx, namespace, jobID, q),
    summary: (namespace, jobID, q) => reads.jobSummary(this.ctx, namespace, jobID, q),
    allocations: (namespace, jobID, all, q) => reads.jobAllocations(this.ctx, namespace, jobID, all, q),
    evaluations: (namespace, jobID, q) => reads.jobEvaluations(this.ctx, namespace, jobID, q),
    deployments: (namespace, jobID, q) => reads.jobDeployments(this.ctx, namespace, jobID, q),
    versionHistory: (namespace, jobID, diffs, q) => deployments.jobVersionHistory(this.ctx, namespace, jobID, diffs, q),
    revert: (namespace, jobID, version, enforcePriorVersion) =>
      deployments.jobRevert(this.ctx, namespace, jobID, version, { enforcePriorVersion }),
  };
  readonly deployments: DeploymentsAPI = {
    list: (q) => deployments.deploymentList(this.ctx, q),
    get: (id, q) => deployments.deploymentGet(this.ctx, id, q),
    allocations: (id, q) => deployments.deploymentAllocations(this.ctx, id, q),
    promote: (id, all, groups) => deployments.deploymentPromote(this.ctx, id, all, groups),
    pause: (id, pause) => deployments.deploymentPause(this.ctx, id, pause),
    fail: (id) => deployments.deploymentFail(this.ctx, id),
  };
  readonly allocs: AllocsAPI = {
    list: (q) => reads.allocList(this.ctx, q),
    get: (id, q) => reads.allocGet(this.ctx, id, q),
    stop: (id, opts) => allocStop(this.ctx, id, opts),
  };
  readonly evals: EvalsAPI = {
    list: (q) => reads.evalList(this.ctx, q),
    get: (id, q) => reads.evalGet(this.ctx, id, q),
    allocations: (id, q) => reads.evalAllocations(this.ctx, id, q),
  };
  readonly nodes: NodesAPI = {
    list: (q) => reads.nodeList(this.ctx, q),
    get: (id, q) => reads.nodeGet(this.ctx, id, q),
    allocations: (id, q) => reads.nodeAllocations(this.ctx, id, q),
    updateDrain: (nodeID, req) => nodeUpdateDrain(this.ctx, nodeID, req),
    updateEligibility: (nodeID, eligibility) => nodeUpdateEligibility(this.ctx, nodeID, eligibility),
    evaluate: (nodeID) => nodeEvaluate(this.ctx, nodeID),
  };
  readonly vars: VariablesAPI = {
    list: (q) => catalog.variableList(this.ctx, q),
    get: (namespace, path, q) => catalog.variableGet(this.ctx, namespace, path, q),
    put: (v, opts) => catalog.variablePut(this.ctx, v, opts),
    delete: (namespace, path, opts) => catalog.variableDelete(this.ctx, namespace, path, opts),
  };
  readonly kv: KvAPI = {
    list: (prefix, q) => kv.kvList(this.ctx, prefix, q),
    get: (key, q) => kv.kvGet(this.ctx, key, q),
    put: (req) => kv.kvPut(this.ctx, req),
    delete: (key, opts) => kv.kvDelete(this.ctx, key, opts),
  };
  readonly services: ServicesAPI = {
    list: (q) => catalog.serviceList(this.ctx, q),
    get: (namespace, name, q) => catalog.serviceGet(this.ctx, namespace, name, q),
    delete: (namespace, name, id) => catalog.serviceDelete(this.ctx, namespace, name, id),
    registrations: () => catalog.allServiceRegistrations(this.ctx),
  };
  readonly keyring: KeyringAPI = {
    list: () => this.ctx.keyring.list(),
    rotate: async (full) => {
      const key = await this.ctx.keyring.rotate();
      if (full) this.track('variable re-encryption', catalog.reencryptVariables(this.ctx, this.abort.signal));
      return key;
    },
    remove: (keyID) =>
      this.ctx.keyring.remove(keyID, (id) =>
        [...this.store.snapshot().tables.all('variables')].some((v) => v.KeyID === id),
      ),
  };

  /** Admission (admission.ts) with this server's supported features and steps. */
  private admit(input: Job, opts: AdmissionOptions = {}): { job: Job; warnings: string[] } {
    return admitJob(
      input,
      { namespace: opts.namespace, handOver: opts.handOver, supportedFeatures: this.opts.supportedFeatures },
      this.admission,
    );
  }
  /** Keeps the periodic dispatcher in step with the stored job (tracked, re-timed or forgotten). */
  private followPeriodic(namespace: string, jobID: string): void {
    const stored = this.store.snapshot().jobByID(namespace, jobID);
    if (stored) this.periodic.update(stored);
    else this.periodic.remove(namespace, jobID);
  }
  schedulerConfiguration(): SchedulerConfiguration {
    return this.ctx.schedulerConfig();
  }
  // The client RPC's reads for templates (ServerRPC): the same as the HTTP API's.
  variableGet(namespace: string, path: string, q?: QueryOptions) {
    return this.vars.get(namespace, path, q);
  }
  variableList(q: QueryOptions) {
    return this.vars.list(q);
  }
  serviceGet(namespace: string, name: string, q?: QueryOptions) {
    return this.services.get(namespace, name, q);
  }
  serviceList(q: QueryOptions) {
    return this.services.list(q);
  }
  kvList(prefix: string, q?: QueryOptions) {
    return this.kv.list(prefix, q);
  }
  nodeList(q: QueryOptions) {
    return this.nodes.list(q);
  }
  meshSidecarMaterial(namespace: string, service: string) {
    return this.mesh.sidecarMaterial(namespace, service);
  }
  resolvePrefix(kind: 'alloc' | 'eval' | 'node' | 'deployment' | 'job', prefix: string, namespace?: string): string {
    return reads.resolvePrefix(this.ctx, kind, prefix, namespace);
  }
  writeHealth() {
    return this.store.writeHealth();
  }
  /** One simulation at a time: a second request while one runs is refused (429), not queued. */
  async simulate(req: SimRequest, signal?: AbortSignal): Promise<SimResult> {
    if (this.simRunning) throw simulationBusy();
    this.simRunning = true;
    try {
      const admit = (job: Job, namespace: string) => this.admit(job, { namespace }).job;
      return await simulate({ ...this.ctx, admit }, this.store.snapshot(), req, signal);
    } finally {
      this.simRunning = false;
    }
  }
  private simRunning = false;
  async snapshotSave(file: string): Promise<{ index: number }> {
    const backend = this.opts.backend;
    if (backend?.backup === undefined) throw badRequest('this server keeps no durable state to snapshot');
    const index = this.store.latestIndex();
    await backend.backup(file);
    if (this.opts.dataDir && this.opts.dataDir !== ':memory:')
      addKeystoreToSnapshot(file, join(this.opts.dataDir, 'keystore'));
    return { index };
  }
  leaderAddress(): string {
    return this.advertise ?? this.opts.advertiseAddress ?? '127.0.0.1:4646';
  }
  /** The agent learns its HTTP port only after the server exists. */
  setAdvertiseAddress(addr: string): void {
    this.advertise = addr;
  }
  // Client RPC
  /** Throws PermissionDenied unless a remote client's internal request is its own (see node-identity.ts). */
  authorizeNodeRequest(req: NodeRequest): void {
    authorizeNodeRequest(this.ctx.store.snapshot(), req);
  }
  nodeRegister(node: Node): Promise<NodeRegisterResponse> {
    return client.nodeRegister(this.ctx, node);
  }
  nodeUpdateStatus(nodeID: string, status: string): Promise<NodeRegisterResponse> {
    return client.nodeUpdateStatus(this.ctx, nodeID, status);
  }
  getClientAllocs(nodeID: string, minIndex: number, waitMs: number, signal?: AbortSignal) {
    const p = client.getClientAllocs(this.ctx, nodeID, minIndex, waitMs, signal);
    const sign = this.identitySigner;
    return sign ? p.then((r) => ({ ...r, allocs: r.allocs.map((a) => withIdentities(a, sign)) })) : p;
  }

  private identitySigner: ((alloc: Allocation) => Record<string, string>) | undefined;
  /** With ACLs on, each allocation handed to a client carries its tasks' signed workload identities. */
  setIdentitySigner(sign: (alloc: Allocation) => Record<string, string>): void {
    this.identitySigner = sign;
  }
  updateAllocs(updates: AllocClientUpdate[]): Promise<void> {
    return client.updateAllocs(this.ctx, updates);
  }
  upsertServiceRegistrations(regs: ServiceRegistration[]): Promise<void> {
    return client.upsertServiceRegistrations(this.ctx, regs);
  }
  deleteServiceRegistrations(ids: string[]): Promise<void> {
    return client.deleteServiceRegistrations(this.ctx, ids);
  }

  /** For tests and `agent-info`: queue depths. */
  stats(): ServerStats {
    return {
      broker: this.ctx.broker.stats(),
      blocked: this.ctx.blocked.stats(),
      heartbeats: this.ctx.heartbeats.tracked(),
      stateIndex: this.store.latestIndex(),
    };
  }
}

/** Opens the state in `dataDir`, builds the server and (unless `start: false`) starts scheduling. */
export async function createServer(opts: ServerOptions, signal?: AbortSignal): Promise<Server> {
  const backend = opts.backend ?? openBackend(opts);
  let store: StateStore;
  try {
    store = await StateStore.open({ backend, logger: opts.logger.child({ component: 'state' }), signal });
  } catch (e) {
    await backend.close();
    throw e;
  }
  if (opts.etcd)
    opts.logger.info('state store opened', {
      etcd: opts.etcd.endpoints.join(','),
      prefix: opts.etcd.prefix ?? etcdPrefix(opts.region),
    });
  else if (!opts.backend)
    opts.logger.info('state store opened', {
      data_dir: opts.dataDir,
      sqlite: opts.sqliteWorkerThread === true ? 'worker thread' : 'main thread',
      synchronous: opts.sqliteSynchronous ?? 'FULL',
    });
  // The server keeps the backend it opened, for snapshots.
  const server = new Server(store, { ...opts, backend });
  if (opts.start !== false) await server.start();
  return server;
}

/** Where a region's state lives in etcd unless configured otherwise. */
export function etcdPrefix(region: string | undefined): string {
  return `/drover/${region ?? 'global'}/`;
}

function openBackend(opts: ServerOptions): StateBackend {
  if (opts.etcd) {
    return new EtcdBackend({
      endpoints: opts.etcd.endpoints,
      prefix: opts.etcd.prefix ?? etcdPrefix(opts.region),
      guard: opts.etcd.guard,
      logger: opts.logger.child({ component: 'etcd' }),
    });
  }
  const sqlite = {
    dataDir: opts.dataDir,
    synchronous: opts.sqliteSynchronous,
    recover: opts.recover,
    logger: opts.logger.child({ component: 'state' }),
  };
  return opts.sqliteWorkerThread === true ? new ThreadedSqliteBackend(sqlite) : new SqliteBackend(sqlite);
}
