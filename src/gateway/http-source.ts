/**
 * A CatalogSource that follows an agent's service catalog over Nomad's native service API, with blocking
 * queries only (no polling):
 *
 *   GET /v1/services?index=N&wait=4m ----> service names changed --> start/stop one watcher per service
 *        ^_________ until aborted ___|
 *   GET /v1/service/:name?index=M&wait=4m --> that service's registrations changed --> publish the merged set
 *
 * The first set is published only once every service has answered, so the gateway never starts from a
 * partial table. Queries go through src/api's typed client. Errors back off exponentially (250 ms to 10 s) and keep the last known registrations.
 *
 * Health: Nomad's native API serves registrations without health, so a registration without Drover's `Status`
 * field is taken as passing. Drover's agent adds `Status` (the worst of the instance's checks) and answers every
 * instance by default, as Nomad does; the source asks for all of them (no `?health=passing` filter) and passes
 * non-passing ones on as unhealthy, so a route whose instances all fail answers 503 naming the route instead of
 * vanishing into a 404. A `Healthy: false` field is honoured the same way.
 *
 * Several addresses (a client agent's server list): a query that fails moves every watcher on to the next
 * address, so the gateway keeps following the catalog when a server dies; meanwhile it keeps the last set.
 * The servers of one cluster share one index, so a query continues from the index the dead one gave.
 */
import { DroverClient, type QueryResponse } from '../api/index.js';
import { DroverError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { ServiceRegistration } from '../structs/index.js';
import { registrationToInstance } from './blocking-source.js';
import { Latest } from './latest.js';
import type { CatalogSource, GatewayInstance } from './types.js';
import { sleepOrAborted } from '../lib/sleep.js';

export interface HttpCatalogSourceOptions {
  /** The agent's HTTP address, e.g. `http://127.0.0.1:4646`; or the servers of one cluster, tried in turn. */
  address: string | string[];
  /** Namespace to follow; `*` follows all. Default `default`. */
  namespace?: string;
  /** ACL token, sent as X-Nomad-Token. */
  token?: string;
  /**
   * Longest hold of one blocking query, as a Go duration. Default `4m`: the typed client sends through `fetch`,
   * whose default wait for response headers is 5 minutes, so a 5m hold would race it.
   */
  wait?: string;
  logger: Logger;
  /** Backoff bounds after a failed query, in ms. Defaults 250 and 10_000. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** Nomad's ServiceRegistration as a foreign agent may send it: Drover's `Status`, or a `Healthy` flag. */
type Registration = ServiceRegistration & { Healthy?: boolean };

export class HttpCatalogSource implements CatalogSource {
  private readonly apis: DroverClient[];
  /** Which of `apis` the queries go to; moved on by the first query that fails there. */
  private current = 0;
  private readonly logger: Logger;

  constructor(private readonly opts: HttpCatalogSourceOptions) {
    const addresses = Array.isArray(opts.address) ? opts.address : [opts.address];
    if (addresses.length === 0) throw new DroverError('BadRequest', 'gateway: the catalog source needs an address');
    this.apis = addresses.map((address) => new DroverClient({ address, token: opts.token }));
    this.logger = opts.logger.child({ component: 'gateway-catalog', address: addresses.join(',') });
  }

  async *watch(signal: AbortSignal): AsyncGenerator<GatewayInstance[]> {
    const out = new Latest<GatewayInstance[]>();
    const inner = new AbortController();
    const stop = () => inner.abort();
    signal.addEventListener('abort', stop, { once: true });
    const running = this.follow(out, inner.signal).catch((err: unknown) => {
      if (!inner.signal.aborted) this.logger.error('catalog watch stopped', { error: String(err) });
    });
    try {
      yield* out.values(signal);
    } finally {
      signal.removeEventListener('abort', stop);
      inner.abort();
      await running;
    }
  }

  /** Follows the service list and keeps one watcher per service, publishing the merged set on every change. */
  private async follow(out: Latest<GatewayInstance[]>, signal: AbortSignal): Promise<void> {
    const byService = new Map<string, GatewayInstance[] | undefined>();
    const watchers = new Map<string, { stop: AbortController; done: Promise<void> }>();
    let primed = false;
    const publish = () => {
      if (!primed && [...byService.values()].some((v) => v === undefined)) return;
      primed = true;
      out.publish([...byService.values()].flatMap((v) => v ?? []));
    };
    try {
      await this.blocking(
        'services',
        (api, index, wait) => api.services.list({ namespace: this.opts.namespace ?? 'default', index, wait, signal }),
        signal,
        (list) => {
          const wanted = new Set<string>();
          for (const ns of list ?? [])
            for (const s of ns.Services ?? []) wanted.add(`${ns.Namespace}\u0000${s.ServiceName}`);
          let removed = false;
          for (const [key, w] of watchers) {
            if (wanted.has(key)) continue;
            removed = true;
            w.stop.abort();
            watchers.delete(key);
            byService.delete(key);
          }
          for (const key of wanted) {
            if (watchers.has(key)) continue;
            const [ns, name] = key.split('\u0000') as [string, string];
            const stop = new AbortController();
            const both = AbortSignal.any([signal, stop.signal]);
            byService.set(key, undefined);
            const done = this.blocking(
              `service ${name}`,
              (api, index, wait) => api.services.get(name, { namespace: ns, index, wait, signal: both }),
              both,
              (regs: Registration[] | null) => {
                if (stop.signal.aborted) return;
                byService.set(key, (regs ?? []).map(toInstance));
                publish();
              },
            ).catch((err: unknown) => {
              if (!both.aborted) this.logger.error('service watch stopped', { service: name, error: String(err) });
            });
            watchers.set(key, { stop, done });
          }
          // New services publish when their own watcher answers; only removals (or the very first, empty
          // catalog) change the set here.
          if (removed || (!primed && wanted.size === 0)) publish();
        },
      );
    } finally {
      for (const w of watchers.values()) w.stop.abort();
      await Promise.all([...watchers.values()].map((w) => w.done));
    }
  }

  /** Runs blocking queries with `query` until aborted, calling `onChange` with each new body. */
  private async blocking<T>(
    what: string,
    query: (api: DroverClient, index: number, wait: string) => Promise<QueryResponse<T>>,
    signal: AbortSignal,
    onChange: (body: T) => void,
  ): Promise<void> {
    let index = 0;
    let delay = 0;
    while (!signal.aborted) {
      let answer: QueryResponse<T>;
      const at = this.current;
      try {
        answer = await query(this.apis[at]!, index, this.opts.wait ?? '4m');
        delay = 0;
      } catch (err) {
        if (signal.aborted) return;
        // Only the first watcher to fail on an address moves them all on; the others then retry the next one.
        if (this.current === at) this.current = (at + 1) % this.apis.length;
        delay = Math.min(Math.max(delay * 2, this.opts.retryMinMs ?? 250), this.opts.retryMaxMs ?? 10_000);
        this.logger.warn('catalog query failed; retrying', { query: what, error: String(err), retryInMs: delay });
        await sleepOrAborted(delay, signal);
        continue;
      }
      // An index that goes backwards means the agent's state was reset: start over (Consul's documented rule).
      if (answer.index < index) index = 0;
      else if (answer.index === index && index !== 0) continue;
      else index = answer.index;
      onChange(answer.value);
    }
  }
}

function toInstance(r: Registration): GatewayInstance {
  const inst = registrationToInstance(r);
  if (r.Healthy === false) inst.Healthy = false;
  return inst;
}
