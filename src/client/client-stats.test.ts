import { afterEach, describe, expect, it } from 'vitest';
import { MockDriver } from '../drivers/index.js';
import { FakeServer, startTestClient, testAlloc, testJob, testTask } from './testing/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A mock driver that counts stats requests per task ID. */
class CountingDriver extends MockDriver {
  readonly asked = new Map<string, number>();
  override taskStats(taskID: string) {
    this.asked.set(taskID, (this.asked.get(taskID) ?? 0) + 1);
    return super.taskStats(taskID);
  }
  count(prefix: string): number {
    let n = 0;
    for (const [id, c] of this.asked) if (id.startsWith(prefix)) n += c;
    return n;
  }
}

describe('client stats sampling', () => {
  it('samples in the background only the allocations whose stats were asked for', async () => {
    const server = new FakeServer();
    const driver = new CountingDriver();
    // statsIntervalMs 200 (quickTiming): an unwatched allocation would be sampled ≈ 5 times a second.
    const client = await startTestClient(cleanups, server, { drivers: [driver] });
    const task = testTask('main', 'mock_driver', { stats_rss: 4096 });
    const watched = server.place(testAlloc(testJob([task], { ID: 'watched' }), client.nodeID, 1));
    const quiet = server.place(testAlloc(testJob([task], { ID: 'quiet' }), client.nodeID, 2));
    const running = (id: string) => server.allocs.get(id)?.TaskStates?.main?.State === 'running';
    await expect.poll(() => running(watched.ID) && running(quiet.ID), { timeout: 5_000 }).toBe(true);

    const first = await client.allocStats(watched.ID);
    expect(first.Tasks.main!.ResourceUsage.MemoryStats.RSS).toBe(4096);
    // Asked once: the background sampler now keeps the watched allocation's stats fresh...
    await expect.poll(() => driver.count(watched.ID), { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    // ...and never touched the other one, in all the sampling rounds that took.
    expect(driver.count(quiet.ID)).toBe(0);
    // The other one is still answered when asked, read live.
    const other = await client.allocStats(quiet.ID);
    expect(other.Tasks.main!.ResourceUsage.MemoryStats.RSS).toBe(4096);
    expect(driver.count(quiet.ID)).toBeGreaterThanOrEqual(1);
  });
});
