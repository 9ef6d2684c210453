/**
 * Two federated regions, each one SQLite server and one client agent on loopback ports: `drover server join`
 * federates them, a request naming the other region (`-region`, a job's `region`) is answered there, and a
 * `multiregion` job rolls out region by region, stopping after a failed first region with on_failure = "fail_all".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterAgent, type AllocStub } from './harness/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-rg-regions-'));

interface Region {
  name: string;
  server: ClusterAgent;
  client: ClusterAgent;
}

async function startRegion(name: string, dc: string, portBase: number): Promise<Region> {
  const serverHCL = join(dir, `${name}-server.hcl`);
  writeFileSync(
    serverHCL,
    `region = "${name}"\nserver {\n  enabled = true\n  min_heartbeat_ttl = "2s"\n  heartbeat_grace = "1s"\n}\n`,
  );
  const server = new ClusterAgent('server', `${name}-server`, ['-server', '-config', serverHCL]);
  await server.start();
  const clientHCL = join(dir, `${name}-client.hcl`);
  writeFileSync(
    clientHCL,
    `region = "${name}"\nclient {\n  enabled = true\n  network_interface_ip = "127.0.0.1"\n  min_dynamic_port = ${portBase}\n  max_dynamic_port = ${portBase + 999}\n}\n` +
      `plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n`,
  );
  const client = new ClusterAgent('client', `${name}-c1`, [
    '-client',
    '-servers',
    server.address,
    '-dc',
    dc,
    '-node',
    `${name}-c1`,
    '-config',
    clientHCL,
  ]);
  await client.start();
  await server.waitFor(`the ${name} client ready`, async () => {
    const nodes = (await server.api<Array<{ Status: string }>>('/v1/nodes')).body;
    return Array.isArray(nodes) && nodes.some((n) => n.Status === 'ready');
  });
  return { name, server, client };
}

/** A raw_exec service job; `fail` makes its task exit 1 at once with no restart or reschedule. */
function jobHCL(id: string, opts: { region?: string; multiregion?: string; fail?: boolean; dc?: string }): string {
  const script = opts.fail ? 'exit 1' : 'exec sleep 3600';
  return `job "${id}" {
${opts.region ? `  region = "${opts.region}"\n` : ''}  datacenters = ["${opts.dc ?? 'dc1'}"]
${opts.multiregion ?? ''}
  update {
    max_parallel      = 1
    min_healthy_time  = "1s"
    healthy_deadline  = "20s"
    progress_deadline = "30s"
  }
  group "g" {
    count = 1
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "${script}"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
      kill_timeout = "1s"
    }
  }
}
`;
}

function multiregion(onFailure: string): string {
  return `  multiregion {
    strategy {
      max_parallel = 1
      on_failure   = "${onFailure}"
    }
    region "rgA" {
      count       = 1
      datacenters = ["rg-dc-a"]
      meta { tier = "first" }
    }
    region "rgB" {
      count       = 2
      datacenters = ["rg-dc-b"]
      meta { tier = "second" }
    }
  }`;
}

describe('two federated regions', () => {
  let a: Region;
  let b: Region;
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const allocs = async (r: Region, id: string) => {
    const res = await r.server.api<AllocStub[]>(`/v1/job/${id}/allocations`);
    return Array.isArray(res.body) ? res.body : [];
  };

  beforeAll(async () => {
    a = await startRegion('rgA', 'rg-dc-a', 27000);
    b = await startRegion('rgB', 'rg-dc-b', 28000);
  }, 180_000);
  afterAll(async () => {
    for (const r of [a, b]) {
      await r?.client.stop();
      await r?.server.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('federates with drover server join, and each region lists both', async () => {
    const join = a.server.cli(['server', 'join', b.server.address.replace('http://', '')]);
    expect(join.code, join.stdout + join.stderr).toBe(0);
    expect(join.stdout).toContain('Joined 1 servers successfully');
    for (const r of [a, b]) expect((await r.server.api<string[]>('/v1/regions')).body).toEqual(['rgA', 'rgB']);
  });

  it('refuses a server of another cluster that uses this region name', async () => {
    const clash = new ClusterAgent('server', 'rgA-other', ['-server', '-region', 'rgA']);
    await clash.start();
    try {
      const r = a.server.cli(['server', 'join', clash.address.replace('http://', '')]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(
        /region "rgA", this region's name, but not one of its servers.*region names must be unique/,
      );
      expect((await a.server.api<string[]>('/v1/regions')).body).toEqual(['rgA', 'rgB']);
    } finally {
      await clash.stop();
    }
  });

  it('runs a job submitted to region A with region = "B" in region B', async () => {
    const run = a.server.cli(['job', 'run', file('to-b.hcl', jobHCL('rg-to-b', { region: 'rgB', dc: 'rg-dc-b' }))]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const running = await b.server.waitFor('the job running in region B', async () => {
      const l = await allocs(b, 'rg-to-b');
      return l.find((x) => x.ClientStatus === 'running');
    });
    expect(running.NodeName).toBe('rgB-c1');
    expect((await a.server.api('/v1/job/rg-to-b')).status).toBe(404);
  });

  it('answers drover -region B job status from region A', async () => {
    const st = a.server.cli(['-region', 'rgB', 'job', 'status', 'rg-to-b']);
    expect(st.code, st.stdout + st.stderr).toBe(0);
    expect(st.stdout).toMatch(/ID\s+= rg-to-b/);
    expect(st.stdout).toMatch(/running/);
    const env = a.server.cli(['job', 'status', 'rg-to-b'], { env: { NOMAD_REGION: 'rgB' } });
    expect(env.code, env.stderr).toBe(0);
  });

  it('refuses a request and a job for an unknown region, naming it', async () => {
    const st = a.server.cli(['-region', 'rg-nowhere', 'job', 'status']);
    expect(st.code).not.toBe(0);
    expect(st.stderr).toMatch(/no path to region "rg-nowhere"/);
    const run = a.server.cli(['job', 'run', file('nowhere.hcl', jobHCL('rg-nowhere', { region: 'rg-nowhere' }))]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/no path to region "rg-nowhere"/);
  });

  it('rolls a multiregion job out to region A, then region B, with each region count and meta', async () => {
    const run = a.server.cli([
      'job',
      'run',
      file('multi.hcl', jobHCL('rg-multi', { multiregion: multiregion('fail_all') })),
    ]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const inB = await b.server.waitFor(
      'region B running its two instances',
      async () => {
        const l = (await allocs(b, 'rg-multi')).filter((x) => x.ClientStatus === 'running');
        return l.length === 2 ? l : null;
      },
      90_000,
    );
    expect(inB).toHaveLength(2);
    const depA = (
      await a.server.api<{ Status: string; IsMultiregion: boolean; ModifyTime: number }>('/v1/job/rg-multi/deployment')
    ).body;
    const depB = (
      await b.server.api<{ Status: string; IsMultiregion: boolean; CreateTime: number }>('/v1/job/rg-multi/deployment')
    ).body;
    // In order: region B's deployment was created after region A's had succeeded.
    expect(depA.Status).toBe('successful');
    expect(depA.IsMultiregion).toBe(true);
    expect(depB.CreateTime).toBeGreaterThanOrEqual(depA.ModifyTime);
    const jobB = (
      await b.server.api<{ Region: string; Datacenters: string[]; Meta: Record<string, string> }>('/v1/job/rg-multi')
    ).body;
    expect(jobB).toMatchObject({ Region: 'rgB', Datacenters: ['rg-dc-b'], Meta: { tier: 'second' } });
    expect((await allocs(a, 'rg-multi')).filter((x) => x.ClientStatus === 'running')).toHaveLength(1);
    await b.server.waitFor('region B deployment successful', async () => {
      const d = (await b.server.api<{ Status: string }>('/v1/job/rg-multi/deployment')).body;
      return d.Status === 'successful';
    });
    const st = a.server.cli(['job', 'status', 'rg-multi']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/Multiregion Deployment/);
    expect(st.stdout).toMatch(/rgA\s+\S+\s+successful/);
    expect(st.stdout).toMatch(/rgB\s+\S+\s+successful/);
  });

  it('never starts region B when region A fails and on_failure is fail_all', async () => {
    const run = a.server.cli([
      'job',
      'run',
      '-detach',
      file('multi-fail.hcl', jobHCL('rg-multi-fail', { multiregion: multiregion('fail_all'), fail: true })),
    ]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const dep = await a.server.waitFor(
      'the region A deployment to fail',
      async () => {
        const d = (await a.server.api<{ Status: string } | null>('/v1/job/rg-multi-fail/deployment')).body;
        return d && d.Status === 'failed' ? d : null;
      },
      90_000,
    );
    expect(dep.Status).toBe('failed');
    await a.server.waitFor('the rollout to log that it stopped', async () =>
      /multiregion rollout stopped: later regions are not started/.test(a.server.output),
    );
    expect((await b.server.api('/v1/job/rg-multi-fail')).status).toBe(404);
    const st = a.server.cli(['job', 'status', 'rg-multi-fail']);
    expect(st.stdout).toMatch(/rgB\s+<none>\s+not started/);
  });
});
