/** Time injected into loops that wait (health checks, templates, catalog followers), so tests step it by hand. */
import { sleep } from './sleep.js';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and an abortable timer. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, signal),
};
