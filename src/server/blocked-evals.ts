/**
 * Blocked evaluations: evals whose task groups could not all be placed wait here until capacity may
 * have freed up, then go back to the broker.
 *
 *   block(ev) ──► a capacity change since ev's snapshot that concerns it? ──► broker now (it missed it)
 *      │
 *      ├─ ev escaped the class cache (constraints on unique.* attributes) ──► escaped: any change frees it
 *      └─ else ──► captured with ClassEligibility: a change on class C frees it unless C was ineligible
 *
 * One blocked eval per job: a newer one replaces the older, which is cancelled.
 */
import type { Evaluation } from '../structs/index.js';
import type { Logger } from '../logging/index.js';

export interface BlockedEvalsOptions {
  logger: Logger;
  /** Re-enqueues an unblocked eval into the broker. */
  enqueue(ev: Evaluation): void;
  /** Cancels evals replaced by a newer blocked eval of the same job. */
  onCancel(evals: Evaluation[]): void;
}

function jobKey(ev: Pick<Evaluation, 'Namespace' | 'JobID'>): string {
  return `${ev.Namespace}\u0000${ev.JobID}`;
}

export class BlockedEvals {
  private enabled = false;
  private readonly captured = new Map<string, Evaluation>();
  private readonly escaped = new Map<string, Evaluation>();
  private readonly byJob = new Map<string, string>();
  /** The latest index at which capacity changed, per computed class; "" for any class. */
  private readonly unblockIndexes = new Map<string, number>();
  private anyUnblockIndex = 0;

  constructor(private readonly opts: BlockedEvalsOptions) {}

  setEnabled(on: boolean): void {
    this.enabled = on;
    if (!on) {
      this.captured.clear();
      this.escaped.clear();
      this.byJob.clear();
      this.unblockIndexes.clear();
      this.anyUnblockIndex = 0;
    }
  }

  block(ev: Evaluation): void {
    if (!this.enabled) return;
    const k = jobKey(ev);
    const prevID = this.byJob.get(k);
    if (prevID !== undefined && prevID !== ev.ID) {
      const prev = this.captured.get(prevID) ?? this.escaped.get(prevID);
      this.forget(prevID);
      if (prev != null) this.opts.onCancel([prev]);
    }
    if (this.missedUnblock(ev)) {
      this.opts.logger.debug('blocked eval missed an unblock; re-enqueueing', { eval_id: ev.ID });
      this.opts.enqueue(ev);
      return;
    }
    this.byJob.set(k, ev.ID);
    if (ev.EscapedComputedClass) this.escaped.set(ev.ID, ev);
    else this.captured.set(ev.ID, ev);
  }

  /** Did capacity change after the eval's snapshot in a way that could have helped it? */
  private missedUnblock(ev: Evaluation): boolean {
    if (ev.EscapedComputedClass) return this.anyUnblockIndex > ev.SnapshotIndex;
    for (const [cls, idx] of this.unblockIndexes) {
      if (idx <= ev.SnapshotIndex) continue;
      const elig = ev.ClassEligibility?.[cls];
      if (elig === undefined || elig) return true;
    }
    return false;
  }

  /** Capacity may have freed on nodes of `computedClass` at `index`: release the evals it may help. */
  unblock(computedClass: string, index: number): void {
    if (!this.enabled) return;
    this.unblockIndexes.set(computedClass, Math.max(index, this.unblockIndexes.get(computedClass) ?? 0));
    this.anyUnblockIndex = Math.max(this.anyUnblockIndex, index);
    const out: Evaluation[] = [...this.escaped.values()];
    for (const ev of this.captured.values()) {
      const elig = ev.ClassEligibility?.[computedClass];
      if (elig === undefined || elig) out.push(ev);
    }
    for (const ev of out) {
      this.forget(ev.ID);
      this.opts.enqueue(ev);
    }
  }

  /** Stops tracking the job's blocked eval (the job was stopped or purged); returns it. */
  untrackJob(namespace: string, jobID: string): Evaluation | undefined {
    const id = this.byJob.get(jobKey({ Namespace: namespace, JobID: jobID }));
    if (id === undefined) return undefined;
    const ev = this.captured.get(id) ?? this.escaped.get(id);
    this.forget(id);
    return ev;
  }

  private forget(id: string): void {
    const ev = this.captured.get(id) ?? this.escaped.get(id);
    this.captured.delete(id);
    this.escaped.delete(id);
    if (ev != null && this.byJob.get(jobKey(ev)) === id) this.byJob.delete(jobKey(ev));
  }

  has(evalID: string): boolean {
    return this.captured.has(evalID) || this.escaped.has(evalID);
  }

  stats(): { totalBlocked: number; totalEscaped: number } {
    return { totalBlocked: this.captured.size + this.escaped.size, totalEscaped: this.escaped.size };
  }
}
