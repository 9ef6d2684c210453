/**
 * Allocation health for deployments and migrations (Nomad's alloc health watcher). The server moves a
 * rollout forward only on what this reports, so it is deliberately conservative: healthy once, after
 * every watched task has run (and every check passed, with health_check = "checks") for
 * min_healthy_time without interruption; unhealthy as soon as a task fails or healthy_deadline passes.
 *
 *   watching ──(all watched tasks running [+ checks passing])──► settling (min_healthy_time timer)
 *   settling ──(a task restarts / stops, a check fails)──────────► watching (timer reset)
 *   settling ──(timer fires)─────────────────────────────────────► healthy   (final)
 *   any ──(a task failed, or healthy_deadline passes)─────────────► unhealthy (final)
 *   health_check = "manual": never leaves watching; the operator sets health through the API.
 */
import type { AllocDeploymentStatus, Allocation, TaskGroup, TaskState } from '../structs/index.js';
import type { Logger } from '../logging/index.js';

/** What a service check source answers for one allocation: undefined when it knows no checks for it. */
export interface CheckStatus {
  /** True when every check of the allocation's services is passing. */
  passing: boolean;
}
export type CheckStatusSource = (allocID: string) => CheckStatus | undefined;

export interface HealthSettings {
  healthCheck: string;
  minHealthyMs: number;
  healthyDeadlineMs: number;
}

const NS_PER_MS = 1_000_000;

/**
 * The health settings that apply to `alloc`, or undefined when its health is not watched: an
 * allocation of a deployment uses its group's update block; a replacement outside any deployment (the
 * new home of a drained allocation, or a rescheduled one) uses the migrate block, as Nomad does. The
 * drainer moves a node's next batch only once the replacements report healthy, so min_healthy_time and
 * the checks of the migrate block are honoured there (src/server/drainer.ts, migrationHealthy).
 */
export function healthSettings(alloc: Allocation, group: TaskGroup): HealthSettings | undefined {
  if (alloc.DeploymentStatus?.Healthy != null) return undefined;
  const strategy = alloc.DeploymentID ? group.Update : alloc.PreviousAllocation ? group.Migrate : undefined;
  if (strategy == null) return undefined;
  return {
    healthCheck: strategy.HealthCheck || 'checks',
    minHealthyMs: Math.max(0, (strategy.MinHealthyTime ?? 0) / NS_PER_MS),
    healthyDeadlineMs: Math.max(0, (strategy.HealthyDeadline ?? 0) / NS_PER_MS),
  };
}

export interface AllocHealthWatcherOptions {
  alloc: Allocation;
  settings: HealthSettings;
  /** Names of the tasks that must be running: not the ephemeral (prestart, poststop, poststart) ones. */
  watchedTasks: string[];
  now: () => number;
  logger: Logger;
  /** The service check source (discovery); absent, a group's health rests on its task states alone. */
  checkStatus?: CheckStatusSource;
  /** How often checks are re-read while waiting for them (they have no change notification). */
  checkPollMs?: number;
  /** Called once, with the final health. */
  onHealth: (status: AllocDeploymentStatus) => void;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class AllocHealthWatcher {
  private result: boolean | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private settleFrom: number | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastStates: Record<string, TaskState> = {};
  private stopped = false;

  constructor(private readonly options: AllocHealthWatcherOptions) {
    if (options.settings.healthyDeadlineMs > 0) {
      this.deadlineTimer = setTimeout(
        () => this.finish(false, 'healthy_deadline passed before the allocation became healthy'),
        options.settings.healthyDeadlineMs,
      );
    }
  }

  /** The health reported, if any. */
  get healthy(): boolean | undefined {
    return this.result;
  }

  /** Feeds the latest task states (called after every task change). */
  observe(states: Record<string, TaskState>): void {
    if (this.done()) return;
    this.lastStates = states;
    const watched = this.options.watchedTasks.map((n) => states[n]).filter((s): s is TaskState => s != null);
    const failed = Object.entries(states).find(([, s]) => s.Failed);
    if (failed) return this.finish(false, `task "${failed[0]}" failed`);
    if (this.options.settings.healthCheck === 'manual') return;
    const allRunning =
      watched.length === this.options.watchedTasks.length && watched.every((s) => s.State === 'running');
    if (!allRunning) return this.unsettle();
    // Running since the latest (re)start: a restart starts min_healthy_time over.
    const since = Math.max(...watched.map((s) => Math.max(ms(s.StartedAt), ms(s.LastRestart))));
    const checks = this.checksState();
    if (checks === 'failing') {
      this.unsettle();
      this.pollChecks();
      return;
    }
    if (this.settleFrom !== undefined && this.settleFrom >= since) return;
    this.unsettle();
    this.settleFrom = Math.max(since, this.options.now());
    this.settleTimer = setTimeout(() => this.settled(), this.options.settings.minHealthyMs);
  }

  /** The checks' part of the health: 'none' when they do not count for this allocation. */
  private checksState(): 'none' | 'passing' | 'failing' {
    if (this.options.settings.healthCheck !== 'checks' || this.options.checkStatus == null) return 'none';
    const st = this.options.checkStatus(this.options.alloc.ID);
    if (st == null) return 'none';
    return st.passing ? 'passing' : 'failing';
  }

  private settled(): void {
    this.settleTimer = undefined;
    if (this.done()) return;
    // Checks may have failed while settling without a task change telling us.
    if (this.checksState() === 'failing') {
      this.settleFrom = undefined;
      this.pollChecks();
      return;
    }
    this.finish(true, 'healthy');
  }

  private pollChecks(): void {
    if (this.pollTimer || this.done()) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.observe(this.lastStates);
    }, this.options.checkPollMs ?? 1_000);
  }

  private unsettle(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    this.settleFrom = undefined;
  }

  private done(): boolean {
    return this.stopped || this.result !== undefined;
  }

  private finish(healthy: boolean, why: string): void {
    if (this.done()) return;
    this.result = healthy;
    this.clearTimers();
    this.options.logger.debug('allocation health set', { healthy, reason: why });
    this.options.onHealth({
      Healthy: healthy,
      Timestamp: iso(this.options.now()),
      Canary: this.options.alloc.DeploymentStatus?.Canary ?? false,
      ModifyIndex: this.options.alloc.ModifyIndex,
    });
  }

  private clearTimers(): void {
    this.unsettle();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.deadlineTimer = undefined;
    this.pollTimer = undefined;
  }

  /** Stops watching without reporting (the allocation stops, or the agent goes away). */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
  }
}

function ms(t: string | null): number {
  if (!t) return 0;
  const v = Date.parse(t);
  return Number.isNaN(v) ? 0 : v;
}
