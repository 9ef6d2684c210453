import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { startGateway } from './gateway.js';
import { MemorySource } from './memory-source.js';
import { deadPort, echoOf, get, instance, startBackend, type TestBackend } from './test-support.js';
import type { Gateway, GatewayInstance, GatewayOptions } from './types.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(name: string, handler?: Parameters<typeof startBackend>[1]): Promise<TestBackend> {
  const b = await startBackend(name, handler);
  cleanups.push(() => b.close());
  return b;
}

async function gateway(
  instances: GatewayInstance[],
  over: Partial<GatewayOptions> = {},
): Promise<{ gw: Gateway; source: MemorySource }> {
  const source = new MemorySource(instances);
  const gw = await startGateway({ listen: { host: '127.0.0.1', port: 0 }, source, logger: nullLogger, ...over });
  cleanups.push(() => gw.close(200));
  await gw.ready(AbortSignal.timeout(2000));
  return { gw, source };
}

describe('routing', () => {
  it('routes by longest prefix and strips the prefix when the tag says so', async () => {
    const web = await backend('web');
    const api = await backend('api');
    const { gw } = await gateway([
      instance('w1', web.port, ['urlprefix-/']),
      instance('a1', api.port, ['urlprefix-/api strip=/api']),
    ]);
    const r1 = echoOf(await get(gw.port, '/api/v1/stats?x=1'));
    expect(r1).toMatchObject({ name: 'api', url: '/v1/stats?x=1' });
    const r2 = echoOf(await get(gw.port, '/index.html'));
    expect(r2).toMatchObject({ name: 'web', url: '/index.html' });
    expect(echoOf(await get(gw.port, '/apiary')).name).toBe('web');
  });

  it('sends a host route only requests for that host, and others to the hostless route', async () => {
    const shop = await backend('shop');
    const web = await backend('web');
    const { gw } = await gateway([
      instance('s1', shop.port, ['urlprefix-shop.example.com/']),
      instance('w1', web.port, ['urlprefix-/']),
    ]);
    expect(echoOf(await get(gw.port, '/', { host: 'shop.example.com:8080' })).name).toBe('shop');
    expect(echoOf(await get(gw.port, '/', { host: 'other.example.com' })).name).toBe('web');
  });

  it('answers 404 naming the request when no route matches', async () => {
    const api = await backend('api');
    const { gw } = await gateway([instance('a1', api.port, ['urlprefix-/api'])]);
    const r = await get(gw.port, '/nothing/here');
    expect(r.status).toBe(404);
    expect(r.headers['x-drover-gateway-error']).toBe('no_route');
    expect(r.body).toContain('/nothing/here');
  });

  it('answers 503 naming the route when no instance of it is healthy', async () => {
    const api = await backend('api');
    const { gw } = await gateway([instance('a1', api.port, ['urlprefix-/api'], { Healthy: false })]);
    const r = await get(gw.port, '/api/x');
    expect(r.status).toBe(503);
    expect(r.body).toContain('route: /api');
    expect(r.body).toContain('no healthy instance');
    expect(api.hits).toBe(0);
  });

  it('forwards request bodies and methods unchanged', async () => {
    const api = await backend('api');
    const { gw } = await gateway([instance('a1', api.port, ['urlprefix-/'])]);
    const r = echoOf(
      await get(gw.port, '/submit', {
        method: 'POST',
        body: 'x'.repeat(100_000),
        headers: { 'content-type': 'text/plain' },
      }),
    );
    expect(r.method).toBe('POST');
    expect(r.body.length).toBe(100_000);
  });
});

describe('streaming', () => {
  it('passes a chunked response through as it is written, and a HEAD answer without a body', async () => {
    const stream = await backend('stream', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-kind': req.method ?? '' });
      if (req.method === 'HEAD') {
        res.end();
        return true;
      }
      let n = 0;
      const tick = setInterval(() => {
        res.write(`part${n}\n`);
        if (++n === 5) {
          clearInterval(tick);
          res.end();
        }
      }, 2);
      return true;
    });
    const { gw } = await gateway([instance('s', stream.port, ['urlprefix-/'])]);
    const r = await get(gw.port, '/events');
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.body).toBe('part0\npart1\npart2\npart3\npart4\n');
    const h = await get(gw.port, '/events', { method: 'HEAD' });
    expect(h).toMatchObject({ status: 200, body: '' });
    expect(h.headers['x-kind']).toBe('HEAD');
  });
});

describe('forwarded headers', () => {
  it('adds X-Forwarded-For, -Proto, -Host and X-Real-IP and drops hop-by-hop headers', async () => {
    const api = await backend('api');
    const { gw } = await gateway([instance('a1', api.port, ['urlprefix-/'])]);
    const r = echoOf(
      await get(gw.port, '/', {
        host: 'app.example.com',
        headers: {
          'x-forwarded-for': '203.0.113.7',
          'x-custom': 'kept',
          connection: 'keep-alive, x-secret',
          'x-secret': 'hop',
        },
      }),
    );
    expect(r.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(r.headers['x-forwarded-proto']).toBe('http');
    expect(r.headers['x-forwarded-host']).toBe('app.example.com');
    expect(r.headers['x-real-ip']).toBe('127.0.0.1');
    expect(r.headers['host']).toBe('app.example.com');
    expect(r.headers['x-custom']).toBe('kept');
    expect(r.headers['x-secret']).toBeUndefined();
  });
});

describe('load balancing', () => {
  it('spreads requests evenly across instances with round robin', async () => {
    const bs = await Promise.all(['a', 'b', 'c'].map((n) => backend(n)));
    const { gw } = await gateway(bs.map((b) => instance(b.name, b.port, ['urlprefix-/'])));
    const agent = new Agent({ keepAlive: true });
    for (let i = 0; i < 30; i++) await get(gw.port, '/', { agent });
    agent.destroy();
    expect(bs.map((b) => b.hits)).toEqual([10, 10, 10]);
  });

  it('sends new requests to the idle instance with least connections', async () => {
    const held: (() => void)[] = [];
    const slow = await backend('slow', (_req, res) => {
      held.push(() => res.end('slow'));
      return true;
    });
    const fast = await backend('fast');
    const { gw } = await gateway([
      instance('s', slow.port, ['urlprefix-/ lb=least_conn']),
      instance('f', fast.port, ['urlprefix-/ lb=least_conn']),
    ]);
    // Occupy the slow instance with one request, then every further request should avoid it.
    const pending = [get(gw.port, '/'), get(gw.port, '/')];
    await expect.poll(() => held.length + fast.hits === 2, { timeout: 2000 }).toBe(true);
    const first = held.length;
    for (let i = 0; i < 10; i++) expect(echoOf(await get(gw.port, '/')).name).toBe('fast');
    expect(slow.hits).toBe(first);
    for (const release of held) release();
    await Promise.all(pending);
  });
});

describe('failures', () => {
  it('retries on another instance when one refuses connections, with no error seen by the client', async () => {
    const ok = await backend('ok');
    const dead = await deadPort();
    const { gw } = await gateway([instance('dead', dead, ['urlprefix-/']), instance('ok', ok.port, ['urlprefix-/'])], {
      ejectAfter: 100,
    });
    for (let i = 0; i < 10; i++) {
      const r = await get(gw.port, '/', { method: 'POST', body: 'payload' });
      expect(r.status).toBe(200);
      expect(echoOf(r).body).toBe('payload');
    }
    const metrics = await get(gw.port, '/_drover/gateway/metrics');
    expect(metrics.body).toMatch(/drover_gateway_retries_total\{route="\/"\} [1-9]/);
  });

  it('moves past every dead instance of a route while the catalog still lists them', async () => {
    const ok = await backend('ok');
    const dead = await Promise.all([deadPort(), deadPort(), deadPort(), deadPort(), deadPort()]);
    const { gw } = await gateway(
      [...dead.map((p, i) => instance(`dead${i}`, p, ['urlprefix-/'])), instance('ok', ok.port, ['urlprefix-/'])],
      { ejectAfter: 1000 },
    );
    for (let i = 0; i < 12; i++) expect((await get(gw.port, '/')).status).toBe(200);
  });

  it('ejects an instance after consecutive connect failures and re-admits it after the backoff', async () => {
    let now = 1_000_000;
    const ok = await backend('ok');
    const dead = await deadPort();
    const { gw } = await gateway([instance('dead', dead, ['urlprefix-/']), instance('ok', ok.port, ['urlprefix-/'])], {
      ejectAfter: 2,
      ejectForMs: 5000,
      now: () => now,
    });
    for (let i = 0; i < 6; i++) expect((await get(gw.port, '/')).status).toBe(200);
    const target = () => gw.routes()[0]!.Targets.find((t) => t.ID === 'dead')!;
    expect(target().EjectedUntil).toBe(now + 5000);
    // While ejected, the dead instance is not tried at all: no retries are counted.
    const retries = () =>
      get(gw.port, '/_drover/gateway/metrics').then((r) =>
        Number(/drover_gateway_retries_total\{route="\/"\} (\d+)/.exec(r.body)![1]),
      );
    const before = await retries();
    for (let i = 0; i < 4; i++) await get(gw.port, '/');
    expect(await retries()).toBe(before);
    now += 5001;
    expect(target().EjectedUntil).toBe(0);
    for (let i = 0; i < 4; i++) expect((await get(gw.port, '/')).status).toBe(200);
    expect(await retries()).toBeGreaterThan(before);
  });

  it('answers 504 when an instance does not answer in time, without retrying it elsewhere', async () => {
    const silent = await backend('silent', () => true);
    const other = await backend('other');
    const { gw } = await gateway(
      [instance('a-silent', silent.port, ['urlprefix-/']), instance('b-other', other.port, ['urlprefix-/'])],
      { responseTimeoutMs: 100 },
    );
    const r = await get(gw.port, '/');
    expect(r.status).toBe(504);
    expect(r.body).toContain('reason: upstream_timeout');
    expect(other.hits).toBe(0);
  });

  it('stops the request to the instance when the client goes away, freeing its slot', async () => {
    const held: (() => void)[] = [];
    let aborted = 0;
    const slow = await backend('slow', (req, res) => {
      req.socket.once('close', () => aborted++);
      held.push(() => res.end());
      return true;
    });
    const { gw } = await gateway([instance('s', slow.port, ['urlprefix-/'])]);
    const req = request({ host: '127.0.0.1', port: gw.port, path: '/', agent: false });
    req.on('error', () => {});
    req.end();
    await expect.poll(() => held.length === 1, { timeout: 2000 }).toBe(true);
    expect(gw.routes()[0]!.Targets[0]!.Active).toBe(1);
    req.destroy();
    await expect.poll(() => gw.routes()[0]!.Targets[0]!.Active === 0 && aborted === 1, { timeout: 2000 }).toBe(true);
  });

  it('answers 502 naming the route and the last error when every attempt fails', async () => {
    const { gw } = await gateway(
      [instance('d1', await deadPort(), ['urlprefix-/api']), instance('d2', await deadPort(), ['urlprefix-/api'])],
      { ejectAfter: 100 },
    );
    const r = await get(gw.port, '/api');
    expect(r.status).toBe(502);
    expect(r.headers['x-drover-gateway-error']).toBe('upstream_failed');
    expect(r.body).toContain('route: /api');
    expect(r.body).toContain('ECONNREFUSED');
  });
});

describe('websocket', () => {
  it('tunnels an upgraded connection both ways', async () => {
    const ws = await backend('ws');
    ws.server.on('upgrade', (req, socket: Socket) => {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Path: ${req.url}\r\n\r\n`,
      );
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
      socket.on('end', () => socket.end());
    });
    const { gw } = await gateway([instance('w', ws.port, ['urlprefix-/ws strip=/ws'])]);
    const { socket, path } = await new Promise<{ socket: Socket; path: string }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: gw.port,
        path: '/ws/chat',
        headers: { connection: 'Upgrade', upgrade: 'websocket' },
      });
      req.on('upgrade', (res, socket: Socket) => resolve({ socket, path: String(res.headers['x-path']) }));
      req.on('error', reject);
      req.end();
    });
    expect(path).toBe('/chat');
    const reply = await new Promise<string>((resolve) => {
      socket.once('data', (d: Buffer) => resolve(d.toString()));
      socket.write('hello');
    });
    expect(reply).toBe('echo:hello');
    expect(gw.routes()[0]!.Targets[0]!.Active).toBe(1);
    socket.destroy();
    await expect.poll(() => gw.routes()[0]!.Targets[0]!.Active === 0, { timeout: 2000 }).toBe(true);
  });
});

describe('route changes', () => {
  it('applies a change within milliseconds', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const { gw, source } = await gateway([instance('a', a.port, ['urlprefix-/'])]);
    const t0 = performance.now();
    source.set([instance('b', b.port, ['urlprefix-/'])]);
    // Polled every millisecond: the time to the first poll that sees it is the figure under test.
    await expect.poll(() => gw.routes()[0]?.Targets[0]?.ID === 'b', { timeout: 2000, interval: 1 }).toBe(true);
    expect(performance.now() - t0).toBeLessThan(50);
    expect(echoOf(await get(gw.port, '/')).name).toBe('b');
  });

  it('lets an in-flight request finish on an instance removed from the table', async () => {
    const held: (() => void)[] = [];
    const old = await backend('old', (_req, res) => {
      held.push(() => res.end('finished'));
      return true;
    });
    const next = await backend('next');
    const { gw, source } = await gateway([instance('old', old.port, ['urlprefix-/'])]);
    const pending = get(gw.port, '/');
    await expect.poll(() => held.length === 1, { timeout: 2000 }).toBe(true);
    source.set([instance('next', next.port, ['urlprefix-/'])]);
    await expect.poll(() => gw.routes()[0]?.Targets[0]?.ID === 'next', { timeout: 2000 }).toBe(true);
    expect(echoOf(await get(gw.port, '/')).name).toBe('next');
    held[0]!();
    expect(await pending).toMatchObject({ status: 200, body: 'finished' });
  });

  it('fails no request while instances are added and removed under load', async () => {
    const bs = await Promise.all(['a', 'b', 'c', 'd'].map((n) => backend(n)));
    const inst = bs.map((b) => instance(b.name, b.port, ['urlprefix-/']));
    const { gw, source } = await gateway(inst.slice(0, 2));
    const sets = [inst.slice(0, 2), inst.slice(1, 3), inst.slice(2, 4), [inst[3]!], inst, [inst[0]!, inst[2]!]];
    const total = 2000;
    let sent = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const worker = async () => {
      while (sent < total) {
        const n = sent++;
        if (n % 100 === 0) source.set(sets[(n / 100) % sets.length]!);
        const r = await get(gw.port, '/', { agent });
        if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
        else seen.add(echoOf(r).name);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    agent.destroy();
    expect(failures).toEqual([]);
    expect([...seen].sort()).toEqual(['a', 'b', 'c', 'd']);
  }, 30_000);
});

describe('admin', () => {
  it('serves per-route counters in Prometheus text and the table as JSON on the admin listener', async () => {
    const api = await backend('api');
    const { gw } = await gateway([instance('a1', api.port, ['urlprefix-/api strip=/api'])], {
      admin: { host: '127.0.0.1', port: 0 },
    });
    for (let i = 0; i < 3; i++) await get(gw.port, '/api/x');
    await get(gw.port, '/missing');
    const text = (await get(gw.adminPort!, '/metrics')).body;
    expect(text).toContain('drover_gateway_requests_total{route="/api"} 3');
    expect(text).toContain('drover_gateway_responses_total{route="/api",code="200"} 3');
    expect(text).toContain('drover_gateway_request_duration_seconds_count{route="/api"} 3');
    expect(text).toMatch(/# TYPE drover_gateway_request_duration_seconds histogram/);
    const routes = JSON.parse((await get(gw.adminPort!, '/routes')).body);
    expect(routes).toEqual([
      expect.objectContaining({
        Name: '/api',
        Prefix: '/api',
        Strip: '/api',
        LB: 'round_robin',
        Services: ['svc'],
        Targets: [expect.objectContaining({ ID: 'a1', Port: api.port, Active: 0 })],
      }),
    ]);
    // With an admin listener, the reserved path on the proxy is an ordinary (unrouted) path.
    expect((await get(gw.port, '/_drover/gateway/routes')).status).toBe(404);
  });
});
