/**
 * A local copy of the catalog kept current through the agent's HTTP API with blocking queries, for processes
 * that do not hold the server's state (a client-only agent's DNS server, a standalone gateway).
 *
 *   services loop: GET /v1/services?namespace=&index=I&wait=  ─► names appear ─► start a service loop each
 *                                                               names vanish ─► stop it, drop its instances
 *   service loop:  GET /v1/service/<name>?namespace=&index=I&wait= ─► replace that service's instances
 *   any error ─► retry after a backoff (doubling, capped); the copy keeps its last good state meanwhile
 *
 * Index rules as Nomad's clients: wait for an index above the last seen; if the index goes backwards (a
 * server restored a snapshot), start again from 0. The queries go through src/api's typed client.
 */
import { DroverClient, type QueryResponse } from '../api/index.js';
import type { ServiceRegistration, ServiceRegistrationListStub } from '../structs/index.js';
import { nullLogger, type Logger } from '../logging/index.js';
import { systemClock, type Clock } from './clock.js';

export interface CatalogFollowerOptions {
  /** The agent's HTTP address, e.g. `http://127.0.0.1:4646`. */
  address: string;
  /** `*` (default) follows every namespace. */
  namespace?: string;
  /** Sent as X-Nomad-Token. */
  token?: string;
  /** Blocking query wait. Default 60s. */
  waitMs?: number;
  /** First retry delay after an error. Default 1000ms, doubling to 30s. */
  retryMs?: number;
  logger?: Logger;
  clock?: Clock;
  /** Called after the copy changed. */
  onChange?(): void;
}

interface Loop {
  ctl: AbortController;
  done: Promise<void>;
}

export class CatalogFollower {
  private readonly byService = new Map<string, ServiceRegistration[]>();
  private readonly loops = new Map<string, Loop>();
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly api: DroverClient;
  private listed = false;

  constructor(private readonly opts: CatalogFollowerOptions) {
    this.api = new DroverClient({ address: opts.address, token: opts.token });
    this.log = (opts.logger ?? nullLogger).child({ component: 'catalog-follower' });
    this.clock = opts.clock ?? systemClock;
  }

  /** Every instance currently known (all health states; filter with filterService or a DNS source). */
  registrations(): ServiceRegistration[] {
    return [...this.byService.values()].flat();
  }

  /** True once the service list has been read at least once. */
  get ready(): boolean {
    return this.listed;
  }

  /** Follows the catalog until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const ns = this.opts.namespace ?? '*';
    try {
      await this.follow(
        'services',
        (index, wait) => this.api.services.list({ namespace: ns, index, wait, signal }),
        signal,
        (stubs) => this.onList(stubs ?? [], signal),
      );
    } finally {
      for (const l of this.loops.values()) l.ctl.abort();
      await Promise.all([...this.loops.values()].map((l) => l.done));
      this.loops.clear();
    }
  }

  private onList(stubs: ServiceRegistrationListStub[], signal: AbortSignal): void {
    const want = new Set<string>();
    for (const s of stubs) for (const svc of s.Services ?? []) want.add(key(s.Namespace, svc.ServiceName));
    for (const [k, l] of this.loops) {
      if (want.has(k)) continue;
      l.ctl.abort();
      this.loops.delete(k);
      this.byService.delete(k);
      this.changed();
    }
    for (const k of want) {
      if (this.loops.has(k)) continue;
      const ctl = new AbortController();
      const stop = () => ctl.abort();
      signal.addEventListener('abort', stop, { once: true });
      const [ns, name] = split(k);
      const done = this.follow(
        `service ${name}`,
        (index, wait) => this.api.services.get(name, { namespace: ns, index, wait, signal: ctl.signal }),
        ctl.signal,
        (regs) => {
          this.byService.set(k, regs ?? []);
          this.changed();
        },
      ).finally(() => signal.removeEventListener('abort', stop));
      this.loops.set(k, { ctl, done });
    }
    this.listed = true;
  }

  private changed(): void {
    try {
      this.opts.onChange?.();
    } catch (e) {
      this.log.warn('catalog change callback failed', { err: e instanceof Error ? e.message : String(e) });
    }
  }

  /** One blocking-query loop: calls `apply` with each new body. Ends (without throwing) when `signal` aborts. */
  private async follow<T>(
    what: string,
    query: (index: number, wait: string) => Promise<QueryResponse<T>>,
    signal: AbortSignal,
    apply: (body: T) => void,
  ): Promise<void> {
    let index = 0;
    let backoff = this.opts.retryMs ?? 1000;
    const wait = `${Math.max(1, Math.round((this.opts.waitMs ?? 60_000) / 1000))}s`;
    while (!signal.aborted) {
      try {
        const started = this.clock.now();
        const { value, index: next } = await query(index, wait);
        const unchanged = next === index && index !== 0;
        if (!unchanged) apply(value);
        index = next < index ? 0 : next;
        backoff = this.opts.retryMs ?? 1000;
        // A server that answers at once without a change is not blocking: do not spin on it.
        if (unchanged && this.clock.now() - started < 100) await this.clock.sleep(1000, signal);
      } catch (e) {
        if (signal.aborted) return;
        this.log.warn('catalog query failed; retrying', {
          query: what,
          err: e instanceof Error ? e.message : String(e),
          backoffMs: backoff,
        });
        try {
          await this.clock.sleep(backoff, signal);
        } catch {
          return;
        }
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }
}

function key(ns: string, name: string): string {
  return `${ns}\u0000${name}`;
}

function split(k: string): [string, string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
}
