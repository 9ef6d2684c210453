/**
 * The Nomad API as third-party clients use it, against a real dev agent: Go booleans and list parameters (each
 * with a bad value: a clear 400 and nothing changed), the endpoints clients called and found missing, the
 * allocation file system with hostile paths, search, and /v1/metrics scraped by a real Prometheus.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

const script = [
  'mkdir -p "$NOMAD_ALLOC_DIR/data"',
  'printf "hello from the task\\n" > "$NOMAD_ALLOC_DIR/data/greeting.txt"',
  'ln -sf /etc "$NOMAD_ALLOC_DIR/data/etc-link"',
  'ln -sf greeting.txt "$NOMAD_ALLOC_DIR/data/inside-link"',
  'echo secret > "$NOMAD_SECRETS_DIR/token"',
  'i=0; while true; do i=$((i+1)); echo "tick $i" >> "$NOMAD_ALLOC_DIR/data/ticks.log"; sleep 0.2; done',
].join('\n');

const rawJob = (id: string) => ({
  Job: {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['dc1'],
    TaskGroups: [
      {
        Name: 'g',
        Count: 1,
        Tasks: [
          {
            Name: 'files',
            Driver: 'raw_exec',
            Config: { command: '/bin/sh', args: ['-c', script] },
            Resources: { CPU: 50, MemoryMB: 32 },
          },
        ],
      },
    ],
  },
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

describe('the Nomad API for third-party clients', () => {
  const agent = new TestAgent();
  let allocID = '';
  beforeAll(async () => {
    await agent.start();
    await agent.waitFor('a ready node', async () =>
      (await agent.api<Array<{ Status: string }>>('/v1/nodes')).body.some((n) => n.Status === 'ready'),
    );
    const reg = await agent.api('/v1/jobs', { method: 'POST', body: JSON.stringify(rawJob('files')) });
    expect(reg.status).toBe(200);
    allocID = await agent.waitFor('the files task running with its files written', async () => {
      const a = (
        await agent.api<Array<{ ID: string; JobID: string; ClientStatus: string }>>('/v1/allocations')
      ).body.find((x) => x.JobID === 'files' && x.ClientStatus === 'running');
      if (!a) return null;
      const ls = await agent.api<Array<{ Name: string }>>(`/v1/client/fs/ls/${a.ID}?path=/alloc/data`);
      return ls.status === 200 && ls.body.some((f) => f.Name === 'ticks.log') ? a.ID : null;
    });
  }, 120_000);
  afterAll(() => agent.stop());

  it('reads booleans as Go does and refuses other values with 400, changing nothing', async () => {
    await agent.api('/v1/jobs', { method: 'POST', body: JSON.stringify(rawJob('doomed')) });
    const bad = await agent.api<string>('/v1/job/doomed?purge=yes', { method: 'DELETE' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/purge/);
    expect((await agent.api('/v1/job/doomed')).status).toBe(200);
    const ok = await agent.api<{ EvalID: string }>('/v1/job/doomed?purge=True', { method: 'DELETE' });
    expect(ok.status).toBe(200);
    expect((await agent.api('/v1/job/doomed')).status).toBe(404);
    expect((await agent.api(`/v1/allocations?resources=True&task_states=FALSE`)).status).toBe(200);
  });

  it('answers every common query parameter with a bad value by a 400 naming it', async () => {
    const before = (await agent.api<unknown[]>('/v1/jobs')).body.length;
    const cases: Array<[string, RegExp]> = [
      ['/v1/jobs?index=minus-one', /index/],
      ['/v1/jobs?wait=forever', /wait/],
      ['/v1/jobs?stale=perhaps', /stale/],
      ['/v1/jobs?per_page=-2', /per_page/],
      ['/v1/jobs?reverse=backwards', /reverse/],
      ['/v1/jobs?filter=' + encodeURIComponent('Status =='), /filter expression/],
      ['/v1/jobs?filter=' + encodeURIComponent('ID matches "("'), /regular expression/],
      ['/v1/jobs?region=mars', /region "mars"/],
      ['/v1/nodes?resources=lots', /resources/],
      ['/v1/nodes?os=linux', /"os"/],
    ];
    for (const [path, re] of cases) {
      const r = await agent.api<string>(path);
      expect(r.status, path).toBe(400);
      expect(r.body, path).toMatch(re);
    }
    const write = await agent.api<string>('/v1/job/files/evaluate?region=mars', { method: 'POST', body: '{}' });
    expect(write.status).toBe(400);
    // A write into a namespace nobody created is refused, naming it; nothing is stored.
    const job = { Job: { ...rawJob('ns-ghost').Job, Namespace: 'no-such-ns' } };
    const ns = await agent.api<string>('/v1/jobs?namespace=no-such-ns', { method: 'POST', body: JSON.stringify(job) });
    expect(ns.status).toBe(400);
    expect(ns.body).toMatch(/namespace "no-such-ns" does not exist/);
    expect((await agent.api('/v1/job/ns-ghost?namespace=no-such-ns')).status).toBe(404);
    // Reads take any namespace, prefix or next_token as Nomad does (no 400): a value that names nothing finds
    // nothing, rather than something else.
    for (const path of [
      '/v1/jobs?namespace=no-such-ns',
      '/v1/jobs?prefix=' + encodeURIComponent('\u0000no/such'),
      '/v1/allocations?prefix=zzz',
      '/v1/jobs?per_page=1&next_token=' + encodeURIComponent('\uffff'),
    ]) {
      const r = await agent.api<unknown[]>(path);
      expect([r.status, r.body], path).toEqual([200, []]);
    }
    expect((await agent.api<unknown[]>('/v1/jobs')).body.length).toBe(before);
  });

  it('filters, reverses and pages lists with X-Nomad-NextToken', async () => {
    for (const id of ['pg-a', 'pg-b', 'pg-c'])
      await agent.api('/v1/jobs', {
        method: 'POST',
        body: JSON.stringify({
          Job: { ...rawJob(id).Job, TaskGroups: [{ ...rawJob(id).Job.TaskGroups[0]!, Count: 0 }] },
        }),
      });
    const f = await agent.api<Array<{ ID: string }>>(
      '/v1/jobs?filter=' + encodeURIComponent('ID matches "^pg-" and ID != "pg-b"'),
    );
    expect(f.body.map((j) => j.ID)).toEqual(['pg-a', 'pg-c']);
    const p1 = await agent.api<Array<{ ID: string }>>('/v1/jobs?prefix=pg-&per_page=2&reverse=true');
    expect(p1.body.map((j) => j.ID)).toEqual(['pg-c', 'pg-b']);
    expect(p1.headers.get('x-nomad-nexttoken')).toBe('pg-a');
    expect(Number(p1.headers.get('x-nomad-index'))).toBeGreaterThan(0);
    expect(p1.headers.get('x-nomad-knownleader')).toBe('true');
    expect(p1.headers.get('x-nomad-lastcontact')).toBe('0');
    const p2 = await agent.api<Array<{ ID: string }>>('/v1/jobs?prefix=pg-&per_page=2&reverse=true&next_token=pg-a');
    expect(p2.body.map((j) => j.ID)).toEqual(['pg-a']);
    expect(p2.headers.get('x-nomad-nexttoken')).toBeNull();
  });

  it('answers the present-but-different cases as Nomad does', async () => {
    const v = await agent.api<string>('/v1/validate/job', { method: 'PUT', body: '{}' });
    expect(v.status).toBe(400);
    expect(v.body).toMatch(/Job must be specified/);
    // Warnings name only the blocks that really are ignored.
    const withBlocks = rawJob('warn');
    const tg = withBlocks.Job.TaskGroups[0]! as Record<string, unknown>;
    Object.assign(tg, {
      Affinities: [{ LTarget: '${node.datacenter}', RTarget: 'dc1', Operand: '=', Weight: 50 }],
      Spreads: [{ Attribute: '${node.datacenter}', Weight: 50 }],
      EphemeralDisk: { SizeMB: 100 },
      ReschedulePolicy: { Attempts: 1, Interval: 3600e9, Delay: 5e9, DelayFunction: 'constant', Unlimited: false },
    });
    Object.assign((tg['Tasks'] as Array<Record<string, unknown>>)[0]!, {
      Lifecycle: { Hook: 'prestart', Sidecar: false },
    });
    Object.assign(withBlocks.Job, { UI: { Description: 'shown in Nomad UI' } });
    (withBlocks.Job.TaskGroups as unknown[]).push({
      Name: 'main',
      Count: 1,
      Tasks: [
        { Name: 'm', Driver: 'raw_exec', Config: { command: '/bin/true' }, Resources: { CPU: 50, MemoryMB: 32 } },
      ],
    });
    const warned = await agent.api<{ Warnings: string; ValidationErrors: string[] | null }>('/v1/validate/job', {
      method: 'PUT',
      body: JSON.stringify(withBlocks),
    });
    expect(warned.body.ValidationErrors).toBeNull();
    expect(warned.body.Warnings).toMatch(/"ui" block/);
    expect(warned.body.Warnings).not.toMatch(/"(affinity|spread|ephemeral_disk|reschedule|lifecycle)" block/);
    const del = await agent.api<{ EvalID: string }>('/v1/job/never-was', { method: 'DELETE' });
    expect(del.status).toBe(200);
    const nodes = await agent.api<
      Array<{ ID: string; NodeResources?: { Cpu: unknown }; Attributes?: Record<string, string> }>
    >('/v1/nodes?resources=true&os=true');
    expect(nodes.body[0]!.NodeResources).toBeTruthy();
    expect(Object.keys(nodes.body[0]!.Attributes ?? {}).length).toBeGreaterThan(0);
    expect(Object.keys(nodes.body[0]!.Attributes ?? {}).every((k) => k.startsWith('os.'))).toBe(true);
    const plain = await agent.api<Array<{ NodeResources?: unknown }>>('/v1/nodes');
    expect(plain.body[0]!.NodeResources).toBeUndefined();
  });

  it("serves evaluate, scheduler configuration, node pools and an allocation's services", async () => {
    const ev = await agent.api<{ EvalID: string }>('/v1/job/files/evaluate', {
      method: 'POST',
      body: JSON.stringify({ JobID: 'files', EvalOptions: { ForceReschedule: false } }),
    });
    expect(ev.status).toBe(200);
    const e = await agent.api<{ TriggeredBy: string; JobID: string }>(`/v1/evaluation/${ev.body.EvalID}`);
    expect(e.body).toMatchObject({ JobID: 'files', TriggeredBy: 'job-register' });
    const nodes = (await agent.api<Array<{ ID: string }>>('/v1/nodes')).body;
    const ne = await agent.api<{ EvalIDs: string[] }>(`/v1/node/${nodes[0]!.ID}/evaluate`, { method: 'POST' });
    expect(ne.status).toBe(200);
    expect(ne.body.EvalIDs.length).toBeGreaterThan(0);
    const sc = await agent.api<{ SchedulerConfig: { SchedulerAlgorithm: string } }>(
      '/v1/operator/scheduler/configuration',
    );
    expect(sc.body.SchedulerConfig.SchedulerAlgorithm).toBe('binpack');
    const pools = await agent.api<Array<{ Name: string }>>('/v1/node/pools');
    expect(pools.body.map((p) => p.Name)).toEqual(['all', 'default']);
    const poolNodes = await agent.api<Array<{ ID: string }>>('/v1/node/pool/default/nodes');
    expect(poolNodes.body.map((n) => n.ID)).toEqual(nodes.map((n) => n.ID));
    const svc = await agent.api<unknown[]>(`/v1/allocation/${allocID}/services`);
    expect(svc.status).toBe(200);
    expect(svc.body).toEqual([]);
    expect((await agent.api<{ Memory: { Total: number } }>('/v1/client/stats')).body.Memory.Total).toBeGreaterThan(0);
  });

  it("lists, stats, reads and follows an allocation's files", async () => {
    const ls = await agent.api<Array<{ Name: string; IsDir: boolean; FileMode: string }>>(
      `/v1/client/fs/ls/${allocID}?path=/`,
    );
    expect(ls.status).toBe(200);
    expect(ls.body.map((f) => f.Name)).toEqual(expect.arrayContaining(['alloc', 'files']));
    expect(ls.body.find((f) => f.Name === 'alloc')!.FileMode).toMatch(/^d/);
    const st = await agent.api<{ Name: string; Size: number; IsDir: boolean }>(
      `/v1/client/fs/stat/${allocID}?path=alloc/data/greeting.txt`,
    );
    expect(st.body).toMatchObject({ Name: 'greeting.txt', Size: 20, IsDir: false });
    const cat = await agent.api<string>(`/v1/client/fs/cat/${allocID}?path=/alloc/data/greeting.txt`);
    expect(cat.body).toBe('hello from the task\n');
    expect((await agent.api<string>(`/v1/client/fs/cat/${allocID}?path=/alloc/data/inside-link`)).body).toBe(
      'hello from the task\n',
    );
    const at = await agent.api<string>(
      `/v1/client/fs/readat/${allocID}?path=/alloc/data/greeting.txt&offset=6&limit=4`,
    );
    expect(at.body).toBe('from');
    // The stream endpoint follows the file: frames with base64 data and growing offsets.
    const ac = new AbortController();
    const res = await fetch(
      `${agent.address}/v1/client/fs/stream/${allocID}?path=/alloc/data/ticks.log&origin=end&offset=0`,
      { signal: ac.signal },
    );
    const reader = res.body!.getReader();
    let text = '';
    while (!/"Data":"[^"]+"/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const frame = JSON.parse(text.slice(0, text.indexOf('}') + 1)) as { Data: string; Offset: number; File: string };
    expect(frame.File).toBe('alloc/data/ticks.log');
    expect(Buffer.from(frame.Data, 'base64').toString()).toMatch(/^tick \d+/);
    // The CLI, as nomad alloc fs.
    const cli = agent.cli(['alloc', 'fs', allocID.slice(0, 8), 'alloc/data']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/greeting\.txt/);
    expect(agent.cli(['alloc', 'fs', allocID, 'alloc/data/greeting.txt']).stdout).toBe('hello from the task\n');
    expect(agent.cli(['alloc', 'fs', '-stat', allocID, 'alloc/data/greeting.txt']).stdout).toMatch(
      /-rw.*greeting\.txt/,
    );
  });

  it('refuses hostile paths with 400 and never serves a file outside the allocation directory', async () => {
    const hostile: Array<[string, number, RegExp]> = [
      ['../../../../etc/passwd', 400, /escapes the allocation directory/],
      ['/alloc/../../etc/passwd', 400, /escapes/],
      ['/alloc/data/etc-link/passwd', 400, /outside the allocation directory/],
      ['/alloc/data/etc-link', 400, /outside/],
      ['/files/secrets/token', 403, /secret/],
      ['/etc/passwd', 404, /not found/],
      ['/alloc/data/%00x', 400, /NUL/],
    ];
    for (const [p, status, re] of hostile) {
      for (const op of ['cat', 'stat', 'readat', 'ls']) {
        const r = await agent.api<string>(
          `/v1/client/fs/${op}/${allocID}?path=${p.includes('%') ? p : encodeURIComponent(p)}`,
        );
        expect(r.status, `${op} ${p}`).toBe(status);
        expect(r.body, `${op} ${p}`).toMatch(re);
        expect(r.body).not.toMatch(/root:/);
      }
    }
    const cli = agent.cli(['alloc', 'fs', allocID, '../../etc/passwd']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/escapes the allocation directory/);
  });

  it('searches by prefix and fuzzily, as Nomad', async () => {
    const p = await agent.api<{ Matches: Record<string, string[]>; Truncations: Record<string, boolean> }>(
      '/v1/search',
      { method: 'POST', body: JSON.stringify({ Prefix: 'fil', Context: 'all' }) },
    );
    expect(p.status).toBe(200);
    expect(p.body.Matches['jobs']).toEqual(['files']);
    expect(p.body.Truncations['jobs']).toBe(false);
    const a = await agent.api<{ Matches: Record<string, string[]> }>('/v1/search', {
      method: 'POST',
      body: JSON.stringify({ Prefix: allocID.slice(0, 6), Context: 'allocs' }),
    });
    expect(a.body.Matches['allocs']).toContain(allocID);
    const f = await agent.api<{ Matches: Record<string, Array<{ ID: string; Scope: string[] }>> }>('/v1/search/fuzzy', {
      method: 'POST',
      body: JSON.stringify({ Text: 'ile', Context: 'all' }),
    });
    expect(f.body.Matches['jobs']).toContainEqual({ ID: 'files', Scope: ['default'] });
    expect(f.body.Matches['tasks']).toContainEqual({ ID: 'files', Scope: ['default', 'files', 'g'] });
    const short = await agent.api<string>('/v1/search/fuzzy', { method: 'POST', body: JSON.stringify({ Text: 'f' }) });
    expect(short.status).toBe(400);
    const badCtx = await agent.api<string>('/v1/search', {
      method: 'POST',
      body: JSON.stringify({ Prefix: 'f', Context: 'planets' }),
    });
    expect(badCtx.status).toBe(400);
  });

  it('serves /v1/metrics as Nomad JSON and as Prometheus text that a real Prometheus scrapes', async () => {
    const json = await agent.api<{ Timestamp: string; Gauges: Array<{ Name: string; Value: number }> }>('/v1/metrics');
    expect(json.status).toBe(200);
    const names = json.body.Gauges.map((g) => g.Name);
    expect(names).toEqual(
      expect.arrayContaining([
        'nomad.nomad.broker.total_ready',
        'nomad.nomad.heartbeat.active',
        'nomad.client.allocations.running',
        'drover.state.index',
      ]),
    );
    expect(json.body.Gauges.find((g) => g.Name === 'nomad.client.allocations.running')!.Value).toBeGreaterThanOrEqual(
      1,
    );
    const text = await fetch(`${agent.address}/v1/metrics?format=prometheus`).then((r) => r.text());
    expect(text).toMatch(/^nomad_nomad_heartbeat_active 1$/m);
    expect(text).toMatch(/^drover_process_cpu_seconds_total /m);
    expect((await agent.api('/v1/metrics?format=xml')).status).toBe(400);
    // promtool parses the exposition; its only complaints may be lint about gauges named "_total": prom-client's
    // own Node.js gauges and Nomad's nomad.client.host.memory.total, whose name we keep for Nomad's dashboards.
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const complaints = `${promtool.stdout}${promtool.stderr}`
      .split('\n')
      .filter(
        (l) =>
          l.trim() !== '' &&
          !/^(drover_nodejs_\w+|nomad_client_host_memory_total) non-counter metrics should not have "_total" suffix$/.test(
            l,
          ),
      );
    expect(complaints).toEqual([]);

    const dir = mkdtempSync(join(tmpdir(), 'api-prom-'));
    const port = await freePort();
    const target = agent.address.replace('http://', '');
    writeFileSync(
      join(dir, 'p.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: drover',
        '    metrics_path: /v1/metrics',
        '    params: { format: [prometheus] }',
        `    static_configs: [{ targets: ['${target}'] }]`,
        '',
      ].join('\n'),
    );
    const prom: ChildProcess = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'p.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    try {
      const value = await agent.waitFor(
        'Prometheus to have scraped nomad_client_allocations_running',
        async () => {
          const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=nomad_client_allocations_running`).catch(
            () => null,
          );
          if (!r?.ok) return null;
          const body = (await r.json()) as { data: { result: Array<{ value: [number, string] }> } };
          return body.data.result[0]?.value[1] ?? null;
        },
        45_000,
        500,
      );
      expect(Number(value)).toBeGreaterThanOrEqual(1);
    } finally {
      const exited = new Promise((r) => prom.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  // Last: the drain moves the allocations the tests above read.
  it('accepts a drain spec without Deadline, as Nomad (no deadline)', async () => {
    const nodeID = (await agent.api<Array<{ ID: string }>>('/v1/nodes')).body[0]!.ID;
    const d = await agent.api(`/v1/node/${nodeID}/drain`, {
      method: 'POST',
      body: JSON.stringify({ DrainSpec: { IgnoreSystemJobs: true }, Meta: null }),
    });
    expect(d.status).toBe(200);
    // The drain may already be over (nothing else can take the allocations): its event stays.
    const node = await agent.api<{ Events: Array<{ Message: string }> }>(`/v1/node/${nodeID}`);
    expect(node.body.Events.map((e) => e.Message)).toContain('Node drain strategy set');
    const bad = await agent.api<string>(`/v1/node/${nodeID}/drain`, {
      method: 'POST',
      body: JSON.stringify({ DrainSpec: { Deadline: 'soon' } }),
    });
    expect(bad.status).toBe(400);
    const off = await agent.api(`/v1/node/${nodeID}/drain`, {
      method: 'POST',
      body: JSON.stringify({ DrainSpec: null, MarkEligible: true }),
    });
    expect(off.status).toBe(200);
    await agent.waitFor(
      'the node eligible again',
      async () =>
        (await agent.api<{ SchedulingEligibility: string }>(`/v1/node/${nodeID}`)).body.SchedulingEligibility ===
        'eligible',
    );
  });
});
