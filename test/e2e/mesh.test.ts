/**
 * The hybrid mesh, through the gateway of a real dev agent: a web job (15 busybox httpd containers,
 * docker) and a stats API job (10 busybox httpd processes in the exec chroot), each answering its allocation
 * ID, routed by their `urlprefix-` tags. Then an instance is killed under a bounded load loop (no request may
 * fail), `drover gateway routes` prints the table, and a scale-down reaches /routes within a second.
 *
 * Sizes: 25 tasks of 32 MB and 20 MHz each on a 2-core machine; every wait and the load loop are bounded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestImages, TEST_IMAGES } from '../images/index.js';
import { TestAgent } from './harness/agent.js';

const WEB_COUNT = 15;
const STATS_COUNT = 10;

const webJob = (count: number) => `
job "web" {
  datacenters = ["dc1"]
  group "web" {
    count = ${count}
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 3
      delay    = "4s"
      mode     = "delay"
    }
    service {
      name = "web"
      port = "http"
      tags = ["urlprefix-/"]
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "httpd" {
      driver = "docker"
      config {
        image   = "${TEST_IMAGES.busybox}"
        command = "/bin/sh"
        args    = ["-c", "mkdir -p /www && echo \\"web $NOMAD_ALLOC_ID\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports   = ["http"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
      kill_timeout = "1s"
    }
  }
}
`;

// The exec chroot has the host's /usr, so the host's busybox serves the JSON on the task's dynamic port.
const statsJob = `
job "stats" {
  datacenters = ["dc1"]
  group "stats" {
    count = ${STATS_COUNT}
    network {
      port "http" {}
    }
    service {
      name = "stats"
      port = "http"
      tags = ["urlprefix-/api strip=/api"]
      check {
        type     = "http"
        path     = "/stats.json"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "api" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "mkdir -p /local/www && printf '{\\"alloc\\":\\"%s\\"}' \\"$NOMAD_ALLOC_ID\\" > /local/www/stats.json && exec /usr/bin/busybox httpd -f -p $NOMAD_ADDR_http -h /local/www"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
      kill_timeout = "1s"
    }
  }
}
`;

interface Target {
  ID: string;
  AllocID: string;
  Port: number;
}
interface Route {
  Name: string;
  Prefix: string;
  Strip: string;
  Targets: Target[];
}

describe('the hybrid mesh behind the gateway of a dev agent', () => {
  const agent = new TestAgent();
  let dir = '';
  let gw = '';

  const routes = async (): Promise<Route[]> => {
    const res = await fetch(`${gw}/_drover/gateway/routes`, { signal: AbortSignal.timeout(5_000) });
    return (await res.json()) as Route[];
  };
  const route = async (prefix: string) => (await routes()).find((r) => r.Prefix === prefix);
  const passing = async (service: string) =>
    (await agent.api<Array<{ AllocID: string; Status?: string }>>(`/v1/service/${service}?health=passing`)).body.filter(
      (r) => r.Status === undefined || r.Status === 'passing',
    );
  const get = async (path: string) => {
    const res = await fetch(gw + path, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.text() };
  };

  beforeAll(async () => {
    await ensureTestImages();
    await agent.start();
    gw = agent.gatewayAddress;
    expect(gw).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // The banner comes before the dev client's node registration is acknowledged: wait for the node.
    const first = await agent.waitFor(
      "the dev agent's node",
      async () => (await agent.api<Array<{ ID: string }>>('/v1/nodes')).body[0],
      30_000,
    );
    const node = (
      await agent.api<{ NodeResources: { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } } }>(
        `/v1/node/${first.ID}`,
      )
    ).body;
    // Capacity for 25 tasks of 20 MHz / 32 MB, so a placement failure cannot pass for a gateway bug.
    expect(node.NodeResources.Cpu.CpuShares).toBeGreaterThan(25 * 20);
    expect(node.NodeResources.Memory.MemoryMB).toBeGreaterThan(25 * 32);

    dir = mkdtempSync(join(tmpdir(), 'drover-mesh-'));
    writeFileSync(join(dir, 'web.nomad.hcl'), webJob(WEB_COUNT));
    writeFileSync(join(dir, 'stats.nomad.hcl'), statsJob);
    for (const f of ['web.nomad.hcl', 'stats.nomad.hcl']) {
      const run = agent.cli(['job', 'run', '-detach', join(dir, f)]);
      expect(run.code, run.stderr).toBe(0);
    }
    await agent.waitFor(
      `${WEB_COUNT} passing web instances`,
      async () => (await passing('web')).length === WEB_COUNT,
      300_000,
      500,
    );
    await agent.waitFor(
      `${STATS_COUNT} passing stats instances`,
      async () => (await passing('stats')).length === STATS_COUNT,
      120_000,
      500,
    );
    await agent.waitFor(
      'every instance in the gateway routes',
      async () =>
        (await route('/'))?.Targets.length === WEB_COUNT && (await route('/api'))?.Targets.length === STATS_COUNT,
      10_000,
      100,
    );
  }, 480_000);

  afterAll(async () => {
    await agent.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('routes / to the web containers and /api to the exec stats processes with the prefix stripped, spread over many instances', async () => {
    const webAllocs = new Set((await passing('web')).map((r) => r.AllocID));
    const statsAllocs = new Set((await passing('stats')).map((r) => r.AllocID));
    const seenWeb = new Set<string>();
    const seenStats = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const web = await get('/');
      expect(web.status).toBe(200);
      const m = /^web (\S+)$/.exec(web.body.trim());
      expect(m, web.body).not.toBeNull();
      seenWeb.add(m![1]!);
      // Served from /local/www/stats.json: only a stripped path (/stats.json) finds the file.
      const stats = await get('/api/stats.json');
      expect(stats.status, stats.body).toBe(200);
      seenStats.add((JSON.parse(stats.body) as { alloc: string }).alloc);
    }
    for (const a of seenWeb) expect(webAllocs).toContain(a);
    for (const a of seenStats) expect(statsAllocs).toContain(a);
    expect(seenWeb.size).toBeGreaterThanOrEqual(10);
    expect(seenStats.size).toBeGreaterThanOrEqual(7);
    // Unstripped, the backend would have looked for /api/stats.json and answered 404.
    const direct = await fetch(`http://127.0.0.1:${(await route('/api'))!.Targets[0]!.Port}/api/stats.json`);
    await direct.text();
    expect(direct.status).toBe(404);
  });

  it('drops a killed instance from the routing before its replacement arrives, with no failed request under load', async () => {
    const before = (await route('/'))!.Targets;
    expect(before).toHaveLength(WEB_COUNT);
    const victim = before[3]!.AllocID;

    const deadline = Date.now() + 30_000;
    let sent = 0;
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    // When each failure happened relative to the kill (negative: before it), for the message of a failed run.
    let killedAt = 0;
    const at = () => (killedAt ? `+${Date.now() - killedAt} ms` : 'before the kill');
    const worker = async () => {
      while (!stop && sent < 3_000 && Date.now() < deadline) {
        sent++;
        try {
          const r = await get('/');
          if (r.status === 200 && r.body.startsWith('web ')) ok++;
          else failures.push(`${at()}: ${r.status} ${r.body.slice(0, 200)}`);
        } catch (e) {
          failures.push(`${at()}: ${String(e)}`);
        }
      }
    };
    // The routing table over time: when the victim left and when an instance of it came back.
    let leftAt = 0;
    let backAt = 0;
    const watch = async () => {
      while (!stop && Date.now() < deadline) {
        const targets = (await route('/'))?.Targets ?? [];
        const has = targets.some((t) => t.AllocID === victim);
        if (!has && !leftAt) leftAt = Date.now();
        if (has && leftAt && !backAt) backAt = Date.now();
        if (backAt && targets.length === WEB_COUNT) stop = true;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const workers = [...Array.from({ length: 10 }, () => worker()), watch()];
    await new Promise((r) => setTimeout(r, 1_000));
    killedAt = Date.now();
    const kill = spawnSync(
      'sh',
      ['-c', `docker ps -q --filter label=com.hashicorp.nomad.alloc_id=${victim} | xargs -r docker kill`],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(kill.status, kill.stderr).toBe(0);
    expect(kill.stdout.trim()).not.toBe('');
    await Promise.all(workers);
    stop = true;

    // The failures are named in the message too: its first line is all the closing summary of a CI run shows.
    expect(failures.slice(0, 5), `${failures.length} failed: ${failures.slice(0, 5).join(' | ')}`).toEqual([]);
    expect(ok).toBe(sent);
    expect(sent).toBeGreaterThan(100);
    expect(leftAt, 'the victim left the routes').toBeGreaterThan(killedAt);
    expect(backAt, 'the restarted instance came back to the routes').toBeGreaterThan(leftAt);
    expect(leftAt - killedAt).toBeLessThan(5_000);
  }, 90_000);

  it('lists the routes with their instances in `drover gateway routes`', async () => {
    // The killed instance's replacement may still be on its way into the routes: compare once they are whole.
    await agent.waitFor(
      'all web instances back',
      async () => (await route('/'))?.Targets.length === WEB_COUNT,
      30_000,
      200,
    );
    const r = agent.cli(['gateway', 'routes', '-gateway', gw]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Route\s+Strip\s+LB\s+Service\s+Instance\s+Address\s+Active\s+State$/m);
    expect(r.stdout).toMatch(/^\/api\s+\/api\s+round_robin\s+stats\s+[0-9a-f]{8}\s+127\.0\.0\.1:\d+/m);
    expect(r.stdout).toMatch(/^\/\s+-\s+round_robin\s+web\s+[0-9a-f]{8}\s+127\.0\.0\.1:\d+/m);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => /\bweb\s+[0-9a-f]{8}\s/.test(l))).toHaveLength((await route('/'))!.Targets.length);
    expect(lines.filter((l) => /\bstats\s+[0-9a-f]{8}\s/.test(l))).toHaveLength(STATS_COUNT);
  });

  it('follows a scale-down into /routes soon after the catalog', async () => {
    await agent.waitFor(
      'all web instances back',
      async () => (await route('/'))?.Targets.length === WEB_COUNT,
      30_000,
      200,
    );
    const target = 12;
    const scale = agent.cli(['job', 'scale', '-detach', 'web', 'web', String(target)]);
    expect(scale.code, scale.stderr).toBe(0);
    // Instances leave the catalog one by one; the gateway follows the catalog's blocking query, so each step
    // reaches it about as soon as the catalog has it (BENCHMARKS.md, discovery). The bound is loose on purpose:
    // it fails a gateway that polls or stalls, not a slow machine.
    const until = Date.now() + 60_000;
    let catalogAt = 0;
    let routesAt = 0;
    while (Date.now() < until && !routesAt) {
      const inCatalog = (await agent.api<unknown[]>('/v1/service/web')).body.length;
      if (inCatalog === target && !catalogAt) catalogAt = Date.now();
      if ((await route('/'))?.Targets.length === target) routesAt = Date.now();
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(routesAt, agent.output.slice(-2000)).toBeGreaterThan(0);
    expect(routesAt - (catalogAt || routesAt)).toBeLessThan(5_000);
  }, 90_000);
});
