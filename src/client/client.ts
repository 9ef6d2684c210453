/**
 * The client agent: fingerprints the node, registers it and heartbeats, watches the allocations placed on it and
 * runs one AllocRunner per allocation. Its state lives in the data dir, so a restarted agent adopts its tasks.
 *
 *   start ─► restore alloc runners from the data dir (tasks recovered, not restarted)
 *         ─► register ──► heartbeat every TTL/2 ─(failure)─► backoff, register again
 *         ─► watch allocs (blocking query) ─► new: run │ changed: update │ stop/evict: kill │ gone: kill
 *         ─► re-fingerprint drivers periodically (a change re-registers the node) ─► stats (of allocations asked about lately) ─► GC of terminal allocs
 *         ─► no heartbeat for a group's stop_on_client_after ─► stop its allocs (not restarted on our own)
 *   the server marked an alloc unknown (we were cut off) ─► report its real state again (reconnect)
 *   stop():      stops watching; tasks keep running (as Nomad's agent), unless { killTasks: true }
 */
import * as os from 'node:os';
import { resolve } from 'node:path';
import type { Allocation, Node } from '../structs/index.js';
import {
  AllocClientStatusUnknown,
  allocDisconnectPolicy,
  allocIDProblem,
  allocTerminalStatus,
} from '../structs/index.js';
import { allocNotFound, DroverError, isDroverError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { ExecSession, ExecStreamRequest, TaskDriver, TaskResourceUsage } from '../drivers/index.js';
import { canonicalDriverName } from '../drivers/index.js';
import type { ServerRPC } from './rpc.js';
import type { TaskHookFactory } from './hooks.js';
import { withDispatchPayload } from './dispatch-payload.js';
import { withIdentity } from './identity-hook.js';
import type { HostVolumeConfig } from './task-config.js';
import { AllocRunner, type AllocRunnerDeps } from './alloc-runner.js';
import { allocDirPath, checkTaskName, confinedPath } from './alloc-dir.js';
import { templateHookFactory } from './template-hook.js';
import { artifactHookFactory, type ArtifactClientConfig } from './artifact/index.js';
import { meshHookFactory } from './mesh-hook.js';
import { ClientStateStore } from './state-store.js';
import { UpdateBatcher } from './update-batcher.js';
import type { CheckStatusSource } from './alloc-health.js';
import { ClientServices } from './service-hook.js';
import type { AllocCheckStatus } from '../discovery/index.js';
import {
  buildNode,
  fingerprintDrivers,
  hostFacts,
  loadNodeIdentity,
  type HostFacts,
  type NodeIdentity,
} from './fingerprint.js';
import { readLogFiles } from './logs/index.js';
import { allocResourceUsage, type AllocResourceUsage } from './stats.js';
import { sleepFor } from './util.js';
import { taskEvent } from './task-events.js';
import { AllocNetworks, DEFAULT_BRIDGE, namespaceHolder, type BridgeSettings } from './net/index.js';

/** The task event of an allocation its client stopped after losing the servers for stop_on_client_after. */
export const TaskEventDisconnected = 'Client Disconnected';

export interface ClientOptions {
  rpc: ServerRPC;
  dataDir: string;
  logger: Logger;
  nodeName?: string;
  datacenter: string;
  region: string;
  nodePool?: string;
  nodeClass?: string;
  meta?: Record<string, string>;
  drivers: TaskDriver[];
  portRange?: { min: number; max: number };
  /** Nomad's `reserved { reserved_ports = "22,80,8000-8100" }`. */
  reservedPorts?: string;
  reserved?: { cpu?: number; memoryMB?: number; diskMB?: number };
  hostVolumes?: Record<string, HostVolumeConfig>;
  /** The IP tasks' ports bind to and `unique.network.ip-address` reports (127.0.0.1 in -dev). */
  advertiseIP?: string;
  /** The agent's HTTP address, reported as the node's HTTPAddr. */
  httpAddr?: string;
  /** Unix ms. */
  clock?: () => number;
  random?: () => number;
  /** Extra task hooks (templates, services, artifacts) for every task. */
  taskHooks?: TaskHookFactory;
  /**
   * The agent's environment, passed to tasks of drivers without filesystem isolation. Default: a copy of
   * process.env taken when the client is created.
   */
  hostEnv?: Record<string, string | undefined>;
  /** Tuning; the defaults suit an agent, tests shorten them. */
  timing?: Partial<ClientTiming>;
  /** Bridge name, subnet, CNI plugin path and config dir for groups not in host mode (Nomad's defaults). */
  network?: Partial<BridgeSettings>;
  /** `client { artifact { ... } }`: download and unpack limits (Nomad's defaults). */
  artifact?: Partial<ArtifactClientConfig>;
  /** The Connect sidecar's data plane, as the agent resolved `client { connect { sidecar_data_plane } }`. */
  sidecarDataPlane?: 'node' | 'haproxy';
  /**
   * Makes the agent's DNS answer on a bridge's gateway address (port 53), so tasks in bridge mode resolve
   * `*.service.<domain>`; resolves false when the agent has no DNS or the port is taken.
   */
  bridgeDns?: (gateway: string) => Promise<boolean>;
}

export interface ClientTiming {
  allocUpdateBatchMs: number;
  allocWatchWaitMs: number;
  fingerprintIntervalMs: number;
  statsIntervalMs: number;
  logRotateIntervalMs: number;
  gcIntervalMs: number;
  /** Terminal allocations are removed this long after they ended... */
  gcAfterMs: number;
  /** ...or sooner when there are more terminal allocations than this. */
  gcMaxAllocs: number;
  maxBackoffMs: number;
  /** How often the client checks whether it has been cut off from the servers for a stop_on_client_after. */
  disconnectCheckMs: number;
}

const DEFAULT_TIMING: ClientTiming = {
  // Nomad batches a client's allocation updates every 200 ms. Here the first change after a quiet spell goes
  // out at once and later ones wait for the window (update-batcher.ts), so the window is what a task started
  // just after another waits before the server reads it running: 50 ms keeps that short (issue 18's time to
  // running) while a busy client still sends at most 20 batches a second.
  allocUpdateBatchMs: 50,
  allocWatchWaitMs: 30_000,
  fingerprintIntervalMs: 30_000,
  statsIntervalMs: 1_000,
  logRotateIntervalMs: 1_000,
  gcIntervalMs: 60_000,
  gcAfterMs: 60 * 60_000,
  gcMaxAllocs: 50,
  maxBackoffMs: 15_000,
  disconnectCheckMs: 250,
};

export interface ReadLogsOptions {
  origin: 'start' | 'end';
  offset: number;
  follow: boolean;
  signal: AbortSignal;
}

export interface HostStats {
  Memory: { Total: number; Available: number; Used: number; Free: number };
  CPU: Array<{ CPU: string; User: number; System: number; Idle: number; Total: number }>;
  Uptime: number;
  Timestamp: number;
  CPUTicksConsumed: number;
}

export interface Client {
  readonly nodeID: string;
  /** The node as last registered. */
  node(): Node;
  start(signal?: AbortSignal): Promise<void>;
  /** Stops the agent's client. Tasks keep running (they are adopted by the next start) unless `killTasks`. */
  stop(opts?: { killTasks?: boolean }): Promise<void>;
  /** Same as stop() without killing: for agent restarts and upgrades. */
  shutdown(): Promise<void>;
  readLogs(allocID: string, task: string, type: 'stdout' | 'stderr', opts: ReadLogsOptions): AsyncIterable<Buffer>;
  allocStats(allocID: string): Promise<AllocResourceUsage>;
  hostStats(): HostStats;
  /** The runner of one allocation (tests, the HTTP layer's signal/restart endpoints later). */
  allocRunner(allocID: string): AllocRunner | undefined;
  allocRunners(): AllocRunner[];
  /** `POST /v1/client/allocation/:id/restart`: a user restart (not counted against the restart policy). */
  allocRestart(allocID: string, req: { task?: string; allTasks?: boolean }): Promise<void>;
  /** `POST /v1/client/allocation/:id/signal`: one task, or every running task when none is named. */
  allocSignal(allocID: string, req: { task?: string; signal: string }): Promise<void>;
  /** True when this client runs (or still remembers) the allocation. */
  hasAlloc(allocID: string): boolean;
  /** The namespace of an allocation this client runs (ACL checks on a client-only agent). */
  allocNamespace(allocID: string): string | undefined;
  /** The allocation's directory on this host (`/v1/client/fs/*`), or undefined when this client does not run it. */
  allocDir(allocID: string): string | undefined;
  /** This client's allocations counted by ClientStatus (`/v1/metrics`). */
  allocStatusCounts(): Record<string, number>;
  /** The agent learns its HTTP port after the client exists: the node's HTTPAddr, set before start(). */
  setHTTPAddr(addr: string): void;
  /** Where health_check = "checks" reads service check results (default: this client's own service checks). */
  setCheckStatusSource(source: CheckStatusSource | undefined): void;
  /** `GET /v1/client/allocation/:id/checks`: the latest result of every service check of the allocation. */
  allocChecks(allocID: string): Record<string, AllocCheckStatus>;
  /**
   * A driver reports a task event (image pull progress, OOM kill) for one of its task IDs; it lands on that
   * task's state as a Nomad TaskEvent. Events for tasks this client does not run are dropped. Hand this to the
   * drivers at creation (`builtinDrivers(..., { onEvent })`).
   */
  driverEvent(taskID: string, type: string, message: string): void;
}

/** Fingerprints the host and the drivers, loads the node identity; call `start()` to run. */
export async function createClient(opts: ClientOptions): Promise<Client> {
  const c = new ClientAgent(opts);
  await c.init();
  return c;
}

class ClientAgent implements Client {
  private readonly options: ClientOptions;
  private readonly timing: ClientTiming;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly identity: NodeIdentity;
  private readonly store: ClientStateStore;
  private readonly networks: AllocNetworks;
  private readonly batcher: UpdateBatcher;
  private readonly drivers: Map<string, TaskDriver>;
  /**
   * `options.hostEnv`, or process.env as it was at start. Copied once: every property read of process.env is a
   * call into the runtime, and walking it for each task start was ≈ 2% of the agent's CPU per register (mock
   * driver, issue 18's saturation bench).
   */
  private readonly hostEnv: Record<string, string | undefined>;
  private readonly runners = new Map<string, AllocRunner>();
  /**
   * The runners not yet seen done (every task dead, which is final): what reconcile and the cut-off check walk.
   * Done runners stay in `runners` until the client GC, which keeps up to gcMaxAllocs of them but runs only every
   * gcIntervalMs: under API load thousands pile up between two GCs, and walking them all on every allocation pull
   * made the dev agent's reconcile O(allocations ever run) per change. An updated runner joins again.
   */
  private readonly maybeLive = new Set<string>();
  private checkSource: CheckStatusSource | undefined;
  private readonly services: ClientServices;
  private readonly work = new Set<Promise<unknown>>();
  private readonly stats = new Map<string, { at: number; tasks: Record<string, TaskResourceUsage> }>();
  /**
   * Allocations whose stats someone asked for, until when (Unix ms): only those are sampled in the background.
   * Sampling every allocation every second kept a stats request in dockerd at all times, also while it was
   * starting containers; an allocation nobody watches is not sampled (its first ask reads live, as a stale cache did).
   */
  private readonly statsWanted = new Map<string, number>();
  /** A live read of an allocation's stats in progress (its first ask after a quiet spell): parallel asks share it. */
  private readonly statsLive = new Map<string, Promise<Record<string, TaskResourceUsage>>>();
  private facts!: HostFacts;
  private current!: Node;
  private driverKey = '';
  private ctl = new AbortController();
  private reregister = false;
  /** When a heartbeat (or register) last reached a server (Unix ms). */
  private lastContact = 0;
  private everRegistered = false;
  /** Allocations this client stopped itself because it could not reach the servers. */
  private readonly stoppedDisconnected = new Set<string>();
  private started = false;

  constructor(o: ClientOptions) {
    // Task dirs, log paths and driver handles are stored as absolute paths: a task's cwd is its own dir.
    this.options = { ...o, dataDir: resolve(o.dataDir) };
    o = this.options;
    this.timing = { ...DEFAULT_TIMING, ...o.timing };
    this.log = o.logger;
    this.now = o.clock ?? Date.now;
    this.identity = loadNodeIdentity(o.dataDir);
    o.rpc.useNodeIdentity?.(this.identity.id, this.identity.secretID);
    this.store = new ClientStateStore(o.dataDir, { logger: this.log });
    this.hostEnv = o.hostEnv ?? { ...process.env };
    this.networks = new AllocNetworks(
      { ...DEFAULT_BRIDGE, ...o.network },
      this.options.dataDir,
      this.log.child({ component: 'network' }),
      {
        holder: (name) => namespaceHolder(name, this.drivers.get(canonicalDriverName(name))),
        ...(o.bridgeDns ? { bridgeDns: o.bridgeDns } : {}),
      },
    );
    this.batcher = new UpdateBatcher(o.rpc, this.timing.allocUpdateBatchMs, this.now, this.log);
    this.drivers = new Map(o.drivers.map((d) => [d.name, d]));
    this.services = new ClientServices({
      rpc: o.rpc,
      node: () => this.current,
      advertiseIP: o.advertiseIP ?? '127.0.0.1',
      logger: this.log,
    });
    this.checkSource = this.services.checkStatus;
  }

  get nodeID(): string {
    return this.identity.id;
  }

  node(): Node {
    return this.current;
  }

  async init(): Promise<void> {
    this.facts = hostFacts(this.options.dataDir);
    await this.refreshNode();
  }

  /** Re-fingerprints the drivers; returns true when the node changed. */
  private async refreshNode(): Promise<boolean> {
    const drivers = await fingerprintDrivers(this.options.drivers, this.now);
    const key = JSON.stringify(
      Object.entries(drivers.drivers).map(([n, d]) => [n, d.Detected, d.Healthy, d.Attributes]),
    );
    if (key === this.driverKey) return false;
    this.driverKey = key;
    const ip = this.options.advertiseIP ?? '127.0.0.1';
    this.current = buildNode({
      identity: this.identity,
      name: this.options.nodeName ?? os.hostname(),
      datacenter: this.options.datacenter,
      nodePool: this.options.nodePool ?? 'default',
      nodeClass: this.options.nodeClass ?? '',
      meta: this.options.meta ?? {},
      advertiseIP: ip,
      httpAddr: this.options.httpAddr ?? `${ip}:4646`,
      facts: this.facts,
      drivers,
      portRange: this.options.portRange ?? { min: 20000, max: 32000 },
      reservedPorts: this.options.reservedPorts ?? '',
      reserved: {
        cpu: this.options.reserved?.cpu ?? 0,
        memoryMB: this.options.reserved?.memoryMB ?? 0,
        diskMB: this.options.reserved?.diskMB ?? 0,
      },
      hostVolumes: this.options.hostVolumes ?? {},
      now: this.now(),
    });
    return true;
  }

  private track(p: Promise<unknown>): void {
    const q = p
      .catch((e: unknown) => this.log.error('client background work failed', { err: String(e) }))
      .finally(() => this.work.delete(q));
    this.work.add(q);
  }

  /**
   * Artifacts first (a template may read a fetched file, as in Nomad), then templates, so env = true variables
   * exist before the other hooks and the driver see the env.
   */
  private readonly taskHooks: TaskHookFactory = (args) => [
    ...artifactHookFactory({
      allocDir: (id) => allocDirPath(this.options.dataDir, id),
      now: this.now,
      ...(this.options.artifact ? { limits: this.options.artifact } : {}),
    })(args),
    ...templateHookFactory({
      rpc: this.options.rpc,
      node: () => this.current,
      allocDir: (id) => allocDirPath(this.options.dataDir, id),
      now: this.now,
    })(args),
    ...this.services.taskHooks(args),
    ...meshHookFactory({
      rpc: this.options.rpc,
      node: () => this.current,
      advertiseIP: this.options.advertiseIP ?? '127.0.0.1',
      logger: this.log,
      dataPlane: this.options.sidecarDataPlane ?? 'node',
    })(args),
    ...(this.options.taskHooks?.(args) ?? []),
  ];

  private runnerDeps(): AllocRunnerDeps {
    return {
      drivers: this.drivers,
      dataDir: this.options.dataDir,
      node: () => this.current,
      region: this.options.region,
      advertiseIP: this.options.advertiseIP ?? '127.0.0.1',
      hostEnv: this.hostEnv,
      hostVolumes: this.options.hostVolumes ?? {},
      logger: this.log,
      now: this.now,
      random: this.options.random ?? Math.random,
      taskHooks: withIdentity(withDispatchPayload(this.taskHooks)),
      allocHooks: this.services.allocHooks,
      store: this.store,
      onUpdate: (id, update) => this.batcher.pushLazy(id, update),
      logRotateIntervalMs: this.timing.logRotateIntervalMs,
      checkStatus: () => this.checkSource,
      networks: this.networks,
    };
  }

  setCheckStatusSource(source: CheckStatusSource | undefined): void {
    this.checkSource = source;
  }

  allocChecks(allocID: string): Record<string, AllocCheckStatus> {
    if (!this.runners.has(allocID)) throw allocNotFound(allocID);
    return this.services.checkStatuses(allocID);
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.started) return;
    this.started = true;
    signal?.addEventListener('abort', () => this.ctl.abort(signal.reason), { once: true });
    this.restore();
    // Namespaces of allocations stopped or forgotten while the agent was down go before any new one is built.
    await this.networks.cleanOrphans(new Set(this.runners.keys()));
    this.track(this.registrationLoop());
    this.track(this.every(this.timing.fingerprintIntervalMs, () => this.fingerprintTick()));
    this.track(this.every(this.timing.statsIntervalMs, () => this.collectStats()));
    this.track(this.every(this.timing.gcIntervalMs, async () => this.gc()));
    this.lastContact = this.now();
    this.track(this.every(this.timing.disconnectCheckMs, async () => this.stopIfCutOff()));
  }

  /** Adopts the allocations persisted by an earlier agent process. */
  private restore(): void {
    for (const p of this.store.loadAllocs((file, err) =>
      this.log.warn('unreadable client state', { file, err: String(err) }),
    )) {
      try {
        const r = new AllocRunner(p.alloc, this.runnerDeps(), p);
        this.runners.set(p.alloc.ID, r);
        this.maybeLive.add(p.alloc.ID);
        this.track(r.run());
        this.log.info('restored allocation', { alloc_id: p.alloc.ID });
      } catch (e) {
        this.log.error('cannot restore allocation', { alloc_id: p.alloc?.ID, err: String(e) });
      }
    }
  }

  private async every(ms: number, fn: () => Promise<void>): Promise<void> {
    const signal = this.ctl.signal;
    while (!signal.aborted) {
      await sleepFor(ms, signal);
      if (signal.aborted) return;
      await fn().catch((e: unknown) => this.log.warn('periodic client task failed', { err: String(e) }));
    }
  }

  private async fingerprintTick(): Promise<void> {
    if (await this.refreshNode()) {
      this.log.info('driver fingerprint changed; updating the node');
      this.reregister = true;
    }
  }

  /** Register, then heartbeat at half the TTL; on failure back off and register again. Starts the alloc watcher once. */
  private async registrationLoop(): Promise<void> {
    const signal = this.ctl.signal;
    let backoff = 250;
    let registered = false;
    let watching = false;
    while (!signal.aborted) {
      try {
        if (!registered || this.reregister) {
          this.reregister = false;
          const ttl = (await this.options.rpc.nodeRegister({ ...this.current, Status: 'ready' })).heartbeatTTLms;
          // Back after losing the servers: they may have marked our allocations unknown; say how they really are.
          if (this.lastContact > 0 && this.everRegistered)
            for (const r of this.runners.values()) this.batcher.push(r.clientUpdate());
          this.everRegistered = true;
          registered = true;
          this.lastContact = this.now();
          this.log.info('node registered', { node_id: this.nodeID, ttl_ms: ttl });
          if (!watching) {
            watching = true;
            this.track(this.watchAllocs());
          }
          backoff = 250;
          await sleepFor(Math.max(50, ttl / 2), signal);
        } else {
          const ttl = (await this.options.rpc.nodeUpdateStatus(this.nodeID, 'ready')).heartbeatTTLms;
          this.lastContact = this.now();
          backoff = 250;
          await sleepFor(Math.max(50, ttl / 2), signal);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (!registered && isDroverError(e) && e.details['status'] === 403)
          // Not a passing fault: the operator must give this agent a credential, so say which.
          this.log.error(
            'the servers refused to register this node: with ACLs on, give the client agent a token with node:write (DROVER_TOKEN or NOMAD_TOKEN) or a client certificate (tls { rpc = true })',
            { err: String(e), retry_ms: backoff },
          );
        else this.log.warn('heartbeat failed; registering again', { err: String(e), retry_ms: backoff });
        registered = false;
        await sleepFor(backoff, signal);
        backoff = Math.min(this.timing.maxBackoffMs, backoff * 2);
      }
    }
  }

  private async watchAllocs(): Promise<void> {
    const signal = this.ctl.signal;
    let index = 0;
    let backoff = 250;
    while (!signal.aborted) {
      const began = this.now();
      try {
        const res = await this.options.rpc.getClientAllocs(this.nodeID, index, this.timing.allocWatchWaitMs, signal);
        if (signal.aborted) return;
        const same = res.index === index;
        index = res.index < index ? 0 : res.index;
        this.reconcile(res.allocs);
        backoff = 250;
        // A server that answers at once with nothing new must not make us spin.
        if (same && this.now() - began < 50) await sleepFor(100, signal);
      } catch (e) {
        if (signal.aborted) return;
        this.log.warn('watching allocations failed', { err: String(e), retry_ms: backoff });
        await sleepFor(backoff, signal);
        backoff = Math.min(this.timing.maxBackoffMs, backoff * 2);
      }
    }
  }

  /** Applies the server's view: run new allocations, update changed ones, stop the ones it stopped or forgot. */
  private reconcile(allocs: Allocation[]): void {
    const seen = new Set<string>();
    for (const a of allocs) {
      if (a.NodeID && a.NodeID !== this.nodeID) continue;
      // Its ID names a directory and a state file: never build a path from one that is not a plain token.
      const badID = allocIDProblem(a.ID);
      if (badID) {
        this.log.error('refusing allocation', { err: badID });
        continue;
      }
      seen.add(a.ID);
      const r = this.runners.get(a.ID);
      if (!r) {
        if (allocTerminalStatus(a)) continue;
        let runner: AllocRunner;
        try {
          runner = new AllocRunner(a, this.runnerDeps());
        } catch (e) {
          this.log.error('cannot run allocation', { alloc_id: a.ID, err: String(e) });
          continue;
        }
        this.runners.set(a.ID, runner);
        this.maybeLive.add(a.ID);
        this.track(runner.run());
      } else if (
        a.AllocModifyIndex !== r.alloc.AllocModifyIndex ||
        a.DesiredStatus !== r.alloc.DesiredStatus ||
        a.ModifyIndex > r.alloc.ModifyIndex
      ) {
        this.maybeLive.add(a.ID);
        this.track(r.update(a));
      }
      // The server marked it unknown while we were cut off: tell it how the allocation really is.
      if (r && a.ClientStatus === AllocClientStatusUnknown) this.batcher.push(r.clientUpdate());
    }
    for (const id of this.maybeLive) {
      const r = this.runners.get(id);
      // Dropped for good once done: no task leaves `dead` in a done allocation (see AllocRunner.restartAll).
      if (r === undefined || r.done) {
        this.maybeLive.delete(id);
        continue;
      }
      if (seen.has(id)) continue;
      this.log.info('allocation no longer known to the server; stopping it', { alloc_id: id });
      this.track(r.stop());
    }
  }

  /**
   * Nomad's stop_on_client_after (stop_after_client_disconnect): a client cut off from the servers for that long
   * stops the group's allocations itself, since the servers have likely replaced them elsewhere.
   */
  private async stopIfCutOff(): Promise<void> {
    const awayMs = this.now() - this.lastContact;
    for (const id of this.maybeLive) {
      const r = this.runners.get(id);
      if (r === undefined || r.done || this.stoppedDisconnected.has(id)) continue;
      const afterMs = allocDisconnectPolicy(r.alloc).stopOnClientAfterNs / 1e6;
      if (afterMs <= 0 || awayMs < afterMs) continue;
      this.stoppedDisconnected.add(id);
      this.log.warn('no contact with the servers for stop_on_client_after: stopping the allocation', {
        alloc_id: id,
        away_ms: awayMs,
      });
      const why = `No contact with the servers for ${Math.round(awayMs / 1000)}s (stop_on_client_after): stopping the allocation`;
      this.track(
        Promise.all(
          r.taskRunners.map((t) => t.kill(taskEvent(TaskEventDisconnected, this.now(), { Message: why }))),
        ).then(() => r.stop()),
      );
    }
  }

  private async collectStats(): Promise<void> {
    for (const [id, r] of this.runners) {
      const wanted = (this.statsWanted.get(id) ?? 0) > this.now();
      if (r.done || !wanted) {
        this.stats.delete(id);
        if (!wanted) this.statsWanted.delete(id);
        continue;
      }
      this.stats.set(id, { at: this.now(), tasks: await r.stats() });
    }
  }

  /** Removes terminal allocations: those ended longer than gcAfterMs ago, and the oldest beyond gcMaxAllocs. */
  gc(): void {
    const terminal = [...this.runners.values()]
      .filter((r) => r.done && r.terminalAt !== undefined && !this.batcher.has(r.alloc.ID))
      .sort((a, b) => a.terminalAt! - b.terminalAt!);
    const excess = terminal.length - this.timing.gcMaxAllocs;
    terminal.forEach((r, i) => {
      if (i < excess || this.now() - r.terminalAt! > this.timing.gcAfterMs) {
        this.log.info('garbage collecting allocation', { alloc_id: r.alloc.ID });
        r.destroy();
        this.services.forget(r.alloc.ID);
        this.runners.delete(r.alloc.ID);
        this.maybeLive.delete(r.alloc.ID);
        this.stats.delete(r.alloc.ID);
        this.statsWanted.delete(r.alloc.ID);
      }
    });
  }

  async stop(opts: { killTasks?: boolean } = {}): Promise<void> {
    if (opts.killTasks) await Promise.all([...this.runners.values()].map((r) => r.stop()));
    this.ctl.abort(new DroverError('Aborted', 'client stopping'));
    await Promise.all([...this.runners.values()].map((r) => r.shutdown()));
    await Promise.all([...this.work]);
    // State writes are asynchronous: the next agent adopts from what is on disk, so all of it must land first.
    await this.store.flush();
    await this.batcher.close();
    for (const d of this.options.drivers)
      await d
        .shutdown?.()
        .catch((e: unknown) => this.log.warn('driver shutdown failed', { driver: d.name, err: String(e) }));
  }

  shutdown(): Promise<void> {
    return this.stop({ killTasks: false });
  }

  readLogs(allocID: string, task: string, type: 'stdout' | 'stderr', opts: ReadLogsOptions): AsyncIterable<Buffer> {
    const r = this.runners.get(allocID);
    const dirs = this.options.dataDir;
    return (async function* () {
      if (!r) throw allocNotFound(allocID);
      if (!r.task(task))
        throw new DroverError('TaskNotFound', `task "${task}" not found in allocation "${allocID}"`, {
          details: { allocID, task },
        });
      checkTaskName(task);
      yield* readLogFiles(confinedPath(allocDirPath(dirs, allocID), 'alloc', 'logs'), `${task}.${type}`, opts);
    })();
  }

  async allocStats(allocID: string): Promise<AllocResourceUsage> {
    const r = this.runners.get(allocID);
    if (!r) throw allocNotFound(allocID);
    this.statsWanted.set(allocID, this.now() + Math.max(30_000, 10 * this.timing.statsIntervalMs));
    const cached = this.stats.get(allocID);
    const tasks =
      cached && this.now() - cached.at < 2 * this.timing.statsIntervalMs
        ? cached.tasks
        : await this.liveStats(allocID, r);
    return allocResourceUsage(tasks, this.facts.mhz, this.now() * 1e6);
  }

  /**
   * Stats read now, for an allocation not sampled lately (cached into `stats`). Drivers (raw_exec, exec) compute
   * CPU % against their previous sample, which may be an hour old: a priming sample first, then the real one a
   * short interval later, so the % covers that interval and not the whole quiet spell.
   */
  private liveStats(allocID: string, r: AllocRunner): Promise<Record<string, TaskResourceUsage>> {
    let live = this.statsLive.get(allocID);
    if (live) return live;
    live = (async () => {
      await r.stats();
      // One interval, at most 200 ms: enough ticks for a % while the first ask stays quick.
      await sleepFor(Math.min(this.timing.statsIntervalMs, 200), this.ctl.signal);
      const tasks = await r.stats();
      if (this.runners.get(allocID) === r && !r.done) this.stats.set(allocID, { at: this.now(), tasks });
      return tasks;
    })().finally(() => this.statsLive.delete(allocID));
    this.statsLive.set(allocID, live);
    return live;
  }

  hostStats(): HostStats {
    const cpus = os.cpus();
    const total = os.totalmem();
    const free = os.freemem();
    return {
      Memory: { Total: total, Available: free, Used: total - free, Free: free },
      CPU: cpus.map((c, i) => {
        const sum = c.times.user + c.times.sys + c.times.idle + c.times.nice + c.times.irq || 1;
        return {
          CPU: `cpu${i}`,
          User: (c.times.user * 100) / sum,
          System: (c.times.sys * 100) / sum,
          Idle: (c.times.idle * 100) / sum,
          Total: ((sum - c.times.idle) * 100) / sum,
        };
      }),
      Uptime: Math.floor(os.uptime()),
      Timestamp: this.now() * 1e6,
      CPUTicksConsumed: 0,
    };
  }

  allocRunner(allocID: string): AllocRunner | undefined {
    return this.runners.get(allocID);
  }

  allocRestart(allocID: string, req: { task?: string; allTasks?: boolean }): Promise<void> {
    const r = this.runners.get(allocID);
    return r ? r.restartTasks(req) : Promise.reject(allocNotFound(allocID));
  }

  allocSignal(allocID: string, req: { task?: string; signal: string }): Promise<void> {
    const r = this.runners.get(allocID);
    return r ? r.signalTasks(req) : Promise.reject(allocNotFound(allocID));
  }

  /** `GET /v1/client/allocation/:id/exec`: a command inside one of the allocation's running tasks. */
  allocExec(allocID: string, task: string, req: ExecStreamRequest): Promise<ExecSession> {
    const r = this.runners.get(allocID);
    return r ? r.execTask(task, req) : Promise.reject(allocNotFound(allocID));
  }

  hasAlloc(allocID: string): boolean {
    return this.runners.has(allocID);
  }

  allocNamespace(allocID: string): string | undefined {
    return this.runners.get(allocID)?.alloc.Namespace;
  }

  allocTaskDriver(allocID: string, task: string): string | undefined {
    const a = this.runners.get(allocID)?.alloc;
    return a?.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup)?.Tasks?.find((t) => t.Name === task)?.Driver;
  }

  allocDir(allocID: string): string | undefined {
    return this.runners.has(allocID) ? allocDirPath(this.options.dataDir, allocID) : undefined;
  }

  allocStatusCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.runners.values()) {
      const s = r.clientUpdate().ClientStatus;
      out[s] = (out[s] ?? 0) + 1;
    }
    return out;
  }

  setHTTPAddr(addr: string): void {
    this.options.httpAddr = addr;
    this.current = { ...this.current, HTTPAddr: addr };
  }

  allocRunners(): AllocRunner[] {
    return [...this.runners.values()];
  }

  driverEvent(taskID: string, type: string, message: string): void {
    // Task IDs are `<allocID>/<taskName>/<random>` (buildTaskConfig), so no index is needed to route them.
    const [allocID = '', ...rest] = taskID.split('/');
    if (rest.length < 2) return;
    const task = this.runners.get(allocID)?.task(rest.slice(0, -1).join('/'));
    if (!task) {
      this.log.debug('driver event for an unknown task', { task_id: taskID, type });
      return;
    }
    task.driverEvent(taskID, type, message);
  }
}
