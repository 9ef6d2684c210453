/**
 * The status of one check from its stream of probe results, with Consul's thresholds, and the check_restart
 * rule on top of it. Pure: no timers, no I/O; the runner feeds results and the time.
 *
 *   initial_status (critical unless set)
 *        │ passing|warning result: successes++ , failures = 0
 *        │     successes ≥ success_before_passing ─────────► that result's status
 *        │ critical result: failures++ , successes = 0
 *        │     failures ≥ failures_before_critical ────────► critical
 *        │     failures ≥ failures_before_warning ─────────► warning
 *        └─ otherwise the status stays as it was (a flap under the threshold is not a change)
 *
 * check_restart: after the grace period from task start, `limit` consecutive unhealthy statuses (critical,
 * or warning unless ignore_warnings) ask for a restart; the count resets on a healthy status and after the
 * restart, and the grace period starts again.
 */
import type { ServiceHealthStatus } from '../structs/index.js';

export interface ThresholdConfig {
  InitialStatus: ServiceHealthStatus;
  SuccessBeforePassing: number;
  FailuresBeforeCritical: number;
  FailuresBeforeWarning: number;
}

export class CheckStatusTracker {
  private successes = 0;
  private failures = 0;
  private current: ServiceHealthStatus;

  constructor(private readonly cfg: ThresholdConfig) {
    this.current = cfg.InitialStatus;
  }

  get status(): ServiceHealthStatus {
    return this.current;
  }

  /** Applies one probe result; returns the (possibly unchanged) status. */
  apply(result: ServiceHealthStatus): ServiceHealthStatus {
    if (result !== 'critical') {
      this.successes++;
      this.failures = 0;
      if (this.successes >= this.cfg.SuccessBeforePassing) this.current = result;
      return this.current;
    }
    this.successes = 0;
    this.failures++;
    const fbc = this.cfg.FailuresBeforeCritical;
    const fbw = Math.min(this.cfg.FailuresBeforeWarning || fbc, fbc);
    if (this.failures >= fbc) this.current = 'critical';
    else if (this.failures >= fbw) this.current = 'warning';
    return this.current;
  }
}

export interface CheckRestartConfig {
  Limit: number;
  GraceMs: number;
  IgnoreWarnings: boolean;
}

export class CheckRestartTracker {
  private unhealthy = 0;
  private graceUntil: number;

  constructor(
    private readonly cfg: CheckRestartConfig,
    startedAt: number,
  ) {
    this.graceUntil = startedAt + cfg.GraceMs;
  }

  /** Observes a check status at time `now` (ms); true when the task should be restarted now. */
  observe(status: ServiceHealthStatus, now: number): boolean {
    const unhealthy = status === 'critical' || (status === 'warning' && !this.cfg.IgnoreWarnings);
    if (!unhealthy) {
      this.unhealthy = 0;
      return false;
    }
    if (now < this.graceUntil) return false;
    this.unhealthy++;
    if (this.unhealthy < this.cfg.Limit) return false;
    this.restarted(now);
    return true;
  }

  /** The task restarted at `now`: forget the streak and give it its grace period again. */
  restarted(now: number): void {
    this.unhealthy = 0;
    this.graceUntil = now + this.cfg.GraceMs;
  }
}

/**
 * Whether a service's checks let a deployment count the allocation healthy, honouring each check's on_update:
 * `ignore` checks do not count, `ignore_warnings` checks count a warning as healthy.
 */
export function deploymentHealthy(checks: Array<{ OnUpdate: string; Status: ServiceHealthStatus }>): boolean {
  return checks.every((c) => {
    if (c.OnUpdate === 'ignore') return true;
    if (c.OnUpdate === 'ignore_warnings') return c.Status !== 'critical';
    return c.Status === 'passing';
  });
}
