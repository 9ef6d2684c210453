/**
 * Rolling updates under load: a server agent running the gateway and three client agents;
 * a count-5 service of raw_exec HTTP servers that answer their version, routed by the gateway on /roll. While
 * a bounded load loop goes through the gateway, `drover job run` ships a new version with a canary and
 * auto_promote: no request fails and every instance ends on the new version. Then a version whose check fails
 * is auto-reverted under the same load: its canary is never routed, the old instances keep serving, and
 * `job history` shows the versions with the job on the stable one.
 *
 * Zero failed requests rests on: the service hook deregistering an instance before its task is killed (and
 * shutdown_delay giving the gateway time to notice), the gateway routing only to instances whose checks pass,
 * and the gateway retrying another instance when a connection is refused.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './harness/cluster.js';
import { Load } from './harness/load.js';

/** Answers with its version (503 when BROKEN); CommonJS, run by `node FILE` outside this package's "type": "module". */
const SERVER_JS = `const http = require('node:http');
const broken = process.env.BROKEN === '1';
http.createServer((req, res) => {
  if (broken) { res.statusCode = 503; res.end('broken'); return; }
  res.end(process.env.APP_VERSION || '');
}).listen(Number(process.env.NOMAD_PORT_http), process.env.NOMAD_IP_http || '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

interface Version {
  name: string;
  broken?: boolean;
  healthyDeadline: string;
}

const job = (script: string, v: Version) => `job "roll" {
  datacenters = ["dc1"]
  group "web" {
    count = 5
    shutdown_delay = "1s"
    network {
      port "http" {}
    }
    update {
      max_parallel      = 1
      canary            = 1
      auto_promote      = true
      auto_revert       = true
      min_healthy_time  = "1s"
      healthy_deadline  = "${v.healthyDeadline}"
      progress_deadline = "90s"
    }
    service {
      name     = "roll"
      provider = "nomad"
      port     = "http"
      tags     = ["urlprefix-/roll"]
      check {
        type     = "http"
        path     = "/roll"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "node"
        args    = [${JSON.stringify(script)}]
      }
      env {
        APP_VERSION = "${v.name}"
        BROKEN      = "${v.broken ? '1' : '0'}"
      }
      resources {
        cpu    = 50
        memory = 48
      }
      kill_timeout = "2s"
    }
  }
}`;

interface AllocJSON {
  ID: string;
  NodeID: string;
  JobVersion: number;
  ClientStatus: string;
  DesiredStatus: string;
  DeploymentStatus: { Healthy: boolean | null; Canary: boolean } | null;
}
interface DeploymentJSON {
  ID: string;
  JobVersion: number;
  Status: string;
  StatusDescription: string;
  TaskGroups: Record<
    string,
    {
      DesiredTotal: number;
      DesiredCanaries: number;
      PlacedCanaries: string[] | null;
      HealthyAllocs: number;
      Promoted: boolean;
    }
  >;
}

/** Runs the CLI without blocking the event loop (the load loop must keep going); resolves with its exit. */
function runAsync(p: ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
  return new Promise((res) =>
    p.once('exit', (code) => {
      clearTimeout(timer);
      res({ code: code ?? -1, stdout, stderr });
    }),
  );
}

describe('rolling updates through the gateway under load', () => {
  const cluster = new TestCluster({
    gateway: true,
    clients: [
      { name: 'a', dc: 'dc1' },
      { name: 'b', dc: 'dc1' },
      { name: 'c', dc: 'dc1' },
    ],
  });
  let script: string;
  let gateway: string;

  const allocs = async () => (await cluster.server.api<AllocJSON[]>('/v1/job/roll/allocations')).body;
  const live = async () => (await allocs()).filter((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running');
  const deployments = async () => (await cluster.server.api<DeploymentJSON[]>('/v1/job/roll/deployments')).body;
  const jobFile = (v: Version) => cluster.file(`roll-${v.name}${v.broken ? '-broken' : ''}.nomad.hcl`, job(script, v));
  /** Every answer of `n` requests through the gateway. */
  const sample = async (n: number) => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push(await (await fetch(`${gateway}/roll`)).text());
    return seen;
  };

  beforeAll(async () => {
    await cluster.start();
    script = cluster.file('server.cjs', SERVER_JS);
    gateway = await cluster.gatewayAddress();
    const first = cluster.server.cli(['job', 'run', jobFile({ name: 'v1', healthyDeadline: '30s' })]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    await cluster.waitForRunning('roll', 5);
    await cluster.server.waitFor(
      'the gateway to route to version v1',
      async () => (await sample(10)).every((s) => s === 'v1'),
      30_000,
    );
  }, 120_000);
  afterAll(async () => {
    await cluster.stop();
  });

  it('rolls out a new version with a canary and auto_promote with no failed request', async () => {
    const load = new Load(`${gateway}/roll`, 40, 90_000);
    let canaryBesideOld = false;
    let run: { code: number; stdout: string; stderr: string };
    try {
      const finished = runAsync(
        cluster.server.cliAsync(['job', 'run', jobFile({ name: 'v2', healthyDeadline: '30s' })]),
      );
      let exited = false;
      void finished.then(() => (exited = true));
      // Watch for the canary running beside all five old instances before it is promoted.
      while (!exited) {
        const a = await live().catch(() => []);
        const canary = a.some((x) => x.JobVersion === 1 && x.DeploymentStatus?.Canary === true);
        if (canary && a.filter((x) => x.JobVersion === 0).length === 5) canaryBesideOld = true;
        await new Promise((r) => setTimeout(r, 200));
      }
      run = await finished;
      // Let the load run over the final set for a moment.
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await load.stop();
    }
    process.stdout.write(`${load.summary('rollout')}\n`);

    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/✓ Deployment "[0-9a-f]{8}" successful/);
    const [d] = await deployments();
    expect(d).toMatchObject({ JobVersion: 1, Status: 'successful' });
    expect(d!.TaskGroups['web']).toMatchObject({
      DesiredTotal: 5,
      DesiredCanaries: 1,
      HealthyAllocs: 5,
      Promoted: true,
    });
    expect(canaryBesideOld).toBe(true);
    const final = await live();
    expect(final.map((a) => a.JobVersion)).toEqual([1, 1, 1, 1, 1]);
    expect(new Set(await sample(15))).toEqual(new Set(['v2']));

    expect(load.total).toBeGreaterThan(100);
    expect(load.failures).toEqual([]);
    expect(load.answers.get('v1')).toBeGreaterThan(0);
    expect(load.answers.get('v2')).toBeGreaterThan(0);
    expect([...load.answers.keys()].sort()).toEqual(['v1', 'v2']);
  }, 150_000);

  it('auto-reverts a version whose check fails while the old instances keep serving', async () => {
    const load = new Load(`${gateway}/roll`, 40, 90_000);
    let run: { code: number; stdout: string; stderr: string };
    try {
      run = await runAsync(
        cluster.server.cliAsync(['job', 'run', jobFile({ name: 'v3', broken: true, healthyDeadline: '6s' })]),
      );
      // The revert is a new job version of the stable spec; wait for it to be running and stable.
      await cluster.server.waitFor(
        'the reverted version to be stable',
        async () => {
          const j = (await cluster.server.api<{ Version: number; Stable: boolean }>('/v1/job/roll')).body;
          const a = await live();
          return j.Version === 3 && j.Stable && a.length === 5 && a.every((x) => x.JobVersion === 3);
        },
        60_000,
      );
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await load.stop();
    }
    process.stdout.write(`${load.summary('auto-revert')}\n`);

    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/! Deployment "[0-9a-f]{8}" failed/);
    expect(run.stdout).toMatch(/rolling back to job version 1/);
    const job = (
      await cluster.server.api<{
        Version: number;
        Stable: boolean;
        TaskGroups: Array<{ Tasks: Array<{ Env: Record<string, string> }> }>;
      }>('/v1/job/roll')
    ).body;
    expect(job.TaskGroups[0]?.Tasks[0]?.Env).toMatchObject({ APP_VERSION: 'v2', BROKEN: '0' });
    const history = cluster.server.cli(['job', 'history', 'roll']);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toMatch(/Version\s+= 3\s*\nStable\s+= true/);
    expect(history.stdout).toMatch(/Version\s+= 2\s*\nStable\s+= false/);
    expect(history.stdout).toMatch(/Version\s+= 1\s*\nStable\s+= true/);
    expect(new Set(await sample(15))).toEqual(new Set(['v2']));

    expect(load.total).toBeGreaterThan(100);
    expect(load.failures).toEqual([]);
    expect([...load.answers.keys()]).toEqual(['v2']);
  }, 150_000);
});
