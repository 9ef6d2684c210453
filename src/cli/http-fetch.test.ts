import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport, isApiError } from '../api/index.js';
import { httpFetch } from './http-fetch.js';

let server: http.Server;
let base: string;
const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url?.startsWith('/v1/missing')) {
        res.writeHead(404, { 'x-drover-error-code': 'NotFound' });
        res.end('job not found');
      } else if (req.url?.startsWith('/v1/stream')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('one ');
        setImmediate(() => res.end('two'));
      } else if (req.url?.startsWith('/v1/moved')) {
        res.writeHead(307, { location: '/v1/jobs?from=moved' });
        res.end();
      } else if (req.url?.startsWith('/v1/hang')) {
        res.writeHead(200);
        res.write('x');
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'x-nomad-index': '42' });
        res.end(JSON.stringify({ echo: body ? (JSON.parse(body) as unknown) : null }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('httpFetch (the CLI transport over node:http)', () => {
  const transport = () => new HttpTransport({ address: base, token: 'secret', fetch: httpFetch });

  it('sends method, headers and a JSON body, and reads status, headers and JSON back', async () => {
    const t = transport();
    const out = await t.write<{ echo: unknown }>('PUT', '/v1/jobs', { Job: { ID: 'a' } });
    expect(out).toEqual({ echo: { Job: { ID: 'a' } } });
    const req = seen.at(-1)!;
    expect(req.method).toBe('PUT');
    expect(req.headers['x-nomad-token']).toBe('secret');
    expect(req.headers['content-type']).toBe('application/json');
    const q = await t.query<{ echo: unknown }>('/v1/jobs', { index: 3 });
    expect(q.index).toBe(42);
    expect(seen.at(-1)!.url).toBe('/v1/jobs?index=3');
  });

  it('sends bytes as they are', async () => {
    await httpFetch(`${base}/v1/kv`, { method: 'PUT', body: new Uint8Array([123, 125]) });
    expect(seen.at(-1)!.body).toBe('{}');
    expect(seen.at(-1)!.headers['content-length']).toBe('2');
  });

  it('reads a body as bytes (a state snapshot)', async () => {
    const res = await httpFetch(`${base}/v1/jobs`, { method: 'PUT', body: '{"a":1}' });
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('{"echo":{"a":1}}');
  });

  it('turns a non-2xx answer into the API error of its code', async () => {
    const err = await transport()
      .query('/v1/missing')
      .catch((e: unknown) => e);
    expect(isApiError(err) && err.code).toBe('NotFound');
    expect((err as Error).message).toContain('job not found');
  });

  it('follows a redirect as fetch does', async () => {
    const res = await httpFetch(`${base}/v1/moved`, { method: 'GET' });
    expect([res.status, await res.json()]).toEqual([200, { echo: null }]);
    expect(seen.at(-1)?.url).toBe('/v1/jobs?from=moved');
  });

  it('streams the body chunk by chunk', async () => {
    let text = '';
    for await (const chunk of transport().stream('/v1/stream')) text += chunk;
    expect(text).toBe('one two');
  });

  it('reports a refused connection as fetch does (the socket error as the cause)', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await new HttpTransport({ address: `http://127.0.0.1:${port}`, fetch: httpFetch })
      .query('/v1/jobs')
      .catch((e: unknown) => e);
    expect((err as Error).message).toContain(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('stops a stream when its signal aborts', async () => {
    const ac = new AbortController();
    const chunks: string[] = [];
    for await (const c of transport().stream('/v1/hang', { signal: ac.signal })) {
      chunks.push(c);
      ac.abort();
    }
    expect(chunks).toEqual(['x']);
  });
});
