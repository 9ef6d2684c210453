/**
 * Service discovery end to end: a real dev agent, raw_exec tasks serving HTTP on their dynamic ports, the
 * native service API, check status in the API and the CLI, check_restart, DNS answered to `dig`, and
 * shutdown_delay ordering on job stop.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TestAgent } from './harness/agent.js';

const FIX = join(ROOT, 'test', 'e2e', 'fixtures');

interface Registration {
  ID: string;
  ServiceName: string;
  Namespace: string;
  NodeID: string;
  Datacenter: string;
  JobID: string;
  AllocID: string;
  Tags: string[];
  Address: string;
  Port: number;
  CreateIndex: number;
  ModifyIndex: number;
  Status?: string;
}

interface AllocStub {
  ID: string;
  JobID: string;
  ClientStatus: string;
  TaskStates: Record<string, { State: string; Events: Array<{ Type: string; RestartReason?: string }> }> | null;
}

function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'drover-svc-'));
  for (const f of ['services.nomad.hcl', 'services-flaky.nomad.hcl', 'svc-server.js'])
    copyFileSync(join(FIX, f), join(d, f));
  return d;
}

function dig(port: number, name: string, type: 'SRV' | 'A'): string[] {
  const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), name, type, '+short', '+time=2', '+tries=1'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status !== 0) throw new Error(`dig failed: ${r.stderr || r.stdout}`);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

async function answers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

describe('services, checks and DNS on a dev agent', () => {
  const agent = new TestAgent();
  let dir: string;
  let dnsPort: number;

  const instances = async (query = '') => (await agent.api<Registration[]>(`/v1/service/web${query}`)).body;
  const passing = async () => (await instances('?health=passing')).filter((r) => r.Status === 'passing');

  beforeAll(async () => {
    await agent.start();
    dir = workDir();
    const self = await agent.api<{ config: { Ports: { DNS: number }; DNS: { Enabled: boolean } } }>('/v1/agent/self');
    expect(self.body.config.DNS.Enabled).toBe(true);
    dnsPort = self.body.config.Ports.DNS;
    await agent.waitFor(
      '"DNS at" in the agent output',
      async () => agent.output.includes(`DNS at 127.0.0.1:${dnsPort}`),
      10_000,
    );
    const run = agent.cli(['job', 'run', '-detach', join(dir, 'services.nomad.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    await agent.waitFor('two passing web instances', async () => (await passing()).length === 2, 60_000);
  });
  afterAll(async () => {
    await agent.stop();
  });

  it('registers group and task services with Nomad JSON, host addresses and an index header', async () => {
    const list =
      await agent.api<Array<{ Namespace: string; Services: Array<{ ServiceName: string; Tags: string[] }> }>>(
        '/v1/services',
      );
    expect(list.status).toBe(200);
    expect(Number(list.headers.get('X-Nomad-Index'))).toBeGreaterThan(0);
    expect(list.body).toEqual([
      {
        Namespace: 'default',
        Services: [
          { ServiceName: 'web', Tags: ['alloc-0', 'alloc-1', 'v1', 'x'] },
          { ServiceName: 'web-admin', Tags: [] },
        ],
      },
    ]);
    const web = await agent.api<Registration[]>('/v1/service/web?tag=x');
    expect(Number(web.headers.get('X-Nomad-Index'))).toBeGreaterThan(0);
    expect(web.body).toHaveLength(2);
    const allocs = (await agent.api<Array<{ ID: string; AllocatedResources?: unknown }>>('/v1/job/web/allocations'))
      .body;
    for (const r of web.body) {
      expect(Object.keys(r).sort()).toEqual(
        expect.arrayContaining([
          'Address',
          'AllocID',
          'CreateIndex',
          'Datacenter',
          'ID',
          'JobID',
          'ModifyIndex',
          'Namespace',
          'NodeID',
          'Port',
          'ServiceName',
          'Tags',
        ]),
      );
      expect(r).toMatchObject({
        ServiceName: 'web',
        Namespace: 'default',
        Datacenter: 'dc1',
        JobID: 'web',
        Address: '127.0.0.1',
      });
      expect(r.ID).toBe(`_nomad-task-${r.AllocID}-group-web-web-http`);
      expect(allocs.map((a) => a.ID)).toContain(r.AllocID);
      const alloc = (
        await agent.api<{ AllocatedResources: { Shared: { Ports: Array<{ Label: string; Value: number }> } } }>(
          `/v1/allocation/${r.AllocID}`,
        )
      ).body;
      expect(r.Port).toBe(alloc.AllocatedResources.Shared.Ports.find((p) => p.Label === 'http')!.Value);
      expect(await answers(r.Port)).toBe(true);
    }
    expect((await agent.api<Registration[]>('/v1/service/web?tag=nope')).body).toEqual([]);
    expect((await agent.api<Registration[]>('/v1/service/web-admin')).body).toHaveLength(2);
  });

  it('lists services and instances with the CLI', () => {
    const list = agent.cli(['service', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/Service Name\s+Tags/);
    expect(list.stdout).toMatch(/web\s+\[alloc-0,alloc-1,v1,x\]/);
    const info = agent.cli(['service', 'info', 'web']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/Job ID\s+Address\s+Tags\s+Node ID\s+Alloc ID/);
    expect(info.stdout.match(/^web\s+127\.0\.0\.1:\d+/gm)).toHaveLength(2);
  });

  it('answers SRV and A queries for the passing instances, by service and by tag', async () => {
    const ports = (await passing()).map((r) => r.Port).sort();
    const srv = dig(dnsPort, 'web.service.drover', 'SRV');
    expect(srv.map((l) => Number(l.split(/\s+/)[2])).sort()).toEqual(ports);
    expect(dig(dnsPort, 'x.web.service.drover', 'SRV')).toHaveLength(2);
    expect(dig(dnsPort, 'nope.web.service.drover', 'SRV')).toEqual([]);
    const a = dig(dnsPort, 'web.service.drover', 'A');
    expect(a.length).toBeGreaterThan(0);
    expect(new Set(a)).toEqual(new Set(['127.0.0.1']));
  });

  it('wakes a blocking query on /v1/service/web when an instance is added', async () => {
    const first = await agent.api<Registration[]>('/v1/service/web');
    const index = Number(first.headers.get('X-Nomad-Index'));
    const started = Date.now();
    let settled = 0;
    const blocked = agent.api<Registration[]>(`/v1/service/web?index=${index}&wait=30s`).then((r) => {
      settled = Date.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 700));
    expect(settled).toBe(0);
    const run = agent.cli(['job', 'run', '-detach', '-var', 'count=3', join(dir, 'services.nomad.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    const woke = await blocked;
    expect(settled - started).toBeGreaterThanOrEqual(700);
    expect(Number(woke.headers.get('X-Nomad-Index'))).toBeGreaterThan(index);
    // Later writes (the new instance's checks) wake the next queries; the third instance shows up within them.
    let seen = woke.body;
    let at = Number(woke.headers.get('X-Nomad-Index'));
    for (let i = 0; i < 20 && seen.length < 3; i++) {
      const next = await agent.api<Registration[]>(`/v1/service/web?index=${at}&wait=10s`);
      seen = next.body;
      at = Number(next.headers.get('X-Nomad-Index'));
    }
    expect(seen).toHaveLength(3);
    await agent.waitFor('three passing web instances', async () => (await passing()).length === 3, 60_000);
  });

  it('serves a failing instance as critical: gone from the passing view and DNS, still listed by default', async () => {
    const [victim, ...others] = await passing();
    expect(victim).toBeDefined();
    await fetch(`http://127.0.0.1:${victim!.Port}/fail`).then((r) => r.text());
    await agent.waitFor(
      'the failing instance to turn critical',
      async () => (await instances()).find((r) => r.ID === victim!.ID)?.Status === 'critical',
      20_000,
    );
    const shown = await passing();
    expect(shown.map((r) => r.ID)).not.toContain(victim!.ID);
    expect(shown.map((r) => r.ID).sort()).toEqual(others.map((r) => r.ID).sort());
    expect((await instances('?health=any')).map((r) => r.ID)).toContain(victim!.ID);
    expect((await instances()).map((r) => r.ID)).toContain(victim!.ID);
    const srvPorts = dig(dnsPort, 'web.service.drover', 'SRV').map((l) => Number(l.split(/\s+/)[2]));
    expect(srvPorts).not.toContain(victim!.Port);
    expect(srvPorts.sort()).toEqual(others.map((r) => r.Port).sort());

    const checks = await agent.api<
      Record<string, { Check: string; Service: string; Task: string; Mode: string; Status: string }>
    >(`/v1/client/allocation/${victim!.AllocID}/checks`);
    expect(checks.status).toBe(200);
    const byName = Object.fromEntries(Object.values(checks.body).map((c) => [c.Check, c]));
    expect(byName['web-health']).toMatchObject({ Service: 'web', Task: '', Mode: 'healthiness', Status: 'failure' });
    expect(byName['service: "web-admin" check']).toMatchObject({
      Service: 'web-admin',
      Task: 'server',
      Status: 'success',
    });
    const status = agent.cli(['alloc', 'status', victim!.AllocID]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('Nomad Service Checks:');
    expect(status.stdout).toMatch(/Service\s+Task\s+Name\s+Mode\s+Status/);
    expect(status.stdout).toMatch(/web\s+\(group\)\s+web-health\s+healthiness\s+failure/);

    await fetch(`http://127.0.0.1:${victim!.Port}/recover`).then((r) => r.text());
    await agent.waitFor(
      'the instance to pass again',
      async () => (await passing()).some((r) => r.ID === victim!.ID),
      20_000,
    );
  });

  it('restarts a task whose check keeps failing (check_restart) and says why in its events', async () => {
    const run = agent.cli(['job', 'run', '-detach', join(dir, 'services-flaky.nomad.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    const restarted = await agent.waitFor(
      'a check_restart',
      async () => {
        const allocs = (await agent.api<AllocStub[]>('/v1/job/flaky/allocations')).body;
        return allocs.flatMap((a) => a.TaskStates?.server?.Events ?? []).find((e) => e.Type === 'Restart Signaled');
      },
      60_000,
    );
    expect(restarted.RestartReason).toBe('healthcheck: check "service: \\"flaky\\" check" unhealthy');
    const stop = agent.cli(['job', 'stop', '-purge', '-detach', 'flaky']);
    expect(stop.code, stop.stderr).toBe(0);
  });

  it('deregisters on job stop before the tasks are killed, while they still answer (shutdown_delay)', async () => {
    const before = await passing();
    expect(before.length).toBeGreaterThan(0);
    const stop = agent.cli(['job', 'stop', '-detach', 'web']);
    expect(stop.code, stop.stderr).toBe(0);
    // Within the 3s shutdown_delay: out of the catalog and DNS, yet every task still serves.
    await agent.waitFor(
      'the catalog to drop every web instance',
      async () => (await instances()).length === 0,
      10_000,
      100,
    );
    for (const r of before) expect(await answers(r.Port)).toBe(true);
    expect(dig(dnsPort, 'web.service.drover', 'SRV')).toEqual([]);
    await agent.waitFor(
      'the tasks to stop serving',
      async () => (await Promise.all(before.map((r) => answers(r.Port)))).every((ok) => !ok),
      20_000,
    );
  });
});
