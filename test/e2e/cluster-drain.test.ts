/**
 * A node drain under load: a server agent running the gateway and three client agents; a
 * service of four raw_exec HTTP servers routed by the gateway; one node is drained while a bounded load loop
 * goes through the gateway. The allocations move one at a time (migrate max_parallel = 1) and no request fails:
 * an instance leaves the catalog (and the gateway) before its task is stopped, and its replacement is routed
 * only once its check passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './harness/cluster.js';
import { Load } from './harness/load.js';

/** Answers with its alloc ID; CommonJS, run by `node FILE` outside this package's "type": "module". */
const SERVER_JS = `const http = require('node:http');
http.createServer((req, res) => res.end(process.env.NOMAD_ALLOC_ID || '')).listen(Number(process.env.NOMAD_PORT_http), process.env.NOMAD_IP_http || '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

const job = (script: string) => `job "web" {
  datacenters = ["dc1"]
  group "web" {
    count = 4
    shutdown_delay = "1s"
    network {
      port "http" {}
    }
    migrate {
      max_parallel     = 1
      min_healthy_time = "1s"
      healthy_deadline = "30s"
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

describe('a node drained under load through the gateway', () => {
  const cluster = new TestCluster({
    gateway: true,
    clients: [
      { name: 'a', dc: 'dc1' },
      { name: 'b', dc: 'dc1' },
      { name: 'c', dc: 'dc1' },
    ],
  });

  beforeAll(async () => {
    await cluster.start();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('moves the allocations one at a time with no failed request', async () => {
    cluster.runJob(job(cluster.file('server.cjs', SERVER_JS)), 'web');
    const first = await cluster.waitForRunning('web', 4);
    const gateway = await cluster.gatewayAddress();
    await cluster.server.waitFor(
      'the gateway to route to every instance',
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 12; i++) seen.add(await (await fetch(`${gateway}/`)).text());
        return first.every((a) => seen.has(a.ID));
      },
      30_000,
    );

    // The drained node: the one with the most allocations (at least one).
    const counts = new Map<string, number>();
    for (const a of first) counts.set(a.NodeID, (counts.get(a.NodeID) ?? 0) + 1);
    const [target] = [...counts.entries()].sort((x, y) => y[1] - x[1])[0]!;
    const onTarget = new Set(first.filter((a) => a.NodeID === target).map((a) => a.ID));

    // Bounded load: 20 req/s for at most 60 s, stopped once the drain is over.
    const load = new Load(`${gateway}/`, 50, 60_000);

    try {
      const r = cluster.server.cli(['node', 'drain', '-enable', '-yes', '-detach', target]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      let maxInFlight = 0;
      await cluster.server.waitFor(
        'the drain to finish',
        async () => {
          const all = await cluster.allocs('web');
          const stopped = all.filter((a) => onTarget.has(a.ID) && a.DesiredStatus !== 'run').length;
          const replacements = all.filter(
            (a) => !first.some((f) => f.ID === a.ID) && a.DesiredStatus === 'run' && a.ClientStatus === 'running',
          ).length;
          maxInFlight = Math.max(maxInFlight, stopped - replacements);
          return stopped === onTarget.size && replacements === onTarget.size;
        },
        60_000,
        100,
      );
      expect(maxInFlight).toBeLessThanOrEqual(1);
      // Let the last replacement's check pass and the load run over the new set for a moment.
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await load.stop();
    }

    process.stdout.write(`${load.summary('drain')}\n`);
    expect(load.total).toBeGreaterThan(20);
    expect(load.failures).toEqual([]);
    const final = await cluster.waitForRunning('web', 4, 30_000, 250, target);
    expect(final.every((a) => a.NodeID !== target)).toBe(true);
  });
});
