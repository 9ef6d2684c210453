/**
 * Client disconnects: one client agent runs in its own network namespace, joined to the host by a veth
 * pair, as a separate machine; cutting the link is a real partition (packets dropped, nothing refused).
 *
 * - `disconnect { lost_after, replace, reconcile = "keep_original" }`: the cut-off node is `disconnected` (not
 *   down), its allocations `unknown` and replaced on the host; when the link returns within lost_after, the
 *   originals keep running and the replacements are stopped: exactly one running copy of each.
 * - `disconnect { stop_on_client_after }`: the cut-off client stops its own tasks after that long, while the
 *   link is still down.
 * Needs root and iproute2 (`ip netns`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { islandCluster, NetnsLink, sleeperJob, type AllocStub, type TestCluster } from './harness/cluster.js';

const job = (name: string, disconnect: string) => sleeperJob(name, 2, `    disconnect {\n${disconnect}\n    }`);

const canNetns = NetnsLink.available();

describe.skipIf(!canNetns)('a client agent cut off from the servers, with a disconnect block', () => {
  let cluster: TestCluster;
  const link = islandCluster({ beforeAll, afterAll }, (c) => (cluster = c));

  const dump = async (jobID: string) =>
    `${(await cluster.allocs(jobID)).map((a) => `${a.ID.slice(0, 8)} ${a.Name} ${a.NodeName} ${a.DesiredStatus} ${a.ClientStatus}`).join('\n')}\n${cluster.logs(1500)}`;
  const explain = (jobID: string) => async (e: unknown) => {
    throw new Error(`${String(e)}\n${await dump(jobID)}`);
  };

  it('is disconnected, its allocs unknown and replaced; back within lost_after, the originals win (keep_original)', async () => {
    cluster.runJob(
      job('sticky', '      lost_after = "30s"\n      replace    = true\n      reconcile  = "keep_original"'),
      'sticky',
    );
    const before = await cluster.waitForRunning('sticky', 2);
    const island = cluster.client('island');
    const host = cluster.client('host');
    const islandNode = (await cluster.nodes()).find((n) => n.Name === 'island')!;
    const originals = before.filter((a) => a.NodeID === islandNode.ID);
    expect(originals.length).toBeGreaterThan(0);
    await cluster.server.waitFor(
      'the island tasks to run',
      async () => island.taskProcesses() === originals.length,
      10_000,
    );
    const isOriginal = (a: AllocStub) => originals.some((o) => o.ID === a.ID);

    link.cut();
    const t0 = performance.now();
    const replacements = await cluster.server
      .waitFor(
        'unknown originals and running replacements',
        async () => {
          const all = await cluster.allocs('sticky');
          const unknown = all.filter((a) => isOriginal(a) && a.ClientStatus === 'unknown' && a.DesiredStatus === 'run');
          const repl = all.filter(
            (a) => !isOriginal(a) && a.NodeName === 'host' && a.ClientStatus === 'running' && a.DesiredStatus === 'run',
          );
          return unknown.length === originals.length && repl.length === 2
            ? repl.filter((a) => originals.some((o) => o.Name === a.Name))
            : undefined;
        },
        30_000,
        200,
      )
      .catch(explain('sticky'));
    process.stdout.write(`disconnect: replacements running after ${((performance.now() - t0) / 1000).toFixed(1)}s\n`);
    expect((await cluster.server.api<{ Status: string }>(`/v1/node/${islandNode.ID}`)).body.Status).toBe(
      'disconnected',
    );
    expect(replacements.map((a) => a.Name).sort()).toEqual(originals.map((a) => a.Name).sort());
    // Cut off, the island keeps its copies running: for now each of those allocations runs twice.
    expect(island.taskProcesses()).toBe(originals.length);

    link.restore();
    await cluster.server.waitFor(
      'the island to be ready again',
      async () => (await cluster.nodes()).find((n) => n.ID === islandNode.ID)?.Status === 'ready',
      45_000,
    );
    const final = await cluster.server
      .waitFor(
        'originals running and replacements stopped',
        async () => {
          const all = await cluster.allocs('sticky');
          const running = all.filter((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running');
          const stopped = all.filter((a) => replacements.some((r) => r.ID === a.ID) && a.DesiredStatus === 'stop');
          return running.length === 2 &&
            stopped.length === replacements.length &&
            originals.every((o) => running.some((r) => r.ID === o.ID))
            ? running
            : undefined;
        },
        45_000,
        250,
      )
      .catch(explain('sticky'));
    expect(new Set(final.map((a) => a.Name)).size).toBe(2);
    await cluster.server.waitFor(
      'one task process per allocation',
      async () => island.taskProcesses() === originals.length && host.taskProcesses() === 2 - originals.length,
      20_000,
    );
    expect(island.taskProcesses()).toBe(originals.length);

    await cluster.server.api('/v1/job/sticky?purge=true', { method: 'DELETE' });
    await cluster.server.waitFor(
      'the sticky tasks to stop',
      async () => island.taskProcesses() === 0 && host.taskProcesses() === 0,
      20_000,
    );
  }, 150_000);

  it('is down once lost_after passes without it, its unknown allocs lost; back later, it stops its copies', async () => {
    cluster.runJob(job('brief', '      lost_after = "4s"'), 'brief');
    const before = await cluster.waitForRunning('brief', 2);
    const island = cluster.client('island');
    const islandNode = (await cluster.nodes()).find((n) => n.Name === 'island')!;
    const originals = before.filter((a) => a.NodeID === islandNode.ID);
    expect(originals.length).toBeGreaterThan(0);
    await cluster.server.waitFor(
      'the island tasks to run',
      async () => island.taskProcesses() === originals.length,
      10_000,
    );

    link.cut();
    try {
      await cluster.server.waitFor(
        'the island disconnected',
        async () => (await cluster.nodes()).find((n) => n.ID === islandNode.ID)?.Status === 'disconnected',
        15_000,
        100,
      );
      const t0 = performance.now();
      await cluster.server.waitFor(
        'the island down',
        async () => (await cluster.nodes()).find((n) => n.ID === islandNode.ID)?.Status === 'down',
        15_000,
        100,
      );
      const s = (performance.now() - t0) / 1000;
      process.stdout.write(`lost_after 4s: node down ${s.toFixed(1)}s after it was disconnected\n`);
      expect(s).toBeGreaterThan(3);
      await cluster.server
        .waitFor(
          'the originals lost',
          async () =>
            (await cluster.allocs('brief'))
              .filter((a) => originals.some((o) => o.ID === a.ID))
              .every((a) => a.ClientStatus === 'lost'),
          10_000,
        )
        .catch(explain('brief'));
      await cluster.waitForRunning('brief', 2, 15_000, 200, islandNode.ID).catch(explain('brief'));
    } finally {
      link.restore();
    }
    await cluster.server.waitFor(
      'the island to stop its lost copies',
      async () => island.taskProcesses() === 0,
      45_000,
    );
    const running = (await cluster.allocs('brief')).filter(
      (a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running',
    );
    expect(running.map((a) => a.NodeName)).toEqual(['host', 'host']);
    await cluster.server.api('/v1/job/brief?purge=true', { method: 'DELETE' });
    await cluster.server.waitFor(
      'the brief tasks to stop',
      async () => cluster.client('host').taskProcesses() === 0,
      20_000,
    );
  }, 120_000);

  it('stops its own tasks after stop_on_client_after while the link is still down', async () => {
    cluster.runJob(job('stopper', '      stop_on_client_after = "3s"'), 'stopper');
    const before = await cluster.waitForRunning('stopper', 2);
    const island = cluster.client('island');
    const islandNode = (await cluster.nodes()).find((n) => n.Name === 'island')!;
    const onIsland = before.filter((a) => a.NodeID === islandNode.ID).length;
    expect(onIsland).toBeGreaterThan(0);
    await cluster.server.waitFor('the island tasks to run', async () => island.taskProcesses() === onIsland, 10_000);

    link.cut();
    const t0 = performance.now();
    try {
      await cluster.server.waitFor(
        'the island to stop its tasks',
        async () => island.taskProcesses() === 0,
        15_000,
        100,
      );
      const s = (performance.now() - t0) / 1000;
      process.stdout.write(`stop_on_client_after 3s: island tasks gone ${s.toFixed(1)}s after the cut\n`);
      // The last heartbeat may have been up to half a TTL (1 s) before the cut; a kill takes up to kill_timeout.
      expect(s).toBeGreaterThan(1.5);
      expect(s).toBeLessThan(8);
      // The server cannot know; it replaces the work on the host only once the island has surely stopped it.
      await cluster.waitForRunning('stopper', 2, 30_000, 200, islandNode.ID).catch(explain('stopper'));
      const r = (performance.now() - t0) / 1000;
      process.stdout.write(`stop_on_client_after 3s: replacements running ${r.toFixed(1)}s after the cut\n`);
      expect(r).toBeGreaterThan(s);
    } finally {
      link.restore();
    }
    await cluster.server.waitFor(
      'the island to be ready again',
      async () => (await cluster.nodes()).find((n) => n.ID === islandNode.ID)?.Status === 'ready',
      45_000,
    );
    // Stopped for good: back in touch, the island does not start them again.
    await new Promise((r) => setTimeout(r, 2000));
    expect(island.taskProcesses()).toBe(0);
  }, 120_000);
});
