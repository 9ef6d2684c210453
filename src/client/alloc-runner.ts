/**
 * The alloc runner: one per allocation on this node. It lays out the alloc dir, runs the group's tasks in
 * lifecycle order, derives the allocation's ClientStatus from the task states and reports changes.
 *
 *   prestart tasks (ephemeral ones run to completion; sidecars keep running)
 *     ─► main tasks ─► poststart tasks once every main task runs
 *     ─► every main task dead ─► sidecars and poststart tasks killed ─► poststop tasks run to completion ─► done
 *   Before any task: the group's network namespace (bridge / none / cni) is built or adopted; after every task is
 *   dead it is torn down (not on shutdown: the tasks keep running in it).
 *   A task failing (or the leader dying) kills its siblings. DesiredStatus stop/evict kills every task, then the
 *   poststop tasks run. shutdown(): the agent goes away and every task keeps running.
 */
import type { AllocDeploymentStatus, Allocation, Task, TaskGroup } from '../structs/index.js';
import { TaskEventTypes as EV, allocTerminalStatus } from '../structs/index.js';
import type { ExecSession, ExecStreamRequest, TaskDriver, TaskResourceUsage } from '../drivers/index.js';
import { canonicalDriverName, signalNumber } from '../drivers/index.js';
import { badRequest, invalidSignal } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { AllocClientUpdate } from './rpc.js';
import type { AllocHook, AllocHookContext, AllocHookFactory, TaskHookFactory } from './hooks.js';
import type { InterpolationNode } from './interpolate.js';
import { TaskRunner, type PersistedTaskState, type RunnerHostDeps } from './task-runner.js';
import { buildAllocDir, destroyAllocDir } from './alloc-dir.js';
import { clientStatusFromTasks } from './alloc-status.js';
import type { ClientStateStore, PersistedAlloc } from './state-store.js';
import { taskEvent } from './task-events.js';
import { AllocHealthWatcher, healthSettings, type CheckStatusSource } from './alloc-health.js';
import {
  isolatedMode,
  namespaceHolder,
  networkStatus,
  type AllocNetworks,
  type AllocNetworkStatus,
} from './net/index.js';
import { taskPorts } from './task-env.js';
import { constants as osConstants } from 'node:os';

/** The signal names a task may be sent, sorted, for the error naming a bad one (as Nomad lists them). */
const SIGNAL_NAMES = Object.keys(osConstants.signals).sort();

export interface AllocRunnerDeps extends RunnerHostDeps {
  drivers: Map<string, TaskDriver>;
  node: () => InterpolationNode;
  taskHooks?: TaskHookFactory;
  store: ClientStateStore;
  /**
   * Called whenever the allocation's client-side view changed, with a function that builds the update: the
   * batcher calls it once when it sends, so the several changes a task makes between two batches cost one copy
   * of the task states, not one each.
   */
  onUpdate: (allocID: string, update: () => AllocClientUpdate) => void;
  /** The service check source for health_check = "checks", once discovery provides one. */
  checkStatus?: () => CheckStatusSource | undefined;
  /** Allocation-level hooks (group services). */
  allocHooks?: AllocHookFactory;
  /** Builds and removes the network namespaces of groups not in host mode. */
  networks?: AllocNetworks;
}

type Kind = 'prestart' | 'prestart-sidecar' | 'main' | 'poststart' | 'poststop';

function kindOf(t: Task): Kind {
  const hook = t.Lifecycle?.Hook;
  if (hook === 'prestart') return t.Lifecycle?.Sidecar ? 'prestart-sidecar' : 'prestart';
  if (hook === 'poststart') return 'poststart';
  if (hook === 'poststop') return 'poststop';
  return 'main';
}

export class AllocRunner {
  alloc: Allocation;
  readonly group: TaskGroup;
  private readonly runners = new Map<string, TaskRunner>();
  private readonly kinds = new Map<string, Kind>();
  private readonly waiters = new Set<() => void>();
  /** The driver handle of each task last written to disk (see changed()). */
  private readonly savedHandles = new Map<string, unknown>();
  private readonly log: Logger;
  private killing: Promise<void> | undefined;
  private siblingsKilled = false;
  private detached = false;
  private running: Promise<void> | undefined;
  private health: AllocHealthWatcher | undefined;
  /** The health this runner reported for the allocation's current deployment (or migration). */
  private reportedHealth: AllocDeploymentStatus | undefined;
  terminalAt: number | undefined;
  private readonly hooks: AllocHook[];
  /** The allocation's network namespace, once built (bridge / none / cni mode). */
  network: AllocNetworkStatus | undefined;

  constructor(
    alloc: Allocation,
    private readonly deps: AllocRunnerDeps,
    restored?: PersistedAlloc,
  ) {
    this.alloc = alloc;
    this.log = deps.logger.child({ alloc_id: alloc.ID });
    const group = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
    if (!group)
      throw new Error(`allocation ${alloc.ID} names task group "${alloc.TaskGroup}" which its job does not have`);
    this.group = group;
    this.terminalAt = restored?.terminalAt;
    // A report made before an agent restart may not have reached the server: send it again.
    if (restored && alloc.DeploymentStatus?.Healthy != null) this.reportedHealth = alloc.DeploymentStatus;
    for (const task of group.Tasks) this.addRunner(task, restored?.tasks[task.Name]);
    this.hooks = deps.allocHooks?.({ alloc, group }) ?? [];
    this.watchHealth();
  }

  /** Starts the health watcher when the allocation belongs to a deployment (or migrates) and has no health yet. */
  private watchHealth(): void {
    this.health?.stop();
    this.health = undefined;
    if (allocTerminalStatus(this.alloc)) return;
    const settings = healthSettings(this.alloc, this.group);
    if (settings == null) return;
    const forAlloc = this.alloc;
    this.health = new AllocHealthWatcher({
      alloc: forAlloc,
      settings,
      watchedTasks: this.group.Tasks.filter((t) => this.watchedKind(t)).map((t) => t.Name),
      now: this.deps.now,
      logger: this.log,
      checkStatus: (id) => this.deps.checkStatus?.()?.(id),
      onHealth: (st) => {
        if (this.detached || this.alloc.ID !== forAlloc.ID) return;
        this.reportedHealth = st;
        this.alloc = { ...this.alloc, DeploymentStatus: st };
        this.deps.store.saveAlloc(this.persisted());
        this.deps.onUpdate(this.alloc.ID, this.clientUpdateFn);
      },
    });
    this.health.observe(this.taskStates());
  }

  /** Tasks that must keep running for the allocation to be healthy: not those that run to completion. */
  private watchedKind(t: Task): boolean {
    const k = this.kinds.get(t.Name);
    return k === 'main' || k === 'prestart-sidecar' || (k === 'poststart' && t.Lifecycle?.Sidecar === true);
  }

  private taskStates(): Record<string, NonNullable<Allocation['TaskStates']>[string]> {
    const out: NonNullable<Allocation['TaskStates']> = {};
    for (const [n, r] of this.runners) out[n] = r.state;
    return out;
  }

  private addRunner(task: Task, restored: PersistedTaskState | undefined): void {
    const kind = kindOf(task);
    this.kinds.set(task.Name, kind);
    const r = new TaskRunner({
      alloc: this.alloc,
      group: this.group,
      task,
      driver: this.deps.drivers.get(canonicalDriverName(task.Driver)),
      dataDir: this.deps.dataDir,
      node: this.deps.node(),
      region: this.deps.region,
      advertiseIP: this.deps.advertiseIP,
      hostEnv: this.deps.hostEnv,
      hostVolumes: this.deps.hostVolumes,
      logger: this.log,
      now: this.deps.now,
      random: this.deps.random,
      hooks: this.deps.taskHooks?.({ alloc: this.alloc, group: this.group, task }) ?? [],
      restored,
      onChange: () => this.changed(task.Name),
      logRotateIntervalMs: this.deps.logRotateIntervalMs,
      network: () => this.network,
      ephemeral: kind === 'prestart' || kind === 'poststop' || (kind === 'poststart' && !task.Lifecycle?.Sidecar),
    });
    this.runners.set(task.Name, r);
  }

  get taskRunners(): TaskRunner[] {
    return [...this.runners.values()];
  }

  task(name: string): TaskRunner | undefined {
    return this.runners.get(name);
  }

  /** True once every task is dead. */
  get done(): boolean {
    // Read for every live allocation on each allocation pull (ClientAgent.reconcile): no array copy.
    for (const r of this.runners.values()) if (!r.dead) return false;
    return true;
  }

  persisted(): PersistedAlloc {
    const tasks: Record<string, PersistedTaskState> = {};
    for (const [n, r] of this.runners) tasks[n] = r.persisted();
    return { alloc: this.alloc, tasks, ...(this.terminalAt !== undefined ? { terminalAt: this.terminalAt } : {}) };
  }

  private readonly clientUpdateFn = (): AllocClientUpdate => this.clientUpdate();

  clientUpdate(): AllocClientUpdate {
    const { status, description } = clientStatusFromTasks(this.taskRunners.map((r) => r.state));
    const TaskStates: NonNullable<Allocation['TaskStates']> = {};
    for (const [n, r] of this.runners) TaskStates[n] = structuredClone(r.state);
    // null (not absent) while health is being watched: the server must not infer health from task states.
    const watching = this.reportedHealth !== undefined || this.health !== undefined;
    return {
      ID: this.alloc.ID,
      ClientStatus: status,
      ClientDescription: description,
      TaskStates,
      ...(this.network ? { NetworkStatus: networkStatus(this.network) } : {}),
      ...(watching ? { DeploymentStatus: this.reportedHealth ?? null } : {}),
    };
  }

  private changed(taskName: string): void {
    if (this.detached) return;
    const r = this.runners.get(taskName)!;
    if (r.dead && !this.siblingsKilled && this.kinds.get(taskName) !== 'poststop') {
      const leaderDied = r.state.Failed === false && this.group.Tasks.find((t) => t.Name === taskName)?.Leader === true;
      if (r.state.Failed || leaderDied) {
        this.siblingsKilled = true;
        const ev = () =>
          leaderDied
            ? taskEvent(EV.LeaderDead, this.deps.now())
            : taskEvent(EV.SiblingFailed, this.deps.now(), { FailedSibling: taskName });
        for (const other of this.taskRunners)
          if (other !== r && this.kinds.get(other.name) !== 'poststop') void other.kill(ev()).catch(() => {});
      }
    }
    if (this.done && this.terminalAt === undefined) this.terminalAt = this.deps.now();
    this.health?.observe(this.taskStates());
    // A new driver handle is on disk before anything else happens: an agent killed right after a start must
    // adopt the task, not start it again. Every other change is written asynchronously (state-store.ts).
    if (r.handle != null && this.savedHandles.get(taskName) !== r.handle) {
      this.savedHandles.set(taskName, r.handle);
      this.deps.store.saveAllocNow(this.persisted());
    } else {
      this.deps.store.saveAlloc(this.persisted());
    }
    this.deps.onUpdate(this.alloc.ID, this.clientUpdateFn);
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when `pred` holds (checked after every task change) or the runner is detached. */
  private until(pred: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.detached || pred()) {
          this.waiters.delete(check);
          resolve();
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  private hookContext(): AllocHookContext {
    return {
      alloc: this.alloc,
      group: this.group,
      node: this.deps.node(),
      region: this.deps.region,
      advertiseIP: this.deps.advertiseIP,
      dataDir: this.deps.dataDir,
      logger: this.log,
      execTask: (task, cmd, timeoutMs) => {
        const r = this.runners.get(task);
        const driver = this.deps.drivers.get(
          canonicalDriverName(this.group.Tasks.find((t) => t.Name === task)?.Driver ?? ''),
        );
        if (!r?.handle || !driver || r.state.State !== 'running') return undefined;
        return driver.execTask(r.handle.config.id, cmd, timeoutMs);
      },
      restartTask: async (task, reason) => {
        await this.runners.get(task)?.restart(reason, undefined, { failure: true });
      },
    };
  }

  private async runAllocHooks(phase: 'running' | 'preKill' | 'stop' | 'detach'): Promise<void> {
    if (this.hooks.length === 0) return;
    const ctx = this.hookContext();
    for (const h of this.hooks) {
      try {
        await h[phase]?.(ctx);
      } catch (e) {
        this.log.warn('alloc hook failed', { hook: h.name, phase, err: String(e) });
      }
    }
  }

  private ofKind(...kinds: Kind[]): TaskRunner[] {
    return this.taskRunners.filter((r) => kinds.includes(this.kinds.get(r.name)!));
  }

  run(): Promise<void> {
    this.running ??= this.sequence()
      .catch((e: unknown) => this.log.error('alloc runner failed', { err: String(e) }))
      .then(() => this.releaseNetwork());
    return this.running;
  }

  private networkMode(): string {
    return this.group.Networks?.[0]?.Mode || 'host';
  }

  /** Builds (or adopts) the group's namespace. False when it failed: every task then failed with the reason. */
  private async setupNetwork(): Promise<boolean> {
    const networks = this.deps.networks;
    if (!networks || !isolatedMode(this.networkMode()) || this.done) return true;
    try {
      const ports = taskPorts(this.alloc, '', this.deps.advertiseIP);
      // Docker tasks can only join a namespace held by a container of their own: the first task driver that
      // holds namespaces (Nomad's DriverNetworkManager) holds the group's.
      const holder = this.group.Tasks.map((t) =>
        namespaceHolder(t.Driver, this.deps.drivers.get(canonicalDriverName(t.Driver))),
      ).find((h) => h !== undefined);
      this.network = await networks.setup(this.alloc.ID, this.networkMode(), ports, {
        ...(holder ? { holder } : {}),
        dns: this.group.Networks?.[0]?.DNS ?? null,
      });
      this.alloc = { ...this.alloc, NetworkStatus: networkStatus(this.network) };
      return true;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.log.error('allocation network setup failed', { err: msg });
      // Every task fails for this one reason: no "sibling failed" cascade from the first one marked.
      this.siblingsKilled = true;
      for (const r of this.taskRunners) r.failSetup(`failed to set up the allocation's network: ${msg}`);
      return false;
    }
  }

  /** Every task is dead for good: the namespace, veth, IP lease and NAT rules go. */
  private async releaseNetwork(): Promise<void> {
    const networks = this.deps.networks;
    if (this.detached || !networks || !isolatedMode(this.networkMode()) || !this.done) return;
    this.network = undefined;
    await networks
      .teardown(this.alloc.ID)
      .catch((e: unknown) => this.log.warn('allocation network teardown failed', { err: String(e) }));
  }

  private async sequence(): Promise<void> {
    buildAllocDir(this.deps.dataDir, this.alloc.ID);
    this.deps.store.saveAlloc(this.persisted());
    this.deps.onUpdate(this.alloc.ID, this.clientUpdateFn);
    if (allocTerminalStatus(this.alloc)) return this.stop();
    if (!(await this.setupNetwork())) return;
    const started = (r: TaskRunner) => r.dead || r.state.State === 'running' || r.state.StartedAt !== null;
    const all: Promise<void>[] = [];
    const start = (rs: TaskRunner[]) => {
      for (const r of rs) all.push(r.run());
    };
    start(this.ofKind('prestart', 'prestart-sidecar'));
    await this.until(
      () => this.ofKind('prestart').every((r) => r.dead) && this.ofKind('prestart-sidecar').every(started),
    );
    if (this.ofKind('prestart').some((r) => r.state.Failed))
      await this.killTasks(this.ofKind('prestart-sidecar', 'main', 'poststart'));
    if (this.killing === undefined && !this.detached) {
      start(this.ofKind('main'));
      await this.until(() => this.ofKind('main').every(started));
      if (!this.detached) start(this.ofKind('poststart'));
      if (!this.detached && this.killing === undefined && this.ofKind('main').some((r) => !r.dead))
        await this.runAllocHooks('running');
      await this.until(() => this.ofKind('main').every((r) => r.dead));
    }
    if (this.detached) return;
    await this.runAllocHooks('stop');
    await this.killTasks(this.ofKind('prestart-sidecar', 'poststart'));
    await this.runPoststop();
    await Promise.all(all);
  }

  private async killTasks(rs: TaskRunner[]): Promise<void> {
    await Promise.all(rs.map((r) => r.kill()));
  }

  private async runPoststop(): Promise<void> {
    const rs = this.ofKind('poststop');
    await Promise.all(rs.map((r) => r.run()));
  }

  /** DesiredStatus became stop/evict, or the server forgot the allocation: kill every task, then poststop. */
  stop(): Promise<void> {
    this.health?.stop();
    this.killing ??= (async () => {
      await this.runAllocHooks('preKill');
      await this.killTasks(this.ofKind('prestart', 'prestart-sidecar', 'main', 'poststart'));
      await this.runPoststop();
    })();
    return this.killing;
  }

  /** A newer version of the allocation from the server. */
  async update(alloc: Allocation): Promise<void> {
    const prev = this.alloc;
    this.alloc = alloc;
    const newDeployment = alloc.DeploymentID !== prev.DeploymentID && alloc.DeploymentStatus?.Healthy == null;
    const startsMigrating = !prev.DesiredTransition?.Migrate && alloc.DesiredTransition?.Migrate === true;
    if (newDeployment || startsMigrating) {
      this.reportedHealth = undefined;
      this.watchHealth();
    } else if (this.reportedHealth && alloc.DeploymentStatus?.Healthy == null) {
      // The server has not stored our report yet: keep it on the allocation we persist.
      this.alloc = { ...alloc, DeploymentStatus: this.reportedHealth };
    }
    if (allocTerminalStatus(alloc)) this.health?.stop();
    for (const r of this.taskRunners) await r.update(alloc);
    if (!allocTerminalStatus(alloc) && this.hooks.length > 0) {
      const ctx = this.hookContext();
      for (const h of this.hooks)
        await h
          .update?.(ctx, alloc)
          .catch((e: unknown) => this.log.warn('alloc hook failed', { hook: h.name, phase: 'update', err: String(e) }));
    }
    this.deps.store.saveAlloc(this.persisted());
    if (allocTerminalStatus(alloc) && !this.done) await this.stop();
  }

  /** A user restart or signal needs a live allocation: not stopped, not stopping, not finished. */
  private assertLive(verb: string): void {
    if (allocTerminalStatus(this.alloc) || this.killing !== undefined || this.done || this.detached) {
      const { status } = clientStatusFromTasks(this.taskRunners.map((r) => r.state));
      throw badRequest(
        `can't ${verb} allocation "${this.alloc.ID}": it is not running (desired status "${this.alloc.DesiredStatus}", client status "${status}")`,
      );
    }
  }

  private namedTask(name: string): TaskRunner {
    const r = this.runners.get(name);
    if (!r)
      throw badRequest(
        `task "${name}" not found in allocation "${this.alloc.ID}" (tasks: ${[...this.runners.keys()].join(', ')})`,
      );
    return r;
  }

  /**
   * `alloc restart` (Nomad's user restart): one task, every running task (default), or with `allTasks` every task
   * again in lifecycle order, finished prestart and poststart tasks included. Never counted against the restart
   * policy. Resolves once the restarted tasks were stopped; they start again right after.
   */
  async restartTasks(req: { task?: string; allTasks?: boolean }): Promise<void> {
    const reason = 'User requested restart';
    if (req.task && req.allTasks) throw badRequest('a task name cannot be set when restarting all tasks');
    const target = req.task ? this.namedTask(req.task) : undefined;
    this.assertLive('restart');
    if (target) {
      if (!(await target.restart(reason)))
        throw badRequest(
          `task "${target.name}" in allocation "${this.alloc.ID}" is not running (state "${target.state.State}")`,
        );
      return;
    }
    if (req.allTasks) return this.restartAll(reason);
    const running = this.taskRunners.filter((r) => r.state.State === 'running');
    if (running.length === 0) throw badRequest(`allocation "${this.alloc.ID}" has no running task to restart`);
    await Promise.all(running.map((r) => r.restart(reason)));
  }

  /**
   * Restart-all: running tasks are stopped and finished ephemeral tasks queued again; prestart tasks start at
   * once, main tasks once the prestart phase is through again, poststart tasks once the main tasks run.
   */
  private async restartAll(reason: string): Promise<void> {
    let openMain!: () => void;
    let openPost!: () => void;
    const mainGate = new Promise<void>((r) => (openMain = r));
    const postGate = new Promise<void>((r) => (openPost = r));
    const stops: Promise<boolean>[] = [];
    for (const r of this.taskRunners) {
      const kind = this.kinds.get(r.name)!;
      if (kind === 'poststop') continue;
      const gate = kind === 'main' ? mainGate : kind === 'poststart' ? postGate : undefined;
      // Tasks leave `dead` here, but the allocation is not done (assertLive just passed, with no await since),
      // so "done is final", on which the client's runner tracking rests (ClientAgent.maybeLive), still holds.
      if (r.dead) r.forceRestart(reason, gate);
      else stops.push(r.restart(reason, gate));
    }
    await Promise.all(stops);
    const stopping = () => this.detached || this.killing !== undefined;
    const runningOrDead = (r: TaskRunner) => r.dead || r.state.State === 'running';
    const phases = async () => {
      await this.until(
        () =>
          stopping() ||
          (this.ofKind('prestart').every((r) => r.dead) && this.ofKind('prestart-sidecar').every(runningOrDead)),
      );
      openMain();
      await this.until(() => stopping() || this.ofKind('main').every(runningOrDead));
      openPost();
    };
    void phases().catch((e: unknown) => this.log.warn('restart of all tasks failed', { err: String(e) }));
  }

  /** `alloc signal`: one task, or every running task when none is named. */
  async signalTasks(req: { task?: string; signal: string }): Promise<void> {
    const target = req.task ? this.namedTask(req.task) : undefined;
    this.assertLive('signal');
    try {
      signalNumber(req.signal);
    } catch {
      throw invalidSignal(req.signal, SIGNAL_NAMES);
    }
    const reason = 'User requested signal';
    const targets = target ? [target] : this.taskRunners.filter((r) => r.state.State === 'running');
    if (targets.length === 0) throw badRequest(`allocation "${this.alloc.ID}" has no running task to signal`);
    for (const r of targets) {
      if (r.state.State !== 'running')
        throw badRequest(`task "${r.name}" in allocation "${this.alloc.ID}" is not running (state "${r.state.State}")`);
    }
    await Promise.all(targets.map((r) => r.signal(req.signal, reason)));
  }

  /** `alloc exec`: a command inside the named running task. */
  async execTask(task: string, req: ExecStreamRequest): Promise<ExecSession> {
    const r = this.namedTask(task);
    this.assertLive('exec in');
    return r.exec(req);
  }

  async stats(): Promise<Record<string, TaskResourceUsage>> {
    const out: Record<string, TaskResourceUsage> = {};
    for (const r of this.taskRunners) {
      const s = await r.stats();
      if (s) out[r.name] = s;
    }
    return out;
  }

  /** The agent is going away: stop watching, leave the tasks running, keep the persisted state. */
  async shutdown(): Promise<void> {
    this.detached = true;
    this.health?.stop();
    await this.runAllocHooks('detach');
    for (const w of [...this.waiters]) w();
    await Promise.all(this.taskRunners.map((r) => r.detach()));
  }

  /** GC: removes the alloc dir and the persisted state. Only for terminal allocations. */
  destroy(): void {
    this.deps.store.deleteAlloc(this.alloc.ID);
    destroyAllocDir(this.deps.dataDir, this.alloc.ID);
  }
}
