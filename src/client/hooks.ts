/**
 * Task hooks: how features plug into a task's life without the task runner knowing them (templates, services,
 * artifacts, volumes come from other modules). Every callback is optional.
 *
 *   prestart (before each start; may add env) ─► driver start ─► poststart ─► ... ─► exited (after each exit)
 *   stop: once, when the task is killed or finishes for good.   update: the allocation changed in place.
 */
import type { Allocation, Task, TaskEvent, TaskGroup } from '../structs/index.js';
import type { TaskDirs, TaskHandle, ExitResult, ExecResult, TaskDriver } from '../drivers/index.js';
import type { Logger } from '../logging/index.js';
import type { InterpolationContext, InterpolationNode } from './interpolate.js';

export interface TaskHookContext {
  alloc: Allocation;
  group: TaskGroup;
  task: Task;
  dirs: TaskDirs;
  /** The env the task will get (NOMAD_* plus env block), and the context for interpolating more. */
  env: Record<string, string>;
  interpolation: InterpolationContext;
  driver: TaskDriver;
  logger: Logger;
  /** Aborts when the task runner stops (task killed, agent shutting down). */
  signal: AbortSignal;
  emitEvent(ev: TaskEvent): void;
  /**
   * Restarts the task. Template change_mode = "restart" is not counted against the restart policy; `failure`
   * (check_restart) is, as in Nomad: it may exhaust the attempts and fail the task.
   */
  restart(reason: string, opts?: { failure?: boolean }): Promise<void>;
  /** Sends a signal to the running task (change_mode = "signal"). */
  signalTask(sig: string, reason: string): Promise<void>;
  /** Kills the task for good, failing it (a hook that cannot recover). */
  kill(reason: string): Promise<void>;
  /** The allocation's network namespace (bridge / none / CNI mode); undefined in host mode. */
  network?(): { netnsPath: string; ip: string; gateway?: string } | undefined;
}

export interface PrestartResult {
  /** Variables added to the task's env (template `env = true`). */
  env?: Record<string, string>;
}

export interface TaskHook {
  readonly name: string;
  prestart?(ctx: TaskHookContext): Promise<PrestartResult | void>;
  poststart?(ctx: TaskHookContext, handle: TaskHandle): Promise<void>;
  exited?(ctx: TaskHookContext, exit: ExitResult): Promise<void>;
  stop?(ctx: TaskHookContext): Promise<void>;
  update?(ctx: TaskHookContext, alloc: Allocation): Promise<void>;
  /** The task is about to be killed for good (before shutdown_delay and the kill signal): deregister services. */
  preKill?(ctx: TaskHookContext): Promise<void>;
  /** A restarted agent re-attached to the running task (poststart does not run again). */
  recovered?(ctx: TaskHookContext, handle: TaskHandle): Promise<void>;
}

/** Builds the extra hooks of one task; passed to `createClient` as `taskHooks`. */
export type TaskHookFactory = (args: { alloc: Allocation; group: TaskGroup; task: Task }) => TaskHook[];

/** What an allocation-level hook (group services) may use of its alloc runner. */
export interface AllocHookContext {
  alloc: Allocation;
  group: TaskGroup;
  node: InterpolationNode;
  region: string;
  advertiseIP: string;
  dataDir: string;
  logger: Logger;
  /** Runs a command inside one of the allocation's running tasks (script checks); undefined when it is not running. */
  execTask(task: string, cmd: string[], timeoutMs: number): Promise<ExecResult> | undefined;
  /** Restarts one running task for check_restart: a failure, counted against the restart policy as in Nomad. */
  restartTask(task: string, reason: string): Promise<void>;
}

/**
 * Allocation-level hooks, around the group's tasks rather than one task:
 *
 *   running (every main task started, also after an agent restart) ─► update* ─► preKill (the alloc is stopped,
 *   before any task is killed) ─► stop (every task dead)      detach: the agent goes away, tasks keep running.
 */
export interface AllocHook {
  readonly name: string;
  running?(ctx: AllocHookContext): Promise<void>;
  update?(ctx: AllocHookContext, alloc: Allocation): Promise<void>;
  preKill?(ctx: AllocHookContext): Promise<void>;
  stop?(ctx: AllocHookContext): Promise<void>;
  detach?(ctx: AllocHookContext): Promise<void>;
}

export type AllocHookFactory = (args: { alloc: Allocation; group: TaskGroup }) => AllocHook[];
