import { Agent, request } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLogger, nullLogger, type Logger } from '../../logging/index.js';
import { MemorySource } from '../memory-source.js';
import {
  echoOf,
  get,
  haproxyInstalled,
  instance,
  startBackend,
  type Reply,
  type TestBackend,
} from '../test-support.js';
import type { Gateway, GatewayInstance } from '../types.js';
import { startHaproxyGateway } from './plane.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backends(names: string[]): Promise<TestBackend[]> {
  const bs = await Promise.all(names.map((n) => startBackend(n)));
  cleanups.push(() => Promise.all(bs.map((b) => b.close())).then(() => undefined));
  return bs;
}

async function gateway(
  instances: GatewayInstance[],
  logger: Logger = nullLogger,
): Promise<{ gw: Gateway; source: MemorySource }> {
  const source = new MemorySource(instances);
  const gw = await startHaproxyGateway({ listen: { host: '127.0.0.1', port: 0 }, source, logger, threads: 1 });
  cleanups.push(() => gw.close(1000));
  // Bounded, not a figure: HAProxy's start (check, fork, stats socket) took over 10 s at load 8.
  await gw.ready(AbortSignal.timeout(20_000));
  return { gw, source };
}

/** One GET on a keep-alive agent; optionally retried once when a reused connection was closed under it. */
function getReusing(port: number, agent: Agent, retryReused: boolean, stats: { resent: number }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // RFC 9112 §9.3.1: a client may resend an idempotent request when the connection closed before any answer.
      if (retryReused && req.reusedSocket && (err.code === 'ECONNRESET' || err.message === 'socket hang up')) {
        stats.resent++;
        getReusing(port, new Agent({ keepAlive: false }), false, stats).then(resolve, reject);
      } else reject(err);
    });
    req.end();
  });
}

/** Runs `total` GETs, `concurrency` at a time, calling `during(n)` as request n starts; returns the failures. */
async function load(
  port: number,
  total: number,
  concurrency: number,
  retryReused: boolean,
  during: (n: number) => void,
) {
  let sent = 0;
  const failures: string[] = [];
  const seen = new Set<string>();
  const stats = { resent: 0 };
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const worker = async () => {
    while (sent < total) {
      const n = sent++;
      during(n);
      const r = await getReusing(port, agent, retryReused, stats).catch((e: Error) => ({
        status: 0,
        body: e.message,
        headers: {},
      }));
      if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
      else seen.add(echoOf(r).name);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { failures, seen, resent: stats.resent };
}

// Reason for the skip: these tests drive a real HAProxy (Debian package haproxy); without it there is nothing to drive.
describe.skipIf(!haproxyInstalled())('HAProxy data plane', () => {
  it('routes by prefix with strip, balances across instances and answers 404 and 503 pages', async () => {
    const [w1, w2, api] = await backends(['w1', 'w2', 'api']);
    const { gw } = await gateway([
      instance('w1', w1!.port, ['urlprefix-/']),
      instance('w2', w2!.port, ['urlprefix-/']),
      instance('a1', api!.port, ['urlprefix-/api strip=/api']),
      instance('d1', api!.port, ['urlprefix-/down'], { Healthy: false }),
    ]);
    expect(echoOf(await get(gw.port, '/api/v1?q=1'))).toMatchObject({ name: 'api', url: '/v1?q=1' });
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) names.add(echoOf(await get(gw.port, '/x')).name);
    expect([...names].sort()).toEqual(['w1', 'w2']);
    const fwd = echoOf(await get(gw.port, '/x', { host: 'app.example.com' })).headers;
    expect(fwd).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'app.example.com',
      'x-real-ip': '127.0.0.1',
    });
    const down = await get(gw.port, '/down');
    expect(down.status).toBe(503);
    expect(down.body).toContain('route: /down');
    const routes = JSON.parse((await get(gw.port, '/_drover/gateway/routes')).body) as { Name: string }[];
    expect(routes.map((r) => r.Name)).toEqual(['/', '/api', '/down']);
    expect((await get(gw.port, '/_drover/gateway/metrics')).body).toMatch(
      /drover_gateway_requests_total\{route="\/"\} [1-9]/,
    );
  }, 30_000);

  it('applies instance changes under load through the runtime API without failing a request', async () => {
    const bs = await backends(['a', 'b', 'c', 'd']);
    const inst = bs.map((b) => instance(b.name, b.port, ['urlprefix-/']));
    const logger = memoryLogger();
    const { gw, source } = await gateway(inst.slice(0, 2), logger);
    const sets = [inst.slice(1, 3), inst.slice(2, 4), inst, [inst[0]!, inst[3]!], [inst[1]!]];
    const { failures, seen } = await load(gw.port, 1500, 8, false, (n) => {
      if (n % 300 === 150) source.set(sets[Math.floor(n / 300)]!);
    });
    expect(failures).toEqual([]);
    expect([...seen].sort()).toEqual(['a', 'b', 'c', 'd']);
    // Only b is left: no request may reach a removed instance over a pooled connection.
    const agent = new Agent({ keepAlive: true });
    for (let i = 0; i < 20; i++) expect(echoOf(await get(gw.port, '/', { agent })).name).toBe('b');
    agent.destroy();
    // Only the first table needed a reload; every instance change went through the runtime API.
    expect(logger.lines.filter((l) => l.msg.startsWith('HAProxy reloaded')).length).toBe(1);
  }, 60_000);

  it('resends a GET an instance closed without answering to another instance, but not a POST', async () => {
    // What docker-proxy does for a killed container: it accepts the connection, then closes it with no answer.
    const hangup = createTcpServer((s) => s.once('data', () => s.destroy()));
    await new Promise<void>((r) => hangup.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => hangup.close(() => r())));
    const hangupPort = (hangup.address() as { port: number }).port;
    const [ok] = await backends(['ok']);
    const { gw } = await gateway([
      instance('ok', ok!.port, ['urlprefix-/']),
      instance('hangup', hangupPort, ['urlprefix-/']),
    ]);
    // Round robin: half of these go to the instance that hangs up first; every one is answered by the other.
    for (let i = 0; i < 10; i++) {
      const r = await get(gw.port, '/x');
      expect(r.status, r.body).toBe(200);
      expect(echoOf(r).name).toBe('ok');
    }
    // A POST may have been acted on: never sent twice, so one of these is answered 502.
    const posts = [];
    for (let i = 0; i < 4; i++) posts.push((await get(gw.port, '/x', { method: 'POST', body: 'x' })).status);
    expect(posts).toContain(502);
    expect(posts).toContain(200);
  }, 30_000);

  it('adds and removes routes with a seamless reload, failing nothing for clients that resend on a closed keep-alive', async () => {
    const [a, x] = await backends(['a', 'x']);
    const base = [instance('a', a!.port, ['urlprefix-/'])];
    const { gw, source } = await gateway(base);
    const withExtra = [...base, instance('x', x!.port, ['urlprefix-/extra'])];
    const { failures, resent } = await load(gw.port, 1200, 8, true, (n) => {
      if (n === 300) source.set(withExtra);
      if (n === 800) source.set(base);
    });
    expect(failures).toEqual([]);
    // A reload takes HAProxy a moment (check, fork, hand over the listeners); the last one may still be running.
    await expect.poll(() => gw.routes().map((r) => r.Name), { timeout: 10_000, interval: 20 }).toEqual(['/']);
    // The old worker closes idle keep-alive connections after a reload; clients may have to resend (counted here).
    expect(resent).toBeLessThan(50);
  }, 60_000);
});
