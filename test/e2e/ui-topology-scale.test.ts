/**
 * The topology page at the size the issue names: 200 clients and 5,000 allocations, served to the real UI in
 * chromium by intercepting its two API reads (the agent serves only the UI's files), then live updates that
 * each change one allocation. Prints the time to the first full drawing (navigation to 5,000 blocks in the
 * page) and per update (the answer's arrival to the page's last change), as measured in the browser; the
 * test asserts what was drawn, never the time (BENCHMARKS.md holds the figures).
 */
import type { Browser, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, newPage } from './harness/browser.js';
import { TestAgent } from './harness/agent.js';

const NODES = 200;
const ALLOCS = 5_000;
const UPDATES = 10;

function nodes() {
  return Array.from({ length: NODES }, (_, i) => ({
    ID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    Name: `node-${String(i).padStart(3, '0')}`,
    Datacenter: `dc${i % 4}`,
    NodePool: i % 2 ? 'batch' : 'default',
    Address: '127.0.0.1',
    Status: 'ready',
    SchedulingEligibility: 'eligible',
    Drain: false,
    Drivers: null,
    NodeResources: { Cpu: { CpuShares: 16_000 }, Memory: { MemoryMB: 32_768 } },
    ReservedResources: { Cpu: { CpuShares: 0 }, Memory: { MemoryMB: 0 } },
  }));
}

function allocs(version: number) {
  const ns = nodes();
  return Array.from({ length: ALLOCS }, (_, i) => ({
    ID: `10000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    Name: `job-${i % 40}.g[${i}]`,
    Namespace: 'default',
    NodeID: ns[i % NODES]!.ID,
    NodeName: ns[i % NODES]!.Name,
    JobID: `job-${i % 40}`,
    JobVersion: 0,
    TaskGroup: 'g',
    DesiredStatus: 'run',
    // Update k turns allocation k pending: one block changes per update.
    ClientStatus: i < version ? 'pending' : 'running',
    TaskStates: null,
    CreateTime: 0,
    ModifyTime: 0,
    AllocatedResources: {
      Tasks: { t: { Cpu: { CpuShares: 100 + (i % 7) * 50 }, Memory: { MemoryMB: 64 + (i % 5) * 64 } } },
    },
  }));
}

describe.skipIf(!haveChromium)('the topology page with 200 clients and 5,000 allocations', () => {
  const agent = new TestAgent();
  let browser: Browser | undefined;
  let page: Page;
  const errors: string[] = [];
  let release: (() => void) | undefined;

  beforeAll(async () => {
    await agent.start();
    browser = await launchChromium();
    page = await newPage(browser, errors);
    const nodeBody = JSON.stringify(nodes());
    await page.route(/\/v1\/nodes\?/, async (route: Route) => {
      if (new URL(route.request().url()).searchParams.has('index')) return; // held: nodes never change here
      await route.fulfill({ body: nodeBody, contentType: 'application/json', headers: { 'X-Nomad-Index': '10' } });
    });
    await page.route(/\/v1\/allocations\?/, async (route: Route) => {
      const index = Number(new URL(route.request().url()).searchParams.get('index') ?? 0);
      if (index > 0) await new Promise<void>((r) => (release = r));
      const version = index === 0 ? 0 : index - 9;
      await route.fulfill({
        body: JSON.stringify(allocs(version)),
        contentType: 'application/json',
        headers: { 'X-Nomad-Index': String(10 + version) },
      });
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await agent.stop();
  });

  it('draws every block, then follows updates one allocation at a time', async () => {
    await page.goto(`${agent.address}/ui/#/jobs`);
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    // Page scripts as text: this file is compiled without the DOM's types.
    const first = await page.evaluate<number>(`(async () => {
      const t0 = performance.now();
      location.hash = '#/topology';
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        if (document.querySelectorAll('a.topo-alloc').length === ${ALLOCS}) return performance.now() - t0;
        if (performance.now() - t0 > 60000) return -1;
      }
    })()`);
    expect(first).toBeGreaterThan(0);
    expect(await page.locator('.topo-node').count()).toBe(NODES);
    await page.getByText(`${NODES} clients, ${ALLOCS} allocations holding resources.`).waitFor();

    const perUpdate: number[] = [];
    for (let k = 1; k <= UPDATES; k++) {
      await expect.poll(() => release !== undefined, { timeout: 30_000 }).toBe(true);
      // Watch the page: the time of its last change after the answer arrives.
      await page.evaluate(`(() => {
        window.lastChange = 0;
        window.obs?.disconnect();
        window.obs = new MutationObserver(() => (window.lastChange = performance.now()));
        window.obs.observe(document.getElementById('main-content'), { subtree: true, childList: true, attributes: true, characterData: true });
        performance.clearResourceTimings();
      })()`);
      const go = release!;
      release = undefined;
      go();
      await expect.poll(() => page.locator('a.topo-alloc.topo-pending').count(), { timeout: 30_000 }).toBe(k);
      const ms = await page.evaluate<number>(`(() => {
        const entry = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/allocations?')).pop();
        return entry ? window.lastChange - entry.responseEnd : -1;
      })()`);
      perUpdate.push(ms);
    }
    const sorted = [...perUpdate].sort((a, b) => a - b);
    console.log(
      `topology ${NODES} clients / ${ALLOCS} allocations: first draw ${first.toFixed(0)} ms; ` +
        `live update median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms (${UPDATES} updates)`,
    );
    expect(errors).toEqual([]);
  }, 240_000);
});
