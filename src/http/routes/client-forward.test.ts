import { afterEach, describe, expect, it } from 'vitest';
import { badRequest } from '../../errors/index.js';
import type { Allocation, Node } from '../../structs/index.js';
import type { ServerAPI } from '../../server/index.js';
import type { HttpApi } from '../server.js';
import { testHttpApi } from '../testing/test-api.js';
import type { ClientReadAPI } from '../types.js';

const ALLOC = 'a1a1a1a1-0000-4000-8000-000000000001';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A client agent that runs ALLOC and records what it was asked to do. */
function fakeClient(calls: unknown[]): ClientReadAPI {
  return {
    nodeID: 'n-client',
    hasAlloc: (id) => id === ALLOC,
    async *readLogs(_id, task, type) {
      yield Buffer.from(`${task} ${type} line\n`);
    },
    allocStats: async () => ({ ResourceUsage: { MemoryStats: { RSS: 42 } } }),
    allocRestart: async (id, req) => {
      if (req.task === 'nope') throw badRequest(`task "nope" not found in allocation "${id}"`);
      calls.push(['restart', id, req]);
    },
    allocSignal: async (id, req) => {
      calls.push(['signal', id, req]);
    },
  };
}

/** Just what the client routes read from a server: the allocation and its node. */
function fakeServer(
  node: Partial<Node>,
  alloc: Partial<Allocation> = {},
  prefixes: Record<string, string> = {},
): ServerAPI {
  const a = { ID: ALLOC, NodeID: 'n-client', DesiredStatus: 'run', ClientStatus: 'running', ...alloc };
  return {
    resolvePrefix: (_k: string, id: string) => prefixes[id] ?? id,
    allocs: { get: async () => ({ value: a, index: 5 }) },
    nodes: { get: async () => ({ value: { ID: 'n-client', Name: 'client-1', Status: 'ready', ...node }, index: 5 }) },
  } as unknown as ServerAPI;
}

async function api(opts: { server?: ServerAPI; client?: ClientReadAPI }): Promise<HttpApi> {
  const h = await testHttpApi(opts);
  cleanups.push(() => h.close());
  return h;
}

describe('client endpoints for an allocation on another agent', () => {
  it('forwards restart and signal from the server to the client agent running the allocation', async () => {
    const calls: unknown[] = [];
    const client = await api({ client: fakeClient(calls) });
    const server = await api({
      server: fakeServer({ HTTPAddr: client.address.replace('http://', '') }, {}, { a1a1: ALLOC }),
    });
    // A short ID reaches the client agent as the full ID: it has no state to resolve prefixes with.
    const r = await fetch(`${server.address}/v1/client/allocation/a1a1/restart`, {
      method: 'POST',
      body: JSON.stringify({ TaskName: 'web', AllTasks: false }),
    });
    expect(r.status).toBe(200);
    const s = await fetch(`${server.address}/v1/client/allocation/${ALLOC}/signal`, {
      method: 'PUT',
      body: JSON.stringify({ Task: 'web', Signal: 'SIGUSR1' }),
    });
    expect(s.status).toBe(200);
    expect(calls).toEqual([
      ['restart', ALLOC, { task: 'web', allTasks: false }],
      ['signal', ALLOC, { task: 'web', signal: 'SIGUSR1' }],
    ]);
  });

  it("passes the client agent's error status, text and code through unchanged", async () => {
    const client = await api({ client: fakeClient([]) });
    const server = await api({ server: fakeServer({ HTTPAddr: client.address.replace('http://', '') }) });
    const r = await fetch(`${server.address}/v1/client/allocation/${ALLOC}/restart`, {
      method: 'POST',
      body: JSON.stringify({ TaskName: 'nope' }),
    });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-drover-error-code')).toBe('BadRequest');
    expect(await r.text()).toBe(`task "nope" not found in allocation "${ALLOC}"`);
  });

  it('streams logs and answers stats of a remote allocation through the server', async () => {
    const client = await api({ client: fakeClient([]) });
    const server = await api({ server: fakeServer({ HTTPAddr: client.address }) });
    const logs = await fetch(`${server.address}/v1/client/fs/logs/${ALLOC}?task=web&type=stderr&plain=true`);
    expect(logs.status).toBe(200);
    expect(await logs.text()).toBe('web stderr line\n');
    const stats = await fetch(`${server.address}/v1/client/allocation/${ALLOC}/stats`);
    expect(await stats.json()).toEqual({ ResourceUsage: { MemoryStats: { RSS: 42 } } });
  });

  it('says which node is unreachable, down, or the allocation not running, instead of forwarding', async () => {
    const down = await api({ server: fakeServer({ HTTPAddr: '127.0.0.1:1', Status: 'down' }) });
    const r1 = await fetch(`${down.address}/v1/client/allocation/${ALLOC}/stats`);
    expect(r1.status).toBe(503);
    expect(await r1.text()).toContain('node "client-1" (n-client) running allocation');
    const gone = await api({ server: fakeServer({ HTTPAddr: '127.0.0.1:1' }) });
    const r2 = await fetch(`${gone.address}/v1/client/allocation/${ALLOC}/stats`);
    expect(r2.status).toBe(503);
    expect(await r2.text()).toContain("can't reach the client agent at 127.0.0.1:1");
    const stopped = await api({
      server: fakeServer({ HTTPAddr: '127.0.0.1:1' }, { DesiredStatus: 'stop', ClientStatus: 'complete' }),
    });
    const r3 = await fetch(`${stopped.address}/v1/client/allocation/${ALLOC}/restart`, { method: 'POST' });
    expect(r3.status).toBe(400);
    expect(await r3.text()).toContain('is not running (desired status "stop", client status "complete")');
  });

  it('answers a forwarded request itself rather than forwarding it again', async () => {
    const self = { HTTPAddr: '' };
    const server = await api({ server: fakeServer(self) });
    self.HTTPAddr = server.address.replace('http://', '');
    const r = await fetch(`${server.address}/v1/client/allocation/${ALLOC}/stats`);
    expect(r.status).toBe(503);
    expect(await r.text()).toBe('this agent does not run a client');
  });
});
