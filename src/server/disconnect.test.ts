import { afterEach, describe, expect, it, vi } from 'vitest';
import { newScheduler } from '../scheduler/index.js';
import { build } from '../testing/builders.js';
import type { Job } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

const servers: Server[] = [];
const timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const s of servers.splice(0)) await s.stop();
});

/** A server with 60 ms TTLs; n1 runs one alloc of a group that tolerates a disconnect, n2 keeps heartbeating. */
async function setup(disconnect: NonNullable<Job['TaskGroups'][number]['Disconnect']>) {
  const s = await testServer({ newScheduler, heartbeat: { minTTLms: 60, maxHeartbeatsPerSecond: 50, gracems: 20 } });
  servers.push(s);
  await s.start();
  await s.nodeRegister(build.node({ ID: 'n1' }));
  const job = build.job({ ID: 'web' });
  job.TaskGroups[0]!.Disconnect = disconnect;
  await s.jobs.register(job);
  const [original] = await vi.waitUntil(
    async () => {
      const l = (await s.jobs.allocations('default', 'web', true)).value;
      return l.length === 1 ? l : undefined;
    },
    { timeout: 3_000 },
  );
  await s.updateAllocs([{ ID: original!.ID, ClientStatus: 'running', ClientDescription: '', TaskStates: {} }]);
  await s.nodeRegister(build.node({ ID: 'n2' }));
  timers.push(setInterval(() => void s.nodeUpdateStatus('n2', 'ready').catch(() => {}), 20));
  const allocs = async () => (await s.jobs.allocations('default', 'web', true)).value;
  return { s, original: original!, allocs };
}

describe('a node that misses its heartbeat while running work that tolerates a disconnect', () => {
  it('is disconnected (its alloc unknown and replaced), then down with the alloc lost once lost_after passes', async () => {
    const { s, original, allocs } = await setup({ LostAfter: 600e6, Replace: true, Reconcile: 'best_score' });
    await expect
      .poll(async () => (await s.nodes.get('n1')).value.Status === 'disconnected', {
        timeout: 2000,
        message: 'n1 disconnected',
      })
      .toBeTruthy();
    const disconnectedAt = Date.now();
    const during = await vi.waitUntil(
      async () => {
        const l = await allocs();
        const repl = l.find((a) => a.ID !== original.ID && a.DesiredStatus === 'run');
        return repl && l.find((a) => a.ID === original.ID)?.ClientStatus === 'unknown' ? { l, repl } : undefined;
      },
      { timeout: 2000 },
    );
    expect(during.repl.NodeID).toBe('n2');
    expect(during.repl.Name).toBe(original.Name);
    expect(
      (await s.jobs.evaluations('default', 'web')).value.some((e) => e.TriggeredBy === 'max-disconnect-timeout'),
    ).toBe(true);

    await expect
      .poll(async () => (await s.nodes.get('n1')).value.Status === 'down', { timeout: 3000, message: 'n1 down' })
      .toBeTruthy();
    expect(Date.now() - disconnectedAt).toBeGreaterThanOrEqual(400);
    await expect
      .poll(async () => (await s.allocs.get(original.ID)).value.ClientStatus === 'lost', {
        timeout: 2000,
        message: 'original lost',
      })
      .toBeTruthy();
    const live = (await allocs()).filter((a) => a.DesiredStatus === 'run');
    expect(live.map((a) => a.ID)).toEqual([during.repl.ID]);
  });

  it('keeps the original and stops the replacement when the node reconnects within lost_after (keep_original)', async () => {
    const { s, original, allocs } = await setup({ LostAfter: 30_000e6, Replace: true, Reconcile: 'keep_original' });
    const repl = await vi.waitUntil(
      async () => {
        const l = await allocs();
        return l.find((a) => a.ID === original.ID)?.ClientStatus === 'unknown'
          ? l.find((a) => a.ID !== original.ID)
          : undefined;
      },
      { timeout: 2000 },
    );
    expect((await s.nodes.get('n1')).value.Status).toBe('disconnected');
    // The client comes back: a heartbeat, then its report that the original still runs.
    await s.nodeUpdateStatus('n1', 'ready');
    timers.push(setInterval(() => void s.nodeUpdateStatus('n1', 'ready').catch(() => {}), 20));
    await s.updateAllocs([{ ID: original.ID, ClientStatus: 'running', ClientDescription: '', TaskStates: {} }]);
    await expect
      .poll(async () => (await s.allocs.get(repl.ID)).value.DesiredStatus === 'stop', {
        timeout: 2000,
        message: 'replacement stopped',
      })
      .toBeTruthy();
    expect((await s.allocs.get(repl.ID)).value.DesiredDescription).toBe(
      'alloc not needed due to disconnected client reconnect',
    );
    const o = (await s.allocs.get(original.ID)).value;
    expect([o.DesiredStatus, o.ClientStatus]).toEqual(['run', 'running']);
    expect((await s.jobs.evaluations('default', 'web')).value.some((e) => e.TriggeredBy === 'reconnect')).toBe(true);
    expect((await s.nodes.get('n1')).value.Status).toBe('ready');
  });

  it('marks a node without disconnect-tolerant work down at once, as before', async () => {
    const s = await testServer({ newScheduler, heartbeat: { minTTLms: 60, maxHeartbeatsPerSecond: 50, gracems: 20 } });
    servers.push(s);
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    await s.jobs.register(build.job({ ID: 'web' }));
    await expect
      .poll(async () => (await s.jobs.allocations('default', 'web', true)).value.length === 1, { timeout: 3_000 })
      .toBeTruthy();
    const seen = new Set<string>();
    await expect
      .poll(
        async () => {
          const st = (await s.nodes.get('n1')).value.Status;
          seen.add(st);
          return st === 'down';
        },
        { timeout: 2000, message: 'n1 down' },
      )
      .toBeTruthy();
    expect(seen.has('disconnected')).toBe(false);
  });
});
