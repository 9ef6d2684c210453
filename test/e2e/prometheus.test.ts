/**
 * Prometheus discovers the instances a real dev agent registers. With a Prometheus built with Nomad discovery
 * (DROVER_PROMETHEUS_BIN, DROVER_PROMTOOL_BIN), an unmodified `nomad_sd_configs` block points at the agent.
 * Debian's build has Nomad discovery patched out (08-Disable_nomad.patch): there the test asserts that fact, and a
 * second test reaches the same catalog through `http_sd_configs` and a small adapter making the two calls
 * Prometheus' Nomad discovery makes (`GET /v1/services`, then `GET /v1/service/<name>` for each).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TestAgent } from './harness/agent.js';

const FIX = join(ROOT, 'test', 'e2e', 'fixtures');
const CUSTOM = process.env.DROVER_PROMETHEUS_BIN ?? '';
const PROMETHEUS = CUSTOM || 'prometheus';
const PROMTOOL = process.env.DROVER_PROMTOOL_BIN || 'promtool';

interface Target {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
}

function promtoolOnNomadSd(dir: string): string {
  const file = join(dir, 'probe.yml');
  writeFileSync(
    file,
    "scrape_configs:\n  - job_name: probe\n    nomad_sd_configs:\n      - server: 'http://127.0.0.1:1'\n",
  );
  const r = spawnSync(PROMTOOL, ['check', 'config', file], { encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** A running Prometheus with one scrape config; stopped by the returned function. */
async function startPrometheus(
  dir: string,
  scrape: string[],
): Promise<{ port: number; log: () => string; stop: () => Promise<void> }> {
  const port = await freePort();
  const cfg = join(dir, `prometheus-${port}.yml`);
  writeFileSync(cfg, ['global:', '  scrape_interval: 1m', 'scrape_configs:', ...scrape, ''].join('\n'));
  let log = '';
  const proc: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${join(dir, `data-${port}`)}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (b: Buffer) => (log = (log + b.toString()).slice(-8000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return {
    port,
    log: () => log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function waitForTargets(port: number, job: string, count: number, log: () => string): Promise<Target[]> {
  const deadline = Date.now() + 45_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=active`, {
        signal: AbortSignal.timeout(2_000),
      });
      if (res.ok) {
        const body = (await res.json()) as { data: { activeTargets: Target[] } };
        const ts = body.data.activeTargets.filter((t) => t.labels.job === job);
        last = JSON.stringify(ts.map((t) => t.discoveredLabels.__address__));
        if (ts.length >= count) return ts;
      }
    } catch {
      // Not up yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`prometheus did not list ${count} targets for job ${job} (last: ${last}); its log:\n${log()}`);
}

describe('Prometheus discovers the instances of a real agent', () => {
  const agent = new TestAgent();
  const dir = mkdtempSync(join(tmpdir(), 'drover-prom-e2e-'));
  const stops: Array<() => Promise<void>> = [];
  let expected: string[] = [];

  beforeAll(async () => {
    await agent.start();
    for (const f of ['services.nomad.hcl', 'svc-server.js']) copyFileSync(join(FIX, f), join(dir, f));
    const run = agent.cli(['job', 'run', '-detach', join(dir, 'services.nomad.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    expected = await agent.waitFor('four registered instances', async () => {
      const web = (await agent.api<Array<{ Address: string; Port: number }>>('/v1/service/web')).body;
      const admin = (await agent.api<Array<{ Address: string; Port: number }>>('/v1/service/web-admin')).body;
      const all = [...web, ...admin].map((r) => `${r.Address}:${r.Port}`).sort();
      return all.length === 4 ? all : undefined;
    });
  });
  afterAll(async () => {
    for (const s of stops.splice(0).reverse()) await s();
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists them through nomad_sd_configs, or proves this Prometheus build cannot read that block', async () => {
    const says = promtoolOnNomadSd(dir);
    if (says.includes('nomad_sd_configs not found')) {
      // Debian's build (no DROVER_PROMETHEUS_BIN): the fact that keeps the real check from running here.
      expect(CUSTOM, `DROVER_PROMETHEUS_BIN=${CUSTOM} has no Nomad discovery`).toBe('');
      expect(says).toContain('field nomad_sd_configs not found');
      return;
    }
    const prom = await startPrometheus(dir, [
      '  - job_name: nomad',
      '    nomad_sd_configs:',
      `      - server: '${agent.address}'`,
      '        refresh_interval: 1s',
    ]);
    stops.push(prom.stop);
    const targets = await waitForTargets(prom.port, 'nomad', 4, prom.log);
    expect(targets.map((t) => t.discoveredLabels.__address__).sort()).toEqual(expected);
    expect(targets.find((t) => t.discoveredLabels.__meta_nomad_service === 'web')!.discoveredLabels).toMatchObject({
      __meta_nomad_namespace: 'default',
      __meta_nomad_dc: 'dc1',
    });
  }, 90_000);

  it("lists them through http_sd_configs fed by the agent's native service API", async () => {
    const adapter = http.createServer((req, res) => {
      void (async () => {
        const list = (
          await agent.api<Array<{ Namespace: string; Services: Array<{ ServiceName: string }> }>>(
            '/v1/services?namespace=default',
          )
        ).body;
        const groups = [];
        for (const ns of list) {
          for (const s of ns.Services) {
            const regs = (
              await agent.api<Array<{ Address: string; Port: number; ServiceName: string; NodeID: string }>>(
                `/v1/service/${encodeURIComponent(s.ServiceName)}?namespace=${ns.Namespace}`,
              )
            ).body;
            for (const r of regs)
              groups.push({
                targets: [`${r.Address}:${r.Port}`],
                labels: { __meta_service: r.ServiceName, __meta_node_id: r.NodeID },
              });
          }
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(groups));
      })().catch((e: unknown) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
    await new Promise<void>((r) => adapter.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise<void>((r) => (adapter.closeAllConnections(), adapter.close(() => r()))));
    const adapterPort = (adapter.address() as net.AddressInfo).port;
    const prom = await startPrometheus(dir, [
      '  - job_name: catalog',
      '    http_sd_configs:',
      `      - url: 'http://127.0.0.1:${adapterPort}/'`,
      '        refresh_interval: 1s',
    ]);
    stops.push(prom.stop);
    const targets = await waitForTargets(prom.port, 'catalog', 4, prom.log);
    expect(targets.map((t) => t.discoveredLabels.__address__).sort()).toEqual(expected);
    expect(new Set(targets.map((t) => t.discoveredLabels.__meta_service))).toEqual(new Set(['web', 'web-admin']));
  }, 90_000);
});
