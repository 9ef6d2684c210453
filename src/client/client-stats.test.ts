import { afterEach, describe, expect, it } from 'vitest';
import { MockDriver } from '../drivers/index.js';
import { FakeServer, quickTiming, startTestClient, testAlloc, testJob, testTask } from './testing/index.js';

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

/**
 * As raw_exec and exec: CPU % averaged since the task's previous sample. Modelled coarsely: 100 when the task was
 * busy at both samples, else 0 (an idle spell before the previous sample dominates the average).
 */
class GapDriver extends CountingDriver {
  busy = false;
  private readonly wasBusy = new Map<string, boolean>();
  override async taskStats(taskID: string) {
    const u = await super.taskStats(taskID);
    u.cpu = { ...u.cpu, percent: this.busy && this.wasBusy.get(taskID) === true ? 100 : 0 };
    this.wasBusy.set(taskID, this.busy);
    return u;
  }
}

describe('client stats sampling', () => {
  it('stops sampling when the window ends, and primes the first ask after it so CPU % is current', async () => {
    const server = new FakeServer();
    const driver = new GapDriver();
    let offset = 0;
    const client = await startTestClient(cleanups, server, { drivers: [driver], clock: () => Date.now() + offset });
    const task = testTask('main', 'mock_driver', { stats_rss: 4096 });
    const a = server.place(testAlloc(testJob([task], { ID: 'a' }), client.nodeID, 1));
    const w = server.place(testAlloc(testJob([task], { ID: 'witness' }), client.nodeID, 2));
    const running = (id: string) => server.allocs.get(id)?.TaskStates?.main?.State === 'running';
    await expect.poll(() => running(a.ID) && running(w.ID), { timeout: 5_000 }).toBe(true);

    expect((await client.allocStats(a.ID)).Tasks.main!.ResourceUsage.CpuStats.Percent).toBe(0);
    const asked = driver.count(a.ID);
    await expect.poll(() => driver.count(a.ID), { timeout: 5_000 }).toBeGreaterThanOrEqual(asked + 3);

    // An hour on the client's clock: a's window is over. The witness, asked now, is sampled from here on.
    offset += 3_600_000;
    await client.allocStats(w.ID);
    const aBefore = driver.count(a.ID);
    const wBefore = driver.count(w.ID);
    await expect.poll(() => driver.count(w.ID), { timeout: 5_000 }).toBeGreaterThanOrEqual(wBefore + 3);
    // Three sampling rounds of the witness, none of a (bar one that may have been under way at the jump).
    expect(driver.count(a.ID)).toBeLessThanOrEqual(aBefore + 1);

    // Busy now, after a quiet hour: one sample would average over the hour (0 here); primed, it reads 100.
    driver.busy = true;
    expect((await client.allocStats(a.ID)).Tasks.main!.ResourceUsage.CpuStats.Percent).toBe(100);
  });

  it('shares one live read among parallel first asks, and caches it', async () => {
    const server = new FakeServer();
    const driver = new CountingDriver();
    // No background round within the test: only asks read the driver.
    const timing = { ...quickTiming, statsIntervalMs: 60_000 };
    const client = await startTestClient(cleanups, server, { drivers: [driver], timing });
    const task = testTask('main', 'mock_driver', { stats_rss: 4096 });
    const a = server.place(testAlloc(testJob([task], { ID: 'a' }), client.nodeID, 1));
    await expect.poll(() => server.allocs.get(a.ID)?.TaskStates?.main?.State, { timeout: 5_000 }).toBe('running');

    const all = await Promise.all([client.allocStats(a.ID), client.allocStats(a.ID), client.allocStats(a.ID)]);
    for (const s of all) expect(s.Tasks.main!.ResourceUsage.MemoryStats.RSS).toBe(4096);
    // A priming sample and the real one, for all three.
    expect(driver.count(a.ID)).toBe(2);
    // The next ask is answered from what that read cached.
    await client.allocStats(a.ID);
    expect(driver.count(a.ID)).toBe(2);
  });

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
