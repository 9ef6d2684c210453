/**
 * The UI's client of the HTTP API: reads, blocking-query watches, writes, and text streams (logs).
 * Everything takes an AbortSignal: a view aborts its requests when the user leaves it, which also frees the
 * browser's few connections per host for the next view.
 *
 * A watch is Nomad's blocking-query loop:
 *
 *   GET path?index=0 ─► value, X-Nomad-Index=N ─► GET path?index=N&wait=W ─► (held until state passes N) ─► ...
 *          │ error: report it (the banner), wait (longer for 4xx), retry; a later success clears it
 *
 * No DOM here (fetch and timers are injected), so the loop is unit tested in Node.
 */

import type { EventBatch } from './types.js';

type StreamEvent = EventBatch['Events'][number];

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/** An API answer that was not 2xx, or no answer at all (`status` 0). `text` is the API's own message. */
export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly text: string,
    /** `X-Drover-Error-Code`: branch on this, never on `text`. */
    readonly code: string,
  ) {
    super(status === 0 ? `cannot reach the agent: ${text}` : `${status}: ${text}`);
    this.name = 'ApiError';
  }
}

export interface QueryResult<T> {
  value: T;
  index: number;
}

export interface ApiOptions {
  fetch: FetchLike;
  /** The agent's origin; the UI is served by the agent, so `location.origin`. */
  base: string;
  /** Called with an error when a watch fails, and with undefined when it recovers. */
  onWatchError?: (key: string, err: ApiError | undefined) => void;
  /** How long the server may hold a blocking query. */
  wait?: string;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** Resolves after `ms`, or at once when aborted. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Retry delay after `failures` consecutive errors: a missing thing (4xx) is not retried eagerly. */
export function retryDelayMs(err: ApiError, failures: number): number {
  if (err.status >= 400 && err.status < 500) return 5_000;
  return Math.min(500 * 2 ** Math.min(failures, 5), 10_000);
}

export class Api {
  private readonly options: Required<Omit<ApiOptions, 'onWatchError'>> & Pick<ApiOptions, 'onWatchError'>;

  constructor(opts: ApiOptions) {
    this.options = { wait: '60s', sleep: abortableSleep, now: () => Date.now(), ...opts };
  }

  url(path: string, params: Record<string, string | number | undefined> = {}): string {
    const u = new URL(path, this.options.base);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  private async send(
    method: string,
    path: string,
    url: string,
    signal: AbortSignal,
    body?: unknown,
  ): Promise<Response> {
    let res: Response;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      res = await this.options.fetch(url, {
        method,
        signal,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      if (signal.aborted) throw e;
      throw new ApiError(method, path, 0, e instanceof Error ? e.message : String(e), 'Unreachable');
    }
    if (!res.ok) {
      const text = (await res.text().catch(() => '')).trim() || res.statusText;
      throw new ApiError(method, path, res.status, text, res.headers.get('x-drover-error-code') ?? '');
    }
    return res;
  }

  /** One read; with `index`, a blocking query held until the state passes it (or `wait` runs out). */
  async get<T>(path: string, signal: AbortSignal, index?: number): Promise<QueryResult<T>> {
    const params = index !== undefined && index > 0 ? { index, wait: this.options.wait } : {};
    const res = await this.send('GET', path, this.url(path, params), signal);
    const value = (await res.json()) as T;
    return { value, index: Number(res.headers.get('x-nomad-index') ?? 0) || 0 };
  }

  /** A text body (a file of an allocation, `/v1/client/fs/cat/:alloc`). */
  async text(path: string, params: Record<string, string | number | undefined>, signal: AbortSignal): Promise<string> {
    const res = await this.send('GET', path, this.url(path, params), signal);
    return res.text();
  }

  /**
   * A write (or a search) with a JSON body and a JSON answer: `PUT /v1/job/:id/plan`, `POST /v1/jobs`,
   * `DELETE /v1/var/:path?cas=N`. An empty answer gives undefined.
   */
  async request<T>(method: string, path: string, body: unknown, signal: AbortSignal): Promise<T> {
    const res = await this.send(method, path, this.url(path), signal, body);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** `POST` with a JSON body and a JSON answer (`/v1/search`, `/v1/search/fuzzy`). */
  post<T>(path: string, body: unknown, signal: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, body, signal);
  }

  /** `DELETE`, for the job stop. */
  async delete(path: string, signal: AbortSignal): Promise<void> {
    const res = await this.send('DELETE', path, this.url(path), signal);
    await res.body?.cancel();
  }

  /**
   * Calls `onValue` with the current value of `path`, then again each time it changes, until `signal` aborts.
   * Resolves when aborted; never rejects (failures go to `onWatchError` under `key`, and to `onError`, with
   * which a view can say "this job does not exist" in place of its loading text).
   */
  async watch<T>(
    key: string,
    path: string,
    signal: AbortSignal,
    onValue: (value: T, index: number) => void,
    onError?: (err: ApiError) => void,
  ): Promise<void> {
    let index = 0;
    let failures = 0;
    let first = true;
    while (!signal.aborted) {
      const started = this.options.now();
      try {
        const r = await this.get<T>(path, signal, index);
        if (signal.aborted) return;
        if (failures > 0 || first) this.options.onWatchError?.(key, undefined);
        failures = 0;
        // A blocking query that timed out answers the same index: nothing changed, nothing to draw.
        const changed = first || r.index !== index;
        first = false;
        // An index that went backwards means the agent's state was reset (a new dev agent): start over.
        index = r.index < index ? 0 : r.index;
        if (changed) onValue(r.value, r.index);
        // Endpoints without an index, or an answer that came back at once without moving, are polled
        // gently rather than in a tight loop.
        if (r.index === 0) await this.options.sleep(3_000, signal);
        else if (!changed && this.options.now() - started < 1_000) await this.options.sleep(1_000, signal);
      } catch (e) {
        if (signal.aborted) return;
        const err = e instanceof ApiError ? e : new ApiError('GET', path, 0, String(e), 'Internal');
        failures++;
        this.options.onWatchError?.(key, err);
        onError?.(err);
        await this.options.sleep(retryDelayMs(err, failures), signal);
      }
    }
  }

  /**
   * A list kept live from the event stream: `path` read once, then each event of `topics` applied to it by
   * `opts.item`, so a change costs one event rather than the whole list again. `onValue` gets the list at
   * most once per `opts.coalesceMs` (50 ms: bursts coalesce, no change waits past the 100 ms goal) however fast events come (a lone change at once), and when a
   * stream ends.
   *
   * - The stream refused with a 4xx (a token without `read-job` on every namespace, or without events):
   *   the list is followed with blocking queries instead (`watch`) until `signal` aborts; not polled.
   * - The stream broke or ended at once: the list is read again, with a backoff that grows until a stream
   *   stays up (10 s) or delivers a batch.
   * - The first batch after a list read skips an index (`Index > index + 1`): events may have been dropped
   *   from the server's bounded buffer, so the list is read again, once; the next stream is then trusted.
   *
   * Resolves when `signal` aborts; never rejects (failures go to `onWatchError` under `key` and to `onError`).
   */
  async followList<T>(
    opts: {
      key: string;
      path: string;
      topics: readonly string[];
      namespace?: string;
      id(value: T): string;
      /** The item an event carries, or undefined when the event is not about this list. */
      item(e: StreamEvent): { id: string; value: T; deleted: boolean } | undefined;
      coalesceMs?: number;
    },
    signal: AbortSignal,
    onValue: (value: T[]) => void,
    onError?: (err: ApiError) => void,
  ): Promise<void> {
    const coalesceMs = opts.coalesceMs ?? 50;
    let failures = 0;
    let recheck = true;
    const fail = async (err: ApiError) => {
      this.options.onWatchError?.(opts.key, err);
      onError?.(err);
      await this.options.sleep(retryDelayMs(err, ++failures), signal);
    };
    while (!signal.aborted) {
      let list: QueryResult<T[]>;
      try {
        list = await this.get<T[]>(opts.path, signal);
      } catch (e) {
        if (signal.aborted) return;
        await fail(e instanceof ApiError ? e : new ApiError('GET', opts.path, 0, String(e), 'Internal'));
        continue;
      }
      if (signal.aborted) return;
      const byId = new Map(list.value.map((v) => [opts.id(v), v]));
      onValue(list.value);
      this.options.onWatchError?.(opts.key, undefined);
      let timer: ReturnType<typeof setTimeout> | undefined;
      let dirty = false;
      let drawn = this.options.now();
      const flush = () => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        if (!dirty || signal.aborted) return;
        dirty = false;
        drawn = this.options.now();
        onValue([...byId.values()]);
      };
      const stream = new AbortController();
      const stop = () => stream.abort();
      signal.addEventListener('abort', stop, { once: true });
      let batches = 0;
      let gap = false;
      const opened = this.options.now();
      try {
        await this.events(opts.topics, { index: list.index + 1, namespace: opts.namespace }, stream.signal, (b) => {
          if (gap) return;
          if (batches++ === 0 && recheck && list.index > 0 && b.Index > list.index + 1) {
            gap = true;
            stream.abort();
            return;
          }
          for (const e of b.Events) {
            const it = opts.item(e);
            if (!it) continue;
            if (it.deleted) byId.delete(it.id);
            else byId.set(it.id, it.value);
            dirty = true;
          }
          // A lone change is drawn at once; a burst at most once per coalesceMs.
          if (!dirty || timer !== undefined) return;
          const wait = drawn + coalesceMs - this.options.now();
          if (wait <= 0) flush();
          else timer = setTimeout(flush, wait);
        });
        flush();
        if (signal.aborted) return;
        if (gap) {
          recheck = false;
          continue;
        }
        recheck = true;
        const lasted = this.options.now() - opened;
        if (batches > 0 || lasted >= 10_000) failures = 0;
        // A stream that ends at once (an agent going away) is not reopened in a tight loop.
        else if (lasted < 1_000) await this.options.sleep(Math.min(500 * 2 ** Math.min(++failures, 5), 10_000), signal);
      } catch (e) {
        flush();
        if (signal.aborted) return;
        const err = e instanceof ApiError ? e : new ApiError('GET', '/v1/event/stream', 0, String(e), 'Internal');
        if (err.status >= 400 && err.status < 500) {
          // Refused (ACL, or events disabled): follow the list with blocking queries rather than polling it.
          this.options.onWatchError?.(opts.key, undefined);
          return this.watch<T[]>(opts.key, opts.path, signal, (v) => onValue(v), onError);
        }
        if (batches > 0 || this.options.now() - opened >= 10_000) failures = 0;
        await fail(err);
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener('abort', stop);
      }
    }
  }

  /**
   * Streams a text body (task logs with `plain=true`) to `onText` as it arrives. Resolves when the server
   * ends the stream or `signal` aborts; rejects with ApiError when the request is refused.
   */
  async stream(
    path: string,
    params: Record<string, string | number | undefined>,
    signal: AbortSignal,
    onText: (text: string) => void,
  ): Promise<void> {
    const res = await this.send('GET', path, this.url(path, params), signal);
    if (!res.body) return;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        if (text) onText(text);
      }
      const rest = decoder.decode();
      if (rest) onText(rest);
    } catch (e) {
      if (!signal.aborted)
        throw new ApiError(
          'GET',
          path,
          0,
          `the stream broke: ${e instanceof Error ? e.message : String(e)}`,
          'Unreachable',
        );
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * Follows Nomad's event stream (`/v1/event/stream`, newline-delimited JSON) from `index`, calling `onBatch`
   * with each write's events; heartbeats (`{}`) are skipped. Resolves when the server ends the stream or
   * `signal` aborts; rejects with ApiError when the request is refused or the stream ends with an error line
   * (a token deleted or no longer allowed).
   */
  async events(
    topics: readonly string[],
    params: { index: number; namespace?: string },
    signal: AbortSignal,
    onBatch: (batch: EventBatch) => void,
  ): Promise<void> {
    const path = '/v1/event/stream';
    const u = new URL(this.url(path, { index: params.index, namespace: params.namespace }));
    for (const t of topics) u.searchParams.append('topic', t);
    const res = await this.send('GET', path, u.toString(), signal);
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let held = '';
    const line = (text: string) => {
      if (text.trim() === '') return;
      const v = JSON.parse(text) as Partial<EventBatch> & { Error?: string; Code?: string };
      if (v.Error !== undefined) throw new ApiError('GET', path, 403, v.Error, v.Code ?? '');
      if (Array.isArray(v.Events)) onBatch(v as EventBatch);
    };
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        held += value;
        let nl = held.indexOf('\n');
        while (nl >= 0) {
          line(held.slice(0, nl));
          held = held.slice(nl + 1);
          nl = held.indexOf('\n');
        }
      }
      line(held);
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError) throw e;
      throw new ApiError(
        'GET',
        path,
        0,
        `the event stream broke: ${e instanceof Error ? e.message : String(e)}`,
        'Unreachable',
      );
    } finally {
      reader.releaseLock();
    }
  }
}
