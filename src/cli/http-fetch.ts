/**
 * The CLI's fetch for a plain `http://` agent, on node:http. Node's global fetch loads undici on its first call:
 * ≈ 250 ms of CPU, about half of what a whole `drover job run` costs, and the CLI's start-up is the largest
 * fixed part of time-to-running (BENCHMARKS.md). node:http is part of Node's own start-up code and costs
 * ≈ 30 ms. Only what HttpTransport reads of a Response is provided: `ok`, `status`, `headers.get`, `text`,
 * `json`, `arrayBuffer` (snapshots) and `body.getReader()` (streams). Any other URL (https) goes to the global fetch.
 *
 *   request ─► response head ─► { status, headers } ─► text() reads the rest │ body.getReader() chunk by chunk
 *      │ socket error ─► TypeError("fetch failed", { cause }) as fetch throws, so callers read the same cause
 */
import http from 'node:http';
import type { FetchLike } from '../api/index.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const CONNECT_TIMEOUT_MS = 10_000;

/** Kept-alive connections, as fetch keeps them: a monitor's blocking queries reuse one socket. */
let agent: http.Agent | undefined;

interface MinimalReader {
  read(): Promise<{ done: true; value: undefined } | { done: false; value: Uint8Array }>;
  cancel(): Promise<void>;
}

export const httpFetch: FetchLike = (input, init) => {
  if (!input.startsWith('http://')) return fetch(input, init);
  agent ??= new http.Agent({ keepAlive: true });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((init?.headers ?? {}) as Record<string, string>)) headers[k.toLowerCase()] = v;
  const body = init?.body;
  const payload =
    body === undefined || body === null
      ? undefined
      : typeof body === 'string'
        ? Buffer.from(body)
        : body instanceof Uint8Array
          ? Buffer.from(body.buffer, body.byteOffset, body.byteLength)
          : undefined;
  if (body != null && payload === undefined) return fetch(input, init);
  if (payload) headers['content-length'] = String(payload.length);
  return new Promise<Response>((resolve, reject) => {
    const req = http.request(
      input,
      { method: init?.method ?? 'GET', headers, agent, ...(init?.signal ? { signal: init.signal } : {}) },
      (res) => {
        // A redirect (an http:// address behind a balancer that sends clients to https) is followed by fetch,
        // as before this transport existed.
        if (res.statusCode !== undefined && REDIRECTS.has(res.statusCode) && res.headers.location) {
          res.resume();
          resolve(fetch(input, init));
          return;
        }
        resolve(toResponse(res));
      },
    );
    req.on('error', (e) => reject(new TypeError('fetch failed', { cause: e })));
    // fetch gives up on a connection attempt after 10 s; node:http would wait for the kernel (about 2 minutes).
    req.on('socket', (sock) => {
      if (!sock.connecting) return;
      const t = setTimeout(
        () => req.destroy(Object.assign(new Error(`connect timed out after 10 s: ${input}`), { code: 'ETIMEDOUT' })),
        CONNECT_TIMEOUT_MS,
      );
      const clear = () => clearTimeout(t);
      sock.once('connect', clear);
      sock.once('close', clear);
    });
    req.end(payload);
  });
};

function toResponse(res: http.IncomingMessage): Response {
  const status = res.statusCode ?? 0;
  const bytes = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (e) {
      throw new TypeError('fetch failed', { cause: e });
    }
    return Buffer.concat(chunks);
  };
  const text = async (): Promise<string> => (await bytes()).toString('utf8');
  const r = {
    ok: status >= 200 && status < 300,
    status,
    statusText: res.statusMessage ?? '',
    url: '',
    headers: {
      get(name: string): string | null {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    },
    text,
    arrayBuffer: async (): Promise<ArrayBuffer> => {
      const b = await bytes();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    json: async (): Promise<unknown> => JSON.parse(await text()),
    body: {
      getReader(): MinimalReader {
        const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        return {
          read: async () => {
            const n = await it.next();
            return n.done ? { done: true, value: undefined } : { done: false, value: new Uint8Array(n.value) };
          },
          cancel: async () => {
            res.destroy();
          },
        };
      },
    },
  };
  return r as unknown as Response;
}
