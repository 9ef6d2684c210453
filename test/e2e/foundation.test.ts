/**
 * A single-node dev agent running Nomad job files (node, run, logs, restarts, plan, versions, SIGKILL, stop,
 * bad input), driven the way a user would: the real agent process, the real CLI, the HTTP API with curl-like
 * requests, raw_exec tasks that are real processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync, copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { TestAgent, ROOT } from './harness/agent.js';

const FIX = join(ROOT, 'test', 'e2e', 'fixtures');

interface AllocStub {
  ID: string;
  ClientStatus: string;
  DesiredStatus: string;
  JobVersion: number;
  TaskStates: Record<
    string,
    { State: string; Restarts: number; Events: Array<{ Type: string; DisplayMessage: string }> }
  > | null;
}

function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'drover-job-'));
  copyFileSync(join(FIX, 'web-raw.nomad.hcl'), join(d, 'web.nomad.hcl'));
  copyFileSync(join(FIX, 'web-server.js'), join(d, 'web-server.js'));
  return d;
}

describe('a single-node dev agent running Nomad job files', () => {
  const agent = new TestAgent();
  let dir: string;

  beforeAll(async () => {
    await agent.start();
    dir = workDir();
  });
  afterAll(async () => {
    await agent.stop();
  });

  const running = async (jobID: string) => {
    const r = await agent.api<AllocStub[]>(`/v1/job/${jobID}/allocations`);
    return r.body.filter((a) => a.ClientStatus === 'running' && a.DesiredStatus === 'run');
  };

  it('registers its node with a fingerprint', async () => {
    const nodes = await agent.waitFor('a ready node', async () => {
      const r = await agent.api<Array<{ ID: string; Status: string }>>('/v1/nodes');
      return r.body.length === 1 && r.body[0]!.Status === 'ready' ? r.body : null;
    });
    const node = (
      await agent.api<{
        Attributes: Record<string, string>;
        Drivers: Record<string, { Healthy: boolean }>;
        Datacenter: string;
        NodePool: string;
      }>(`/v1/node/${nodes[0]!.ID}`)
    ).body;
    expect(node.Datacenter).toBe('dc1');
    expect(node.NodePool).toBe('default');
    expect(Number(node.Attributes['cpu.numcores'])).toBeGreaterThan(0);
    expect(Number(node.Attributes['memory.totalbytes'])).toBeGreaterThan(0);
    expect(node.Attributes['kernel.name']).toBe('linux');
    expect(node.Drivers['raw_exec']?.Healthy).toBe(true);
    const out = agent.cli(['node', 'status']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/ready/);
  });

  it('runs a raw_exec job with count 3 from an HCL file to 3 running allocations', async () => {
    const run = agent.cli(['job', 'run', '-var', 'greeting=bonjour', join(dir, 'web.nomad.hcl')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Monitoring evaluation/);
    expect(run.stdout).toMatch(/finished with status "complete"/);
    const allocs = await agent.waitFor('3 running allocations', async () =>
      (await running('web')).length === 3 ? running('web') : null,
    );
    expect(allocs).toHaveLength(3);
  });

  it('gives each task its NOMAD_* variables and its own dynamic port', async () => {
    const allocs = await running('web');
    const ports = new Set<string>();
    for (const a of allocs) {
      const full = (
        await agent.api<{
          AllocatedResources: { Shared: { Ports: Array<{ Label: string; Value: number }> } };
          Name: string;
        }>(`/v1/allocation/${a.ID}`)
      ).body;
      const port = full.AllocatedResources.Shared.Ports.find((p) => p.Label === 'http')!.Value;
      expect(port).toBeGreaterThanOrEqual(20000);
      const served = await agent.waitFor(`alloc ${a.ID} to answer on ${port}`, async () => {
        const r = await fetch(`http://127.0.0.1:${port}/`);
        return (await r.json()) as { env: Record<string, string> };
      });
      expect(served.env['NOMAD_ALLOC_ID']).toBe(a.ID);
      expect(served.env['NOMAD_PORT_http']).toBe(String(port));
      expect(served.env['NOMAD_ADDR_http']).toBe(`127.0.0.1:${port}`);
      expect(served.env['NOMAD_JOB_NAME']).toBe('web');
      expect(served.env['NOMAD_GROUP_NAME']).toBe('web');
      expect(served.env['NOMAD_TASK_NAME']).toBe('server');
      expect(served.env['NOMAD_REGION']).toBe('global');
      expect(served.env['NOMAD_DC']).toBe('dc1');
      expect(served.env['NOMAD_ALLOC_NAME']).toBe(full.Name);
      expect(served.env['NOMAD_TASK_DIR']).toMatch(new RegExp(`${a.ID}/server/local$`));
      expect(served.env['NOMAD_ALLOC_DIR']).toMatch(new RegExp(`${a.ID}/alloc$`));
      expect(served.env['GREETING']).toBe('bonjour');
      expect(served.env['LISTEN']).toBe(String(port));
      expect(served.env['NODE_NAME']).not.toContain('${');
      ports.add(String(port));
    }
    expect(ports.size).toBe(3);
  });

  it('serves task logs through the CLI', async () => {
    const [a] = await running('web');
    const logs = agent.cli(['alloc', 'logs', a!.ID, 'server']);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/pid=\d+ listening on \d+/);
  });

  it('restarts a killed task according to its restart policy and says so in its task events', async () => {
    const [a] = await running('web');
    const logs = agent.cli(['alloc', 'logs', a!.ID, 'server']).stdout;
    const pid = Number(/pid=(\d+)/.exec(logs)![1]);
    process.kill(pid, 'SIGKILL');
    const restarted = await agent.waitFor('the task to restart', async () => {
      const r = await agent.api<AllocStub>(`/v1/allocation/${a!.ID}`);
      const ts = r.body.TaskStates?.['server'];
      return ts && ts.Restarts >= 1 && ts.State === 'running' ? ts : null;
    });
    const types = restarted.Events.map((e) => e.Type);
    expect(types).toContain('Terminated');
    expect(types).toContain('Restarting');
    expect(types.lastIndexOf('Started')).toBeGreaterThan(types.indexOf('Restarting'));
    const status = agent.cli(['alloc', 'status', a!.ID]);
    expect(status.stdout).toMatch(/Restarting/);
    expect(status.stdout).toMatch(/Terminated/);
  });

  it('plans no change for the same file, and a diff after an edit', async () => {
    const same = agent.cli(['job', 'plan', '-var', 'greeting=bonjour', join(dir, 'web.nomad.hcl')]);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    const edited = readFileSync(join(dir, 'web.nomad.hcl'), 'utf8').replace('memory = 64', 'memory = 80');
    writeFileSync(join(dir, 'web.nomad.hcl'), edited);
    const diff = agent.cli(['job', 'plan', '-var', 'greeting=bonjour', join(dir, 'web.nomad.hcl')]);
    expect(diff.code, diff.stdout + diff.stderr).toBe(1);
    expect(diff.stdout).toMatch(/MemoryMB:\s*"64" => "80"/);
    expect(diff.stdout).toMatch(/create\/destroy update/);
  });

  it('creates version 1 on job run of the edit and replaces the allocations', async () => {
    const before = new Set((await running('web')).map((a) => a.ID));
    const run = agent.cli(['job', 'run', '-var', 'greeting=bonjour', join(dir, 'web.nomad.hcl')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const after = await agent.waitFor('3 running allocations of version 1', async () => {
      const r = await running('web');
      return r.length === 3 && r.every((a) => a.JobVersion === 1) ? r : null;
    });
    for (const a of after) expect(before.has(a.ID)).toBe(false);
    const versions = await agent.api<{ Versions: Array<{ Version: number }> }>('/v1/job/web/versions');
    expect(versions.body.Versions.map((v) => v.Version).sort()).toEqual([0, 1]);
  });

  it('keeps every job, allocation and evaluation across a SIGKILL of the agent, without duplicate tasks', async () => {
    const allocsBefore = (await agent.api<AllocStub[]>('/v1/allocations')).body.map((a) => a.ID).sort();
    const evalsBefore = (await agent.api<Array<{ ID: string }>>('/v1/evaluations')).body.map((e) => e.ID).sort();
    const pidsBefore = new Set<number>();
    for (const a of await running('web'))
      pidsBefore.add(
        Number(
          /pid=(\d+)/.exec(agent.cli(['alloc', 'logs', a.ID, 'server']).stdout.split('\n').filter(Boolean).pop()!)![1],
        ),
      );
    await agent.kill();
    await agent.start();
    expect((await agent.api<AllocStub[]>('/v1/allocations')).body.map((a) => a.ID).sort()).toEqual(allocsBefore);
    expect(
      (await agent.api<Array<{ ID: string }>>('/v1/evaluations')).body
        .map((e) => e.ID)
        .filter((id) => evalsBefore.includes(id))
        .sort(),
    ).toEqual(evalsBefore);
    const job = await agent.api<{ Version: number }>('/v1/job/web');
    expect(job.body.Version).toBe(1);
    // Give the client time to recover its tasks, then check nothing was started twice.
    await new Promise((r) => setTimeout(r, 3000));
    const now = await running('web');
    expect(now).toHaveLength(3);
    const pidsAfter = new Set<number>();
    for (const a of now) {
      const r = await fetch(`http://127.0.0.1:${await portOf(agent, a.ID)}/`);
      pidsAfter.add(((await r.json()) as { pid: number }).pid);
    }
    expect([...pidsAfter].sort()).toEqual([...pidsBefore].sort());
    // Exactly one process serves each allocation: nothing was started twice.
    const serving = nodeProcessesByAlloc(now.map((a) => a.ID));
    for (const a of now) expect(serving.get(a.ID), `processes for ${a.ID}`).toHaveLength(1);
  });

  it('stops every allocation with job stop, and removes the job with -purge', async () => {
    const stop = agent.cli(['job', 'stop', 'web']);
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    await agent.waitFor('all allocations stopped', async () => {
      const r = await agent.api<AllocStub[]>('/v1/job/web/allocations');
      return r.body.every((a) => a.DesiredStatus === 'stop' && a.ClientStatus !== 'running');
    });
    expect((await agent.api('/v1/job/web')).status).toBe(200);
    const purge = agent.cli(['job', 'stop', '-purge', 'web']);
    expect(purge.code, purge.stdout + purge.stderr).toBe(0);
    expect((await agent.api('/v1/job/web')).status).toBe(404);
  });

  it('refuses a bad job file with file:line and registers nothing', async () => {
    const run = agent.cli(['job', 'run', join(FIX, 'bad.nomad.hcl')]);
    expect(run.code).not.toBe(0);
    const err = run.stderr + run.stdout;
    expect(err).toMatch(/bad\.nomad\.hcl:5:\d+/);
    expect(err).toMatch(/count/i);
    expect(err).toMatch(/bad\.nomad\.hcl:9:\d+/);
    expect(err).toMatch(/bogus_attribute/);
    expect((await agent.api('/v1/job/bad')).status).toBe(404);
    const parse = await agent.api('/v1/jobs/parse', {
      method: 'PUT',
      body: JSON.stringify({ JobHCL: readFileSync(join(FIX, 'bad.nomad.hcl'), 'utf8') }),
    });
    expect(parse.status).toBe(400);
  });
});

async function portOf(agent: TestAgent, allocID: string): Promise<number> {
  const full = (
    await agent.api<{ AllocatedResources: { Shared: { Ports: Array<{ Label: string; Value: number }> } } }>(
      `/v1/allocation/${allocID}`,
    )
  ).body;
  return full.AllocatedResources.Shared.Ports.find((p) => p.Label === 'http')!.Value;
}

/** node processes whose environment carries one of these allocation IDs, by allocation. */
function nodeProcessesByAlloc(allocIDs: string[]): Map<string, number[]> {
  const out = new Map<string, number[]>(allocIDs.map((id) => [id, []]));
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (!/(^|\/)node$/.test(cmd)) continue;
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const id = env.find((e) => e.startsWith('NOMAD_ALLOC_ID='))?.slice('NOMAD_ALLOC_ID='.length);
      if (id && out.has(id)) out.get(id)!.push(Number(pid));
    } catch {
      /* the process went away */
    }
  }
  return out;
}
