/**
 * The eval broker: at-least-once delivery of evaluations to scheduler workers, by priority, one
 * evaluation per job at a time.
 *
 *   enqueue ──► WaitUntil/Wait in the future? ──► delayed ──(time)──┐
 *      │                                                            ▼
 *      ├── the job already has one ready or in flight ──► pending (per job; newest wins on ack,
 *      │                                                            the older ones are cancelled)
 *      └──────────────────────────────────────────────────► ready (per scheduler type, priority heap)
 *   ready ──dequeue──► unacked (token, nack timer)
 *   unacked ──ack──► done; the job's newest pending eval becomes ready
 *          └─nack / nack timeout──► deliveries < limit ? ready again after a delay : failed
 */
import { generateUUID, type Evaluation } from '../structs/index.js';
import type { Logger } from '../logging/index.js';
import { DroverError } from '../errors/index.js';
import { PriorityQueue } from './priority-queue.js';
import type { Clock } from '../scheduler/types.js';

export interface EvalBrokerOptions {
  logger: Logger;
  clock: Clock;
  /** An unacked eval is nacked after this long without an ack or a reset (Nomad: 60 s). */
  nackTimeoutMs?: number;
  /** Deliveries before an eval is given up as failed (Nomad: 3). */
  deliveryLimit?: number;
  /** Delay before a nacked eval is ready again: first nack, later nacks (Nomad: 1 s, 20 s). */
  initialNackDelayMs?: number;
  subsequentNackDelayMs?: number;
  /** Called when an eval reached the delivery limit; the server marks it failed. */
  onFailed(ev: Evaluation): void;
  /** Called with evals superseded by a newer eval of the same job; the server marks them cancelled. */
  onCancel(evals: Evaluation[]): void;
}

interface Unacked {
  ev: Evaluation;
  token: string;
  timer: NodeJS.Timeout | undefined;
}

interface Waiter {
  types: readonly string[];
  resolve: (v: { ev: Evaluation; token: string } | null) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface BrokerStats {
  ready: number;
  unacked: number;
  pending: number;
  delayed: number;
  byType: Record<string, number>;
}

const byPriority = (a: Evaluation, b: Evaluation) =>
  a.Priority !== b.Priority ? a.Priority > b.Priority : a.CreateIndex < b.CreateIndex;

function jobKey(ev: Evaluation): string {
  return `${ev.Namespace}\u0000${ev.JobID}`;
}

export class EvalBroker {
  private enabled = false;
  private readonly deliveries = new Map<string, number>();
  private readonly ready = new Map<string, PriorityQueue<Evaluation>>();
  private readonly unacked = new Map<string, Unacked>();
  /** The one eval per job that is ready or in flight. */
  private readonly jobEval = new Map<string, string>();
  private readonly pending = new Map<string, Evaluation[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private waiters: Waiter[] = [];
  private readonly nackTimeoutMs: number;
  private readonly deliveryLimit: number;
  private readonly initialNackDelayMs: number;
  private readonly subsequentNackDelayMs: number;

  constructor(private readonly opts: EvalBrokerOptions) {
    this.nackTimeoutMs = opts.nackTimeoutMs ?? 60_000;
    this.deliveryLimit = opts.deliveryLimit ?? 3;
    this.initialNackDelayMs = opts.initialNackDelayMs ?? 1_000;
    this.subsequentNackDelayMs = opts.subsequentNackDelayMs ?? 20_000;
  }

  setEnabled(on: boolean): void {
    this.enabled = on;
    if (!on) this.flush();
  }

  isEnabled(): boolean {
    return this.enabled;
  }

  /** Accepts an eval (once per eval ID while the broker tracks it). */
  enqueue(ev: Evaluation): void {
    if (!this.enabled || this.deliveries.has(ev.ID)) return;
    this.deliveries.set(ev.ID, 0);
    const at = ev.WaitUntil ? Date.parse(ev.WaitUntil) : NaN;
    const delayMs = Number.isFinite(at) ? at - this.opts.clock.now() : ev.Wait > 0 ? ev.Wait / 1e6 : 0;
    if (delayMs > 0) {
      const t = setTimeout(() => {
        this.delayed.delete(ev.ID);
        this.place(ev);
      }, delayMs);
      this.delayed.set(ev.ID, t);
      return;
    }
    this.place(ev);
  }

  /** Ready, unless the job already has an eval ready or in flight: then it waits its turn. */
  private place(ev: Evaluation): void {
    const k = jobKey(ev);
    const holder = this.jobEval.get(k);
    if (holder !== undefined && holder !== ev.ID) {
      const list = this.pending.get(k) ?? [];
      list.push(ev);
      this.pending.set(k, list);
      return;
    }
    this.jobEval.set(k, ev.ID);
    this.pushReady(ev);
  }

  private pushReady(ev: Evaluation): void {
    let q = this.ready.get(ev.Type);
    if (q == null) {
      q = new PriorityQueue(byPriority);
      this.ready.set(ev.Type, q);
    }
    q.push(ev);
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      const got = this.take(w.types);
      if (got == null) {
        still.push(w);
        continue;
      }
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(got);
    }
    this.waiters = still;
  }

  /** The highest-priority ready eval among `types`, now unacked under a fresh token. */
  private take(types: readonly string[]): { ev: Evaluation; token: string } | null {
    let best: PriorityQueue<Evaluation> | undefined;
    for (const t of types) {
      const q = this.ready.get(t);
      const top = q?.peek();
      if (top == null) continue;
      const cur = best?.peek();
      if (cur == null || byPriority(top, cur)) best = q;
    }
    const ev = best?.pop();
    if (ev == null) return null;
    const token = generateUUID();
    this.deliveries.set(ev.ID, (this.deliveries.get(ev.ID) ?? 0) + 1);
    const u: Unacked = { ev, token, timer: undefined };
    this.unacked.set(ev.ID, u);
    this.armNackTimer(u);
    return { ev, token };
  }

  private armNackTimer(u: Unacked): void {
    if (u.timer) clearTimeout(u.timer);
    u.timer = setTimeout(() => {
      this.opts.logger.warn('eval not acked in time; nacking', { eval_id: u.ev.ID });
      try {
        this.nack(u.ev.ID, u.token);
      } catch {
        // Already acked or nacked meanwhile.
      }
    }, this.nackTimeoutMs);
  }

  /** Waits for an eval of one of `types`; resolves null when the signal aborts or the broker is disabled. */
  dequeue(types: readonly string[], signal?: AbortSignal): Promise<{ ev: Evaluation; token: string } | null> {
    if (!this.enabled || signal?.aborted) return Promise.resolve(null);
    const got = this.take(types);
    if (got != null) return Promise.resolve(got);
    return new Promise((resolve) => {
      const w: Waiter = { types, resolve, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(null);
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
    });
  }

  /** The token of the eval's current delivery, if it is in flight. */
  outstanding(evalID: string): string | undefined {
    return this.unacked.get(evalID)?.token;
  }

  /** Restarts the nack timer of an in-flight eval (the worker is still making progress). */
  outstandingReset(evalID: string, token: string): void {
    const u = this.checkToken(evalID, token);
    this.armNackTimer(u);
  }

  private checkToken(evalID: string, token: string): Unacked {
    const u = this.unacked.get(evalID);
    if (u == null) throw new DroverError('Conflict', `evaluation ${evalID} is not outstanding`);
    if (u.token !== token) throw new DroverError('Conflict', `evaluation ${evalID} token does not match`);
    return u;
  }

  ack(evalID: string, token: string): void {
    const u = this.checkToken(evalID, token);
    if (u.timer) clearTimeout(u.timer);
    this.unacked.delete(evalID);
    this.deliveries.delete(evalID);
    this.release(u.ev);
  }

  /** Frees the job's slot: its newest pending eval becomes ready, the older ones are cancelled. */
  private release(ev: Evaluation): void {
    const k = jobKey(ev);
    if (this.jobEval.get(k) === ev.ID) this.jobEval.delete(k);
    const list = this.pending.get(k);
    if (list == null || list.length === 0) return;
    this.pending.delete(k);
    list.sort((a, b) => b.CreateIndex - a.CreateIndex || b.ModifyIndex - a.ModifyIndex);
    const [newest, ...older] = list;
    for (const o of older) this.deliveries.delete(o.ID);
    if (older.length > 0) this.opts.onCancel(older);
    this.place(newest!);
  }

  nack(evalID: string, token: string): void {
    const u = this.checkToken(evalID, token);
    if (u.timer) clearTimeout(u.timer);
    this.unacked.delete(evalID);
    const n = this.deliveries.get(evalID) ?? 1;
    if (n >= this.deliveryLimit) {
      this.opts.logger.warn('eval reached its delivery limit', { eval_id: evalID, deliveries: n });
      this.deliveries.delete(evalID);
      this.opts.onFailed(u.ev);
      this.release(u.ev);
      return;
    }
    const delay = n <= 1 ? this.initialNackDelayMs : this.subsequentNackDelayMs;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.enabled) this.pushReady(u.ev);
    }, delay);
    this.timers.add(t);
  }

  stats(): BrokerStats {
    const byType: Record<string, number> = {};
    let ready = 0;
    for (const [t, q] of this.ready) {
      byType[t] = q.size;
      ready += q.size;
    }
    let pending = 0;
    for (const l of this.pending.values()) pending += l.length;
    return { ready, unacked: this.unacked.size, pending, delayed: this.delayed.size, byType };
  }

  private flush(): void {
    for (const u of this.unacked.values()) if (u.timer) clearTimeout(u.timer);
    for (const t of this.timers) clearTimeout(t);
    for (const t of this.delayed.values()) clearTimeout(t);
    this.timers.clear();
    this.delayed.clear();
    this.unacked.clear();
    this.ready.clear();
    this.pending.clear();
    this.jobEval.clear();
    this.deliveries.clear();
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(null);
    }
  }
}
