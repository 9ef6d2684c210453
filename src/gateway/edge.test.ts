/**
 * The tag options at the edge (host routes, weights, strip/prefix, redirect, upstream TLS, auth, allow/deny,
 * rate, maxbody, headers, TCP and TCP+SNI routes) driven through a real gateway on each data plane: one case
 * list, run against the Node plane and against HAProxy, so the two behave the same.
 */
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha512Crypt } from '../lib/sha-crypt.js';
import { nullLogger } from '../logging/index.js';
import { startGateway } from './gateway.js';
import { startHaproxyGateway } from './haproxy/plane.js';
import { MemorySource } from './memory-source.js';
import {
  deadPort,
  echoOf,
  get,
  haproxyInstalled,
  instance,
  selfSigned,
  startBackend,
  type TestBackend,
} from './test-support.js';
import type { AuthSource, Gateway, GatewayInstance } from './types.js';

/** A TCP server that answers every connection with its name, then echoes. */
async function tcpNamed(name: string): Promise<{ port: number; server: TcpServer }> {
  const server = createTcpServer((s) => {
    s.write(`${name}\n`);
    s.pipe(s);
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

/** The first line the far side of a new connection sends: plain TCP, or TLS with `servername` as SNI. */
function firstLine(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s =
      servername === undefined
        ? connect({ host: '127.0.0.1', port })
        : tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) {
        s.destroy();
        resolve(got.trim());
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got.trim()));
    s.setTimeout(5000, () => s.destroy(new Error('no answer within 5 s')));
  });
}

const basic = (user: string, pw: string) => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');

const planes = [
  { name: 'node', start: startGateway, skip: false },
  // Reason for the skip: the HAProxy cases drive a real HAProxy (Debian package haproxy).
  { name: 'haproxy', start: startHaproxyGateway, skip: !haproxyInstalled() },
] as const;

describe.each(planes)('route tag options on the $name plane', ({ name, start, skip }) => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let gw: Gateway;
  let source: MemorySource;
  let backends: Record<string, TestBackend> = {};
  let baseInstances: GatewayInstance[] = [];
  let tcpPort = 0;
  let sniPort = 0;
  let tcpA: { port: number; server: TcpServer };
  let tcpB: { port: number; server: TcpServer };
  const users = new Map([['alice', sha512Crypt('wonderland', 'gwroute')]]);
  const auth: AuthSource = { users: (n) => (n === 'ops' ? users : undefined) };

  beforeAll(async () => {
    if (skip) return;
    const names = ['host', 's80', 's20', 'plain', 'guarded'];
    const started = await Promise.all(names.map((n) => startBackend(n)));
    backends = Object.fromEntries(started.map((b) => [b.name, b]));
    cleanups.push(() => Promise.all(started.map((b) => b.close())).then(() => undefined));
    const { cert, key } = selfSigned('db.example.com');
    const tlsBackend = createHttpsServer({ cert, key }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name: 'tls', method: req.method, url: req.url, headers: req.headers, body: '' }));
    });
    await new Promise<void>((resolve) => tlsBackend.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => tlsBackend.close(() => resolve())));
    const sniBackend = createTlsServer({ cert, key }, (s) => {
      s.write('sni-backend\n');
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((resolve) => sniBackend.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => sniBackend.close(() => resolve())));
    tcpA = await tcpNamed('tcp-a');
    tcpB = await tcpNamed('tcp-b');
    cleanups.push(() => {
      tcpA.server.close();
      tcpB.server.close();
    });
    tcpPort = await deadPort();
    sniPort = await deadPort();
    const b = backends;
    const tlsPort = (tlsBackend.address() as AddressInfo).port;
    const sniBackendPort = (sniBackend.address() as AddressInfo).port;
    baseInstances = [
      instance('h1', b.host!.port, ['urlprefix-api.example.com/'], { ServiceName: 'host' }),
      instance('w80', b.s80!.port, ['urlprefix-/split weight=0.8'], { ServiceName: 's80' }),
      instance('w20', b.s20!.port, ['urlprefix-/split'], { ServiceName: 's20' }),
      instance('p1', b.plain!.port, ['urlprefix-/p strip=/p prefix=/base', 'urlprefix-/hh host=internal.example'], {
        ServiceName: 'plain',
      }),
      instance(
        'g1',
        b.guarded!.port,
        [
          'urlprefix-/r redirect=https',
          'urlprefix-/a auth=ops',
          'urlprefix-/deny deny=127.0.0.0/8',
          'urlprefix-/allow allow=ip:10.0.0.0/8',
          'urlprefix-/ok allow=127.0.0.1,::1',
          'urlprefix-/rate rate=3',
          'urlprefix-/mb maxbody=10',
          'urlprefix-/h header=Strict-Transport-Security:max-age=600',
          'urlprefix-/bad auht=ops',
        ],
        { ServiceName: 'guarded' },
      ),
      instance('t1', tlsPort, ['urlprefix-/tls proto=https tlsskipverify=true'], { ServiceName: 'tls' }),
      instance('t2', tlsPort, ['urlprefix-/tlsv proto=https'], { ServiceName: 'tlsv' }),
      instance('ta', tcpA.port, [`urlprefix-:${tcpPort} proto=tcp`], { ServiceName: 'db' }),
      instance('tb', tcpB.port, [`urlprefix-:${tcpPort} proto=tcp`], { ServiceName: 'db' }),
      instance('sn', sniBackendPort, [`urlprefix-db.example.com:${sniPort} proto=tcp+sni`], { ServiceName: 'sni' }),
    ];
    source = new MemorySource(baseInstances);
    gw = await start({ listen: { host: '127.0.0.1', port: 0 }, source, logger: nullLogger, auth, threads: 1 });
    cleanups.push(() => gw.close(1000));
    await gw.ready(AbortSignal.timeout(20_000));
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it.skipIf(skip)('routes a host route by the Host header only', async () => {
    expect(echoOf(await get(gw.port, '/x', { host: 'API.example.com:8080' })).name).toBe('host');
    expect((await get(gw.port, '/x', { host: 'other.example.com' })).status).toBe(404);
  });

  it.skipIf(skip)('splits a route 80/20 between a weighted and an unweighted service', async () => {
    const counts = { s80: 0, s20: 0 };
    for (let i = 0; i < 200; i++) {
      const r = await get(gw.port, '/split');
      counts[echoOf(r).name as 's80' | 's20']++;
    }
    expect(counts.s80 / 200).toBeGreaterThanOrEqual(0.75);
    expect(counts.s80 / 200).toBeLessThanOrEqual(0.85);
  });

  it.skipIf(skip)('strips, then adds a prefix, and sends the host= name upstream', async () => {
    expect(echoOf(await get(gw.port, '/p/x?q=1')).url).toBe('/base/x?q=1');
    expect(echoOf(await get(gw.port, '/hh', { host: 'public.example' })).headers.host).toBe('internal.example');
  });

  it.skipIf(skip)('redirects plain HTTP to https with 301 on a redirect=https route', async () => {
    const r = await get(gw.port, '/r/x?y=1', { host: 'shop.example.com:8080' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://shop.example.com/r/x?y=1');
  });

  it.skipIf(skip)('talks TLS to a proto=https instance with a self-signed certificate', async () => {
    const r = await get(gw.port, '/tls/x');
    expect(r.status).toBe(200);
    expect(echoOf(r).name).toBe('tls');
  });

  it.skipIf(skip)(
    'verifies a proto=https instance unless tlsskipverify: a self-signed one is not forwarded to',
    async () => {
      const r = await get(gw.port, '/tlsv/x');
      expect([502, 503]).toContain(r.status);
      expect(r.body).not.toContain('"name":"tls"');
    },
  );

  it.skipIf(skip)('asks for basic auth on an Upgrade request too, before any tunnel opens', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: gw.port });
      let got = '';
      s.setEncoding('utf8');
      s.on('connect', () =>
        s.write(
          'GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
      );
      s.on('data', (d: string) => {
        got += d;
        if (got.includes('\r\n\r\n')) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      s.on('close', () => resolve(got));
      s.setTimeout(5000, () => s.destroy(new Error('no answer within 5 s')));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.toLowerCase()).toContain('www-authenticate: basic realm="ops"');
  });

  it.skipIf(skip)('asks for basic auth and lets the right password through', async () => {
    const none = await get(gw.port, '/a');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="ops"');
    expect((await get(gw.port, '/a', { headers: { authorization: basic('alice', 'wrong') } })).status).toBe(401);
    expect((await get(gw.port, '/a', { headers: { authorization: basic('bob', 'wonderland') } })).status).toBe(401);
    const ok = await get(gw.port, '/a', { headers: { authorization: basic('alice', 'wonderland') } });
    expect(ok.status).toBe(200);
    expect(echoOf(ok).name).toBe('guarded');
  });

  it.skipIf(skip)('refuses clients by deny= and allow= networks with 403', async () => {
    const denied = await get(gw.port, '/deny');
    expect(denied.status).toBe(403);
    expect(denied.headers['x-drover-gateway-error']).toBe('forbidden');
    expect((await get(gw.port, '/allow')).status).toBe(403);
    expect((await get(gw.port, '/ok')).status).toBe(200);
  });

  it.skipIf(skip)('answers 429 to a client over its requests per second', async () => {
    // One concurrent burst: sequential requests on a loaded machine could spread over several 1-s windows.
    const replies = await Promise.all(Array.from({ length: 20 }, () => get(gw.port, '/rate')));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  });

  it.skipIf(skip)('answers 413 to a body over maxbody and forwards a small one', async () => {
    const big = await get(gw.port, '/mb', { method: 'POST', body: 'x'.repeat(100) });
    expect(big.status).toBe(413);
    const small = await get(gw.port, '/mb', { method: 'POST', body: 'tiny' });
    expect(small.status).toBe(200);
    expect(echoOf(small).body).toBe('tiny');
  });

  it.skipIf(skip)('sets a response header from header=', async () => {
    const r = await get(gw.port, '/h');
    expect(r.headers['strict-transport-security']).toBe('max-age=600');
  });

  it.skipIf(skip)('lists a route with an unknown option with its error and does not serve it', async () => {
    const bad = gw.routes().find((r) => r.Name === '/bad');
    expect(bad?.Error).toMatch(/unknown option "auht"/);
    expect(bad?.Targets).toEqual([]);
    expect((await get(gw.port, '/bad')).status).toBe(404);
    expect((await get(gw.port, '/ok')).status).toBe(200);
  });

  it.skipIf(skip)('passes TLS through by SNI to a proto=tcp+sni route', async () => {
    expect(await firstLine(sniPort, 'db.example.com')).toBe('sni-backend');
  });

  it.skipIf(skip)('balances TCP connections and moves to the other instance when one leaves', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await firstLine(tcpPort));
    expect([...seen].sort()).toEqual(['tcp-a', 'tcp-b']);
    source.set(baseInstances.filter((i) => i.ID !== 'ta'));
    await expect
      .poll(() => gw.routes().find((r) => r.Name === `:${tcpPort}`)?.Targets.length, { timeout: 10_000 })
      .toBe(1);
    for (let i = 0; i < 4; i++) expect(await firstLine(tcpPort)).toBe('tcp-b');
    source.set(baseInstances);
  });

  it.skipIf(skip)('reports a TCP port already taken on that route and keeps serving the others', async () => {
    const blocker = createTcpServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    try {
      source.set([
        ...baseInstances,
        instance('tx', tcpA.port, [`urlprefix-:${taken} proto=tcp`], { ServiceName: 'x' }),
      ]);
      await expect
        .poll(() => gw.routes().find((r) => r.Name === `:${taken}`)?.Error, { timeout: 10_000 })
        .toMatch(/already in use/);
      expect((await get(gw.port, '/ok')).status).toBe(200);
      expect(['tcp-a', 'tcp-b']).toContain(await firstLine(tcpPort));
    } finally {
      blocker.close();
      source.set(baseInstances);
    }
  });

  it.skipIf(skip)(`closes a TCP listener when its last instance goes (${name})`, async () => {
    source.set(baseInstances.filter((i) => i.ServiceName !== 'db'));
    await expect
      .poll(
        () =>
          firstLine(tcpPort).then(
            () => 'open',
            (e: NodeJS.ErrnoException) => e.code,
          ),
        { timeout: 10_000 },
      )
      .toBe('ECONNREFUSED');
    source.set(baseInstances);
    await expect.poll(() => firstLine(tcpPort).catch(() => ''), { timeout: 10_000 }).toMatch(/^tcp-[ab]$/);
  });
});
