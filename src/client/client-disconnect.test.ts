import { afterEach, describe, expect, it } from 'vitest';
import type { Node } from '../structs/index.js';
import { type Client } from './index.js';
import type { AllocClientUpdate, NodeRegisterResponse } from './rpc.js';
import { FakeServer, startTestClient, testAlloc, testJob, testTask } from './testing/index.js';

/** A server the test can cut the client off from: heartbeats and updates fail while `cut`. */
class PartitionedServer extends FakeServer {
  cut = false;
  override async nodeRegister(node: Node): Promise<NodeRegisterResponse> {
    if (this.cut) throw new Error('unreachable');
    return super.nodeRegister(node);
  }
  override async nodeUpdateStatus(nodeID: string, status: string): Promise<NodeRegisterResponse> {
    if (this.cut) throw new Error('unreachable');
    return super.nodeUpdateStatus(nodeID, status);
  }
  override async updateAllocs(updates: AllocClientUpdate[]): Promise<void> {
    if (this.cut) throw new Error('unreachable');
    return super.updateAllocs(updates);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function start(server: FakeServer): Promise<Client> {
  return startTestClient(cleanups, server, {
    timing: { allocUpdateBatchMs: 20, disconnectCheckMs: 20, maxBackoffMs: 100 },
  });
}

function jobWith(stopAfterNs: number | null) {
  const job = testJob([testTask('main', 'mock_driver', {})]);
  if (stopAfterNs !== null)
    job.TaskGroups[0]!.Disconnect = {
      StopOnClientAfter: stopAfterNs,
      Replace: true,
      Reconcile: 'best_score',
      LostAfter: 0,
    };
  return job;
}

describe('client agent cut off from the servers', () => {
  it('stops allocations after stop_on_client_after without a heartbeat, says why, and does not restart them', async () => {
    const server = new PartitionedServer();
    server.heartbeatTTLms = 60;
    const client = await start(server);
    const stops = server.place(testAlloc(jobWith(300e6), client.nodeID, 0));
    const stays = server.place(testAlloc(jobWith(null), client.nodeID, 1));
    await expect
      .poll(() => [stops, stays].every((a) => server.allocs.get(a.ID)?.ClientStatus === 'running'), { timeout: 5_000 })
      .toBe(true);
    const task = () => client.allocRunner(stops.ID)!.task('main')!;

    server.cut = true;
    const cutAt = Date.now();
    await expect.poll(() => task().state.State === 'dead', { timeout: 3000 }).toBe(true);
    // The clock starts at the last good heartbeat, up to one TTL (60 ms) before the cut: 300 - 60 - slack.
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(200);
    const ev = task().state.Events.find((e) => e.Type === 'Client Disconnected');
    expect(ev?.DisplayMessage).toMatch(/stop_on_client_after/);
    expect(client.allocRunner(stays.ID)!.task('main')!.state.State).toBe('running');

    server.cut = false;
    await expect.poll(() => server.allocs.get(stops.ID)?.ClientStatus === 'complete', { timeout: 3000 }).toBe(true);
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 200));
    expect(task().state.State).toBe('dead');
    expect(task().state.Events.filter((e) => e.Type === 'Started')).toHaveLength(1);
  });

  it('reports the real state of an allocation the server marked unknown', async () => {
    const server = new FakeServer();
    const client = await start(server);
    const a = server.place(testAlloc(jobWith(null), client.nodeID));
    await expect.poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running', { timeout: 5_000 }).toBe(true);
    const sent = server.updates.length;
    server.place({ ...server.allocs.get(a.ID)!, ClientStatus: 'unknown', AllocModifyIndex: 99 });
    await expect
      .poll(() => server.allocs.get(a.ID)?.ClientStatus === 'running' && server.updates.length > sent, {
        timeout: 5_000,
      })
      .toBe(true);
  });
});
