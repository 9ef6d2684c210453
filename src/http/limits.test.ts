import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, type BackendBatch } from '../state/index.js';
import type { HttpApi } from './server.js';
import { testAgent } from './testing/test-api.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function api(limits: {
  httpMaxConnsPerClient?: number;
  httpHeaderTimeoutMs?: number;
  httpBodyTimeoutMs?: number;
}): Promise<HttpApi> {
  const { http, stop } = await testAgent({ dataDir: ':memory:', backend: new MemoryBackend() }, () => ({ limits }));
  cleanups.push(stop);
  return http;
}

async function socket(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  cleanups.push(() => void s.destroy());
  await once(s, 'connect');
  return s;
}

/** Everything the server sends until it closes the socket. */
function readAll(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', () => undefined);
  });
}

describe('HTTP connection limits', () => {
  it('answers 429 to a connection past http_max_conns_per_client and serves again once one closes', async () => {
    const http = await api({ httpMaxConnsPerClient: 5 });
    const held = await Promise.all(Array.from({ length: 5 }, () => socket(http.port)));
    for (const s of held) s.write('GET /v1/jobs HTTP/1.1\r\nHost: x\r\n'); // slow headers: the connection stays open
    const extra = await socket(http.port);
    const answer = await readAll(extra);
    expect(answer).toMatch(/^HTTP\/1\.1 429 /);
    expect(answer).toContain('http_max_conns_per_client');
    held[0]!.destroy();
    await expect.poll(async () => (await fetch(`${http.address}/v1/jobs`)).status, { timeout: 5_000 }).toBe(200);
  });

  it('closes a connection whose headers do not arrive within the header timeout', async () => {
    const http = await api({ httpHeaderTimeoutMs: 500 });
    const s = await socket(http.port);
    const closed = readAll(s);
    s.write('GET /v1/jobs HTTP/1.1\r\nHost: x\r\n');
    const started = Date.now();
    const answer = await closed;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 |^$/);
  });

  it('closes a request whose body does not arrive within the body timeout', async () => {
    const http = await api({ httpBodyTimeoutMs: 500 });
    const s = await socket(http.port);
    const closed = readAll(s);
    s.write(
      'PUT /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"Job":',
    );
    const started = Date.now();
    await closed;
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('agent health', () => {
  it('reports failing state writes with 500 and recovers by itself once writes succeed', async () => {
    const backend = new MemoryBackend();
    let full = false;
    const apply = backend.apply.bind(backend);
    backend.apply = (b: BackendBatch) => {
      if (full) throw new Error('database or disk is full');
      apply(b);
    };
    const { http, stop } = await testAgent({ dataDir: ':memory:', backend });
    cleanups.push(stop);
    const var1 = () =>
      fetch(`${http.address}/v1/var/disk/test`, { method: 'PUT', body: JSON.stringify({ Items: { a: 'b' } }) });
    expect((await fetch(`${http.address}/v1/agent/health`)).status).toBe(200);
    full = true;
    expect((await var1()).status).toBe(500);
    const sick = await fetch(`${http.address}/v1/agent/health`);
    expect(sick.status).toBe(500);
    expect(await sick.text()).toContain('database or disk is full');
    full = false;
    expect((await var1()).status).toBe(200);
    expect((await fetch(`${http.address}/v1/agent/health`)).status).toBe(200);
  });
});
