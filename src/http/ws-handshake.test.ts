import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MemoryBackend } from '../state/index.js';
import { build } from '../testing/builders.js';
import { testAgent, type TestAgent } from './testing/test-api.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function agent(): Promise<TestAgent> {
  const a = await testAgent({ dataDir: ':memory:', backend: new MemoryBackend() });
  cleanups.push(a.stop);
  return a;
}

/** A websocket to `path` that has sent Nomad's handshake frame; resolves its close code and reason. */
async function handshaken(a: TestAgent, path: string): Promise<{ ws: WebSocket; closed: Promise<[number, string]> }> {
  const ws = new WebSocket(`${a.http.address.replace('http', 'ws')}${path}`);
  cleanups.push(() => ws.terminate());
  const closed = new Promise<[number, string]>((resolve) =>
    ws.once('close', (code, reason) => resolve([code, reason.toString()])),
  );
  ws.on('error', () => {});
  await once(ws, 'open');
  ws.send(JSON.stringify({ version: 1 }));
  return { ws, closed };
}

describe("Nomad's ws_handshake on endpoints that do not speak websocket", () => {
  it('ends a streaming endpoint with 1008 instead of buffering what it streams', async () => {
    const a = await agent();
    const { closed } = await handshaken(a, '/v1/event/stream?topic=Job:*&ws_handshake=true');
    // Each registration streams the whole job: a few are more than the handshake keeps of an HTTP answer.
    for (let i = 0; i < 20; i++) {
      await a.server.jobs.register(build.job({ ID: `stream-${i}` }));
      const done = await Promise.race([closed, new Promise((r) => setImmediate(r, undefined))]);
      if (done) break;
    }
    expect(await closed).toEqual([1008, 'this endpoint does not answer over a websocket']);
  });

  it('closes with 1009 when a caller floods frames at a query that is still waiting', async () => {
    const a = await agent();
    const listed = await fetch(`${a.http.address}/v1/jobs`);
    const index = listed.headers.get('x-nomad-index');
    await listed.text();
    const { ws, closed } = await handshaken(a, `/v1/jobs?index=${index}&wait=60s&ws_handshake=true`);
    const frame = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 40 && ws.readyState === WebSocket.OPEN; i++) ws.send(frame);
    expect(await closed).toEqual([1009, 'too much data sent before the session started']);
  });
});
