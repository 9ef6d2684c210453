/**
 * Renews the leader's etcd lease from a worker thread, as Raft's heartbeats run on their own goroutine in Nomad.
 * On the main event loop a burst of request work (10,000 connections accepted and parsed in one poll phase, say)
 * held every timer for seconds, the renewal went out too late and the leader stepped down under load. The worker
 * has its own event loop and its own connections to etcd, so request work on the main thread cannot delay it.
 *
 *   start(): worker up (before the first lease is granted: starting a thread takes a while on a busy machine)
 *   keep(lease) ──► worker, every ttl/3: POST /v3/lease/keepalive (next endpoint when one fails)
 *        TTL > 0 ──► validUntil = sent + TTL − margin, stored in shared memory
 *        TTL 0 (lease gone) ──► validUntil = 0, "lost"
 *   release() ──► the worker stops renewing that lease (a later answer for it is ignored)
 *
 * `validUntil` reads the shared value at once, with no message to wait for behind a busy loop. The main thread
 * decides when a term ends (its clock against `validUntil`); the worker only renews. Fencing does not depend on
 * this: a deposed leader's writes are refused by etcd whatever either thread thinks.
 */
import { Worker } from 'node:worker_threads';

export interface LeaseTerm {
  /** The lease ID as etcd's JSON gateway writes it (decimal text). */
  lease: string;
  ttlSeconds: number;
  /** Until when (epoch ms) the lease is known valid at the start, margin already taken off. */
  validUntil: number;
  /** Taken off each renewal's expiry, so the leader stops acting before etcd can expire the lease. */
  marginMs: number;
  /** etcd said the lease is gone. */
  onLost: () => void;
}

/**
 * The worker's program, run from source (`eval`) so it needs no separate build output: the compiled agent and
 * the TypeScript sources under vitest hand over the same text. Plain fetch, no imports of ours.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { endpoints, shared } = workerData;
const valid = new BigInt64Array(shared);
let current = 0;
let term;
let generation = 0;
let wake;
const sleep = (ms) => new Promise((r) => { const t = setTimeout(r, ms); wake = () => { clearTimeout(t); r(); }; });
parentPort.on('message', (m) => {
  if (m.type === 'keep') { term = m; generation++; if (wake) wake(); }
  else if (m.type === 'release') { term = undefined; generation++; }
});
async function renew(t) {
  let last = '';
  for (let tried = 0; tried < endpoints.length; tried++) {
    const i = (current + tried) % endpoints.length;
    const sent = Date.now();
    try {
      const res = await fetch(endpoints[i] + '/v3/lease/keepalive', {
        method: 'POST',
        body: JSON.stringify({ ID: t.lease }),
        headers: { 'content-type': 'application/json' },
        // A member that hangs (partitioned) rather than refusing must not use up the lease: each try gets a
        // third of the TTL, so the next member is asked while the lease is still valid.
        signal: AbortSignal.timeout(Math.max(100, Math.floor(t.ttlMs / 3))),
      });
      const text = await res.text();
      const body = JSON.parse(text.split('\\n')[0] || '{}');
      if (!res.ok || body.error !== undefined) {
        last = endpoints[i] + ': ' + String(body.message || body.error || 'HTTP ' + res.status);
        continue;
      }
      current = i;
      const ttl = Number((body.result && body.result.TTL) || 0);
      return ttl <= 0 ? { lost: true } : { until: sent + ttl * 1000 - t.marginMs };
    } catch (e) {
      last = endpoints[i] + ': ' + String((e && e.cause && e.cause.message) || (e && e.message) || e);
    }
  }
  return { failed: last };
}
parentPort.postMessage({ type: 'ready' });
(async () => {
  for (;;) {
    if (!term) { await sleep(60000); continue; }
    const t = term;
    const g = generation;
    await sleep(t.ttlMs / 3);
    if (g !== generation) continue;
    const r = await renew(t);
    if (g !== generation) continue;
    if (r.lost) {
      Atomics.store(valid, 0, 0n);
      term = undefined;
      parentPort.postMessage({ type: 'lost' });
    } else if (r.failed !== undefined) {
      parentPort.postMessage({ type: 'warn', message: 'leader lease renewal failed: ' + r.failed });
    } else if (r.until > Number(Atomics.load(valid, 0))) {
      Atomics.store(valid, 0, BigInt(Math.floor(r.until)));
    }
  }
})();
`;

export class LeaseKeeper {
  private readonly valid: BigInt64Array;
  private onLost: (() => void) | undefined;
  /** The worker ended (failed, or closed): it renews nothing any more. */
  dead = false;

  private constructor(
    private readonly worker: Worker,
    shared: SharedArrayBuffer,
    onWarning: (message: string) => void,
  ) {
    this.valid = new BigInt64Array(shared);
    worker.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'lost') this.onLost?.();
      else if (m.type === 'warn') onWarning(m.message ?? '');
    });
    // A worker that dies (out of memory, say) renews nothing: a term then ends when validUntil passes, and the
    // leadership starts a new worker for its next term (see `dead`).
    worker.on('error', (e) => {
      this.dead = true;
      onWarning(`lease worker failed: ${e.message}`);
    });
    worker.on('exit', () => {
      this.dead = true;
    });
    // Idle between terms; it must not keep the process alive on its own.
    worker.unref();
  }

  /** Starts the worker and resolves once it runs; `endpoints` are etcd client URLs, tried in turn. */
  static async start(endpoints: string[], onWarning: (message: string) => void): Promise<LeaseKeeper> {
    const shared = new SharedArrayBuffer(8);
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { endpoints, shared } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new LeaseKeeper(worker, shared, onWarning);
  }

  /** Renews `t.lease` from now on (instead of any earlier lease). */
  keep(t: LeaseTerm): void {
    Atomics.store(this.valid, 0, BigInt(Math.floor(t.validUntil)));
    this.onLost = t.onLost;
    this.worker.postMessage({ type: 'keep', lease: t.lease, ttlMs: t.ttlSeconds * 1000, marginMs: t.marginMs });
  }

  /** Stops renewing the current lease (it then expires unless revoked first). */
  release(): void {
    this.onLost = undefined;
    Atomics.store(this.valid, 0, 0n);
    this.worker.postMessage({ type: 'release' });
  }

  /** Until when (epoch ms) the current lease is known valid, with the margin taken off; 0 when there is none. */
  get validUntil(): number {
    return Number(Atomics.load(this.valid, 0));
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
