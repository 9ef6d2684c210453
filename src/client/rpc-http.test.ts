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
    // The first answer also started a read of the servers' list (this fake answers 404: the list stays).
    await expect.poll(() => seen.filter((s) => s.url === '/v1/agent/servers').length).toBe(1);
    expect(rpc.servers).toEqual(['http://127.0.0.1:1', `http://${addr}`].reverse());
    seen.splice(0, seen.length, ...seen.filter((s) => s.url !== '/v1/agent/servers'));
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

  it('learns the servers the servers name, and fails over to them once the configured one dies', async () => {
    // Three fake servers that each name all three; the client is configured with the first one only.
    const fakes = await Promise.all([0, 1, 2].map(() => fakeServer()));
    const names = fakes.map((f) => f.addr);
    for (const f of fakes) f.servers = names;
    try {
      const rpc = new HttpServerRPC([names[0]!], { serverRefreshMs: 60_000 });
      await rpc.nodeRegister({ ID: 'n-1' } as never);
      await expect.poll(() => rpc.servers, { timeout: 5000 }).toEqual(names.map((n) => `http://${n}`));
      expect(fakes[0]!.calls).toContain('GET /v1/agent/servers');

      // The first server dies: the next call goes to a learned one, which is asked for the list again.
      fakes[1]!.servers = [names[1]!, names[2]!];
      await fakes[0]!.close();
      expect(await rpc.nodeUpdateStatus('n-1', 'ready')).toEqual({ heartbeatTTLms: 10_000, index: 7 });
      expect(rpc.currentServer).toBe(`http://${names[1]}`);
      expect(fakes[1]!.calls).toContain('PUT /v1/internal/client/status');
      // The configured server stays last (it may come back); the learned ones the servers still name lead.
      await expect
        .poll(() => rpc.servers, { timeout: 5000 })
        .toEqual([`http://${names[1]}`, `http://${names[2]}`, `http://${names[0]}`]);
      // A copy for a task's token shares the list: it starts at the current server, not the dead one.
      expect(rpc.withToken('t').currentServer).toBe(`http://${names[1]}`);
    } finally {
      for (const f of fakes) await f.close();
    }
  });

  it('keeps its list when the servers refuse the read or name no server', async () => {
    const f = await fakeServer();
    try {
      f.serversStatus = 403;
      const rpc = new HttpServerRPC([f.addr, '127.0.0.1:1'], { serverRefreshMs: 0 });
      await rpc.nodeUpdateStatus('n-1', 'ready');
      await rpc.refreshServers();
      expect(rpc.servers).toEqual([`http://${f.addr}`, 'http://127.0.0.1:1']);
      f.serversStatus = 200;
      f.servers = [];
      await rpc.refreshServers();
      expect(rpc.servers).toEqual([`http://${f.addr}`, 'http://127.0.0.1:1']);
      f.servers = [f.addr, 'not a server'];
      await rpc.refreshServers();
      expect(rpc.servers).toEqual([`http://${f.addr}`, 'http://127.0.0.1:1']);
    } finally {
      await f.close();
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

/** A server answering the status call and `GET /v1/agent/servers` with `servers`; records every call. */
async function fakeServer() {
  const f = {
    addr: '',
    servers: [] as string[],
    serversStatus: 200,
    calls: [] as string[],
    close: async () => {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
  const s = createServer((req, res) => {
    f.calls.push(`${req.method} ${req.url}`);
    req.resume();
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/v1/agent/servers') {
      res.statusCode = f.serversStatus;
      return res.end(f.serversStatus === 200 ? JSON.stringify(f.servers) : 'Permission denied');
    }
    res.end(JSON.stringify({ HeartbeatTTL: 10e9, Index: 7 }));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  f.addr = `127.0.0.1:${(s.address() as AddressInfo).port}`;
  return f;
}
