/**
 * The task runner: one per task of an allocation, alive as long as the task may still run.
 *
 *   pending ─► setup (task dir, logs) ─► prestart hooks ─► driver.startTask ──► running ─► waitTask ─► exited
 *      ▲                                       │ error                                                   │
 *      │                                       ▼                                                         ▼
 *      └── Restarting (delay) ◄──── restart tracker: restart | not restarting (dead, failed) | terminated (dead)
 *   kill(): Killing ─► stopTask(kill_timeout, kill_signal) ─► Terminated ─► Killed ─► dead
 *   detach(): the agent goes away; the task keeps running and its handle stays persisted for recoverTask.
 */
import type { Allocation, Task, TaskEvent, TaskGroup, TaskState } from '../structs/index.js';
import { TaskEventTypes as EV, allocTerminalStatus, newTaskState } from '../structs/index.js';
import type {
  ExecSession,
  ExecStreamRequest,
  ExitResult,
  TaskDriver,
  TaskHandle,
  TaskResourceUsage,
} from '../drivers/index.js';
import { isRecoverable, signalNumber } from '../drivers/index.js';
import type { Logger } from '../logging/index.js';
import { DroverError } from '../errors/index.js';
import type { TaskHook, TaskHookContext } from './hooks.js';
import type { InterpolationContext, InterpolationNode } from './interpolate.js';
import { buildTaskDir, taskDirs } from './alloc-dir.js';
import { buildTaskEnv } from './task-env.js';
import { buildTaskConfig, defaultCapabilities, type HostVolumeConfig } from './task-config.js';
import {
  RestartTracker,
  defaultRestartPolicy,
  type RestartDecision,
  type RestartTrackerState,
} from './restart-tracker.js';
import { taskEvent } from './task-events.js';
import { LogRotator } from './logs/index.js';
import { sleepFor } from './util.js';

const MAX_EVENTS = 10;

/** What survives an agent restart for one task. */
export interface PersistedTaskState {
  state: TaskState;
  handle: TaskHandle | null;
  restart: RestartTrackerState;
}

/** What the alloc runner passes on from the agent to each of its task runners. */
export interface RunnerHostDeps {
  dataDir: string;
  region: string;
  advertiseIP: string;
  hostEnv: Record<string, string | undefined>;
  hostVolumes: Record<string, HostVolumeConfig>;
  logger: Logger;
  now: () => number;
  random: () => number;
  logRotateIntervalMs: number;
}

export interface TaskRunnerDeps extends RunnerHostDeps {
  alloc: Allocation;
  group: TaskGroup;
  task: Task;
  driver: TaskDriver | undefined;
  node: InterpolationNode;
  hooks: TaskHook[];
  restored?: PersistedTaskState;
  /** State, events or handle changed: persist and report. */
  onChange: () => void;
  /** The allocation's network namespace (bridge / none / CNI mode), once the alloc runner built it. */
  network?: () => { netnsPath: string; ip: string; gateway?: string; resolvConf?: string } | undefined;
  /** Prestart/poststop tasks that are not sidecars finish for good after a successful exit. */
  ephemeral: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class TaskRunner {
  readonly name: string;
  private alloc: Allocation;
  private readonly deps: TaskRunnerDeps;
  state: TaskState;
  handle: TaskHandle | null;
  private readonly tracker: RestartTracker;
  private readonly detachCtl = new AbortController();
  private readonly killCtl = new AbortController();
  private killing = false;
  private killFails = false;
  /** Why the running task is being stopped to start again: a user/template restart, or a check_restart failure. */
  private restartRequested: 'no' | 'user' | 'failure' = 'no';
  /** Set by a user restart-all: the next start waits for the earlier lifecycle phase to run again. */
  private startGate: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private rotators: LogRotator[] = [];
  private rotateTimer: NodeJS.Timeout | undefined;
  private env: Record<string, string> = {};
  private hookCtx: TaskHookContext | undefined;
  private readonly log: Logger;
  /** The task ID of the start in progress or running: driver events for older starts are dropped. */
  private currentTaskID: string | undefined;
  /** The driver already reported this run's OOM kill as an event; the exit must not report it twice. */
  private oomReported = false;

  constructor(deps: TaskRunnerDeps) {
    this.deps = deps;
    this.alloc = deps.alloc;
    this.name = deps.task.Name;
    this.log = deps.logger.child({ task: deps.task.Name });
    this.state = deps.restored?.state ?? newTaskState();
    this.handle = deps.restored?.handle ?? null;
    const policy = deps.task.RestartPolicy ?? deps.group.RestartPolicy ?? defaultRestartPolicy(deps.alloc.Job.Type);
    const jobType = deps.ephemeral ? 'batch' : deps.alloc.Job.Type;
    this.tracker = new RestartTracker(policy, jobType, deps.now, deps.random, deps.restored?.restart);
  }

  persisted(): PersistedTaskState {
    return { state: this.state, handle: this.handle, restart: { ...this.tracker.state } };
  }

  get dead(): boolean {
    return this.state.State === 'dead';
  }

  /** Starts the run loop once; resolves when the task is dead for good or the runner was detached. */
  run(): Promise<void> {
    this.running ??= this.loop().catch((e: unknown) => {
      if (this.detachCtl.signal.aborted) return;
      this.log.error('task runner failed', { err: String(e) });
      this.finish(true, taskEvent(EV.DriverFailure, this.deps.now(), { DriverError: String(e), FailsTask: true }));
    });
    return this.running;
  }

  /** The allocation could not be set up (its network namespace): the task never starts and fails. */
  failSetup(message: string): void {
    if (this.dead) return;
    this.finish(true, taskEvent(EV.SetupFailure, this.deps.now(), { SetupError: message, FailsTask: true }));
  }

  private emit(ev: TaskEvent, state?: TaskState['State']): void {
    this.state.Events = [...this.state.Events, ev].slice(-MAX_EVENTS);
    if (state) this.state.State = state;
    this.deps.onChange();
  }

  private finish(failed: boolean, ev?: TaskEvent): void {
    if (ev) this.state.Events = [...this.state.Events, ev].slice(-MAX_EVENTS);
    this.state.State = 'dead';
    this.state.Failed = this.state.Failed || failed;
    this.state.FinishedAt = iso(this.deps.now());
    this.handle = null;
    this.deps.onChange();
  }

  private async loop(): Promise<void> {
    if (this.dead) return;
    // A forced restart of a finished task runs the loop again: it is not a new task, so no Received / Setup.
    const fresh = this.deps.restored === undefined && this.state.StartedAt === null;
    if (fresh) this.emit(taskEvent(EV.Received, this.deps.now()));
    if (!this.deps.driver) {
      return this.finish(
        true,
        taskEvent(EV.DriverFailure, this.deps.now(), {
          DriverError: `driver "${this.deps.task.Driver}" is not available on this client`,
          FailsTask: true,
        }),
      );
    }
    const driver = this.deps.driver;
    this.setup(fresh);
    try {
      let exit: ExitResult | undefined;
      if (this.handle) exit = await this.recover(driver);
      for (;;) {
        if (this.detachCtl.signal.aborted) return;
        if (exit === undefined) {
          if (this.killing) break;
          await this.passGate();
          if (this.killing || this.detachCtl.signal.aborted) continue;
          const started = await this.start(driver);
          if (started !== 'ok') {
            if (started === 'stop') break;
            const delay = this.decide(started);
            if (delay === undefined) return;
            continue;
          }
          exit = await driver.waitTask(this.handle!.config.id, this.detachCtl.signal);
        }
        if (this.detachCtl.signal.aborted) return;
        const decision = await this.exited(driver, exit);
        exit = undefined;
        if (this.killing) break;
        const delay = this.decide(decision);
        if (delay === undefined) return;
        await sleepFor(delay, this.killCtl.signal);
        this.deps.onChange();
      }
      this.finish(this.killFails, taskEvent(EV.Killed, this.deps.now()));
    } catch (e) {
      if (this.detachCtl.signal.aborted) return;
      throw e;
    } finally {
      this.stopRotation();
      if (this.dead) await this.runHooks('stop');
    }
  }

  /** Waits for the gate of a restart-all (the earlier lifecycle phase running again), unless the task is killed. */
  private async passGate(): Promise<void> {
    const gate = this.startGate;
    this.startGate = undefined;
    if (!gate) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.killCtl.signal.removeEventListener('abort', done);
        this.detachCtl.signal.removeEventListener('abort', done);
        resolve();
      };
      this.killCtl.signal.addEventListener('abort', done, { once: true });
      this.detachCtl.signal.addEventListener('abort', done, { once: true });
      gate.then(done, done);
    });
  }

  /** Applies a restart decision; returns the delay before the next start, or undefined when the task is done. */
  private decide(d: RestartDecision): number | undefined {
    const now = this.deps.now();
    switch (d.kind) {
      case 'restart':
        this.state.Restarts++;
        this.state.LastRestart = iso(now);
        this.emit(
          taskEvent(EV.Restarting, now, { StartDelay: Math.round(d.delayMs * 1e6), RestartReason: d.reason }),
          'pending',
        );
        return d.delayMs;
      case 'not-restarting':
        this.finish(true, taskEvent(EV.NotRestarting, now, { RestartReason: d.reason, FailsTask: true }));
        return undefined;
      case 'terminated':
        this.finish(false);
        return undefined;
      case 'killed':
        this.finish(this.killFails, taskEvent(EV.Killed, now));
        return undefined;
    }
  }

  private setup(fresh: boolean): void {
    const dirs = taskDirs(this.deps.dataDir, this.alloc.ID, this.name);
    if (fresh) this.emit(taskEvent(EV.Setup, this.deps.now(), { Message: 'Building Task Directory' }));
    buildTaskDir(dirs);
    this.rotators = [];
    const lc = this.deps.task.LogConfig;
    for (const kind of ['stdout', 'stderr']) {
      const r = new LogRotator({
        dir: dirs.logDir,
        base: `${this.name}.${kind}`,
        maxFiles: lc?.MaxFiles || 10,
        maxBytes: (lc?.MaxFileSizeMB || 10) * 1024 * 1024,
      });
      r.init();
      this.rotators.push(r);
    }
    this.rotateTimer = setInterval(() => this.rotateLogs(), this.deps.logRotateIntervalMs);
    this.rotateTimer.unref();
  }

  private rotateLogs(): void {
    for (const r of this.rotators) {
      try {
        r.check();
      } catch (e) {
        this.log.warn('log rotation failed', { err: String(e) });
      }
    }
  }

  private stopRotation(): void {
    if (this.rotateTimer) clearInterval(this.rotateTimer);
    this.rotateTimer = undefined;
    this.rotateLogs();
  }

  private context(driver: TaskDriver): TaskHookContext {
    const dirs = taskDirs(this.deps.dataDir, this.alloc.ID, this.name);
    const caps = driver.capabilities ?? defaultCapabilities;
    this.env = buildTaskEnv({
      alloc: this.alloc,
      group: this.deps.group,
      task: this.deps.task,
      node: this.deps.node,
      region: this.deps.region,
      dirs,
      fsIsolation: caps.fsIsolation,
      hostEnv: this.deps.hostEnv,
      advertiseIP: this.deps.advertiseIP,
      ...(this.deps.network?.()?.ip ? { allocIP: this.deps.network()!.ip } : {}),
    });
    const interpolation: InterpolationContext = { env: this.env, node: this.deps.node, region: this.deps.region };
    this.hookCtx = {
      alloc: this.alloc,
      group: this.deps.group,
      task: this.deps.task,
      dirs,
      env: this.env,
      interpolation,
      driver,
      logger: this.log,
      signal: this.killCtl.signal,
      emitEvent: (ev) => this.emit(ev),
      restart: async (reason, opts) => {
        await this.restart(reason, undefined, opts);
      },
      signalTask: (sig, reason) => this.signal(sig, reason),
      kill: (reason) => this.kill(taskEvent(EV.HookFailed, this.deps.now(), { Message: reason }), true),
      network: () => this.deps.network?.(),
    };
    return this.hookCtx;
  }

  private async runHooks(phase: 'stop' | 'update'): Promise<void> {
    const ctx = this.hookCtx;
    if (!ctx) return;
    for (const h of this.deps.hooks) {
      try {
        if (phase === 'stop') await h.stop?.(ctx);
        else await h.update?.(ctx, this.alloc);
      } catch (e) {
        this.log.warn('task hook failed', { hook: h.name, phase, err: String(e) });
      }
    }
  }

  /** One start: prestart hooks, the driver, poststart hooks. */
  private async start(driver: TaskDriver): Promise<'ok' | 'stop' | RestartDecision> {
    const ctx = this.context(driver);
    for (const h of this.deps.hooks) {
      if (!h.prestart) continue;
      try {
        const r = await h.prestart(ctx);
        if (r?.env) Object.assign(this.env, r.env);
      } catch (e) {
        if (this.killing) return 'stop';
        // A hook may report its failure with its own event (Nomad's HookError: "Failed Artifact Download").
        const own = e instanceof DroverError ? (e.details.taskEvent as TaskEvent | undefined) : undefined;
        this.emit(
          own ??
            taskEvent(EV.HookFailed, this.deps.now(), { Message: `${h.name}: ${String((e as Error).message ?? e)}` }),
        );
        return this.tracker.onStartError(isRecoverable(e) || !(e instanceof DroverError));
      }
    }
    if (this.killing) return 'stop';
    const cfg = buildTaskConfig({
      alloc: this.alloc,
      group: this.deps.group,
      task: this.deps.task,
      dirs: ctx.dirs,
      env: this.env,
      ctx: ctx.interpolation,
      advertiseIP: this.deps.advertiseIP,
      hostVolumes: this.deps.hostVolumes,
      ...(this.deps.network?.() ? { netnsPath: this.deps.network()!.netnsPath } : {}),
      ...(this.deps.network?.()?.resolvConf ? { resolvConfPath: this.deps.network()!.resolvConf } : {}),
    });
    this.currentTaskID = cfg.id;
    this.oomReported = false;
    try {
      const { handle } = await driver.startTask(cfg, this.killCtl.signal);
      this.handle = handle;
    } catch (e) {
      if (this.killing) return 'stop';
      const msg = e instanceof Error ? e.message : String(e);
      this.emit(taskEvent(EV.DriverFailure, this.deps.now(), { DriverError: msg }));
      return this.tracker.onStartError(isRecoverable(e));
    }
    this.state.StartedAt = iso(this.deps.now());
    this.emit(taskEvent(EV.Started, this.deps.now()), 'running');
    for (const h of this.deps.hooks) {
      try {
        await h.poststart?.(ctx, this.handle);
      } catch (e) {
        this.log.warn('poststart hook failed', { hook: h.name, err: String(e) });
      }
    }
    return 'ok';
  }

  /** Re-attaches after an agent restart. Returns the exit when the task already ended while the agent was down. */
  private async recover(driver: TaskDriver): Promise<ExitResult | undefined> {
    const handle = this.handle!;
    this.currentTaskID = handle.config.id;
    this.context(driver);
    try {
      await driver.recoverTask(handle);
      this.log.info('recovered task', { taskID: handle.config.id });
      await this.recoveredHooks(handle);
      return await driver.waitTask(handle.config.id, this.detachCtl.signal);
    } catch (e) {
      if (this.detachCtl.signal.aborted) throw e;
      this.log.warn('task could not be recovered', { err: String(e) });
      return {
        exitCode: -1,
        signal: 0,
        oomKilled: false,
        err: `task lost while the client was down: ${(e as Error).message}`,
      };
    }
  }

  private async recoveredHooks(handle: TaskHandle): Promise<void> {
    const ctx = this.hookCtx;
    if (!ctx) return;
    for (const h of this.deps.hooks)
      await h
        .recovered?.(ctx, handle)
        .catch((e: unknown) => this.log.warn('recovered hook failed', { hook: h.name, err: String(e) }));
  }

  /** Before the kill: services leave the catalog while the task still answers (then shutdown_delay runs). */
  private async preKillHooks(): Promise<void> {
    const ctx = this.hookCtx;
    if (!ctx) return;
    for (const h of this.deps.hooks)
      await h
        .preKill?.(ctx)
        .catch((e: unknown) => this.log.warn('pre-kill hook failed', { hook: h.name, err: String(e) }));
  }

  /** Records an exit: events, hooks, driver cleanup; returns what the restart policy says. */
  private async exited(driver: TaskDriver, exit: ExitResult): Promise<RestartDecision> {
    const now = this.deps.now();
    if (exit.oomKilled && !this.oomReported) this.emit(taskEvent(EV.OOMKilled, now));
    this.oomReported = false;
    this.emit(
      taskEvent(
        EV.Terminated,
        now,
        { ExitCode: exit.exitCode, Signal: exit.signal, ...(exit.err ? { Message: exit.err } : {}) },
        exit.oomKilled ? { oom_killed: 'true' } : {},
      ),
    );
    const id = this.handle?.config.id;
    this.handle = null;
    this.deps.onChange();
    if (id)
      await driver
        .destroyTask(id, true)
        .catch((e: unknown) => this.log.warn('destroy task failed', { err: String(e) }));
    if (this.hookCtx)
      for (const h of this.deps.hooks)
        await h
          .exited?.(this.hookCtx, exit)
          .catch((e: unknown) => this.log.warn('exited hook failed', { hook: h.name, err: String(e) }));
    const requested = this.restartRequested;
    this.restartRequested = 'no';
    // check_restart counts against the restart policy (Nomad's SetRestartTriggered(failure = true)).
    if (requested === 'failure')
      return this.tracker.onExit({ exitCode: exit.exitCode, signal: exit.signal, killed: false, failed: true });
    if (requested === 'user') {
      // As Nomad: a requested restart carries no reason, so the event reads "Task restarting in 0s".
      return { kind: 'restart', delayMs: 0, reason: '' };
    }
    return this.tracker.onExit({
      exitCode: exit.exitCode,
      signal: exit.signal,
      killed: this.killing,
      failed: exit.err !== undefined,
    });
  }

  /**
   * Kills the task for good: Killing, kill_signal, kill_timeout, SIGKILL. `ev` says why (sibling failed, leader
   * dead); `fails` marks the task failed. Resolves when the task is dead.
   */
  async kill(ev?: TaskEvent, fails = false): Promise<void> {
    if (this.dead) return;
    if (ev) this.emit(ev);
    this.killFails = this.killFails || fails;
    if (!this.killing) {
      this.killing = true;
      this.killCtl.abort(new DroverError('Aborted', 'task killed'));
      const handle = this.handle;
      if (handle && this.deps.driver) {
        await this.preKillHooks();
        const timeoutNs = this.deps.task.KillTimeout ?? 5e9;
        const delayNs = this.alloc.DesiredTransition?.NoShutdownDelay ? 0 : (this.deps.task.ShutdownDelay ?? 0);
        if (delayNs > 0) await sleepFor(delayNs / 1e6);
        this.emit(taskEvent(EV.Killing, this.deps.now(), { KillTimeout: timeoutNs }));
        await this.deps.driver
          .stopTask(handle.config.id, timeoutNs / 1e6, this.deps.task.KillSignal || 'SIGTERM')
          .catch((e: unknown) => this.log.warn('stop task failed', { err: String(e) }));
      }
    }
    if (this.running) await this.running;
    else this.finish(fails, taskEvent(EV.Killed, this.deps.now()));
  }

  /**
   * Restarts a running task without counting it against the restart policy (template change_mode, `alloc
   * restart`), or with `failure` (check_restart) through the policy, which may delay or end the task.
   * With `gate`, the next start waits for it (restart-all starts tasks again in lifecycle order).
   * Resolves when the old run is stopped; false when the task was not running.
   */
  async restart(reason: string, gate?: Promise<void>, opts: { failure?: boolean } = {}): Promise<boolean> {
    const handle = this.handle;
    if (!handle || !this.deps.driver || this.killing || this.state.State !== 'running') return false;
    this.restartRequested = opts.failure ? 'failure' : 'user';
    this.startGate = gate;
    this.emit(taskEvent(EV.RestartSignal, this.deps.now(), { RestartReason: reason }));
    await this.deps.driver.stopTask(
      handle.config.id,
      (this.deps.task.KillTimeout ?? 5e9) / 1e6,
      this.deps.task.KillSignal || 'SIGTERM',
    );
    return true;
  }

  /**
   * Runs a task that already finished (a prestart or poststart task that is not a sidecar) once more, for
   * `alloc restart -all-tasks`. A task that was killed or failed stays dead. Returns false when not applicable.
   * Only for an allocation that is not done (another task still live): the client stops walking a runner once
   * it is done, taking "done is final" (ClientAgent.maybeLive), so a done allocation must never come back.
   */
  forceRestart(reason: string, gate?: Promise<void>): boolean {
    if (!this.dead || this.killing || this.state.Failed || this.detachCtl.signal.aborted) return false;
    const now = this.deps.now();
    this.state.Events = [...this.state.Events, taskEvent(EV.RestartSignal, now, { RestartReason: reason })].slice(
      -MAX_EVENTS,
    );
    this.state.Restarts++;
    this.state.LastRestart = iso(now);
    this.state.FinishedAt = null;
    this.emit(taskEvent(EV.Restarting, now, { StartDelay: 0, RestartReason: reason }), 'pending');
    this.startGate = gate;
    this.running = undefined;
    void this.run();
    return true;
  }

  async signal(sig: string, reason: string): Promise<void> {
    const handle = this.handle;
    if (!handle || !this.deps.driver) throw new DroverError('TaskNotFound', `task "${this.name}" is not running`);
    signalNumber(sig);
    this.emit(taskEvent(EV.Signaling, this.deps.now(), { TaskSignal: sig, TaskSignalReason: reason }));
    await this.deps.driver.signalTask(handle.config.id, sig);
  }

  /** `alloc exec`: a command inside this running task, through the driver's `execStreaming`. */
  async exec(req: ExecStreamRequest): Promise<ExecSession> {
    const handle = this.handle;
    const driver = this.deps.driver;
    if (!handle || !driver || this.state.State !== 'running')
      throw new DroverError('BadRequest', `task "${this.name}" is not running (state "${this.state.State}")`);
    if (!driver.execStreaming || driver.capabilities?.exec === false)
      throw new DroverError('BadRequest', `the ${driver.name} driver of task "${this.name}" does not support exec`);
    return driver.execStreaming(handle.config.id, req);
  }

  /**
   * An event a driver reported for this task (image pulls as "Driver" messages, "OOM Killed"). Events of an
   * earlier start of the task are dropped: they describe a process that is gone.
   */
  driverEvent(taskID: string, type: string, message: string): void {
    if (this.dead || taskID !== (this.handle?.config.id ?? this.currentTaskID)) return;
    const now = this.deps.now();
    if (type === EV.OOMKilled) {
      this.oomReported = true;
      this.emit(taskEvent(EV.OOMKilled, now));
      return;
    }
    if (type === EV.DriverMessage) this.emit(taskEvent(type, now, { DriverMessage: message }));
    else this.emit(taskEvent(type, now, { Message: message }));
  }

  async stats(): Promise<TaskResourceUsage | undefined> {
    if (!this.handle || !this.deps.driver || this.state.State !== 'running') return undefined;
    return this.deps.driver.taskStats(this.handle.config.id).catch(() => undefined);
  }

  /** The allocation changed in place (new job version without a destructive change). */
  async update(alloc: Allocation): Promise<void> {
    this.alloc = alloc;
    if (this.hookCtx) this.hookCtx.alloc = alloc;
    if (!allocTerminalStatus(alloc)) await this.runHooks('update');
  }

  /** The agent is going away: stop watching, leave the task running. */
  async detach(): Promise<void> {
    this.detachCtl.abort(new DroverError('Aborted', 'client shutting down'));
    this.killCtl.abort(new DroverError('Aborted', 'client shutting down'));
    this.stopRotation();
    await this.running;
  }
}
