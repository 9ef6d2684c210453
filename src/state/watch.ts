/**
 * Blocking queries. A waiter is one small object registered in the set of each table it watches, with
 * at most one timer. A commit walks only the waiter sets of the tables it changed; nothing is allocated
 * per write beyond that walk.
 *
 *   wait(tables, minIndex) ──► already past? resolve now
 *            └─► registered ──(a watched table passes minIndex)──► resolve(index)
 *                           ├─(waitMs elapses)────────────────────► resolve(current index)
 *                           └─(signal aborts)─────────────────────► resolve(current index)
 */
import type { TableName } from './schema.js';

interface Waiter {
  tables: readonly TableName[];
  minIndex: number;
  resolve: (index: number) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Waiters answered per turn of the event loop when one commit wakes many (see notify). */
export const WAKE_SLICE = 256;

export class WatchRegistry {
  private readonly byTable = new Map<TableName, Set<Waiter>>();

  constructor(private readonly currentIndex: (tables: readonly TableName[]) => number) {}

  /** Resolves with the highest index of `tables` once it is greater than `minIndex`, or when time runs out. */
  wait(tables: readonly TableName[], minIndex: number, waitMs: number, signal?: AbortSignal): Promise<number> {
    const now = this.currentIndex(tables);
    if (now > minIndex || waitMs <= 0 || signal?.aborted) return Promise.resolve(now);
    return new Promise<number>((resolve) => {
      const w: Waiter = { tables, minIndex, resolve, timer: undefined, signal, onAbort: undefined };
      w.timer = setTimeout(() => this.fire(w), waitMs);
      if (signal != null) {
        w.onAbort = () => this.fire(w);
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      for (const t of tables) {
        let s = this.byTable.get(t);
        if (s == null) {
          s = new Set();
          this.byTable.set(t, s);
        }
        s.add(w);
      }
    });
  }

  /**
   * Called after each commit with the tables it changed and the new index. Every due waiter is detached at
   * once (its timer and abort listener can no longer fire), but they are answered WAKE_SLICE per turn of the
   * event loop: each answer runs a query and encodes it, and 10,000 in one go held the loop for seconds (no
   * timer ran, the leader's etcd lease went unrenewed).
   */
  notify(tables: Iterable<TableName>, index: number): void {
    const due: Waiter[] = [];
    for (const t of tables) {
      const s = this.byTable.get(t);
      if (s == null) continue;
      for (const w of s) if (index > w.minIndex) due.push(this.detach(w));
    }
    this.answerInSlices(due, 0);
  }

  private answerInSlices(due: readonly Waiter[], from: number): void {
    const end = Math.min(due.length, from + WAKE_SLICE);
    for (let i = from; i < end; i++) {
      const w = due[i] as Waiter;
      w.resolve(this.currentIndex(w.tables));
    }
    if (end < due.length) setImmediate(() => this.answerInSlices(due, end));
  }

  /** Wakes every waiter (the store is closing). */
  closeAll(): void {
    for (const s of this.byTable.values()) for (const w of s) this.fire(w);
  }

  size(): number {
    const all = new Set<Waiter>();
    for (const s of this.byTable.values()) for (const w of s) all.add(w);
    return all.size;
  }

  private fire(w: Waiter): void {
    this.detach(w).resolve(this.currentIndex(w.tables));
  }

  /** Unregisters `w`: no table, timer or signal can fire it any more. */
  private detach(w: Waiter): Waiter {
    for (const t of w.tables) this.byTable.get(t)?.delete(w);
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.timer = undefined;
    if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
    w.onAbort = undefined;
    return w;
  }
}
