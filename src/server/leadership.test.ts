import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdBackend, EtcdClient } from '../state/index.js';
import { startEtcd, type TestEtcd } from '../state/testing/etcd-server.js';
import { isDroverError } from '../errors/index.js';
import { EtcdLeadership } from './leadership.js';

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startEtcd();
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

let n = 0;
const prefix = () => `/leadership-test/${process.pid}-${++n}/`;
const seat = (p: string, address: string, ttlSeconds = 1) =>
  new EtcdLeadership({
    client: new EtcdClient({ endpoints: etcd.endpoints }),
    key: `${p}leader`,
    address,
    ttlSeconds,
    pollMs: 50,
  });

describe('EtcdLeadership', () => {
  it('elects one of two servers, and the other once the first resigns', async () => {
    const p = prefix();
    const a = seat(p, 'a:1');
    const b = seat(p, 'b:1');
    const stop = new AbortController();
    const first = await a.campaign(stop.signal);
    const second = b.campaign(stop.signal);
    await expect.poll(() => b.leaderAddress).toBe('a:1');
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    await a.resign();
    expect(first.signal.aborted).toBe(true);
    const t = await second;
    expect([a.isLeader, b.isLeader, t.createRevision > first.createRevision]).toEqual([false, true, true]);
    await b.resign();
    stop.abort();
  });

  /** b as a standby: `leadership` settings for the test, on `client` (a wrapped one to count or stall calls). */
  const standby = (p: string, client: EtcdClient, opts: { pollMs?: number; recheckMs?: number }) =>
    new EtcdLeadership({ client, key: `${p}leader`, address: 'b:1', ttlSeconds: 1, ...opts });

  /** a leads while b stands by (`meanwhile` runs then); a resigns, and b must take over. */
  async function takeover(p: string, b: EtcdLeadership, meanwhile = async () => {}): Promise<void> {
    const a = seat(p, 'a:1');
    const stop = new AbortController();
    await a.campaign(stop.signal);
    const second = b.campaign(stop.signal);
    await expect.poll(() => b.leaderAddress).toBe('a:1');
    await meanwhile();
    await a.resign();
    await expect.poll(() => b.isLeader, { timeout: 10_000 }).toBe(true);
    await second;
    await b.resign();
    stop.abort();
  }

  it('sees the leader key go through its watch, not a poll, and takes over', async () => {
    const p = prefix();
    // Neither polls nor re-reads the key within the test: only the watch can tell b that a resigned.
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    await takeover(p, standby(p, client, { pollMs: 600_000, recheckMs: 600_000 }));
  });

  it('keeps one watch of the leader key while the holder stays, reading the key on each recheck', async () => {
    const p = prefix();
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    let watches = 0;
    let reads = 0;
    const counted = Object.assign(Object.create(client) as EtcdClient, {
      watch: (...args: Parameters<EtcdClient['watch']>) => {
        watches++;
        return client.watch(...args);
      },
      range: (...args: Parameters<EtcdClient['range']>) => {
        reads++;
        return client.range(...args);
      },
    });
    await takeover(p, standby(p, counted, { recheckMs: 20 }), async () => {
      const before = reads;
      await expect.poll(() => reads - before, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
      expect(watches).toBe(1);
    });
  });

  it('sees the leader key go on a recheck when its watch reports nothing', async () => {
    const p = prefix();
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    // A stalled stream: open, silent until aborted.
    const silent = Object.assign(Object.create(client) as EtcdClient, {
      watch: (_k: Buffer, _r: number, _on: unknown, signal: AbortSignal) =>
        new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
    });
    await takeover(p, standby(p, silent, { pollMs: 600_000, recheckMs: 50 }));
  });

  it('ends a term whose lease cannot be renewed, and etcd refuses that leader’s writes once another leads', async () => {
    const p = prefix();
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    const a = seat(p, 'a:1');
    const stop = new AbortController();
    const term = await a.campaign(stop.signal);
    const backend = new EtcdBackend({ endpoints: etcd.endpoints, prefix: p, guard: () => a.guard() });
    await backend.load(() => {});
    await backend.apply({
      index: 1,
      tableIndexes: { nodes: 1 },
      changes: [{ table: 'nodes', key: 'n1', value: { ID: 'n1' } }],
    });
    // Another server takes the key, as after this one's lease expired while it was paused.
    const leaderKey = Buffer.from(`${p}leader`);
    await client.deleteRange(leaderKey, undefined);
    await client.put(leaderKey, Buffer.from('b:1'));
    await expect(
      backend.apply({
        index: 2,
        tableIndexes: { nodes: 2 },
        changes: [{ table: 'nodes', key: 'n2', value: { ID: 'n2' } }],
      }),
    ).rejects.toSatisfy((e: unknown) => isDroverError(e, 'NotLeader'));
    await backend.close();
    // The lease was detached from the key but is still renewed; revoking it from outside ends the term.
    const started = Date.now();
    const leases = await client.call('/v3/lease/leases', {});
    for (const l of (leases.leases as Array<{ ID: string }> | undefined) ?? []) await client.leaseRevoke(l.ID);
    await expect.poll(() => term.signal.aborted, { timeout: 3000 }).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(a.isLeader).toBe(false);
    stop.abort();
  });

  it('keeps leading while its event loop is held longer than the lease TTL, the lease being renewed off that loop', async () => {
    const p = prefix();
    const a = seat(p, 'a:1', 2);
    const b = seat(p, 'b:1', 2);
    const stop = new AbortController();
    const term = await a.campaign(stop.signal);
    const second = b.campaign(stop.signal);
    second.catch(() => undefined);
    await expect.poll(() => b.leaderAddress).toBe('a:1');
    // Held synchronously, as a burst of request parsing holds the agent's loop: no timer of this thread runs.
    const until = Date.now() + 3500;
    while (Date.now() < until) {
      /* busy */
    }
    // Timers due during the hold run now: the term ends here if no renewal happened meanwhile.
    await new Promise((r) => setTimeout(r, 200));
    expect(term.signal.aborted).toBe(false);
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    await a.resign();
    await b.resign();
    stop.abort();
  });
});
