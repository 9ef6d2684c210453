import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { grpcProbe, httpProbe, httpStatusToHealth, MAX_OUTPUT, scriptProbe, tcpProbe } from './probes.js';
import type { ResolvedCheck } from './registrations.js';
import { CheckRunner } from './check-runner.js';
import { resolvedCheck } from './testing/fixtures.js';
import { freePort } from '../lib/net.js';

function check(over: Partial<ResolvedCheck>): ResolvedCheck {
  return resolvedCheck({ CheckID: 'c', Name: 'n', Type: 'http', Port: 0, IntervalMs: 50, TimeoutMs: 1000, ...over });
}

const signal = () => AbortSignal.timeout(5000);

let server: http.Server;
let port = 0;
const seen: Array<{ method: string; url: string; header: string | undefined; body: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        header: req.headers['x-probe'] as string | undefined,
        body,
      });
      const code = Number(/^\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
      if (req.url === '/big') return res.end('x'.repeat(MAX_OUTPUT * 3));
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
      res.writeHead(code);
      res.end(`code ${code}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('httpProbe', () => {
  it('maps status codes as Consul: 2xx passing, 429 warning, anything else critical', async () => {
    expect(httpStatusToHealth(204)).toBe('passing');
    expect(httpStatusToHealth(429)).toBe('warning');
    expect(httpStatusToHealth(301)).toBe('critical');
    for (const [code, want] of [
      [200, 'passing'],
      [429, 'warning'],
      [503, 'critical'],
      [404, 'critical'],
    ] as const) {
      const r = await httpProbe(check({ Port: port, Path: `/status/${code}` }), signal());
      expect(r.status).toBe(want);
      expect(r.output).toContain(`HTTP GET http://127.0.0.1:${port}/status/${code}: ${code}`);
      expect(r.output).toContain(`code ${code}`);
    }
  });

  it('sends the method, headers and body of the check', async () => {
    seen.length = 0;
    await httpProbe(
      check({ Port: port, Path: 'echo', Method: 'POST', Header: { 'X-Probe': ['yes'] }, Body: '{"a":1}' }),
      signal(),
    );
    expect(seen).toEqual([{ method: 'POST', url: '/echo', header: 'yes', body: '{"a":1}' }]);
  });

  it('keeps at most 4 KiB of output', async () => {
    const r = await httpProbe(check({ Port: port, Path: '/big' }), signal());
    expect(r.status).toBe('passing');
    expect(r.output.length).toBe(MAX_OUTPUT);
  });

  it('is critical with the error when nothing listens, and when aborted', async () => {
    const closed = await freePort();
    const r = await httpProbe(check({ Port: closed }), signal());
    expect(r.status).toBe('critical');
    expect(r.output).toMatch(/ECONNREFUSED/);
    const t = await httpProbe(check({ Port: port, Path: '/slow' }), AbortSignal.timeout(100));
    expect(t).toMatchObject({ status: 'critical' });
    expect(t.output).toContain('timed out');
  });
});

describe('tcpProbe', () => {
  it('passes when the port accepts and fails when it refuses', async () => {
    expect((await tcpProbe(check({ Type: 'tcp', Port: port }), signal())).status).toBe('passing');
    const r = await tcpProbe(check({ Type: 'tcp', Port: await freePort() }), signal());
    expect(r.status).toBe('critical');
    expect(r.output).toMatch(/^dial tcp 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});

describe('scriptProbe', () => {
  it('maps exit 0 to passing, 1 to warning and others to critical, passing the command through', async () => {
    const calls: unknown[] = [];
    for (const [code, want] of [
      [0, 'passing'],
      [1, 'warning'],
      [2, 'critical'],
      [127, 'critical'],
    ] as const) {
      const probe = scriptProbe(async (cmd, args, timeoutMs) => {
        calls.push([cmd, args, timeoutMs]);
        return { exitCode: code, output: `exit ${code}` };
      });
      expect(
        await probe(check({ Type: 'script', Command: '/bin/check', Args: ['-v'], TimeoutMs: 750 }), signal()),
      ).toEqual({ status: want, output: `exit ${code}` });
    }
    expect(calls[0]).toEqual(['/bin/check', ['-v'], 750]);
  });

  it('is critical when exec fails or is missing', async () => {
    const failing = scriptProbe(async () => {
      throw new Error('task not running');
    });
    expect(await failing(check({ Type: 'script' }), signal())).toEqual({
      status: 'critical',
      output: 'task not running',
    });
    expect((await scriptProbe(undefined)(check({ Type: 'script' }), signal())).status).toBe('critical');
  });
});

describe('grpcProbe', () => {
  it('passes when grpc.health.v1 answers SERVING and fails otherwise', async () => {
    const statusFor: Record<string, number> = { '': 1, down: 2 };
    const g = http2.createServer();
    g.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        const msg = body.subarray(5);
        const name = msg.length > 2 ? msg.subarray(2, 2 + msg[1]!).toString() : '';
        expect(headers[':path']).toBe('/grpc.health.v1.Health/Check');
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': name in statusFor ? '0' : '5' }));
        stream.end(name in statusFor ? Buffer.from([0, 0, 0, 0, 2, 0x08, statusFor[name]!]) : Buffer.alloc(0));
      });
    });
    await new Promise<void>((r) => g.listen(0, '127.0.0.1', r));
    const gport = (g.address() as AddressInfo).port;
    try {
      expect(await grpcProbe(check({ Type: 'grpc', Port: gport }), signal())).toMatchObject({ status: 'passing' });
      expect(await grpcProbe(check({ Type: 'grpc', Port: gport, GRPCService: 'down' }), signal())).toMatchObject({
        status: 'critical',
        output: expect.stringContaining('status 2'),
      });
      expect(await grpcProbe(check({ Type: 'grpc', Port: gport, GRPCService: 'unknown' }), signal())).toMatchObject({
        status: 'critical',
        output: expect.stringContaining('grpc-status 5'),
      });
    } finally {
      await new Promise<void>((r) => g.close(() => r()));
    }
  });
});

describe('CheckRunner with real probes', () => {
  it('reports a live HTTP endpoint passing, then critical once it goes away', async () => {
    const s = http.createServer((_q, res) => res.end('ok'));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const sport = (s.address() as AddressInfo).port;
    const ctl = new AbortController();
    const seenStatuses: string[] = [];
    const runner = new CheckRunner({
      checks: [check({ Port: sport, IntervalMs: 30 })],
      signal: ctl.signal,
      onStatusChange: (st) => seenStatuses.push(st),
    });
    const done = runner.start();
    try {
      await expect.poll(() => seenStatuses.includes('passing'), { timeout: 3000 }).toBe(true);
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
      await expect.poll(() => seenStatuses.at(-1) === 'critical', { timeout: 3000 }).toBe(true);
      expect(seenStatuses).toEqual(['passing', 'critical']);
    } finally {
      ctl.abort();
      await done;
    }
  });
});
