/**
 * The operator's walk through the web UI (issue 19's acceptance), in Debian's chromium against a real
 * server and two real clients: create a variable in the editor; paste a job's HCL, read its plan, run it and
 * watch its deployment finish; scale it from 3 to 5 and see 5 blocks in the topology; open an allocation and
 * read its chart and the file its template rendered, and exec `echo hi` in its terminal (between them: the
 * topology's actual use from stats, and a live update that keeps the selected text and the scroll position);
 * edit the variable (and
 * hit a check-and-set conflict)
 * and see the file re-rendered; revert to version 0 from the versions list; drain the busier client and watch
 * its allocations move; stop and purge. With DROVER_UI_SCREENSHOTS=1 the topology, job and allocation pages
 * are saved to docs/img for docs/ui.md.
 * */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, newPage } from './harness/browser.js';
import { ROOT } from './harness/agent.js';
import { TestCluster, type AllocStub } from './harness/cluster.js';

const JOB = `job "ui-app" {
  datacenters = ["dc1"]

  update {
    max_parallel     = 3
    min_healthy_time = "1s"
    healthy_deadline = "60s"
  }

  group "app" {
    count = 3

    scaling {
      min = 1
      max = 6
    }

    task "app" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do sleep 1; done"]
      }

      template {
        data        = "greeting={{ with nomadVar \\"nomad/jobs/ui-app\\" }}{{ .greeting }}{{ end }}\\n"
        destination = "local/greeting.txt"
        change_mode = "noop"
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
`;

/** docs/img with DROVER_UI_SCREENSHOTS=1 (to refresh docs/ui.md's pictures), else a temporary directory. */
const SHOTS =
  process.env.DROVER_UI_SCREENSHOTS === '1'
    ? join(ROOT, 'docs', 'img')
    : mkdtempSync(join(tmpdir(), 'drover-ui-shots-'));

describe.skipIf(!haveChromium)('an operator working through the web UI', () => {
  const cluster = new TestCluster({
    clients: [
      { name: 'ui-a', dc: 'dc1' },
      { name: 'ui-b', dc: 'dc1' },
    ],
  });
  let browser: Browser | undefined;
  let page: Page;
  const errors: string[] = [];
  const ui = (hash: string) => `${cluster.server.address}/ui/${hash}`;
  const running = async () =>
    (await cluster.allocs('ui-app')).filter((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running');

  beforeAll(async () => {
    await cluster.start();
    browser = await launchChromium();
    page = await newPage(browser, errors);
    mkdirSync(SHOTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster.stop();
    if (!SHOTS.startsWith(ROOT)) rmSync(SHOTS, { recursive: true, force: true });
  });

  it('creates the variable the job will read in the variables editor', async () => {
    await page.goto(ui('#/variables'));
    await page.getByRole('heading', { level: 1, name: 'Variables' }).waitFor();
    await page.getByLabel('Path').fill('nomad/jobs/ui-app');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { level: 1, name: 'Variable nomad/jobs/ui-app' }).waitFor();
    await page.getByLabel('Key 1').fill('greeting');
    await page.getByLabel('Value 1').fill('hello');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/^Saved at index \d+\.$/).waitFor();
    const v = await cluster.server.api<{ Items: Record<string, string> }>('/v1/var/nomad/jobs/ui-app');
    expect(v.body.Items).toEqual({ greeting: 'hello' });
  });

  it('plans a pasted job, shows the diff and placements, runs it and follows its deployment to success', async () => {
    await page.goto(ui('#/jobs'));
    await page.getByRole('link', { name: 'Run a job' }).click();
    await page.getByRole('heading', { level: 1, name: 'Run a job' }).waitFor();
    const run = page.getByRole('button', { name: 'Run', exact: true });
    expect(await run.isDisabled()).toBe(true);
    await page.getByLabel('Job file (HCL or JSON)').fill(JOB);
    await page.getByRole('button', { name: 'Plan' }).click();
    const plan = page.getByRole('region', { name: 'Plan for job ui-app' });
    await plan.getByText('+ Job "ui-app"').waitFor();
    const row = plan.getByRole('row').filter({ hasText: 'app' });
    expect((await row.getByRole('cell').allTextContents()).slice(0, 2)).toEqual(['app', '3']);
    await plan.getByText('All allocations can be placed.').waitFor();
    // Nothing ran yet: a plan is a dry run.
    expect((await cluster.server.api('/v1/job/ui-app')).status).toBe(404);
    await run.click();
    const progress = page.getByRole('region', { name: 'Run' });
    await progress.getByRole('link', { name: 'Open job ui-app' }).waitFor();
    await expect
      .poll(async () => progress.locator('.badge').first().innerText(), { timeout: 90_000 })
      .toBe('successful');
    expect(await progress.getByRole('row').filter({ hasText: 'app' }).innerText()).toContain('3 healthy of 3');
  });

  it("shows the API's error for a broken job file and the scheduler's reasons for a plan that cannot place", async () => {
    await page.goto(ui('#/run'));
    const source = page.getByLabel('Job file (HCL or JSON)');
    await source.fill('job "broken" {\n  group "g" {\n');
    await page.getByRole('button', { name: 'Plan' }).click();
    await expect.poll(() => page.locator('.action-error').innerText()).toMatch(/^400: /);
    await source.fill(JOB.replace('job "ui-app"', 'job "ui-huge"').replace('cpu    = 100', 'cpu    = 9000000'));
    await page.getByRole('button', { name: 'Plan' }).click();
    const failures = page.locator('.placement-failures');
    await failures.getByText('Task group "app"').waitFor();
    expect(await failures.innerText()).toMatch(/2 nodes evaluated.*\n.*exhausted/s);
    expect((await cluster.server.api('/v1/job/ui-huge')).status).toBe(404);
  });

  it('scales the group from 3 to 5 on the job page and shows 5 blocks in the topology', async () => {
    await page.goto(ui('#/jobs/ui-app'));
    await page.getByRole('heading', { level: 1, name: /ui-app/ }).waitFor();
    const count = page.getByLabel('Count of group app');
    await expect.poll(() => count.inputValue()).toBe('3');
    // Outside the scaling block's bounds the browser refuses the form.
    expect(await count.getAttribute('max')).toBe('6');
    await count.fill('5');
    await page.getByRole('button', { name: 'Scale', exact: true }).click();
    await expect.poll(async () => (await running()).length, { timeout: 90_000 }).toBe(5);
    await page.screenshot({ path: join(SHOTS, 'ui-job.png') });

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Topology' }).click();
    await page.getByRole('heading', { level: 1, name: 'Topology' }).waitFor();
    await page.getByText(/2 clients, 5 allocations holding resources\./).waitFor();
    await page.getByText(/CPU: 500 of [\d,]+ MHz reserved/).waitFor();
    // The keyboard's way in: each client's list of allocations, opened on demand, one link per block.
    const lists = page.locator('details.topo-list');
    expect(await lists.count()).toBe(2);
    for (const summary of await lists.locator('summary').all()) await summary.click();
    await expect.poll(() => page.locator('a.topo-item[data-job="ui-app"]').count(), { timeout: 30_000 }).toBe(5);
    // Actual use from the running allocations' stats, against what they reserve, in the totals and per client.
    await page
      .getByText(
        /^Actual use \(stats of all 5 running allocations\): CPU [\d,]+ MHz of 500 MHz reserved \(\d+%\), memory [\d.]+ MiB of 160 MiB reserved \(\d+%\)\.$/,
      )
      .waitFor({ timeout: 30_000 });
    const summaries = (await lists.locator('summary').allInnerTexts()).join(' | ');
    expect(summaries).toMatch(/\d allocations?, using \d+ MHz and [\d.]+ MiB/);
    expect(await page.locator('.topo-use').count()).toBeGreaterThanOrEqual(2);
    // Live from the event stream: an allocation stopped elsewhere leaves the drawing and its replacement joins
    // it, while the lists the user opened stay open.
    const items = page.locator('a.topo-item[data-job="ui-app"]');
    const victim = (await running())[0]!;
    const stop = await cluster.server.api(`/v1/allocation/${victim.ID}/stop`, { method: 'POST' });
    expect(stop.status).toBe(200);
    await expect
      .poll(
        async () => {
          const hrefs = await items.evaluateAll((as) => as.map((a) => (a as unknown as { hash: string }).hash));
          return hrefs.length === 5 && !hrefs.some((href) => href.includes(victim.ID));
        },
        { timeout: 60_000 },
      )
      .toBe(true);
    expect(await lists.evaluateAll((ds) => ds.every((d) => (d as unknown as { open: boolean }).open))).toBe(true);
    await expect.poll(async () => (await running()).length, { timeout: 90_000 }).toBe(5);
    // Pointing at a block of a CPU bar names its allocation.
    const busy = page.locator('.topo-node').filter({ has: page.locator('a.topo-item[data-job="ui-app"]') });
    await busy
      .first()
      .locator('.topo-bar-painted[data-dim="cpu"]')
      .hover({ position: { x: 1, y: 5 } });
    await expect
      .poll(() => page.locator('.topo-hover').innerText())
      .toMatch(/ui-app\.app\[\d\] of job ui-app: 100 MHz, 32 MiB/);
    await page.screenshot({ path: join(SHOTS, 'ui-topology.png') });
  });

  it('keeps the selected text and the scroll position while a live update changes the allocations table', async () => {
    await page.goto(ui('#/jobs/ui-app'));
    const rows = page.getByRole('region', { name: 'Allocations' }).locator('tbody tr');
    // Six rows: five running and the one stopped in the topology above.
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(6);
    await page.setViewportSize({ width: 1280, height: 400 });
    // Select the name in the last row, then scroll the page partway down.
    const kept = rows.last().getByRole('cell').nth(1);
    const name = await kept.innerText();
    await kept.selectText();
    const scrollY = await page.evaluate<number>('(window.scrollTo(0, 150), window.scrollY)');
    expect(scrollY).toBeGreaterThan(0);
    // Another allocation is stopped (as `alloc stop` does): the table gains its replacement above, the row's
    // status changes.
    const victim = (await running()).find((a) => !name.includes(a.Name)) ?? (await running())[0]!;
    const stop = await cluster.server.api(`/v1/allocation/${victim.ID}/stop`, { method: 'POST' });
    expect(stop.status).toBe(200);
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(7);
    expect(await page.evaluate<string>('String(window.getSelection())')).toBe(name);
    expect(await page.evaluate<boolean>('window.getSelection().anchorNode.isConnected')).toBe(true);
    expect(await page.evaluate<number>('window.scrollY')).toBe(scrollY);
    await page.setViewportSize({ width: 1280, height: 860 });
    await expect.poll(async () => (await running()).length, { timeout: 90_000 }).toBe(5);
  });

  it('opens an allocation by clicking its block in the topology, reads its memory chart and the file its template rendered', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Topology' }).click();
    await page.getByRole('heading', { level: 1, name: 'Topology' }).waitFor();
    await page.getByText(/2 clients, 5 allocations holding resources\./).waitFor();
    // A client's CPU bar with blocks (the job's are the only ones running); its first block starts at the left.
    const bars = page.locator('.topo-bar-painted[data-dim="cpu"]');
    const i = await bars.evaluateAll((els) =>
      els.findIndex((e) => (e as unknown as { style: { backgroundImage: string } }).style.backgroundImage !== 'none'),
    );
    expect(i).toBeGreaterThanOrEqual(0);
    await bars.nth(i).click({ position: { x: 1, y: 5 } });
    await page.getByRole('heading', { level: 1, name: /Allocation ui-app\.app\[\d\]/ }).waitFor();
    const mem = page.locator('.chart').filter({ hasText: 'Memory' }).locator('.chart-value');
    await expect.poll(() => mem.innerText(), { timeout: 30_000 }).toMatch(/^\d+\.\d MiB$/);
    // A few samples (one every 2 s) make a line worth a picture.
    await expect
      .poll(
        async () => ((await page.locator('.chart polyline').last().getAttribute('points')) ?? '').split(' ').length,
        {
          timeout: 30_000,
        },
      )
      .toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: join(SHOTS, 'ui-allocation.png') });
    await page.getByRole('link', { name: 'Files', exact: true }).click();
    await page.getByRole('link', { name: 'app/' }).click();
    await page.getByRole('link', { name: 'local/' }).click();
    await page.getByRole('link', { name: 'greeting.txt' }).click();
    await expect.poll(() => page.getByLabel('File /app/local/greeting.txt').innerText()).toBe('greeting=hello\n');
  });

  it("runs `echo hi` in the allocation's exec terminal and shows the shell's exit code", async () => {
    await page.getByRole('link', { name: 'Exec', exact: true }).click();
    await expect.poll(() => page.getByLabel('Command').inputValue()).toBe('/bin/sh');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByText('Connected to task app: /bin/sh').waitFor();
    // xterm.js draws its rows as DOM; the keys go to its hidden textarea, which has the focus once connected.
    const rows = page.locator('.exec-terminal .xterm-rows');
    await page.keyboard.type('echo hi; exit 3');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows.innerText(), { timeout: 30_000 }).toMatch(/^hi\s*$/m);
    await page.getByText('The command exited with code 3.').waitFor();
    expect(await page.getByRole('button', { name: 'Close' }).isDisabled()).toBe(true);
  });

  it('edits the variable, shows a check-and-set conflict, and the template re-renders the file', async () => {
    const allocHash = new URL(page.url()).hash;
    await page.goto(ui('#/variables/nomad/jobs/ui-app'));
    const value = page.getByLabel('Value 1');
    await expect.poll(() => value.inputValue()).toBe('hello');
    // The user starts editing; someone else writes meanwhile: the save is refused and both versions shown.
    await value.fill('bonjour');
    const cur = await cluster.server.api<{ ModifyIndex: number }>('/v1/var/nomad/jobs/ui-app');
    const other = await cluster.server.api(`/v1/var/nomad/jobs/ui-app?cas=${cur.body.ModifyIndex}`, {
      method: 'PUT',
      body: JSON.stringify({ Items: { greeting: 'from-cli' } }),
    });
    expect(other.status).toBe(200);
    await page.getByText(/Changed elsewhere since you started editing/).waitFor();
    expect(await value.inputValue()).toBe('bonjour');
    await page.getByRole('button', { name: 'Save' }).click();
    const conflict = page.locator('.conflict');
    await conflict.getByText(/Conflict: the variable changed since you loaded it/).waitFor();
    await conflict.getByText('from-cli').waitFor();
    await conflict.getByRole('button', { name: 'Keep mine (save over theirs next)' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/^Saved at index \d+\.$/).waitFor();
    expect(
      (await cluster.server.api<{ Items: Record<string, string> }>('/v1/var/nomad/jobs/ui-app')).body.Items,
    ).toEqual({
      greeting: 'bonjour',
    });

    await page.goto(ui(allocHash.replace(/\/(files|exec).*$/, '') + '/files?path=%2Fapp%2Flocal%2Fgreeting.txt'));
    await expect
      .poll(
        async () => {
          await page.reload();
          return page
            .getByLabel('File /app/local/greeting.txt')
            .innerText({ timeout: 10_000 })
            .catch(() => '');
        },
        { timeout: 60_000, interval: 1_000 },
      )
      .toBe('greeting=bonjour\n');
  });

  it('reverts to version 0 from the versions list, after showing its diff', async () => {
    await page.goto(ui('#/jobs/ui-app'));
    const versions = page.getByRole('region', { name: 'Versions' });
    const v1 = versions.getByRole('row').filter({ has: page.getByRole('cell', { name: '1', exact: true }) });
    await v1.getByText('1 change').click();
    await v1.getByText('+/- Count: "3" => "5"').waitFor();
    let message = '';
    page.once('dialog', (d) => {
      message = d.message();
      void d.accept();
    });
    await versions.getByRole('button', { name: 'Revert to version 0' }).click();
    await expect.poll(() => message).toBe('Revert job "ui-app" to version 0? Its allocations will be replaced.');
    await expect
      .poll(
        async () =>
          (await cluster.server.api<{ Version: number; TaskGroups: Array<{ Count: number }> }>('/v1/job/ui-app')).body,
        {
          timeout: 30_000,
        },
      )
      .toMatchObject({ Version: 2, TaskGroups: [{ Count: 3 }] });
    await expect.poll(async () => (await running()).length, { timeout: 90_000 }).toBe(3);
    await expect.poll(() => page.getByLabel('Count of group app').inputValue()).toBe('3');
  });

  it('asks "what if" on a copy: two nodes like ui-a added, a scale that does not fit, the largest count', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'What if' }).click();
    await page.getByRole('heading', { level: 1, name: 'What if' }).waitFor();
    // A bad field is named in the form; nothing is sent.
    await page.getByLabel('Nodes to add').fill('two');
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.getByText('how many nodes: a whole number from 1').waitFor();
    // The API's own error: a node that does not exist.
    await page.getByLabel('Nodes to add').fill('');
    await page.getByLabel('Remove nodes').fill('no-such-node');
    await page.getByRole('button', { name: 'Simulate' }).click();
    await expect
      .poll(() => page.locator('.action-error').first().innerText())
      .toMatch(/^400: .*RemoveNodes\[0\]: no node "no-such-node"/);
    await page.getByLabel('Remove nodes').fill('');
    await page.getByLabel('Nodes to add').fill('2');
    await page.getByLabel('Like node').fill('ui-a');
    await page.getByLabel('Scale job').fill('ui-app');
    await page.getByLabel('New count', { exact: true }).fill('2000');
    await page.getByLabel('Largest count of job').fill('ui-app');
    await page.getByRole('button', { name: 'Simulate' }).click();
    const done = page.getByRole('region', { name: 'Simulated' });
    await done.getByText('add 2 nodes like ui-a').waitFor({ timeout: 60_000 });
    // The picture: the two added nodes outlined, holding new ui-app blocks; the old clients keep theirs.
    const added = page.locator('li.sim-added');
    expect(await added.count()).toBe(2);
    expect(await added.evaluateAll((els) => els.map((e) => e.getAttribute('data-node')))).toEqual([
      'ui-a-sim-1',
      'ui-a-sim-2',
    ]);
    expect(await added.locator('[data-kind="placed"][data-job="ui-app"]').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('li:not(.sim-added) [data-kind="kept"]').count()).toBeGreaterThan(0);
    // What would not fit, with the scheduler's reasons, and the largest count: the API's answer, drawn.
    const why = page.getByRole('alert').filter({ hasText: 'Would not fit' });
    expect(await why.innerText()).toMatch(
      /ui-app\/app \(\d+ unplaced\).*Resources exhausted on \d+ nodes: (cpu|memory)/s,
    );
    const api = await cluster.server.api<{ MaxCount: { Count: number } }>('/v1/operator/sim', {
      method: 'PUT',
      body: JSON.stringify({
        AddNodes: [{ Count: 2, Like: 'ui-a' }],
        Scale: [{ JobID: 'ui-app', Group: '', Count: 2000 }],
        MaxCount: { JobID: 'ui-app', Group: '' },
      }),
    });
    expect(api.status).toBe(200);
    expect(await page.locator('.sim-max').innerText()).toMatch(
      new RegExp(
        `^At most ${api.body.MaxCount.Count} of ui-app/app fit \\(now 2000\\), found in \\d+ scheduler runs\\.$`,
      ),
    );
    // Nothing happened for real.
    expect(
      (await cluster.server.api<{ TaskGroups: Array<{ Count: number }> }>('/v1/job/ui-app')).body.TaskGroups[0]!.Count,
    ).toBe(3);
    expect((await cluster.server.api<unknown[]>('/v1/nodes')).body).toHaveLength(2);
    expect(await running()).toHaveLength(3);
    await page.screenshot({ path: join(SHOTS, 'ui-sim.png'), fullPage: true });
  });

  it('drains the busier client from its page and the allocations move to the other', async () => {
    const before = await running();
    const byNode = new Map<string, AllocStub[]>();
    for (const a of before) byNode.set(a.NodeID, [...(byNode.get(a.NodeID) ?? []), a]);
    const [busy] = [...byNode.entries()].sort((x, y) => y[1].length - x[1].length)[0]!;
    await page.goto(ui(`#/clients/${busy}`));
    await page.getByRole('heading', { level: 1, name: /Client ui-/ }).waitFor();
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Drain client' }).click();
    await page.getByRole('button', { name: 'Stop drain' }).waitFor({ timeout: 30_000 });
    const after = await cluster.waitForRunning('ui-app', 3, 120_000, 500, busy);
    expect(after.every((a) => a.NodeID !== busy)).toBe(true);
    // The page follows: the drained client's facts say so and its allocations are no longer running.
    await expect.poll(() => page.locator('.facts').innerText()).toContain('ineligible');
  });

  it('stops and purges the job from its page after confirming', async () => {
    await page.goto(ui('#/jobs/ui-app'));
    await page.getByRole('heading', { level: 1, name: /ui-app/ }).waitFor();
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Purge job' }).click();
    await expect.poll(() => new URL(page.url()).hash).toBe('#/jobs');
    await expect.poll(async () => (await cluster.server.api('/v1/job/ui-app')).status, { timeout: 30_000 }).toBe(404);
    await page.getByText(/No jobs yet/).waitFor();
  });

  it('raised no script errors', () => {
    // The conflict above is a 409 the page handles; failed loads are not script errors.
    expect(errors).toEqual([]);
  });
});
