/**
 * Renews the leader's etcd lease from a worker thread, as Raft's heartbeats run on their own goroutine in Nomad.
 * On the main event loop a burst of request work (10,000 connections accepted and parsed in one poll phase, say)
 * held every timer for seconds, the renewal went out too late and the leader stepped down under load. The worker
 * has its own event loop and its own connections to etcd, so request work on the main thread cannot delay it.
 *
 *   worker: every ttl/3 ──► POST /v3/lease/keepalive (next endpoint when one fails) ──► TTL > 0: validUntil =
 *           sent + TTL − margin, stored in shared memory │ TTL 0 (lease gone): validUntil = 0, "lost", stop
 *   main:   `validUntil` reads the shared value at once (no message to wait for behind a busy loop)
 *
 * The main thread decides when the term ends (its clock against `validUntil`); the worker only renews.
 * Fencing does not depend on this: a deposed leader's writes are refused by etcd whatever either thread thinks.
 */
import { Worker } from 'node:worker_threads';

export interface LeaseKeeperOptions {
  /** etcd client URLs, tried in turn. */
  endpoints: string[];
  /** The lease ID as etcd's JSON gateway writes it (decimal text). */
  lease: string;
  ttlSeconds: number;
  /** Until when (epoch ms) the lease is known valid at the start, margin already taken off. */
  validUntil: number;
  /** Taken off each renewal's expiry, so the leader stops acting before etcd can expire the lease. */
  marginMs: number;
  /** A renewal failed (the worker retries on its next turn). */
  onWarning: (message: string) => void;
  /** etcd said the lease is gone. */
  onLost: () => void;
}

/**
 * The worker's program, run from source (`eval`) so it needs no separate build output: the compiled agent and
 * the TypeScript sources under vitest hand over the same text. Plain fetch, no imports of ours.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { endpoints, lease, ttlMs, marginMs, shared } = workerData;
const valid = new BigInt64Array(shared);
let current = 0;
let stopped = false;
parentPort.on('message', (m) => { if (m === 'stop') { stopped = true; parentPort.close(); } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function renew() {
  let last = '';
  for (let tried = 0; tried < endpoints.length; tried++) {
    const i = (current + tried) % endpoints.length;
    const sent = Date.now();
    try {
      const res = await fetch(endpoints[i] + '/v3/lease/keepalive', {
        method: 'POST',
        body: JSON.stringify({ ID: lease }),
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(ttlMs),
      });
      const text = await res.text();
      const body = JSON.parse(text.split('\\n')[0] || '{}');
      if (!res.ok || body.error !== undefined) {
        last = endpoints[i] + ': ' + String(body.message || body.error || 'HTTP ' + res.status);
        continue;
      }
      current = i;
      const ttl = Number((body.result && body.result.TTL) || 0);
      if (ttl <= 0) return 'lost';
      const until = sent + ttl * 1000 - marginMs;
      if (until > Number(Atomics.load(valid, 0))) Atomics.store(valid, 0, BigInt(Math.floor(until)));
      return 'ok';
    } catch (e) {
      last = endpoints[i] + ': ' + String((e && e.cause && e.cause.message) || (e && e.message) || e);
    }
  }
  parentPort.postMessage({ type: 'warn', message: 'leader lease renewal failed: ' + last });
  return 'failed';
}
(async () => {
  while (!stopped) {
    await sleep(ttlMs / 3);
    if (stopped) return;
    if ((await renew()) === 'lost') {
      Atomics.store(valid, 0, 0n);
      parentPort.postMessage({ type: 'lost' });
      return;
    }
  }
})();
`;

export class LeaseKeeper {
  private readonly valid: BigInt64Array;
  private readonly worker: Worker;

  constructor(opts: LeaseKeeperOptions) {
    const shared = new SharedArrayBuffer(8);
    this.valid = new BigInt64Array(shared);
    Atomics.store(this.valid, 0, BigInt(Math.floor(opts.validUntil)));
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        endpoints: opts.endpoints,
        lease: opts.lease,
        ttlMs: opts.ttlSeconds * 1000,
        marginMs: opts.marginMs,
        shared,
      },
    });
    this.worker.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'lost') opts.onLost();
      else if (m.type === 'warn') opts.onWarning(m.message ?? '');
    });
    // A worker that dies (out of memory, say) renews nothing: the term then ends when validUntil passes.
    this.worker.on('error', (e) => opts.onWarning(`lease worker failed: ${e.message}`));
  }

  /** Until when (epoch ms) the lease is known valid, with the margin taken off; 0 once etcd said it is gone. */
  get validUntil(): number {
    return Number(Atomics.load(this.valid, 0));
  }

  /** Stops renewing (the lease then expires unless revoked first). */
  async close(): Promise<void> {
    this.worker.postMessage('stop');
    await this.worker.terminate();
  }
}
