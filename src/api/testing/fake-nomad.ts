/**
 * A fake Nomad-shaped HTTP server for tests of the API client and the CLI: canned JSON per route, the
 * `X-Nomad-Index` header, and blocking queries that hold the request until the served value changes.
 * Listens on 127.0.0.1, port 0. Tests only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readGoDuration } from '../../lib/duration.js';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface FakeAnswer {
  status?: number;
  /** JSON-encoded unless it is a string. */
  body?: unknown;
  index?: number;
  headers?: Record<string, string>;
}

/** A handler may write the response itself (streams) by returning 'handled'. */
export type FakeHandler = (
  req: FakeRequest,
  res: ServerResponse,
) => FakeAnswer | 'handled' | Promise<FakeAnswer | 'handled'>;

/**
 * A value that changes over time, served with blocking-query semantics: a request with `?index=N` waits
 * until the value's index passes N or `?wait` elapses (capped so tests stay short).
 */
export class BlockingValue<T> {
  private waiters: (() => void)[] = [];
  constructor(
    public value: T,
    public index: number,
  ) {}

  set(value: T, index = this.index + 1): void {
    this.value = value;
    this.index = index;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async answer(req: FakeRequest, maxWaitMs = 2_000): Promise<FakeAnswer> {
    const min = Number(req.query.get('index') ?? 0);
    if (min > 0 && this.index <= min) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(parseWaitMs(req.query.get('wait')), maxWaitMs));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return { body: this.value, index: this.index };
  }
}

function parseWaitMs(w: string | null): number {
  const r = w ? readGoDuration(w, { bareNumber: 'seconds', allowNegative: false }) : undefined;
  return r?.ok ? r.ns / 1e6 : 300_000;
}

export class FakeNomad {
  readonly requests: FakeRequest[] = [];
  private readonly routes = new Map<string, FakeHandler>();
  private server: Server | undefined;
  address = '';

  on(method: string, path: string, handler: FakeHandler | FakeAnswer): this {
    this.routes.set(`${method} ${path}`, typeof handler === 'function' ? handler : () => handler);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const a = this.server.address() as AddressInfo;
    this.address = `http://127.0.0.1:${a.port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // keep the raw text
    }
    const fr: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    this.requests.push(fr);
    const method = fr.method === 'PUT' ? 'POST' : fr.method;
    const handler = this.routes.get(`${method} ${fr.path}`) ?? this.routes.get(`${fr.method} ${fr.path}`);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route for ${fr.method} ${fr.path}`);
      return;
    }
    try {
      const a = await handler(fr, res);
      if (a === 'handled') return;
      const headers: Record<string, string> = {
        'content-type': typeof a.body === 'string' ? 'text/plain' : 'application/json',
        ...a.headers,
      };
      if (a.index !== undefined) headers['x-nomad-index'] = String(a.index);
      res.writeHead(a.status ?? 200, headers).end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body ?? null));
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e));
    }
  }
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
