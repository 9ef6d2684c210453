/** Time for the health checks: the shared Clock, and a manual one tests step by hand. */
import type { Clock } from '../lib/clock.js';

export { systemClock, type Clock } from '../lib/clock.js';

interface Timer {
  at: number;
  seq: number;
  resolve(): void;
}

/**
 * A clock that moves only when told: `advance(ms)` fires due sleeps in time order and lets the woken code run
 * (up to its next sleep) before moving on. For tests of the check runner and of anything built on it.
 */
export class ManualClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.nowMs = start;
  }

  now(): number {
    return this.nowMs;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer: Timer = {
        at: this.nowMs + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
    });
  }

  /** Pending sleeps, for assertions. */
  get pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.nowMs + ms;
    await settle();
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.nowMs = Math.max(this.nowMs, next.at);
      next.resolve();
      await settle();
    }
    this.nowMs = end;
    await settle();
  }
}

/** Lets promise chains woken by a timer run to their next await on real I/O or a sleep. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}
