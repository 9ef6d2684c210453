import { describe, expect, it } from 'vitest';
import type { IndexedValue, KVEntry, NodeListStub, ServerRPC, ServiceRegistration } from '../structs/index.js';
import { testServer } from '../server/testing/harness.js';
import { dependencyKey, TemplateRunner, type Dependency } from '../template/index.js';
import { RpcTemplateData } from './template-data.js';

/** A KV store and node list behind a ServerRPC, with blocking reads on one store-wide index (as the server's). */
function fakeServer() {
  let index = 1;
  const kv = new Map<string, string>();
  let nodes: NodeListStub[] = [];
  const waiters = new Set<() => void>();
  const bump = () => {
    index++;
    for (const w of [...waiters]) w();
  };
  const wait = (minIndex: number | undefined, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (!minIndex || index > minIndex) return resolve();
      const w = () => {
        if (index > minIndex) {
          waiters.delete(w);
          resolve();
        }
      };
      waiters.add(w);
      signal?.addEventListener('abort', () => (waiters.delete(w), reject(signal.reason)), { once: true });
    });
  const rpc = {
    async kvList(
      prefix: string,
      q: { minIndex?: number; signal?: AbortSignal } = {},
    ): Promise<IndexedValue<KVEntry[]>> {
      await wait(q.minIndex, q.signal);
      const value = [...kv]
        .filter(([k]) => k.startsWith(prefix))
        .map(([Key, v]) => ({
          LockIndex: 0,
          Key,
          Flags: 0,
          Value: Buffer.from(v).toString('base64'),
          CreateIndex: 1,
          ModifyIndex: index,
        }));
      return { value, index };
    },
    async nodeList(q: { minIndex?: number; signal?: AbortSignal }): Promise<IndexedValue<NodeListStub[]>> {
      await wait(q.minIndex, q.signal);
      return { value: nodes, index };
    },
  } as unknown as ServerRPC;
  return {
    rpc,
    put: (k: string, v: string) => (kv.set(k, v), bump()),
    setNodes: (n: Array<Partial<NodeListStub>>) => ((nodes = n as NodeListStub[]), bump()),
  };
}

const identity = { namespace: 'default', jobID: 'j', group: 'g', task: 't' };

describe('templates reading the KV store and the node list over the server RPC', () => {
  it('loads key, ls and tree data, and wakes only when what a dependency reads changes', async () => {
    const s = fakeServer();
    s.put('app/greeting', 'hi');
    s.put('app/db/user', 'u');
    const data = new RpcTemplateData({ rpc: s.rpc, identity, env: {} });
    const key: Dependency = { kind: 'kv', path: 'app/greeting', dc: '' };
    const ls: Dependency = { kind: 'kvList', prefix: 'app', dc: '', recursive: false };
    const tree: Dependency = { kind: 'kvList', prefix: 'app', dc: '', recursive: true };
    await data.load([key, ls, tree], AbortSignal.timeout(5000));
    expect(data.kv('app/greeting')).toBe('hi');
    expect(data.kvList('app', '', false)).toEqual([{ Path: 'app/greeting', Value: 'hi' }]);
    expect(data.kvList('app', '', true)).toEqual([
      { Path: 'app/greeting', Value: 'hi' },
      { Path: 'app/db/user', Value: 'u' },
    ]);

    const last = new Map([[dependencyKey(key), data.index(key)!]]);
    let woke = false;
    const waiting = data.waitForChange([key], last, AbortSignal.timeout(10_000)).then((m) => ((woke = true), m));
    s.put('unrelated', 'x');
    s.put('app/db/user', 'u2');
    // A negative needs time to show: the fake answers at once, so 50 ms is many wake-ups had there been any.
    await new Promise((r) => setTimeout(r, 50));
    expect(woke).toBe(false);
    s.put('app/greeting', 'hello');
    await waiting;
    expect(data.kv('app/greeting')).toBe('hello');
  });

  it('gives the nodes that are not down, and wakes on a change of them, not on a heartbeat', async () => {
    const s = fakeServer();
    const n1 = { ID: 'n1', Name: 'a', Address: '10.0.0.1', Datacenter: 'dc1', Status: 'ready' };
    s.setNodes([n1, { ID: 'n2', Name: 'b', Address: '10.0.0.2', Datacenter: 'dc2', Status: 'down' }]);
    const data = new RpcTemplateData({ rpc: s.rpc, identity, env: {} });
    const dep: Dependency = { kind: 'nodes', dc: '' };
    await data.load([dep], AbortSignal.timeout(5000));
    expect(data.nodes('')).toEqual([{ ID: 'n1', Node: 'a', Address: '10.0.0.1', Datacenter: 'dc1' }]);
    const waiting = data.waitForChange(
      [dep],
      new Map([[dependencyKey(dep), data.index(dep)!]]),
      AbortSignal.timeout(10_000),
    );
    s.setNodes([{ ...n1 }, { ID: 'n2', Name: 'b', Address: '10.0.0.2', Datacenter: 'dc2', Status: 'down' }]);
    s.setNodes([n1, { ID: 'n2', Name: 'b', Address: '10.0.0.2', Datacenter: 'dc2', Status: 'ready' }]);
    await waiting;
    expect(data.nodes('dc2')).toEqual([{ ID: 'n2', Node: 'b', Address: '10.0.0.2', Datacenter: 'dc2' }]);
  });
});

describe('templates reading the service catalog of a real server', () => {
  it('renders every passing instance registered before the first render, and no critical one', async () => {
    const server = await testServer();
    try {
      const reg = (i: number, Status: 'passing' | 'critical') =>
        ({
          ID: `stats-${i}`,
          ServiceName: 'stats-api',
          Namespace: 'default',
          NodeID: 'node-1',
          Datacenter: 'dc1',
          JobID: 'stats',
          AllocID: `alloc-${i}`,
          Tags: [],
          Address: '127.0.0.1',
          Port: 20000 + i,
          Status,
        }) as unknown as ServiceRegistration;
      await server.upsertServiceRegistrations([
        ...Array.from({ length: 10 }, (_, i) => reg(i, 'passing')),
        reg(10, 'critical'),
      ]);
      const data = new RpcTemplateData({ rpc: server as unknown as ServerRPC, identity, env: {} });
      const runner = new TemplateRunner({
        text: '{{ range service "stats-api" }}{{ .Port }} {{ else }}fallback{{ end }}',
        name: 'upstreams',
        namespace: 'default',
      });
      const res = await runner.renderComplete(data, data, AbortSignal.timeout(5000));
      expect(res.complete).toBe(true);
      expect(res.output.trim().split(' ')).toEqual(Array.from({ length: 10 }, (_, i) => String(20000 + i)));
    } finally {
      await server.stop();
    }
  });
});
