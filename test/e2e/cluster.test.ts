/**
 * A real multi-agent cluster: one server-only agent and client-only agents in dc1, dc2 and
 * dc3, each a separate process with its own data dir and node name. Nodes register and show as ready through
 * the CLI; spread gives even and targeted splits over datacenters; a system job follows a client that joins
 * later; a node drain moves allocations with the migrate block's max_parallel respected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countBy, TestCluster, type AllocStub, type NodeStub } from './harness/cluster.js';

/** A mock_driver task that runs until stopped; tiny, so many fit on one node. */
const mockTask = mockTaskWith('');

function mockTaskWith(config: string): string {
  return `
    task "t" {
      driver = "mock_driver"
      config {
        ${config}
      }
      resources {
        cpu    = 10
        memory = 10
      }
    }`;
}

const live = (a: AllocStub) => a.DesiredStatus === 'run' && a.ClientStatus === 'running';

describe('a server agent with three client agents in three datacenters', () => {
  const cluster = new TestCluster({
    clients: [
      { name: 'c1', dc: 'dc1' },
      { name: 'c2', dc: 'dc2' },
      { name: 'c3', dc: 'dc3' },
    ],
  });
  let nodes: NodeStub[] = [];
  const dcOf = (a: AllocStub) => nodes.find((n) => n.ID === a.NodeID)?.Datacenter ?? '?';

  beforeAll(async () => {
    await cluster.start();
    nodes = await cluster.nodes();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('lists three ready nodes, one per client agent and datacenter, in `drover node status`', () => {
    const r = cluster.server.cli(['node', 'status']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/));
    expect(rows).toHaveLength(3);
    const byName = Object.fromEntries(rows.map((cols) => [cols[3], { dc: cols[2], status: cols.at(-1) }]));
    expect(byName).toEqual({
      c1: { dc: 'dc1', status: 'ready' },
      c2: { dc: 'dc2', status: 'ready' },
      c3: { dc: 'dc3', status: 'ready' },
    });
  });

  it('gives every remote client the short heartbeat TTL of the server config', () => {
    for (const c of cluster.clients.values()) expect(c.output).toMatch(/"ttl_ms":2000/);
  });

  it('spreads count 9 over three datacenters as 3/3/3', async () => {
    cluster.runJob(
      `job "spread-even" {
  datacenters = ["dc1", "dc2", "dc3"]
  group "g" {
    count = 9
    spread {
      attribute = "\${node.datacenter}"
    }
${mockTask}
  }
}`,
      'spread-even',
    );
    const running = await cluster.waitForRunning('spread-even', 9);
    expect(countBy(running, dcOf)).toEqual({ dc1: 3, dc2: 3, dc3: 3 });
  });

  it('spreads count 10 with 70/30 targets over two datacenters as 7/3', async () => {
    cluster.runJob(
      `job "spread-targets" {
  datacenters = ["dc1", "dc2"]
  group "g" {
    count = 10
    spread {
      attribute = "\${node.datacenter}"
      weight    = 100
      target "dc1" {
        percent = 70
      }
      target "dc2" {
        percent = 30
      }
    }
${mockTask}
  }
}`,
      'spread-targets',
    );
    const running = await cluster.waitForRunning('spread-targets', 10);
    expect(countBy(running, dcOf)).toEqual({ dc1: 7, dc2: 3 });
  });

  it('places a system job on a client that joins after the job runs', async () => {
    cluster.runJob(
      `job "everywhere" {
  datacenters = ["dc1", "dc2", "dc3"]
  type        = "system"
  group "g" {
${mockTask}
  }
}`,
      'everywhere',
    );
    const before = await cluster.waitForRunning('everywhere', 3);
    expect(new Set(before.map((a) => a.NodeName))).toEqual(new Set(['c1', 'c2', 'c3']));

    await cluster.addClient({ name: 'late', dc: 'dc1' });
    nodes = await cluster.nodes();
    const after = await cluster.waitForRunning('everywhere', 4, 30_000);
    expect(new Set(after.map((a) => a.NodeName))).toEqual(new Set(['c1', 'c2', 'c3', 'late']));
  });

  it('drains a node one allocation at a time when migrate max_parallel is 1', async () => {
    // Three allocations per datacenter node; the drained node's three must move one by one: never more than
    // max_parallel of them stopped before their replacement runs. Tasks take 1 s to start, so a replacement
    // is visibly pending while its predecessor has stopped.
    cluster.runJob(
      `job "drained" {
  datacenters = ["dc2", "dc3"]
  group "g" {
    count = 6
    spread {
      attribute = "\${node.datacenter}"
    }
    migrate {
      max_parallel     = 1
      min_healthy_time = "1s"
      healthy_deadline = "30s"
    }
${mockTaskWith('start_block_for = "1s"')}
  }
}`,
      'drained',
    );
    const first = await cluster.waitForRunning('drained', 6);
    const target = nodes.find((n) => n.Name === 'c2')!;
    const onTarget = new Set(first.filter((a) => a.NodeID === target.ID).map((a) => a.ID));
    expect(onTarget.size).toBe(3);

    const r = cluster.server.cli(['node', 'drain', '-enable', '-yes', '-detach', target.ID]);
    expect(r.code, r.stderr + r.stdout).toBe(0);

    // Poll fast and bounded: in flight = allocations of the drained node told to stop, minus replacements running.
    let maxInFlight = 0;
    const until = Date.now() + 60_000;
    let done = false;
    while (Date.now() < until && !done) {
      const all = await cluster.allocs('drained');
      const stopped = all.filter((a) => onTarget.has(a.ID) && a.DesiredStatus !== 'run').length;
      const replacements = all.filter(
        (a) => !onTarget.has(a.ID) && !first.some((f) => f.ID === a.ID) && live(a),
      ).length;
      maxInFlight = Math.max(maxInFlight, stopped - replacements);
      done = stopped === 3 && replacements === 3;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(done, cluster.logs()).toBe(true);
    // At least one was seen in flight (the observer saw the move), and never more than max_parallel.
    expect(maxInFlight).toBe(1);
    const final = await cluster.waitForRunning('drained', 6);
    expect(final.some((a) => a.NodeID === target.ID)).toBe(false);
    expect(countBy(final, (a) => a.NodeName)).toEqual({ c3: 6 });
  });
});
