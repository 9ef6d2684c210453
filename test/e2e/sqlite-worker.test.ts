/**
 * `server { sqlite_worker_thread = true }` in an agent config file: SQLite commits on a worker thread, and every
 * acknowledged write survives a SIGKILL of the agent, as with the default main-thread backend.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

const JOB = `job "kept" {
  datacenters = ["dc1"]
  group "g" {
    count = 3
    task "t" {
      driver = "mock_driver"
      config {
        run_for = "1h"
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}`;

describe('an agent with SQLite on its worker thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-worker-'));
  const config = join(dir, 'agent.hcl');
  writeFileSync(config, 'server {\n  sqlite_worker_thread = true\n}\n');
  writeFileSync(join(dir, 'kept.nomad.hcl'), JOB);
  const agent = new TestAgent({ args: ['-config', config] });

  beforeAll(async () => {
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says so at start, runs a job, and keeps its jobs, allocations and versions across a SIGKILL', async () => {
    expect(agent.output).toMatch(/"sqlite":"worker thread",[^\n]*"msg":"state store opened"/);
    const run = agent.cli(['job', 'run', '-detach', join(dir, 'kept.nomad.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    type Stub = { ID: string; ClientStatus: string };
    const running = async () =>
      (await agent.api<Stub[]>('/v1/job/kept/allocations')).body.filter((a) => a.ClientStatus === 'running');
    await agent.waitFor('3 running allocations', async () => (await running()).length === 3);
    const scaled = agent.cli(['job', 'scale', '-detach', 'kept', 'g', '4']);
    expect(scaled.code, scaled.stderr).toBe(0);
    const before = (await agent.api<Stub[]>('/v1/allocations')).body.map((a) => a.ID).sort();
    expect(before).toHaveLength(4);

    await agent.kill();
    await agent.start();
    expect((await agent.api<Stub[]>('/v1/allocations')).body.map((a) => a.ID).sort()).toEqual(before);
    expect((await agent.api<{ TaskGroups: Array<{ Count: number }> }>('/v1/job/kept')).body.TaskGroups[0]?.Count).toBe(
      4,
    );
    const stop = agent.cli(['job', 'stop', '-purge', '-detach', 'kept']);
    expect(stop.code, stop.stderr).toBe(0);
  });
});
