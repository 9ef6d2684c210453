/**
 * Prometheus, with an unmodified `nomad_sd_configs` block, discovers the instances served in the shapes of
 * serviceListStubs and filterService. Prometheus uses Nomad's Go API client: it lists `GET /v1/services`, then
 * `GET /v1/service/<name>` for each, with `namespace`, `region` and `stale` parameters, and refuses answers
 * without the `X-Nomad-Index` and `X-Nomad-LastContact` headers.
 *
 * Debian's prometheus package is built without Nomad discovery (its patch 08-Disable_nomad.patch; `promtool
 * check config` says "field nomad_sd_configs not found"). With that build the nomad_sd test asserts exactly that
 * fact instead (so it passes, and fails the day the build changes); point DROVER_PROMETHEUS_BIN (and
 * DROVER_PROMTOOL_BIN) at a build with Nomad discovery to run the real check. So that the harness itself is
 * proven on every machine with Debian's Prometheus, a second test drives it with `http_sd_configs` fed from the
 * same catalog. api-shapes.test.ts checks the Nomad bodies against Nomad's API types on every run;
 * test/e2e/prometheus.test.ts does the same against a real dev agent.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServiceRegistration } from '../structs/index.js';
import { catalogIndex, filterService, serviceListStubs } from './catalog.js';
import { buildServiceWorkloads } from './registrations.js';
import { fixtureAlloc, fixtureJob } from './testing/fixtures.js';
import { freePort } from '../lib/net.js';

const PROMETHEUS = process.env.DROVER_PROMETHEUS_BIN || 'prometheus';
const PROMTOOL = process.env.DROVER_PROMTOOL_BIN || 'promtool';

const installed = spawnSync(PROMETHEUS, ['--version'], { stdio: 'ignore' }).status === 0;

/** What promtool says about a config with a nomad_sd_configs block. */
function promtoolOnNomadSd(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-promtool-'));
  const file = path.join(dir, 'probe.yml');
  writeFileSync(
    file,
    "scrape_configs:\n  - job_name: probe\n    nomad_sd_configs:\n      - server: 'http://127.0.0.1:1'\n",
  );
  const probe = spawnSync(PROMTOOL, ['check', 'config', file], { encoding: 'utf8', timeout: 20_000 });
  rmSync(dir, { recursive: true, force: true });
  return `${probe.stdout ?? ''}${probe.stderr ?? ''}`;
}

const promtoolSays = installed ? promtoolOnNomadSd() : '';
/** Why this Prometheus cannot read nomad_sd_configs, or '' when it can. */
const missing = !installed
  ? `${PROMETHEUS} is not installed (apt-get install prometheus)`
  : promtoolSays.includes('nomad_sd_configs not found')
    ? `${PROMETHEUS} was built without Nomad service discovery (Debian disables it)`
    : '';
if (!installed && process.env.CI === 'true') throw new Error(`prometheus tests cannot run: ${missing}`);

interface SeenRequest {
  path: string;
  query: Record<string, string>;
}

interface PromTarget {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
}

/** The catalog both tests serve: one instance built from an allocation, three web instances, one elsewhere. */
function catalog(): ServiceRegistration[] {
  const alloc = fixtureAlloc(
    fixtureJob({ taskServices: [{ Name: 'shop-api', PortLabel: 'http', Tags: ['api', 'v2'] }] }),
  );
  const [built] = buildServiceWorkloads({
    alloc,
    node: { ID: 'node-1', Datacenter: 'dc1' },
    advertiseIP: '127.0.0.1',
    task: 'web',
  });
  const regs: ServiceRegistration[] = [
    { ...built!.registration, Address: '127.0.0.1', CreateIndex: 10, ModifyIndex: 10, Status: 'passing' },
  ];
  for (let i = 1; i <= 3; i++) {
    regs.push({
      ID: `_nomad-task-alloc-${i}-web-web-http`,
      ServiceName: 'web',
      Namespace: 'default',
      NodeID: `node-${i}`,
      Datacenter: 'dc1',
      JobID: 'web',
      AllocID: `alloc-${i}`,
      Tags: ['urlprefix-/', `i${i}`],
      Address: `127.0.0.${i}`,
      Port: 21000 + i,
      CreateIndex: 11 + i,
      ModifyIndex: 11 + i,
      Status: 'passing',
    });
  }
  // Another namespace: Prometheus asks for `default` only, so this must not show up.
  regs.push({ ...regs[1]!, ID: 'other-ns', Namespace: 'prod', ServiceName: 'hidden', Port: 29999 });
  return regs;
}

const EXPECTED_ADDRESSES = ['127.0.0.1:21001', '127.0.0.1:23456', '127.0.0.2:21002', '127.0.0.3:21003'];

/** A fake agent (127.0.0.1, port 0) and a Prometheus started on a free port with the given scrape config. */
function harness(scrapeConfig: (agentPort: number) => string[]) {
  const h = { regs: catalog(), seen: [] as SeenRequest[], promPort: 0, log: '' };
  let agent: http.Server | undefined;
  let prom: ChildProcess | undefined;
  let dir = '';

  beforeAll(async () => {
    agent = http.createServer((req, res) => fakeAgent(req, res, h.regs, h.seen));
    await new Promise<void>((r) => agent!.listen(0, '127.0.0.1', r));
    const agentPort = (agent.address() as net.AddressInfo).port;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-prom-'));
    h.promPort = await freePort();
    await fs.writeFile(
      path.join(dir, 'prometheus.yml'),
      ['global:', '  scrape_interval: 1m', 'scrape_configs:', ...scrapeConfig(agentPort), ''].join('\n'),
    );
    prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${h.promPort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (b: Buffer) => (h.log = (h.log + b.toString()).slice(-8000));
    prom.stdout!.on('data', keep);
    prom.stderr!.on('data', keep);
  }, 30_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null && prom.signalCode === null) {
      const exited = new Promise<void>((r) => prom!.once('exit', () => r()));
      prom.kill('SIGTERM');
      const t = setTimeout(() => prom?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    if (agent) {
      agent.closeAllConnections();
      await new Promise<void>((r) => agent!.close(() => r()));
    }
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 15_000);

  return h;
}

describe('Prometheus nomad_sd_configs against the catalog shapes', () => {
  if (missing) {
    // Debian's build: the real check cannot run here, and this says why in a way that can fail.
    it("cannot run on Debian's Prometheus build, whose promtool rejects nomad_sd_configs", () => {
      expect(
        process.env.DROVER_PROMETHEUS_BIN ?? '',
        `DROVER_PROMETHEUS_BIN must name a Prometheus with Nomad discovery: ${missing}`,
      ).toBe('');
      expect(promtoolSays).toContain('field nomad_sd_configs not found');
    });
    return;
  }
  const h = harness((port) => [
    '  - job_name: nomad',
    '    nomad_sd_configs:',
    `      - server: 'http://127.0.0.1:${port}'`,
    '        refresh_interval: 1s',
  ]);

  it('lists every instance as a target with its address and Nomad meta labels', async () => {
    const targets = await waitForTargets(h.promPort, 'nomad', 4, () => h.log);
    const byAddr = new Map(targets.map((t) => [t.discoveredLabels.__address__, t.discoveredLabels]));
    expect([...byAddr.keys()].sort()).toEqual(EXPECTED_ADDRESSES);
    expect(byAddr.get('127.0.0.2:21002')).toMatchObject({
      __meta_nomad_address: '127.0.0.2',
      __meta_nomad_service: 'web',
      __meta_nomad_service_address: '127.0.0.2',
      __meta_nomad_service_port: '21002',
      __meta_nomad_service_id: '_nomad-task-alloc-2-web-web-http',
      __meta_nomad_namespace: 'default',
      __meta_nomad_dc: 'dc1',
      __meta_nomad_node_id: 'node-2',
      __meta_nomad_tags: ',urlprefix-/,i2,',
    });
    expect(byAddr.get('127.0.0.1:23456')).toMatchObject({
      __meta_nomad_service: 'shop-api',
      __meta_nomad_tags: ',api,v2,',
    });
  }, 60_000);

  it('asked the agent with the Nomad client parameters the agent must accept', () => {
    const list = h.seen.find((r) => r.path === '/v1/services');
    expect(list).toBeDefined();
    expect(list!.query).toMatchObject({ namespace: 'default', region: 'global' });
    expect(list!.query).toHaveProperty('stale');
    expect(h.seen.some((r) => r.path === '/v1/service/web')).toBe(true);
    expect(h.seen.some((r) => r.path === '/v1/service/hidden')).toBe(false);
  });
});

describe.skipIf(!installed)("the Prometheus harness, on Debian's build (http_sd_configs from the same catalog)", () => {
  const h = harness((port) => [
    '  - job_name: catalog',
    '    http_sd_configs:',
    `      - url: 'http://127.0.0.1:${port}/http-sd'`,
    '        refresh_interval: 1s',
  ]);

  it('starts Prometheus, reads its targets API and sees every instance of the default namespace', async () => {
    const targets = await waitForTargets(h.promPort, 'catalog', 4, () => h.log);
    expect(targets.map((t) => t.discoveredLabels.__address__).sort()).toEqual(EXPECTED_ADDRESSES);
    expect(targets.find((t) => t.discoveredLabels.__address__ === '127.0.0.3:21003')!.discoveredLabels).toMatchObject({
      __meta_service: 'web',
      __meta_node_id: 'node-3',
    });
    expect(h.seen.some((r) => r.path === '/http-sd')).toBe(true);
  }, 60_000);
});

/** The two Nomad endpoints as the agent serves them, with the query meta headers Nomad's client requires. */
function fakeAgent(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  regs: ServiceRegistration[],
  seen: SeenRequest[],
): void {
  const url = new URL(req.url ?? '/', 'http://agent');
  seen.push({ path: url.pathname, query: Object.fromEntries(url.searchParams) });
  const namespace = url.searchParams.get('namespace') || 'default';
  const send = (body: unknown, index: number) => {
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'X-Nomad-Index': String(index),
      'X-Nomad-LastContact': '0',
      'X-Nomad-KnownLeader': 'true',
    });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET' && url.pathname === '/v1/services')
    return send(serviceListStubs(regs, { namespace }), catalogIndex(regs));
  const m = /^\/v1\/service\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'GET' && m) {
    const found = filterService(regs, {
      name: decodeURIComponent(m[1]!),
      namespace,
      tag: url.searchParams.get('tag') ?? undefined,
    });
    return send(found, catalogIndex(found));
  }
  if (req.method === 'GET' && url.pathname === '/http-sd') {
    // The same two queries Prometheus' Nomad discovery makes, turned into http_sd target groups.
    const groups = serviceListStubs(regs, { namespace: 'default' }).flatMap((ns) =>
      ns.Services.flatMap((s) =>
        filterService(regs, { name: s.ServiceName, namespace: ns.Namespace }).map((r) => ({
          targets: [`${r.Address}:${r.Port}`],
          labels: { __meta_service: r.ServiceName, __meta_node_id: r.NodeID },
        })),
      ),
    );
    return send(groups, catalogIndex(regs));
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found');
}

async function waitForTargets(port: number, job: string, count: number, log: () => string): Promise<PromTarget[]> {
  let last = '';
  const listed = async (): Promise<PromTarget[] | false> => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=active`, {
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) return false;
      const body = (await res.json()) as { data: { activeTargets: PromTarget[] } };
      const ts = body.data.activeTargets.filter((t) => t.labels.job === job);
      last = JSON.stringify(ts.map((t) => t.discoveredLabels.__address__));
      return ts.length >= count && ts;
    } catch {
      return false; // not up yet
    }
  };
  try {
    return await vi.waitUntil(listed, { timeout: 45_000, interval: 250 });
  } catch {
    throw new Error(`prometheus did not list ${count} targets for job ${job} (last: ${last}); its log:\n${log()}`);
  }
}
