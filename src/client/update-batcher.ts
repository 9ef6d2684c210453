/**
 * Batches allocation updates to the server: the latest update per allocation, sent at most every `intervalMs`
 * (the first change goes out at once). A failed send is retried with the updates that are still the latest.
 */
import type { Logger } from '../logging/index.js';
import type { AllocClientUpdate, ServerRPC } from './rpc.js';

export class UpdateBatcher {
  /** Per allocation, its latest update, or the function that builds it when the batch goes out. */
  private readonly pending = new Map<string, AllocClientUpdate | (() => AllocClientUpdate)>();
  private timer: NodeJS.Timeout | undefined;
  private lastSent = 0;
  private inflight: Promise<void> | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly rpc: ServerRPC,
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  push(u: AllocClientUpdate): void {
    this.pending.set(u.ID, u);
    this.schedule();
  }

  /**
   * Like push, but the update is built by `make` when the batch is sent: the state the allocation is in then,
   * which is the update a later change would have replaced this one with anyway.
   */
  pushLazy(allocID: string, make: () => AllocClientUpdate): void {
    this.pending.set(allocID, make);
    this.schedule();
  }

  /** True while an update for this allocation has not reached the server. */
  has(allocID: string): boolean {
    return this.pending.has(allocID);
  }

  private schedule(): void {
    if (this.timer || this.inflight || this.closed) return;
    // Retries back off from four batch windows (200 ms by default, the window before it was shortened to 50 ms),
    // so a short window does not make clients retry a down server faster.
    const backoff = this.failures > 0 ? Math.min(10_000, 4 * this.intervalMs * 2 ** this.failures) : 0;
    const delay = Math.max(0, this.lastSent + this.intervalMs - this.now(), backoff);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inflight = this.send().finally(() => {
        this.inflight = undefined;
        if (this.pending.size > 0) this.schedule();
      });
    }, delay);
  }

  private async send(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()].map((u) => (typeof u === 'function' ? u() : u));
    this.pending.clear();
    this.lastSent = this.now();
    try {
      await this.rpc.updateAllocs(batch);
      this.failures = 0;
    } catch (e) {
      this.failures++;
      this.log.warn('sending allocation updates failed', { err: String(e), count: batch.length });
      for (const u of batch) if (!this.pending.has(u.ID)) this.pending.set(u.ID, u);
    }
  }

  /** Sends what is pending now (one attempt) and stops scheduling. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
    await this.send();
  }
}
