import { createServer, type IncomingMessage, type Server } from 'node:http';
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
  server = createServer(async (req, res) => {
    const body = await readBody(req);
    seen.push({ method: req.method!, url: req.url!, body });
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/v1/internal/client/register' || req.url === '/v1/internal/client/status') return res.end(JSON.stringify({ HeartbeatTTL: 10e9, Index: 7 }));
    if (req.url?.startsWith('/v1/internal/client/allocs/')) {
      res.setHeader('X-Nomad-Index', '42');
      return res.end(JSON.stringify({ Allocs: [testAlloc(testJob([testTask('t', 'mock_driver', {})]), 'n-1')], Index: 42 }));
    }
    if (req.url === '/v1/internal/client/allocs') return res.end(JSON.stringify({ Index: 43 }));
    res.statusCode = 404;
    res.end('{"error":"no such route"}');
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
    expect(res.allocs[0]!.TaskGroup).toBe('web');
    await rpc.updateAllocs([{ ID: 'a', ClientStatus: 'running', ClientDescription: '', TaskStates: {} }]);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'PUT /v1/internal/client/register',
      'PUT /v1/internal/client/status',
      'GET /v1/internal/client/allocs/n-1?index=5&wait=30000ms',
      'PUT /v1/internal/client/allocs',
    ]);
    expect(seen[0]!.body).toEqual({ Node: { ID: 'n-1' } });
    expect(seen[1]!.body).toEqual({ NodeID: 'n-1', Status: 'ready' });
    expect(seen[3]!.body).toEqual({ Allocs: [{ ID: 'a', ClientStatus: 'running', ClientDescription: '', TaskStates: {} }] });
  });

  it('turns an error answer into an Unavailable error naming the status', async () => {
    const rpc = new HttpServerRPC(`http://${addr}`);
    const fake = Object.assign(rpc, {});
    await expect((fake as unknown as { call: (m: string, p: string) => Promise<unknown> }).call('GET', '/v1/nope')).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringContaining('404') });
  });
});
