/**
 * The one place the API client talks HTTP: URLs, query options, headers, blocking-query indexes and errors.
 * The endpoint groups (jobs, allocations, ...) are thin layers over `query`, `write` and `stream`.
 */
import { aborted } from '../errors/index.js';
import { ApiError, connectionError, errorFromResponse } from './errors.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Options every read accepts. `index` + `wait` make it a blocking query, as Nomad's `?index=N&wait=5s`. */
export interface QueryOptions {
  /** Block until the answer's index is greater than this. */
  index?: number;
  /** How long the server may hold a blocking query: milliseconds, or a Go duration string ("5s"). */
  wait?: number | string;
  /** Only IDs starting with this (list endpoints). */
  prefix?: string;
  /** At most this many elements (`per_page`, list endpoints); the answer's `nextToken` names the next page. */
  perPage?: number;
  /** The page starting at this token (`next_token`): a previous answer's `nextToken`. */
  nextToken?: string;
  /** Overrides the client's namespace for this call; `*` lists all namespaces. */
  namespace?: string;
  region?: string;
  /** Extra query parameters. */
  params?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

/** Options every write accepts. */
export interface WriteOptions {
  namespace?: string;
  region?: string;
  params?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

/** A read's answer with the state index it is from (`X-Nomad-Index`), to pass back as `index` to block. */
export interface QueryResponse<T> {
  value: T;
  index: number;
  /** `X-Nomad-Knownleader`, when the server sent it. */
  knownLeader?: boolean;
  /** `X-Nomad-Lastcontact` in milliseconds, when the server sent it. */
  lastContact?: number;
  /** `X-Nomad-NextToken`: a paged list has more; pass it back as `nextToken` for the next page. */
  nextToken?: string;
}

export interface TransportConfig {
  address: string;
  namespace?: string;
  region?: string;
  token?: string;
  fetch?: FetchLike;
}

function waitParam(wait: number | string): string {
  return typeof wait === 'number' ? `${Math.max(0, Math.round(wait))}ms` : wait;
}

export class HttpTransport {
  readonly address: string;
  readonly namespace: string | undefined;
  readonly region: string | undefined;
  private readonly token: string | undefined;
  private readonly fetchFn: FetchLike;

  constructor(cfg: TransportConfig) {
    this.address = cfg.address.replace(/\/+$/, '');
    this.namespace = cfg.namespace;
    this.region = cfg.region;
    this.token = cfg.token;
    this.fetchFn = cfg.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Builds the full URL with the client's namespace/region and the call's parameters. */
  url(path: string, opts: QueryOptions | WriteOptions = {}): string {
    const u = new URL(this.address + path);
    const ns = opts.namespace ?? this.namespace;
    const region = opts.region ?? this.region;
    if (ns) u.searchParams.set('namespace', ns);
    if (region) u.searchParams.set('region', region);
    const q = opts as QueryOptions;
    if (q.index !== undefined && q.index > 0) u.searchParams.set('index', String(q.index));
    if (q.wait !== undefined) u.searchParams.set('wait', waitParam(q.wait));
    if (q.prefix) u.searchParams.set('prefix', q.prefix);
    if (q.perPage !== undefined && q.perPage > 0) u.searchParams.set('per_page', String(q.perPage));
    if (q.nextToken) u.searchParams.set('next_token', q.nextToken);
    for (const [k, v] of Object.entries(opts.params ?? {})) {
      if (v !== undefined) u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  /** The headers of a request without a body (the websocket of `alloc exec` sends them on its handshake). */
  authHeaders(): Record<string, string> {
    return this.headers(false);
  }

  private headers(body: boolean | 'bytes'): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' };
    if (body) h['content-type'] = body === 'bytes' ? 'application/octet-stream' : 'application/json';
    if (this.token) h['x-nomad-token'] = this.token;
    return h;
  }

  /** Sends one request; turns "no answer" and non-2xx answers into `ApiError`. */
  async send(method: string, url: string, body: unknown, signal: AbortSignal | undefined): Promise<Response> {
    let res: Response;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await this.fetchOnce(method, url, body, signal);
        break;
      } catch (e) {
        if (signal?.aborted) throw aborted();
        // A kept-alive connection the server closed just as this request went out: a read is safe to send again.
        if (attempt === 1 && (method === 'GET' || method === 'HEAD') && isReset(e)) continue;
        throw connectionError(url, this.address, e);
      }
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw errorFromResponse(res.status, url, text, res.headers);
    }
    return res;
  }

  private fetchOnce(method: string, url: string, body: unknown, signal: AbortSignal | undefined): Promise<Response> {
    return this.fetchFn(url, {
      method,
      // Bytes go as they are (a KV value); anything else as JSON.
      headers: this.headers(body instanceof Uint8Array ? 'bytes' : body !== undefined),
      // Never a view of a SharedArrayBuffer; the cast lets the browser's BodyInit type (the UI build) accept it.
      body:
        body === undefined
          ? undefined
          : body instanceof Uint8Array
            ? (body as Uint8Array<ArrayBuffer>)
            : JSON.stringify(body),
      signal,
    });
  }

  async query<T>(path: string, opts: QueryOptions = {}): Promise<QueryResponse<T>> {
    const url = this.url(path, opts);
    const res = await this.send('GET', url, undefined, opts.signal);
    const value = (await readJSON(res, url)) as T;
    const out: QueryResponse<T> = { value, index: Number(res.headers.get('x-nomad-index') ?? 0) || 0 };
    const leader = res.headers.get('x-nomad-knownleader');
    if (leader !== null) out.knownLeader = leader === 'true';
    const contact = res.headers.get('x-nomad-lastcontact');
    if (contact !== null) out.lastContact = Number(contact);
    const next = res.headers.get('x-nomad-nexttoken');
    if (next) out.nextToken = next;
    return out;
  }

  async write<T>(method: 'PUT' | 'POST' | 'DELETE', path: string, body: unknown, opts: WriteOptions = {}): Promise<T> {
    const url = this.url(path, opts);
    const res = await this.send(method, url, body, opts.signal);
    return (await readJSON(res, url)) as T;
  }

  /** A streaming GET: the body as text chunks, until the server ends it or `signal` aborts. */
  async *stream(path: string, opts: QueryOptions = {}): AsyncGenerator<string, void, undefined> {
    const url = this.url(path, opts);
    const res = await this.send('GET', url, undefined, opts.signal);
    if (!res.body) return;
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const chunk = await reader.read().catch((e: unknown) => {
          if (opts.signal?.aborted) return { done: true as const, value: undefined };
          throw connectionError(url, this.address, e);
        });
        if (chunk.done) break;
        const text = decoder.decode(chunk.value, { stream: true });
        if (text) yield text;
      }
      const rest = decoder.decode();
      if (rest) yield rest;
    } finally {
      // Stops the transfer when the consumer breaks out early (e.g. `-tail` has what it needs).
      await reader.cancel().catch(() => undefined);
    }
  }
}

async function readJSON(res: Response, url: string): Promise<unknown> {
  const text = await res.text();
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError('Internal', `Error decoding the answer of ${url}: ${(e as Error).message}`, {
      httpStatus: res.status,
      url,
      cause: e,
    });
  }
}

/** A connection reset or closed under a request (fetch's TypeError with the socket error as its cause). */
function isReset(e: unknown): boolean {
  const cause = (e as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET';
}
