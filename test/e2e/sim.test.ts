/**
 * `drover sim` on a real three-client cluster (issue 20): a job blocked today fits after "add 2 nodes like
 * client-1" and the report says so; the largest count of job web the simulation finds is what really fits when
 * the job is scaled to it (and one more is blocked); the live state's index does not move during a simulation.
 * Tasks use the mock driver, so the CPU asks are bookkeeping only; they are sized from client-1's capacity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './harness/cluster.js';
import type { SimRequest, SimResult } from '../../src/structs/index.js';

interface NodeInfo {
  ID: string;
  Name: string;
  NodeResources: { Cpu: { CpuShares: number } };
  ReservedResources: { Cpu: { CpuShares: number } };
}

const mockJob = (id: string, count: number, cpu: number) => `job "${id}" {
  datacenters = ["dc1"]
  update {
    max_parallel = 0
  }
  group "${id}" {
    count = ${count}
    task "t" {
      driver = "mock_driver"
      config {
        run_for = "1h"
      }
      resources {
        cpu    = ${cpu}
        memory = 16
      }
    }
  }
}`;

describe('drover sim on a three-client cluster', () => {
  const cluster = new TestCluster({
    clients: [
      { name: 'client-1', dc: 'dc1' },
      { name: 'client-2', dc: 'dc1' },
      { name: 'client-3', dc: 'dc1' },
    ],
  });
  let cap = 0;

  beforeAll(async () => {
    await cluster.start();
    const stub = (await cluster.nodes()).find((n) => n.Name === 'client-1')!;
    const node = (await cluster.server.api<NodeInfo>(`/v1/node/${stub.ID}`)).body;
    cap = node.NodeResources.Cpu.CpuShares - (node.ReservedResources?.Cpu?.CpuShares ?? 0);
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
  }, 60_000);

  const stateIndex = async (): Promise<number> => {
    const r = await cluster.server.api<{ Gauges: { Name: string; Value: number }[] }>('/v1/metrics');
    return r.body.Gauges.find((g) => g.Name === 'drover.state.index')!.Value;
  };
  /** The index once nothing has been written for a moment (clients report task states after a placement). */
  const quietIndex = async (): Promise<number> =>
    cluster.server.waitFor(
      'a quiet state index',
      async () => {
        const a = await stateIndex();
        await new Promise((r) => setTimeout(r, 750));
        return (await stateIndex()) === a ? a : undefined;
      },
      20_000,
    );
  const sim = (args: string[]) => cluster.server.cli(['sim', ...args]);
  const simAPI = async (req: SimRequest): Promise<SimResult> => {
    const r = await cluster.server.api<SimResult>('/v1/operator/sim', { method: 'PUT', body: JSON.stringify(req) });
    expect(r.status).toBe(200);
    return r.body;
  };
  const scale = async (job: string, count: number) => {
    const r = await cluster.server.api(`/v1/job/${job}/scale`, {
      method: 'POST',
      body: JSON.stringify({ Count: count, Target: { Group: job } }),
    });
    expect(r.status).toBe(200);
  };

  it('shows a blocked job fitting after adding two nodes like client-1, without touching the live state', async () => {
    // Three fit today (one per client); two are blocked.
    cluster.runJob(mockJob('big', 5, Math.floor(cap * 0.6)), 'big');
    await cluster.waitForRunning('big', 3, 30_000);
    const before = await quietIndex();

    const table = sim(['-add-nodes', '2', '-like', 'client-1']);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/add 2 nodes like client-1/);
    expect(table.stdout).toMatch(/big\s+big\s+5\s+3\s+5\s+2\s+0\s+0\s+fits \(today 3 of 5\)/);
    expect(table.stdout).toMatch(/client-1-sim-1 \(new\)/);

    const r = await simAPI({ AddNodes: [{ Count: 2, Like: 'client-1' }] });
    expect(r.Index).toBe(before);
    expect(r.Groups.find((g) => g.JobID === 'big')).toMatchObject({ RunningBefore: 3, Running: 5, Unplaced: 0 });
    expect(r.Nodes.filter((n) => n.Added)).toHaveLength(2);

    // Without the new nodes it still does not fit, and the scheduler says which dimension ran out.
    const today = sim(['-scale', 'big=5']);
    expect(today.code).toBe(2);
    expect(today.stdout).toMatch(/Why big\/big does not fit \(2 unplaced\)/);
    expect(today.stdout).toMatch(/Dimension "cpu" exhausted on 3 nodes/);

    expect(await stateIndex()).toBe(before);
    expect((await cluster.nodes()).length).toBe(3);
    expect((await cluster.allocs('big')).filter((a) => a.DesiredStatus === 'run')).toHaveLength(3);
  }, 60_000);

  it('finds the largest count of web that fits, and that count really fits while one more is blocked', async () => {
    cluster.runJob(mockJob('web', 1, Math.floor(cap * 0.15)), 'web');
    await cluster.waitForRunning('web', 1, 30_000);
    const res = sim(['-max-count', 'web']);
    expect(res.code).toBe(0);
    // 40% of each client is left beside big: two instances of 15% each per client.
    expect(res.stdout).toMatch(/Largest count of web\/web that fits: 6 \(count now 1;/);
    expect(res.stdout).toMatch(/One more does not fit:[\s\S]*Dimension "cpu" exhausted on 3 nodes/);
    const max = (await simAPI({ MaxCount: { JobID: 'web', Group: '' } })).MaxCount!;
    expect(max).toMatchObject({ JobID: 'web', TaskGroup: 'web', Count: 6, Current: 1 });

    await scale('web', max.Count);
    await cluster.waitForRunning('web', max.Count, 30_000);
    await scale('web', max.Count + 1);
    await cluster.server.waitFor(
      'one instance of web queued',
      async () => {
        const s = await cluster.server.api<{ Summary: Record<string, { Queued: number }> }>('/v1/job/web/summary');
        return s.body.Summary.web?.Queued === 1;
      },
      20_000,
    );
    expect((await cluster.waitForRunning('web', max.Count, 10_000)).length).toBe(max.Count);
  }, 60_000);
});
