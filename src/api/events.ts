/** The event stream (`GET /v1/event/stream`): batches of events as they are committed, heartbeats left out. */
import type { EventBatch } from '../structs/index.js';
import type { HttpTransport } from './http.js';

export type { EventBatch } from '../structs/index.js';

export class EventsAPI {
  constructor(private readonly http: HttpTransport) {}

  /**
   * The batches matching `topics` (`Job:web`, `Allocation:*`; none: every topic) from `index` on, until `signal`
   * aborts or the agent ends the stream.
   */
  async *stream(
    opts: { topics?: string[]; index?: number; namespace?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<EventBatch, void, undefined> {
    const url = new URL(this.http.url('/v1/event/stream', { namespace: opts.namespace }));
    for (const t of opts.topics ?? []) url.searchParams.append('topic', t);
    if (opts.index !== undefined) url.searchParams.set('index', String(opts.index));
    let pending = '';
    for await (const chunk of this.http.stream(url.pathname + url.search, {
      signal: opts.signal,
      namespace: opts.namespace,
    })) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line === '' || line === '{}') continue;
        yield JSON.parse(line) as EventBatch;
      }
    }
  }
}
