import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpServerRPC } from './rpc-http.js';
import { testAlloc, testJob, testTask } from './testing/index.js';

const seen: Array<{ method: string; url: string; body: unknown }> = [];
let server: Server;
let addr: string;

const readBody = async (req: IncomingMessage) => {
  let s = '';
  for await (const c of req) s += c;
  return s ? JSON.parse(s) : undefined;
};

beforeAll(async () => {
  // The handler is async: a failure answers 500 (and fails the test that sent it) instead of going unhandled.
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    seen.push({ method: req.method!, url: req.url!, body });
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/v1/internal/client/register' || req.url === '/v1/internal/client/status')
      return res.end(JSON.stringify({ HeartbeatTTL: 10e9, Index: 7 }));
    if (req.url?.startsWith('/v1/internal/client/allocs/')) {
      res.setHeader('X-Nomad-Index', '42');
      return res.end(
        JSON.stringify({ Allocs: [testAlloc(testJob([testTask('t', 'mock_driver', {})]), 'n-1')], Index: 42 }),
      );
    }
    if (req.url === '/v1/internal/client/allocs') return res.end(JSON.stringify({ Index: 43 }));
    res.statusCode = 404;
    res.end('{"error":"no such route"}');
  };
  server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('ServerRPC over HTTP', () => {
  it('speaks the internal client endpoints with Nomad-shaped bodies', async () => {
    const rpc = new HttpServerRPC(['127.0.0.1:1', addr]);
    expect(await rpc.nodeRegister({ ID: 'n-1' } as never)).toEqual({ heartbeatTTLms: 10_000, index: 7 });
    expect(await rpc.nodeUpdateStatus('n-1', 'ready')).toEqual({ heartbeatTTLms: 10_000, index: 7 });
    const res = await rpc.getClientAllocs('n-1', 5, 30_000);
    expect(res.index).toBe(42);
    expect(res.allocs[0]?.TaskGroup).toBe('web');
    await rpc.updateAllocs([{ ID: 'a', ClientStatus: 'running', ClientDescription: '', TaskStates: {} }]);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'PUT /v1/internal/client/register',
      'PUT /v1/internal/client/status',
      'GET /v1/internal/client/allocs/n-1?index=5&wait=30000ms',
      'PUT /v1/internal/client/allocs',
    ]);
    expect(seen[0]?.body).toEqual({ Node: { ID: 'n-1' } });
    expect(seen[1]?.body).toEqual({ NodeID: 'n-1', Status: 'ready' });
    expect(seen[3]?.body).toEqual({
      Allocs: [{ ID: 'a', ClientStatus: 'running', ClientDescription: '', TaskStates: {} }],
    });
  });

  it('gives up on a server that accepts but never answers, and tries the next one', async () => {
    // A partitioned server drops packets: without a deadline a heartbeat would wait forever.
    const held: Array<import('node:http').ServerResponse> = [];
    const silent = createServer((_req, res) => void held.push(res));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentAddr = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const began = Date.now();
      const rpc = new HttpServerRPC([silentAddr, addr], { requestTimeoutMs: 200 });
      expect(await rpc.nodeUpdateStatus('n-1', 'ready')).toEqual({ heartbeatTTLms: 10_000, index: 7 });
      expect(Date.now() - began).toBeGreaterThanOrEqual(190);
      const alone = new HttpServerRPC(silentAddr, { requestTimeoutMs: 200 });
      await expect(alone.nodeUpdateStatus('n-1', 'ready')).rejects.toMatchObject({ code: 'Unavailable' });
      // A blocking query gets its wait on top of the deadline: 300 ms of wait is not cut at 200 ms.
      await expect(alone.getClientAllocs('n-1', 1, 300)).rejects.toMatchObject({ code: 'Unavailable' });
      expect(Date.now() - began).toBeGreaterThanOrEqual(190 + 190 + 490);
    } finally {
      for (const r of held) r.destroy();
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('turns an error answer into an Unavailable error naming the status', async () => {
    const rpc = new HttpServerRPC(`http://${addr}`);
    const fake = Object.assign(rpc, {});
    await expect(
      (fake as unknown as { call: (m: string, p: string) => Promise<unknown> }).call('GET', '/v1/nope'),
    ).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringContaining('404') });
  });
});
