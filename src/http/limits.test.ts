import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { createServer, type Server } from '../server/index.js';
import { MemoryBackend, type BackendBatch } from '../state/index.js';
import type { HttpApi } from './server.js';
import { testAgent, testHttpApi } from './testing/test-api.js';

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

describe('HTTP server under a burst of connections and across a step-down', () => {
  it('serves every request of 1,000 connections opened at once, handed to the parser a slice at a time', async () => {
    const http = await api({ httpMaxConnsPerClient: 0 });
    const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
    cleanups.push(() => agent.destroy());
    const statuses = await Promise.all(
      Array.from(
        { length: 1000 },
        () =>
          new Promise<number>((resolve, reject) => {
            const req = request(`${http.address}/v1/agent/health`, { agent }, (res) => {
              res.resume();
              res.once('end', () => resolve(res.statusCode ?? 0));
            });
            req.once('error', reject);
            req.end();
          }),
      ),
    );
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('asks a blocking query again of the agent’s next server when the one it waited on stops, rather than answering early', async () => {
    const make = () =>
      createServer({ dataDir: ':memory:', backend: new MemoryBackend(), logger: nullLogger, numWorkers: 1 });
    const first = await make();
    const next = await make();
    // As an HA seat's handle does: the server the agent has now (the old leader, then what replaced it).
    let current: Server = first;
    const handle = new Proxy({} as Server, {
      get: (_t, prop) => {
        const v = (current as unknown as Record<PropertyKey, unknown>)[prop];
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(current) : v;
      },
    });
    const http = await testHttpApi({ server: handle });
    cleanups.push(async () => {
      await http.close();
      await first.stop();
      await next.stop();
    });
    const putVar = async (path: string) => {
      const r = await fetch(`${http.address}/v1/var/${path}`, {
        method: 'PUT',
        body: JSON.stringify({ Items: { a: 'b' } }),
      });
      expect(r.status).toBe(200);
      await r.text();
    };
    await putVar('held/a');
    const listed = await fetch(`${http.address}/v1/vars`);
    const index = Number(listed.headers.get('x-nomad-index'));
    await listed.text();
    // The servers' own loops (deployment watcher, drainer...) hold watchers too: count the query's alone.
    const baseFirst = first.store.watcherCount();
    const baseNext = next.store.watcherCount();
    const held = fetch(`${http.address}/v1/vars?index=${index}&wait=30s`);
    held.catch(() => undefined);
    await vi.waitFor(() => expect(first.store.watcherCount()).toBe(baseFirst + 1), { timeout: 5_000 });
    // The successor holds the same variable at the same index; then the first server stops under the query.
    current = next;
    await putVar('held/a');
    await first.stop();
    // Asked again of the successor, the query waits there instead of answering the unchanged index.
    await vi.waitFor(() => expect(next.store.watcherCount()).toBe(baseNext + 1), { timeout: 5_000 });
    await putVar('held/b');
    const woken = await held;
    expect(woken.status).toBe(200);
    expect(Number(woken.headers.get('x-nomad-index'))).toBeGreaterThan(index);
    expect(((await woken.json()) as Array<{ Path: string }>).map((v) => v.Path)).toContain('held/b');
  });
});
