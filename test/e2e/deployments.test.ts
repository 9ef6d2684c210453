/**
 * Deployments through the real CLI against a real dev agent: rolling updates with max_parallel, canaries
 * with auto_promote, auto_revert of a version whose tasks fail, and `job run` following the rollout.
 * raw_exec `sleep` tasks keep the machine quiet; min_healthy_time is 1s so a step takes about a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { TestAgent } from './harness/agent.js';

interface AllocStub {
  ID: string;
  ClientStatus: string;
  DesiredStatus: string;
  JobVersion: number;
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
      PlacedAllocs: number;
      HealthyAllocs: number;
      UnhealthyAllocs: number;
      Promoted: boolean;
      DesiredCanaries: number;
    }
  >;
}

interface JobFileOptions {
  id: string;
  count: number;
  version: string;
  update: string;
  fail?: boolean;
}

function jobFile(dir: string, o: JobFileOptions): string {
  const task = o.fail
    ? `command = "/bin/sh"\n        args = ["-c", "sleep 0.3; exit 1"]`
    : `command = "/bin/sleep"\n        args = ["3600"]`;
  const text = `job "${o.id}" {
  datacenters = ["dc1"]
  type        = "service"

  group "app" {
    count = ${o.count}

    update {
      ${o.update}
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      delay          = "1s"
      delay_function = "constant"
      unlimited      = true
    }

    task "app" {
      driver = "raw_exec"

      config {
        ${task}
      }

      env {
        APP_VERSION = "${o.version}"
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
  const file = join(dir, `${o.id}-${o.version}.nomad.hcl`);
  writeFileSync(file, text);
  return file;
}

describe('deployments on a dev agent', () => {
  const agent = new TestAgent();
  let dir: string;

  beforeAll(async () => {
    await agent.start();
    dir = mkdtempSync(join(tmpdir(), 'drover-deploy-'));
    await agent.waitFor('a ready node', async () =>
      (await agent.api<Array<{ Status: string }>>('/v1/nodes')).body.some((n) => n.Status === 'ready'),
    );
  });
  afterAll(async () => {
    await agent.stop();
  });

  const live = async (job: string) =>
    (await agent.api<AllocStub[]>(`/v1/job/${job}/allocations`)).body.filter(
      (a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running',
    );
  const deployments = async (job: string) => (await agent.api<DeploymentJSON[]>(`/v1/job/${job}/deployments`)).body;

  it('rolls out a change of a count-5 job one allocation at a time, and job run follows it to success', async () => {
    const update =
      'max_parallel = 1\n      min_healthy_time = "1s"\n      healthy_deadline = "30s"\n      progress_deadline = "60s"';
    const first = agent.cli(['job', 'run', jobFile(dir, { id: 'roll', count: 5, version: 'v0', update })]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/==> Monitoring deployment "[0-9a-f]{8}"/);
    expect(first.stdout).toMatch(/✓ Deployment "[0-9a-f]{8}" successful/);

    const run = agent.cli(['job', 'run', jobFile(dir, { id: 'roll', count: 5, version: 'v1', update })]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Evaluation "[0-9a-f]{8}" finished with status "complete"/);
    expect(run.stdout).toMatch(/✓ Deployment "[0-9a-f]{8}" successful/);
    expect(run.stdout).toMatch(/Deployment completed successfully/);
    // The progress lines show the rollout one healthy allocation at a time.
    const healthySteps = [...run.stdout.matchAll(/app: (\d)\/5 healthy/g)].map((m) => Number(m[1]));
    expect(healthySteps.length).toBeGreaterThanOrEqual(2);
    expect(healthySteps).toEqual([...healthySteps].sort());

    const [latest] = await deployments('roll');
    expect(latest).toMatchObject({ JobVersion: 1, Status: 'successful' });
    expect(latest!.TaskGroups['app']).toMatchObject({
      DesiredTotal: 5,
      PlacedAllocs: 5,
      HealthyAllocs: 5,
      UnhealthyAllocs: 0,
    });
    const allocs = await live('roll');
    expect(allocs.map((a) => a.JobVersion)).toEqual([1, 1, 1, 1, 1]);
    expect(allocs.every((a) => a.DeploymentStatus?.Healthy === true)).toBe(true);
    expect((await agent.api<{ Stable: boolean; Version: number }>('/v1/job/roll')).body).toMatchObject({
      Version: 1,
      Stable: true,
    });

    const status = agent.cli(['deployment', 'status', latest!.ID.slice(0, 8)]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Status\s+= successful/);
    expect(status.stdout).toMatch(/Task Group\s+Desired\s+Placed\s+Healthy\s+Unhealthy\s+Progress Deadline/);
    expect(status.stdout).toMatch(/app\s+5\s+5\s+5\s+0/);
    const monitor = agent.cli(['deployment', 'status', '-monitor', latest!.ID]);
    expect(monitor.code).toBe(0);
    expect(monitor.stdout).toMatch(/successful/);
  });

  it('places a canary beside the old version, promotes it automatically and completes the rollout', async () => {
    const update =
      'max_parallel = 1\n      canary = 1\n      auto_promote = true\n      min_healthy_time = "1s"\n      healthy_deadline = "30s"\n      progress_deadline = "60s"';
    expect(agent.cli(['job', 'run', jobFile(dir, { id: 'canary', count: 3, version: 'v0', update })]).code).toBe(0);
    const run = agent.cli(['job', 'run', '-detach', jobFile(dir, { id: 'canary', count: 3, version: 'v1', update })]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // While the canary settles, the three old allocations keep running beside it.
    const beside = await agent.waitFor(
      'a canary beside the old version',
      async () => {
        const a = await live('canary');
        const canary = a.find((x) => x.JobVersion === 1);
        return canary && a.filter((x) => x.JobVersion === 0).length === 3 ? { canary, all: a } : null;
      },
      30_000,
      100,
    );
    expect(beside.canary.DeploymentStatus?.Canary).toBe(true);
    const d = await agent.waitFor('the canary deployment to succeed', async () => {
      const [x] = await deployments('canary');
      return x && x.JobVersion === 1 && x.Status === 'successful' ? x : null;
    });
    expect(d.TaskGroups['app']).toMatchObject({ Promoted: true, DesiredCanaries: 1, HealthyAllocs: 3 });
    expect((await live('canary')).map((a) => a.JobVersion)).toEqual([1, 1, 1]);
  });

  it('needs job promote for a canary without auto_promote', async () => {
    const update =
      'max_parallel = 2\n      canary = 1\n      min_healthy_time = "1s"\n      healthy_deadline = "30s"\n      progress_deadline = "60s"';
    expect(agent.cli(['job', 'run', jobFile(dir, { id: 'manual', count: 2, version: 'v0', update })]).code).toBe(0);
    expect(
      agent.cli(['job', 'run', '-detach', jobFile(dir, { id: 'manual', count: 2, version: 'v1', update })]).code,
    ).toBe(0);
    const waiting = await agent.waitFor('a healthy canary waiting for promotion', async () => {
      const [x] = await deployments('manual');
      return x && x.JobVersion === 1 && x.TaskGroups['app']!.HealthyAllocs === 1 ? x : null;
    });
    expect(waiting.StatusDescription).toBe('Deployment is running but requires manual promotion');
    const promote = agent.cli(['job', 'promote', 'manual']);
    expect(promote.code, promote.stdout + promote.stderr).toBe(0);
    expect(promote.stdout).toMatch(/✓ Deployment "[0-9a-f]{8}" successful/);
    expect((await live('manual')).map((a) => a.JobVersion)).toEqual([1, 1]);
  });

  it('auto-reverts a version whose tasks fail, and job history shows both versions with the job on the stable one', async () => {
    const update =
      'max_parallel = 1\n      auto_revert = true\n      min_healthy_time = "1s"\n      healthy_deadline = "30s"\n      progress_deadline = "60s"';
    expect(agent.cli(['job', 'run', jobFile(dir, { id: 'revert', count: 2, version: 'v0', update })]).code).toBe(0);
    const run = agent.cli(['job', 'run', jobFile(dir, { id: 'revert', count: 2, version: 'v1', update, fail: true })]);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/! Deployment "[0-9a-f]{8}" failed/);
    expect(run.stdout).toMatch(/Failed due to unhealthy allocations - rolling back to job version 0/);
    const job = await agent.waitFor('the reverted version to be stable', async () => {
      const j = (
        await agent.api<{
          Version: number;
          Stable: boolean;
          TaskGroups: Array<{ Tasks: Array<{ Env: Record<string, string> }> }>;
        }>('/v1/job/revert')
      ).body;
      return j.Version === 2 && j.Stable ? j : null;
    });
    expect(job.TaskGroups[0]?.Tasks[0]?.Env['APP_VERSION']).toBe('v0');
    const allocs = await agent.waitFor('two healthy allocations of the stable spec', async () => {
      const a = await live('revert');
      return a.length === 2 && a.every((x) => x.JobVersion === 2) ? a : null;
    });
    expect(allocs).toHaveLength(2);

    const history = agent.cli(['job', 'history', '-p', 'revert']);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toMatch(/Version\s+= 2\s*\nStable\s+= true/);
    expect(history.stdout).toMatch(/Version\s+= 1\s*\nStable\s+= false/);
    expect(history.stdout).toMatch(/Version\s+= 0\s*\nStable\s+= true/);
    expect(history.stdout).toMatch(/APP_VERSION.*"v1" => "v0"/);
    const versions = await agent.api<{ Versions: Array<{ Version: number }>; Diffs: unknown[] }>(
      '/v1/job/revert/versions?diffs=true',
    );
    expect(versions.body.Versions.map((v) => v.Version)).toEqual([2, 1, 0]);
    expect(versions.body.Diffs).toHaveLength(2);
  });

  it('serves the deployment API with Nomad paths: list, read, allocations, pause, fail, and errors for bad requests', async () => {
    const list = await agent.api<DeploymentJSON[]>('/v1/deployments');
    expect(list.status).toBe(200);
    expect(list.body.length).toBeGreaterThanOrEqual(4);
    const d = list.body.find((x) => x.Status === 'successful')!;
    expect((await agent.api<DeploymentJSON>(`/v1/deployment/${d.ID}`)).body.ID).toBe(d.ID);
    const allocs = await agent.api<AllocStub[]>(`/v1/deployment/allocations/${d.ID}`);
    expect(allocs.body.length).toBeGreaterThan(0);
    const pause = await agent.api(`/v1/deployment/pause/${d.ID}`, {
      method: 'POST',
      body: JSON.stringify({ DeploymentID: d.ID, Pause: true }),
    });
    // Nomad answers a write on a finished deployment with 500 and these words, which its clients compare.
    expect(pause.status).toBe(500);
    expect(String(pause.body)).toContain("can't pause terminal deployment");
    expect((await agent.api('/v1/deployment/no-such-id')).status).toBe(404);

    const update =
      'max_parallel = 1\n      min_healthy_time = "20s"\n      healthy_deadline = "60s"\n      progress_deadline = "120s"';
    expect(
      agent.cli(['job', 'run', '-detach', jobFile(dir, { id: 'ops', count: 1, version: 'v0', update })]).code,
    ).toBe(0);
    const running = await agent.waitFor('a running deployment', async () =>
      (await deployments('ops')).find((x) => x.Status === 'running'),
    );
    const paused = await agent.api(`/v1/deployment/pause/${running.ID}`, {
      method: 'POST',
      body: JSON.stringify({ DeploymentID: running.ID, Pause: true }),
    });
    expect(paused.status).toBe(200);
    expect((await agent.api<DeploymentJSON>(`/v1/deployment/${running.ID}`)).body.Status).toBe('paused');
    const failed = await agent.api<{ EvalID: string }>(`/v1/deployment/fail/${running.ID}`, {
      method: 'POST',
      body: JSON.stringify({ DeploymentID: running.ID }),
    });
    expect(failed.status).toBe(200);
    expect((await agent.api<DeploymentJSON>(`/v1/deployment/${running.ID}`)).body).toMatchObject({
      Status: 'failed',
      StatusDescription: 'Deployment marked as failed',
    });
    agent.cli(['job', 'stop', '-purge', '-detach', 'ops']);
  });
});
