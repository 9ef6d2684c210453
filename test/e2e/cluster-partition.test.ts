/**
 * A network partition: one client agent runs in its own network namespace, joined to the
 * host by a veth pair, as a separate machine. Cutting the link drops its packets (nothing is refused): the
 * server marks the node down and replaces its allocations on the host's client, while the partitioned client,
 * not knowing, keeps its tasks running. When the link returns, the client reconnects, learns that its
 * allocations were replaced, and stops them: one copy of each allocation keeps running.
 * Needs root and iproute2 (`ip netns`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { islandCluster, NetnsLink, sleeperJob, type AllocStub, type TestCluster } from './harness/cluster.js';

const canNetns = NetnsLink.available();

describe.skipIf(!canNetns)('a client agent cut off by a network partition', () => {
  let cluster: TestCluster;
  const link = islandCluster({ beforeAll, afterAll }, (c) => (cluster = c));

  it('is marked down and replaced, then stops its own copies once the link returns', async () => {
    cluster.runJob(sleeperJob('steady', 4), 'steady');
    const before = await cluster.waitForRunning('steady', 4);
    const island = cluster.client('island');
    const islandNode = (await cluster.nodes()).find((n) => n.Name === 'island')!;
    const onIsland = before.filter((a) => a.NodeID === islandNode.ID);
    expect(onIsland.length).toBeGreaterThan(0);
    await cluster.server.waitFor(
      'the island tasks to run',
      async () => island.taskProcesses() === onIsland.length,
      10_000,
    );

    link.cut();
    const t0 = performance.now();
    const after = await cluster.waitForRunning('steady', 4, 60_000, 200, islandNode.ID);
    process.stdout.write(`partition: replacements running after ${((performance.now() - t0) / 1000).toFixed(1)}s\n`);
    expect((await cluster.server.api<{ Status: string }>(`/v1/node/${islandNode.ID}`)).body.Status).toBe('down');
    const lost = (await cluster.allocs('steady')).filter((a) => onIsland.some((o) => o.ID === a.ID));
    expect(lost.map((a) => a.ClientStatus)).toEqual(lost.map(() => 'lost'));
    // Cut off, the island cannot know: its copies still run, so for now each of those allocations runs twice.
    expect(island.taskProcesses()).toBe(onIsland.length);
    expect(after.every((a) => a.NodeName === 'host')).toBe(true);

    link.restore();
    await cluster.server.waitFor(
      'the island to reconnect',
      async () => (await cluster.nodes()).find((n) => n.ID === islandNode.ID)?.Status === 'ready',
      60_000,
    );
    await cluster.server.waitFor(
      'the island to stop its replaced copies',
      async () => island.taskProcesses() === 0,
      60_000,
    );

    // One copy of each allocation: four running, one per instance name, none of them the lost ones. The
    // island's last word on its stopped copies may trail its processes ending by a moment.
    const final = await cluster.server
      .waitFor(
        'four running allocations',
        async () => {
          const running = (await cluster.allocs('steady')).filter((a: AllocStub) => a.ClientStatus === 'running');
          return running.length === 4 ? running : undefined;
        },
        15_000,
      )
      .catch(async (e: unknown) => {
        const all = await cluster.allocs('steady');
        throw new Error(
          `${String(e)}\n${all.map((a) => `${a.ID.slice(0, 8)} ${a.NodeName} ${a.DesiredStatus} ${a.ClientStatus}`).join('\n')}\n${cluster.logs(1500)}`,
        );
      });
    expect(final).toHaveLength(4);
    expect(new Set(final.map((a) => a.Name)).size).toBe(4);
    expect(final.some((a) => onIsland.some((o) => o.ID === a.ID))).toBe(false);
    const lostAgain = (await cluster.allocs('steady')).filter((a) => onIsland.some((o) => o.ID === a.ID));
    expect(lostAgain.every((a) => a.DesiredStatus !== 'run')).toBe(true);
  });
});
