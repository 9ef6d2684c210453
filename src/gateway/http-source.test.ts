import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import type { ServiceRegistration } from '../structs/index.js';
import { HttpCatalogSource } from './http-source.js';
import { FakeAgent, reg } from './test-support.js';
import type { GatewayInstance } from './types.js';

const ids = (set: GatewayInstance[]) => set.map((i) => i.ID).sort();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `failNext`: how many requests the agent fails before it answers. */
async function setup(regs: ServiceRegistration[], failNext = 0) {
  const agent = new FakeAgent();
  agent.failNext = failNext;
  agent.set(regs);
  await agent.start();
  const ac = new AbortController();
  const source = new HttpCatalogSource({
    address: `http://127.0.0.1:${agent.port}`,
    logger: nullLogger,
    retryMinMs: 10,
    retryMaxMs: 20,
  });
  const it = source.watch(ac.signal)[Symbol.asyncIterator]();
  cleanups.push(async () => {
    ac.abort();
    await it.return?.(undefined);
    await agent.close();
  });
  const next = async () => {
    const r = await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no update in time')), 2000)),
    ]);
    return r.value as GatewayInstance[];
  };
  /** Sets may arrive in steps (service list, then each service); waits for the one expected. */
  const nextMatching = async (want: string[]) => {
    let set = await next();
    while (ids(set).join() !== want.join()) set = await next();
    return set;
  };
  return { agent, next, nextMatching };
}

describe('HttpCatalogSource', () => {
  it('yields every service instance once all services have answered, in the gateway shape', async () => {
    const { next } = await setup([
      reg('w1', 'web', 8001, ['urlprefix-/']),
      reg('w2', 'web', 8002, ['urlprefix-/']),
      reg('a1', 'api', 9001, ['urlprefix-/api strip=/api']),
    ]);
    const first = await next();
    expect(ids(first)).toEqual(['a1', 'w1', 'w2']);
    expect(first.find((i) => i.ID === 'a1')).toEqual({
      ID: 'a1',
      ServiceName: 'api',
      Address: '127.0.0.1',
      Port: 9001,
      Tags: ['urlprefix-/api strip=/api'],
      AllocID: 'alloc-a1',
      NodeID: 'node-1',
      Healthy: true,
    });
  });

  it('follows registrations and deregistrations through blocking queries', async () => {
    const { agent, next, nextMatching } = await setup([reg('w1', 'web', 8001, ['urlprefix-/'])]);
    expect(ids(await next())).toEqual(['w1']);
    agent.set([reg('w1', 'web', 8001, ['urlprefix-/']), reg('w2', 'web', 8002, ['urlprefix-/'])]);
    await nextMatching(['w1', 'w2']);
    agent.set([reg('w2', 'web', 8002, ['urlprefix-/']), reg('a1', 'api', 9001, ['urlprefix-/api'])]);
    await nextMatching(['a1', 'w2']);
    agent.set([reg('a1', 'api', 9001, ['urlprefix-/api'])]);
    await nextMatching(['a1']);
    agent.set([]);
    await nextMatching([]);
    // Every query blocks: only the first of each path goes without an index (the client leaves out index=0).
    const seen = new Set<string>();
    for (const r of agent.requests) {
      const path = r.split('?')[0]!;
      expect(r).toMatch(/[?&]wait=4m/);
      if (seen.has(path)) expect(r).toMatch(/[?&]index=[1-9]\d*/);
      seen.add(path);
    }
  });

  it('passes instances whose Drover check status is not passing on as unhealthy', async () => {
    const { next } = await setup([
      reg('ok', 'web', 8001, ['urlprefix-/']),
      { ...reg('warn', 'web', 8002, ['urlprefix-/']), Status: 'warning' },
      { ...reg('bad', 'web', 8003, ['urlprefix-/']), Status: 'critical' },
      { ...reg('pass', 'web', 8004, ['urlprefix-/']), Status: 'passing' },
    ]);
    const set = await next();
    expect(Object.fromEntries(set.map((i) => [i.ID, i.Healthy]))).toEqual({
      ok: true,
      warn: false,
      bad: false,
      pass: true,
    });
  });

  it('holds its queries open instead of polling while nothing changes', async () => {
    const { agent, next } = await setup([reg('w1', 'web', 8001, ['urlprefix-/'])]);
    await next();
    // Lets the first long-poll go out before counting; the count is checked to be small below.
    await new Promise((r) => setTimeout(r, 50));
    const settled = agent.requests.length;
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.requests.length).toBe(settled);
    expect(settled).toBeLessThanOrEqual(4);
  });

  it('retries after the agent fails and still delivers the catalog', async () => {
    const { agent, next } = await setup([reg('w1', 'web', 8001, ['urlprefix-/'])], 2);
    expect(ids(await next())).toEqual(['w1']);
    expect(agent.requests.length).toBeGreaterThanOrEqual(4);
  });

  it('moves on to the next server when the first one is dead', async () => {
    const dead = new FakeAgent();
    await dead.start();
    const deadPort = dead.port;
    await dead.close();
    const live = new FakeAgent();
    live.set([reg('w1', 'web', 8001, ['urlprefix-/'])]);
    await live.start();
    const ac = new AbortController();
    const source = new HttpCatalogSource({
      address: [`http://127.0.0.1:${deadPort}`, `http://127.0.0.1:${live.port}`],
      logger: nullLogger,
      retryMinMs: 10,
      retryMaxMs: 20,
    });
    const it = source.watch(ac.signal)[Symbol.asyncIterator]();
    try {
      const first = await it.next();
      expect(ids(first.value as GatewayInstance[])).toEqual(['w1']);
      expect(live.requests.length).toBeGreaterThan(0);
    } finally {
      ac.abort();
      await it.return?.(undefined);
      await live.close();
    }
  });
});
