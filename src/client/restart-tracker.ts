/**
 * Nomad's restart policy tracker. After each exit (or start failure) it decides: restart after a delay, or stop.
 *
 *   exit/start error ─► killed? ──────────────────────────────► Killed (no restart)
 *        │               batch job and exit 0? ──────────────► Terminated (done)
 *        │               unrecoverable start error? ─────────► Not Restarting "Error was unrecoverable"
 *        ├─ window older than Interval: count = 0, window starts now
 *        ├─ count++ ≤ Attempts ──────────────────────────────► Restarting, delay = Delay + jitter(0..25% of Delay)
 *        └─ count > Attempts: mode "fail" ───────────────────► Not Restarting "Exceeded allowed attempts ..."
 *                             mode "delay" ──────────────────► Restarting, delay = until the window ends
 */
import type { RestartPolicy } from '../structs/index.js';
import { formatGoDuration } from '../lib/duration.js';

export const ReasonNoRestartsAllowed = 'Policy allows no restarts';
export const ReasonUnrecoverableError = 'Error was unrecoverable';
export const ReasonWithinPolicy = 'Restart within policy';
export const ReasonDelay = 'Exceeded allowed attempts, applying a delay';

export type RestartDecision =
  | { kind: 'restart'; delayMs: number; reason: string }
  | { kind: 'not-restarting'; reason: string }
  | { kind: 'terminated' }
  | { kind: 'killed' };

/** What is persisted, so that an agent restart does not reset the attempts. */
export interface RestartTrackerState {
  count: number;
  /** Unix ms when the current window began; 0 before the first restart. */
  windowStart: number;
}

/** Nomad's defaults when neither task nor group has a restart block. */
export function defaultRestartPolicy(jobType: string): RestartPolicy {
  const NS_MIN = 60 * 1e9;
  if (jobType === 'batch' || jobType === 'sysbatch')
    return { Attempts: 3, Interval: 24 * 60 * NS_MIN, Delay: 15e9, Mode: 'fail' };
  return { Attempts: 2, Interval: 30 * NS_MIN, Delay: 15e9, Mode: 'fail' };
}

export class RestartTracker {
  state: RestartTrackerState;

  constructor(
    private readonly policy: RestartPolicy,
    private readonly jobType: string,
    private readonly now: () => number,
    private readonly random: () => number,
    state?: RestartTrackerState,
  ) {
    this.state = state ? { ...state } : { count: 0, windowStart: 0 };
  }

  /** After the task exited by itself (`killed` false) or was killed by the client. */
  onExit(res: { exitCode: number; signal: number; killed: boolean; failed?: boolean }): RestartDecision {
    if (res.killed) return { kind: 'killed' };
    const success = res.exitCode === 0 && res.signal === 0 && !res.failed;
    // Batch work that succeeded is done; service tasks are restarted even after a clean exit, as in Nomad.
    if (success && (this.jobType === 'batch' || this.jobType === 'sysbatch')) return { kind: 'terminated' };
    return this.next();
  }

  onStartError(recoverable: boolean): RestartDecision {
    if (!recoverable) return { kind: 'not-restarting', reason: ReasonUnrecoverableError };
    return this.next();
  }

  private next(): RestartDecision {
    const now = this.now();
    const intervalMs = this.policy.Interval / 1e6;
    if (this.state.windowStart === 0 || now - this.state.windowStart > intervalMs)
      this.state = { count: 0, windowStart: now };
    this.state.count++;
    if (this.state.count > this.policy.Attempts) {
      if (this.policy.Mode === 'fail') {
        if (this.policy.Attempts === 0) return { kind: 'not-restarting', reason: ReasonNoRestartsAllowed };
        return {
          kind: 'not-restarting',
          reason: `Exceeded allowed attempts ${this.policy.Attempts} in interval ${formatGoDuration(this.policy.Interval)} and mode is "fail"`,
        };
      }
      // Mode delay: wait for the window to end, then a fresh window of attempts.
      const delayMs = Math.max(0, this.state.windowStart + intervalMs - now);
      this.state = { count: 0, windowStart: 0 };
      return { kind: 'restart', delayMs, reason: ReasonDelay };
    }
    const delayMs = this.policy.Delay / 1e6;
    return {
      kind: 'restart',
      delayMs: delayMs + Math.floor(this.random() * delayMs * 0.25),
      reason: ReasonWithinPolicy,
    };
  }
}
