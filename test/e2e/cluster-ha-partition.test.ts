/**
 * A partitioned Drover server: the leader runs in its own network namespace, joined to the host (where etcd and
 * the two other servers run) by a veth pair. Cutting the link drops its packets: it cannot renew its etcd lease,
 * so it stops acting as leader within the lease (2 s) and a server on the host takes over; writes go on there.
 * When the link returns, the old leader rejoins as a standby and its replica catches up with the writes it missed.
 * Needs root and iproute2 (`ip netns`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterAgent, NetnsLink } from './harness/cluster.js';
import { startEtcd, type TestEtcd } from './harness/etcd.js';

const job = (id: string) => ({
  Job: {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['dc1'],
    TaskGroups: [{ Name: 'g', Count: 0, Tasks: [{ Name: 't', Driver: 'mock_driver', Config: {} }] }],
  },
});

async function put(address: string, id: string): Promise<boolean> {
  try {
    const r = await fetch(`${address}/v1/jobs`, {
      method: 'POST',
      body: JSON.stringify(job(id)),
      signal: AbortSignal.timeout(3000),
    });
    await r.text();
    return r.ok;
  } catch {
    return false;
  }
}

describe.skipIf(!NetnsLink.available())('a Drover server cut off by a network partition', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-partition-'));
  const link = new NetnsLink();
  let etcd: TestEtcd;
  let island: ClusterAgent;
  const host: ClusterAgent[] = [];

  beforeAll(async () => {
    link.create();
    etcd = await startEtcd({ members: 3, alsoListenOn: link.hostIP });
    const config = (endpoints: string[]) => {
      const f = join(dir, `server-${endpoints[0]!.includes('127.0.0.1') ? 'host' : 'island'}.hcl`);
      writeFileSync(f, `server {\n  enabled = true\n  etcd {\n    endpoints = ${JSON.stringify(endpoints)}\n  }\n}\n`);
      return f;
    };
    const islandHCL = config(etcd.endpoints.map((u) => u.replace('127.0.0.1', link.hostIP)));
    const hostHCL = config(etcd.endpoints);
    // The island starts first, so it leads.
    island = new ClusterAgent('server', 'island', ['-server', '-config', islandHCL], {
      netns: link.ns,
      bind: link.nsIP,
    });
    await island.start();
    await island.waitFor(
      'the island to lead',
      async () =>
        (await island.api<string>('/v1/status/leader')).body === `${link.nsIP}:${island.address.split(':')[2]}`,
      15_000,
    );
    for (let i = 0; i < 2; i++) {
      const s = new ClusterAgent('server', `h${i}`, ['-server', '-config', hostHCL], { bind: link.hostIP });
      await s.start();
      host.push(s);
    }
  }, 90_000);
  afterAll(async () => {
    link.restore();
    for (const s of [island, ...host]) await s?.stop();
    await etcd?.stop();
    link.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('stops acting as leader within its lease, a host server takes over, and it rejoins as a standby that catches up', async () => {
    const islandAddr = island.address.replace('http://', '');
    expect(await put(host[0]!.address, 'before-cut')).toBe(true);

    link.cut();
    const t0 = Date.now();
    // A host server leads and takes writes.
    const newLeader = await host[0]!.waitFor(
      'a host server to lead',
      async () => {
        const l = (await host[0]!.api<string>('/v1/status/leader')).body;
        return l && l !== islandAddr ? l : undefined;
      },
      15_000,
    );
    const tookOver = Date.now() - t0;
    // The island gave up on its own, before its lease could have run out in etcd.
    await host[0]!.waitFor(
      'the island to log losing leadership',
      async () => /leadership lost/.test(island.output),
      10_000,
    );
    // The other host server may still forward to the island for a moment: a client retries.
    await host[1]!.waitFor('a write during the cut', () => put(host[1]!.address, 'during-cut'), 15_000);
    // When the island stopped acting, from its own log line (reported, not asserted: wall clock on a busy machine).
    const lostLine = island.output.split('\n').find((l) => l.includes('leadership lost')) ?? '';
    const lostAt = Number(/"time":(\d+)/.exec(lostLine)?.[1] ?? NaN);
    // Fencing in time: the island stopped acting before anyone else could lead (its lease was still valid in etcd).
    expect(lostAt).toBeLessThan(t0 + tookOver);
    process.stdout.write(
      `partition: the island stopped leading ${lostAt - t0} ms and a host server leads ${tookOver} ms after the link was cut (lease 2 s)\n`,
    );

    link.restore();
    // Back: the island names the new leader and its replica holds the write made while it was away.
    await host[0]!.waitFor(
      'the island to follow the new leader',
      async () => (await island.api<string>('/v1/status/leader').catch(() => ({ body: '' }))).body === newLeader,
      30_000,
    );
    await host[0]!.waitFor(
      'the island replica to catch up',
      async () => {
        const r = await island.api<Array<{ ID: string }>>('/v1/jobs?stale').catch(() => undefined);
        return Array.isArray(r?.body) && r.body.some((j) => j.ID === 'during-cut');
      },
      30_000,
    );
    // Writes through the island reach the leader again.
    await host[0]!.waitFor('a write through the island', () => put(island.address, 'after-rejoin'), 15_000);
    const ids = (await host[1]!.api<Array<{ ID: string }>>('/v1/jobs')).body.map((j) => j.ID);
    expect(ids).toEqual(expect.arrayContaining(['before-cut', 'during-cut', 'after-rejoin']));
    // Exactly one leader, named alike by all three.
    const leaders = await Promise.all(
      [island, ...host].map(async (s) => (await s.api<string>('/v1/status/leader')).body),
    );
    expect(new Set(leaders).size).toBe(1);
  }, 120_000);
});
