/**
 * Three Drover servers on a three-member etcd (real processes on loopback ports) and three clients, the first
 * of which lists a dead address before the servers and runs the gateway. One server leads; the others forward
 * to it. A web service runs on every client behind the gateway. Five times in a row, the leader is SIGKILLed
 * while 8 writers register jobs through the surviving servers and a bounded load loop goes through the gateway:
 * a new leader serves writes (the time is printed), every acknowledged write is present afterwards, no node is
 * over-committed, no running allocation is stopped or duplicated, and no gateway request fails.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterAgent } from './harness/cluster.js';
import { startEtcd, type TestEtcd } from './harness/etcd.js';
import { Load } from './harness/load.js';

/** Answers with its alloc ID; CommonJS, run by `node FILE` outside this package's "type": "module". */
const WEB_JS = `const http = require('node:http');
http.createServer((req, res) => res.end(process.env.NOMAD_ALLOC_ID || '')).listen(Number(process.env.NOMAD_PORT_http), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

/** One web instance per client, routed by the gateway on `/`. */
const webJob = (script: string) => `job "web" {
  datacenters = ["dc1"]
  constraint {
    operator = "distinct_hosts"
    value    = "true"
  }
  group "web" {
    count = 3
    network {
      port "http" {}
    }
    service {
      name     = "web"
      provider = "nomad"
      port     = "http"
      tags     = ["urlprefix-/"]
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "node"
        args    = [${JSON.stringify(script)}]
      }
      resources {
        cpu    = 50
        memory = 48
      }
      kill_timeout = "2s"
    }
  }
}`;

const job = (id: string) => ({
  Job: {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['dc1'],
    TaskGroups: [
      {
        Name: 'g',
        Count: 1,
        Tasks: [{ Name: 't', Driver: 'mock_driver', Config: { run_for: '1h' }, Resources: { CPU: 10, MemoryMB: 16 } }],
      },
    ],
  },
});

async function put(address: string, id: string): Promise<boolean> {
  try {
    const r = await fetch(`${address}/v1/jobs`, {
      method: 'POST',
      body: JSON.stringify(job(id)),
      signal: AbortSignal.timeout(5000),
    });
    await r.text();
    return r.ok;
  } catch {
    return false;
  }
}

describe('three servers on etcd', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-cluster-ha-'));
  let etcd: TestEtcd;
  const servers: ClusterAgent[] = [];
  const clients: ClusterAgent[] = [];
  /** The gateway of the first client agent. */
  let gateway = '';

  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 });
    const hcl = join(dir, 'server.hcl');
    writeFileSync(
      hcl,
      `server {\n  enabled = true\n  min_heartbeat_ttl = "2s"\n  heartbeat_grace = "10s"\n  etcd {\n    endpoints = ${JSON.stringify(etcd.endpoints)}\n  }\n}\n`,
    );
    for (let i = 0; i < 3; i++) servers.push(new ClusterAgent('server', `s${i}`, ['-server', '-config', hcl]));
    for (const s of servers) await s.start();
  }, 90_000);
  afterAll(async () => {
    // Clients first: each stop ends the agent and kills the tasks it started. The servers then need no purge
    // (their state goes with etcd's data dir), which for the few hundred jobs of the failover rounds, one
    // DELETE each, took minutes on a loaded machine.
    for (const c of clients) await c.stop();
    for (const s of servers) {
      await s.stopAgent();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  const alive = () => servers.filter((s) => !s.exited);
  const leaderOf = async (s: ClusterAgent) => (await s.api<string>('/v1/status/leader')).body;

  /**
   * A read through `s` (a default read, which goes to the leader), retried for a while: right after a takeover a
   * standby may not know the new leader yet. Every refusal is printed, so a run shows what it met.
   */
  const read = async <T>(s: ClusterAgent, path: string): Promise<T> =>
    s
      .waitFor(
        `GET ${path}`,
        async () => {
          const r = await s.api<T>(path);
          if (r.status === 200) return { body: r.body };
          process.stdout.write(`GET ${path} on ${s.address}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}\n`);
          return undefined;
        },
        20_000,
      )
      .then((r) => r.body);

  it('elects one leader, named alike by every server', async () => {
    const leader = await servers[0]!.waitFor(
      'one leader named by all three servers',
      async () => {
        const named = await Promise.all(servers.map(leaderOf));
        return named[0] && named.every((n) => n === named[0]) ? named[0] : undefined;
      },
      15_000,
    );
    expect(servers.map((s) => s.address.replace('http://', ''))).toContain(leader);
    expect(servers.filter((s) => /leading: server started/.test(s.output))).toHaveLength(1);

    const standby = servers.find((s) => s.address !== `http://${leader}`)!;
    const addrs = servers.map((s) => s.address.replace('http://', '')).sort();
    await standby.waitFor(
      'three servers registered',
      async () => ((await standby.api<string[]>('/v1/status/peers')).body.length === 3 ? true : undefined),
      15_000,
    );
    expect((await standby.api<string[]>('/v1/status/peers')).body.sort()).toEqual(addrs);
    const members = standby.cli(['server', 'members']);
    expect(members.code, members.stderr).toBe(0);
    const rows = members.stdout.trim().split('\n').slice(1);
    expect(rows).toHaveLength(3);
    expect(rows.filter((r) => /\btrue\b/.test(r))).toHaveLength(1);
    expect(rows.find((r) => /\btrue\b/.test(r))).toContain(leader.split(':')[1]);
    const peers = standby.cli(['operator', 'raft', 'list-peers', '-json']);
    expect(peers.code, peers.stderr).toBe(0);
    const cfg = JSON.parse(peers.stdout) as {
      Servers: Array<{ Address: string; Leader: boolean }>;
      Etcd: Array<{ Leader: boolean; ClientURLs: string[] }>;
    };
    expect(cfg.Servers.filter((x) => x.Leader).map((x) => x.Address)).toEqual([leader]);
    expect(cfg.Etcd.map((m) => m.ClientURLs[0]).sort()).toEqual([...etcd.endpoints].sort());
    expect(cfg.Etcd.filter((m) => m.Leader)).toHaveLength(1);

    const joined = standby.cli(['server', 'join', servers[0]!.address.replace('http://', '')]);
    expect(joined.code, joined.stderr).toBe(0);
    expect(joined.stdout).toMatch(/Joined 1 servers successfully/);
  });

  it('federates a server of another region on the same etcd, which keeps its own state', async () => {
    const other = new ClusterAgent('server', 'eu', ['-server', '-region', 'europe', '-etcd', etcd.endpoints.join(',')]);
    servers.push(other);
    await other.start();
    const r = servers[0]!.cli(['server', 'join', other.address.replace('http://', '')]);
    expect(r.code, r.stderr).toBe(0);
    expect((await servers[0]!.api<string[]>('/v1/regions')).body).toEqual(['europe', 'global']);
    // Its own region's state lives under its own prefix: it leads there, alone.
    await other.waitFor(
      'the europe server to lead',
      async () => (await other.api<string>('/v1/status/leader')).body === other.address.replace('http://', ''),
      15_000,
    );
    await other.stop();
    servers.pop();
  });

  /**
   * A client agent with raw_exec and the mock driver, on its own dynamic port range (ranges unlikely to be
   * used by other tests on this machine); `extraHCL` adds to its config file.
   */
  const startClient = async (i: number, serverList: string[], extraHCL = '') => {
    const cfg = join(dir, `client-${i}.hcl`);
    writeFileSync(
      cfg,
      `client {\n  min_dynamic_port = ${36100 + i * 300}\n  max_dynamic_port = ${36399 + i * 300}\n}\n` +
        'plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n' +
        'plugin "mock_driver" {\n  config {\n    enabled = true\n  }\n}\n' +
        extraHCL,
    );
    const c = new ClusterAgent('client', `c${i}`, [
      '-client',
      '-servers',
      serverList.join(','),
      '-dc',
      'dc1',
      '-node',
      `c${i}`,
      '-config',
      cfg,
    ]);
    clients.push(c);
    await c.start();
    return c;
  };

  it('registers a client whose first server is dead through the next one, runs a job sent to a standby, and forwards API calls from the client agent', async () => {
    // The first client also runs the gateway, which follows the same list (the dead address first).
    const client = await startClient(
      1,
      ['http://127.0.0.1:1', ...servers.map((s) => s.address)],
      'gateway {\n  enabled = true\n  listen = "127.0.0.1:0"\n}\n',
    );
    const standby = (
      await Promise.all(
        servers.map(async (s) => ((await leaderOf(s)) === s.address.replace('http://', '') ? undefined : s)),
      )
    ).find(Boolean)!;
    await standby.waitFor(
      'node c1 ready',
      async () => {
        const r = await standby.api<Array<{ Name: string; Status: string }>>('/v1/nodes');
        return Array.isArray(r.body) && r.body.some((n) => n.Name === 'c1' && n.Status === 'ready');
      },
      30_000,
    );
    expect(await put(standby.address, 'through-standby')).toBe(true);
    await standby.waitFor(
      'the job running',
      async () => {
        const r = await standby.api<Array<{ ClientStatus: string }>>('/v1/job/through-standby/allocations');
        return Array.isArray(r.body) && r.body.some((a) => a.ClientStatus === 'running');
      },
      30_000,
    );
    // The client agent forwards the API calls it does not answer itself, as Nomad's clients do.
    const viaClient = await client.api<Array<{ ID: string }>>('/v1/jobs');
    expect(viaClient.status).toBe(200);
    expect(viaClient.body.map((j) => j.ID)).toContain('through-standby');
    const status = client.cli(['job', 'status', 'through-standby']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/running/);
  }, 60_000);

  it('runs a web service on three clients, reached through the gateway of a client agent', async () => {
    // Each of the other two clients lists the servers in another order.
    await startClient(2, servers.map((s) => s.address).reverse());
    await startClient(3, [servers[1]!.address, servers[2]!.address, servers[0]!.address]);
    const s = servers[0]!;
    await s.waitFor(
      'three ready nodes',
      async () => {
        const r = await s.api<Array<{ Status: string }>>('/v1/nodes');
        return Array.isArray(r.body) && r.body.filter((n) => n.Status === 'ready').length === 3;
      },
      30_000,
    );
    const script = join(dir, 'web.cjs');
    writeFileSync(script, WEB_JS);
    const file = join(dir, 'web.nomad.hcl');
    writeFileSync(file, webJob(script));
    const r = s.cli(['job', 'run', '-detach', file]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const running = await s.waitFor(
      'three running web instances, one per client',
      async () => {
        const a = (await s.api<Array<{ ID: string; NodeID: string; ClientStatus: string }>>('/v1/job/web/allocations'))
          .body;
        const live = a.filter((x) => x.ClientStatus === 'running');
        return live.length === 3 && new Set(live.map((x) => x.NodeID)).size === 3 ? live : undefined;
      },
      60_000,
    );
    gateway = (await clients[0]!.api<{ config: { Gateway: { Enabled: boolean; Address: string } } }>('/v1/agent/self'))
      .body.config.Gateway.Address;
    expect(gateway).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await s.waitFor(
      'the gateway to route to every instance',
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 12; i++) seen.add(await (await fetch(`${gateway}/`)).text());
        return running.every((a) => seen.has(a.ID));
      },
      30_000,
    );
  }, 120_000);

  it('answers ?stale reads and blocking queries on a standby from its replica, woken by a write on the leader', async () => {
    const leaderAddr = await leaderOf(servers[0]!);
    const leader = servers.find((s) => s.address === `http://${leaderAddr}`)!;
    const standby = alive().find((s) => s !== leader)!;
    expect(await put(leader.address, 'stale-before')).toBe(true);
    // The replica follows the leader's writes: a stale read sees the job once the watch delivered it.
    const seen = await standby.waitFor(
      'the standby replica to hold stale-before',
      async () => {
        const r = await fetch(`${standby.address}/v1/jobs?stale`);
        const ids = ((await r.json()) as Array<{ ID: string }>).map((j) => j.ID);
        return ids.includes('stale-before') ? r : undefined;
      },
      10_000,
    );
    expect(seen.headers.get('x-nomad-knownleader')).toBe('true');
    expect(Number(seen.headers.get('x-nomad-lastcontact'))).toBeLessThan(5000);
    const index = Number(seen.headers.get('x-nomad-index'));
    expect(index).toBeGreaterThan(0);

    // Answered by the standby itself: with the leader stopped (SIGSTOP, shorter than its lease), a stale read
    // still answers at once while a default read, which goes to the leader, cannot.
    leader.proc!.kill('SIGSTOP');
    try {
      const stale = await fetch(`${standby.address}/v1/jobs?stale`, { signal: AbortSignal.timeout(800) });
      expect(stale.status).toBe(200);
      await expect(fetch(`${standby.address}/v1/jobs`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    } finally {
      leader.proc!.kill('SIGCONT');
    }

    // A blocking query on the standby wakes when the leader commits a write. The jobs table first settles
    // (stale-before's status follows its allocation). Under load another change may still wake a query before
    // the write below: a wake-up is then legitimate only if the index moved past the one asked, and the watcher
    // asks again from there, as a real one does.
    const settledIndex = await standby.waitFor(
      'the jobs index to stay put for a second',
      async () => {
        const a = Number((await fetch(`${standby.address}/v1/jobs?stale`)).headers.get('x-nomad-index'));
        await new Promise((r) => setTimeout(r, 1000));
        const b = Number((await fetch(`${standby.address}/v1/jobs?stale`)).headers.get('x-nomad-index'));
        return a === b ? b : undefined;
      },
      20_000,
    );
    const block = (index: number) => {
      const p = fetch(`${standby.address}/v1/jobs?stale&index=${index}&wait=30s`);
      p.catch(() => undefined); // the last one is left waiting when the test ends
      return p;
    };
    let asked = settledIndex;
    let blocked = block(asked);
    let settled = false;
    void blocked.then(() => (settled = true)).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    if (settled) {
      const early = await blocked;
      expect(Number(early.headers.get('x-nomad-index'))).toBeGreaterThan(asked);
      asked = Number(early.headers.get('x-nomad-index'));
      blocked = block(asked);
    }
    expect(await put(leader.address, 'stale-wake')).toBe(true);
    let ids: string[] = [];
    for (let i = 0; i < 10 && !ids.includes('stale-wake'); i++) {
      const woken = await blocked;
      const at = Number(woken.headers.get('x-nomad-index'));
      expect(at).toBeGreaterThan(asked);
      ids = ((await woken.json()) as Array<{ ID: string }>).map((j) => j.ID);
      asked = at;
      blocked = block(asked);
    }
    expect(ids).toContain('stale-wake');
    // Writes on a standby still go to the leader.
    expect(await put(standby.address, 'stale-via-standby')).toBe(true);
  }, 60_000);

  it('gives a client configured with one server the others, and keeps it ready and placing work once that server is SIGKILLed', async () => {
    // A standby, so no leadership moves (the failover rounds below kill leaders).
    const leaderAddr = await leaderOf(servers[0]!);
    const only = alive().find((s) => s.address !== `http://${leaderAddr}`)!;
    const onlyPort = Number(new URL(only.address).port);
    const client = await startClient(4, [only.address]);
    const all = servers.map((s) => s.address.replace('http://', '')).sort();
    // A client agent answers /v1/agent/servers with the servers its client knows, learned from the one it was given.
    const known = await client.waitFor(
      'the client to learn all three servers',
      async () => {
        const r = await client.api<string[]>('/v1/agent/servers');
        return r.status === 200 && r.body.length === 3 ? r.body : undefined;
      },
      20_000,
    );
    expect([...known].sort()).toEqual(all);
    expect(known[0]).toBe(only.address.replace('http://', ''));
    await only.kill();
    try {
      const leader = servers.find((s) => s.address === `http://${leaderAddr}`)!;
      // The client fails over to a learned server: it is the first of its list once it heartbeated there.
      await client.waitFor(
        'the client to move to a learned server',
        async () => {
          const r = await client.api<string[]>('/v1/agent/servers');
          return r.status === 200 && r.body[0] !== only.address.replace('http://', '') ? true : undefined;
        },
        20_000,
      );
      const onC4 = job('learned-servers');
      Object.assign(onC4.Job, { Constraints: [{ LTarget: '${node.unique.name}', RTarget: 'c4', Operand: '=' }] });
      const r = await fetch(`${leader.address}/v1/jobs`, { method: 'POST', body: JSON.stringify(onC4) });
      expect(r.status, await r.text()).toBe(200);
      await leader.waitFor(
        'the job running on c4',
        async () => {
          const a = await leader.api<Array<{ NodeName: string; ClientStatus: string }>>(
            '/v1/job/learned-servers/allocations',
          );
          return Array.isArray(a.body) && a.body.some((x) => x.NodeName === 'c4' && x.ClientStatus === 'running');
        },
        30_000,
      );
      // Its heartbeats reach the learned servers: the node was not marked down.
      const nodes = await leader.api<Array<{ Name: string; Status: string }>>('/v1/nodes');
      expect(nodes.body.find((n) => n.Name === 'c4')?.Status).toBe('ready');
    } finally {
      // Back to three servers for the rounds below: same data dir and address, as a restarted machine.
      await only.start(onlyPort);
    }
  }, 90_000);

  /** The running allocations of the jobs that were running before: they must survive every failover as they are. */
  const runningAllocs = async (s: ClusterAgent) => {
    const r = await read<Array<{ ID: string; JobID: string; ClientStatus: string; DesiredStatus: string }>>(
      s,
      '/v1/allocations',
    );
    return r
      .filter(
        (a) =>
          (a.JobID === 'through-standby' || a.JobID === 'web') &&
          a.ClientStatus === 'running' &&
          a.DesiredStatus === 'run',
      )
      .map((a) => a.ID)
      .sort();
  };

  /** Allocation names (job + group + index) that more than one live allocation holds: a duplicated placement. */
  const duplicated = async (s: ClusterAgent) => {
    const r =
      await s.api<Array<{ Name: string; JobID: string; ClientStatus: string; DesiredStatus: string }>>(
        '/v1/allocations',
      );
    const seen = new Map<string, number>();
    for (const a of r.body)
      if (a.DesiredStatus === 'run' && (a.ClientStatus === 'running' || a.ClientStatus === 'pending'))
        seen.set(a.Name, (seen.get(a.Name) ?? 0) + 1);
    return [...seen].filter(([, n]) => n > 1).map(([name, n]) => `${name} x${n}`);
  };

  /** Every node's live allocations fit in what it offers (no failover let two leaders place on the same room). */
  const overCommitted = async (s: ClusterAgent) => {
    type Res = { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } };
    const nodes = await read<Array<{ ID: string }>>(s, '/v1/nodes');
    const problems: string[] = [];
    for (const n of nodes) {
      const node = await read<{ Name: string; NodeResources: Res; ReservedResources?: Partial<Res> | null }>(
        s,
        `/v1/node/${n.ID}`,
      );
      const allocs = (
        await read<Array<{ ClientStatus: string; AllocatedResources?: { Tasks: Record<string, Res> } | null }>>(
          s,
          `/v1/node/${n.ID}/allocations`,
        )
      ).filter((a) => a.ClientStatus === 'running' || a.ClientStatus === 'pending');
      let cpu = 0;
      let mem = 0;
      for (const a of allocs)
        for (const t of Object.values(a.AllocatedResources?.Tasks ?? {})) {
          cpu += t.Cpu.CpuShares;
          mem += t.Memory.MemoryMB;
        }
      const cpuCap = node.NodeResources.Cpu.CpuShares - (node.ReservedResources?.Cpu?.CpuShares ?? 0);
      const memCap = node.NodeResources.Memory.MemoryMB - (node.ReservedResources?.Memory?.MemoryMB ?? 0);
      if (cpu > cpuCap || mem > memCap)
        problems.push(`${node.Name}: ${allocs.length} allocations use ${cpu}/${cpuCap} MHz, ${mem}/${memCap} MB`);
    }
    return problems;
  };

  /**
   * One round: 8 writers through the live servers, the leader SIGKILLed meanwhile, and the gateway under load
   * all along; returns the failover time and the load's summary.
   */
  async function failoverRound(
    round: number,
  ): Promise<{ failoverMs: number; acked: number; killed: ClusterAgent; load: Load }> {
    const leaderAddr = await leaderOf(alive()[0]!);
    const leader = servers.find((s) => s.address === `http://${leaderAddr}`)!;
    const acked: string[] = [];
    let killedAt = 0;
    let firstAfterKill = 0;
    const deadline = Date.now() + 20_000;
    const writer = async (w: number) => {
      for (let n = 0; n < 200 && Date.now() < deadline; n++) {
        const id = `r${round}-w${w}-${n}`;
        // A write that fails is retried (on another server) until it is acknowledged or time runs out.
        for (let attempt = 0; Date.now() < deadline; attempt++) {
          const targets = alive();
          const s = targets[(w + n + attempt) % targets.length];
          if (!s) return;
          // Only a write sent after the SIGKILL measures the failover: one the old leader committed just
          // before may be acknowledged (through a standby) a moment after it.
          const sentAfterKill = killedAt > 0;
          if (await put(s.address, id)) {
            acked.push(id);
            if (sentAfterKill && firstAfterKill === 0) firstAfterKill = Date.now();
            break;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        if (killedAt > 0 && firstAfterKill > 0 && acked.length >= 8 * 6) return;
      }
    };
    // Bounded: 20 requests a second for at most 60 s, stopped once the writers are done.
    const load = new Load(`${gateway}/`, 50, 60_000);
    try {
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      await expect.poll(() => acked.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(16);
      killedAt = Date.now();
      await leader.kill();
      await Promise.all(writers);
    } finally {
      await load.stop();
    }
    expect(firstAfterKill, `round ${round}: no write acknowledged after the kill`).toBeGreaterThan(0);
    const survivor = alive()[0]!;
    const ids = await survivor.waitFor(
      'the job list from the new leader',
      async () => {
        const r = await survivor.api<Array<{ ID: string }>>('/v1/jobs');
        return Array.isArray(r.body) ? new Set(r.body.map((j) => j.ID)) : undefined;
      },
      10_000,
    );
    expect(acked.filter((id) => !ids.has(id))).toEqual([]);
    const newLeader = await leaderOf(survivor);
    expect(newLeader).not.toBe(leaderAddr);
    expect(alive().map((s) => s.address.replace('http://', ''))).toContain(newLeader);
    return { failoverMs: firstAfterKill - killedAt, acked: acked.length, killed: leader, load };
  }

  it('fails over after a leader SIGKILL five times in a row, losing no acknowledged write, no running allocation and no gateway request', async () => {
    const before = await runningAllocs(alive()[0]!);
    expect(before).toHaveLength(4);
    const figures: number[] = [];
    for (let round = 0; round < 5; round++) {
      const { failoverMs, acked, killed, load } = await failoverRound(round);
      figures.push(failoverMs);
      process.stdout.write(
        `failover round ${round + 1}: first acknowledged write ${failoverMs} ms after the leader SIGKILL; ${acked} writes acknowledged; ${load.summary('gateway')}\n`,
      );
      expect(load.total).toBeGreaterThan(0);
      expect(load.failures, `round ${round + 1}`).toEqual([]);
      // The running allocations are neither stopped nor duplicated by the takeover, and no node holds more
      // than it offers (a deposed leader's plan would have to be fenced off to keep that true).
      const survivor = alive()[0]!;
      expect(await runningAllocs(survivor)).toEqual(before);
      expect(await duplicated(survivor)).toEqual([]);
      expect(await overCommitted(survivor)).toEqual([]);
      if (round === 4) {
        // The dead server's member key would expire with its 10 s lease; force-leave drops it at once. On a
        // loaded machine the round may outlast that lease: the member is then already gone (404).
        const gone = killed.address.replace('http://', '');
        const fl = await survivor.api(`/v1/agent/force-leave?node=${encodeURIComponent(gone)}`, { method: 'PUT' });
        if (fl.status !== 200) {
          expect(fl.status, JSON.stringify(fl.body)).toBe(404);
          expect((await survivor.api<string[]>('/v1/status/peers')).body).not.toContain(gone);
        }
        await expect
          .poll(async () => (await survivor.api<string[]>('/v1/status/peers')).body.sort(), { timeout: 15_000 })
          .toEqual(
            alive()
              .map((s) => s.address.replace('http://', ''))
              .sort(),
          );
      } else {
        // Back to three servers for the next round: same data dir and address, as a restarted machine.
        await killed.start(Number(new URL(killed.address).port));
      }
    }
    // Printed, not asserted: the goal is 3 s (2 s lease TTL + one state load), and wall-clock bounds flake here.
    process.stdout.write(`failover over 5 rounds (ms): ${figures.join(', ')}\n`);
  }, 240_000);

  it('keeps serving reads and writes when one etcd member is SIGKILLed', async () => {
    const before = await runningAllocs(alive()[0]!);
    await etcd.kill(0);
    // A write in flight to the killed member may fail once (its outcome unknown to the server): clients retry.
    for (const s of alive())
      await s.waitFor(
        'a write after the etcd member died',
        () => put(s.address, `after-etcd-kill-${s.address.split(':')[2]}`),
        15_000,
      );
    const ids = new Set((await read<Array<{ ID: string }>>(alive()[0]!, '/v1/jobs')).map((j) => j.ID));
    for (const s of alive()) expect(ids.has(`after-etcd-kill-${s.address.split(':')[2]}`)).toBe(true);
    expect(await runningAllocs(alive()[0]!)).toEqual(before);
    await etcd.restart(0);
  }, 60_000);
});
