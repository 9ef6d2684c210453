/**
 * Client endpoints through a server agent for an allocation on another agent: one server-only agent and one
 * client-only agent. The client registers its HTTP address (Node.HTTPAddr); `alloc restart`, `alloc logs`,
 * `alloc signal` and `alloc status -stats` pointed at the SERVER reach the task on the client agent.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type AllocStub } from './harness/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-cluster-forward-'));
const PIDS = join(dir, 'pids');

const SCRIPT = [
  `echo "$$" >> ${PIDS}`,
  'echo "hello from $NOMAD_ALLOC_ID"',
  `trap 'echo "got usr1"' USR1`,
  'while true; do sleep 0.1; done',
].join('; ');

const JOB = `job "fwd" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(SCRIPT)}]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

interface TaskStateJSON {
  State: string;
  Restarts: number;
}

describe('client requests sent to the server for an allocation on a client agent', () => {
  const cluster = new TestCluster({ clients: [{ name: 'c1', dc: 'dc1' }] });
  let alloc: AllocStub;
  const pids = () => readFileSync(PIDS, 'utf8').trim().split('\n').filter(Boolean);
  const taskState = async () =>
    (await cluster.server.api<{ TaskStates: Record<string, TaskStateJSON> }>(`/v1/allocation/${alloc.ID}`)).body
      .TaskStates.t!;

  beforeAll(async () => {
    await cluster.start();
    cluster.runJob(JOB, 'fwd');
    const [running] = await cluster.waitForRunning('fwd', 1);
    if (!running) throw new Error('waitForRunning returned no allocation');
    alloc = running;
    await cluster.server.waitFor('the task to write its pid', async () => {
      try {
        return pids().length === 1;
      } catch {
        return false;
      }
    });
  }, 120_000);
  afterAll(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("registers the client agent's HTTP address on its node", async () => {
    const node = await cluster.server.api<{ HTTPAddr: string }>(`/v1/node/${alloc.NodeID}`);
    expect(`http://${node.body.HTTPAddr}`).toBe(cluster.client('c1').address);
    expect(cluster.client('c1').address).not.toBe(cluster.server.address);
  });

  it('reads the task logs through the server', async () => {
    const r = cluster.server.cli(['alloc', 'logs', alloc.ID, 't']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`hello from ${alloc.ID}`);
  });

  it('restarts the task through the server: a new process, the same allocation', async () => {
    const r = cluster.server.cli(['alloc', 'restart', alloc.ID.slice(0, 8)]);
    expect(r.code, r.stderr).toBe(0);
    const s = await cluster.server.waitFor('the task to run again', async () => {
      const t = await taskState();
      return t.State === 'running' && t.Restarts === 1 ? t : undefined;
    });
    expect(s.Restarts).toBe(1);
    await cluster.server.waitFor('a second pid', async () => pids().length === 2);
    expect(new Set(pids()).size).toBe(2);
    expect((await cluster.allocs('fwd')).map((a) => a.ID)).toEqual([alloc.ID]);
  });

  it('signals the task and shows its stats through the server, and passes client errors through', async () => {
    const sig = cluster.server.cli(['alloc', 'signal', '-s', 'SIGUSR1', alloc.ID, 't']);
    expect(sig.code, sig.stderr).toBe(0);
    await cluster.server.waitFor('the trap to print', async () =>
      cluster.server.cli(['alloc', 'logs', alloc.ID, 't']).stdout.includes('got usr1'),
    );
    const stats = cluster.server.cli(['alloc', 'status', '-stats', alloc.ID]);
    expect(stats.code, stats.stderr).toBe(0);
    const bad = await cluster.server.api<string>(`/v1/client/allocation/${alloc.ID}/restart`, {
      method: 'POST',
      body: JSON.stringify({ TaskName: 'nope' }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('task "nope" not found in allocation');
  });
});
