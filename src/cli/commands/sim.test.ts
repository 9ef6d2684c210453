import { describe, expect, it } from 'vitest';
import type { SimResult } from '../../structs/index.js';
import { withFakeNomad } from '../testing/run-cli.js';

const nomad = withFakeNomad();
const cli = nomad.cli;

const result = (over: Partial<SimResult> = {}): SimResult => ({
  Index: 42,
  Changes: ['scale web/web to 9'],
  Groups: [
    {
      Namespace: 'default',
      JobID: 'web',
      TaskGroup: 'web',
      Desired: 9,
      RunningBefore: 3,
      Running: 6,
      Placed: 3,
      Stopped: 0,
      Unplaced: 3,
      Metrics: {
        NodesEvaluated: 3,
        NodesFiltered: 0,
        NodesInPool: 3,
        NodesAvailable: { dc1: 3 },
        ClassFiltered: null,
        ConstraintFiltered: null,
        NodesExhausted: 3,
        ClassExhausted: null,
        DimensionExhausted: { cpu: 3 },
        QuotaExhausted: null,
        ScoreMetaData: null,
        AllocationTime: 0,
        CoalescedFailures: 2,
      },
    },
  ],
  Nodes: [],
  Capacity: { Nodes: 3, CPU: { Used: 6000, Total: 12000 }, MemoryMB: { Used: 100, Total: 24000 } },
  Preemptions: [],
  MaxCount: null,
  Evaluations: 1,
  DurationMs: 5,
  ...over,
});

describe('drover sim', () => {
  it('sends the what-ifs of its flags and exits 2 when a placement would fail, saying why', async () => {
    nomad.fake.on('PUT', '/v1/operator/sim', { body: result() });
    const r = await cli([
      'sim',
      '-scale',
      'web=9',
      '-add-nodes',
      '2',
      '-like',
      'client-1',
      '-cpu',
      '8000',
      '-remove-node',
      'client-3',
      '-max-count',
      'api/http',
    ]);
    expect(r.code).toBe(2);
    expect(nomad.fake.requests[0]?.body).toMatchObject({
      AddNodes: [{ Count: 2, Like: 'client-1', CPU: 8000 }],
      RemoveNodes: ['client-3'],
      Scale: [{ JobID: 'web', Group: '', Count: 9 }],
      MaxCount: { JobID: 'api', Group: 'http' },
    });
    expect(r.stdout).toMatch(/web\s+web\s+9\s+3\s+6\s+3\s+0\s+3\s+does not fit: 3 unplaced/);
    expect(r.stdout).toMatch(/Why web\/web does not fit \(3 unplaced\):\n {2}\* Resources exhausted on 3 nodes/);
    expect(r.stdout).toMatch(/Dimension "cpu" exhausted on 3 nodes/);
  });

  it('refuses flags that make no question, before asking the agent', async () => {
    expect((await cli(['sim'])).stderr).toMatch(/nothing to simulate/);
    expect((await cli(['sim', '-add-nodes', '2'])).stderr).toMatch(/-add-nodes needs -like NODE/);
    expect((await cli(['sim', '-scale', 'web'])).stderr).toMatch(/expected JOB\[\/GROUP\]=COUNT/);
    expect(nomad.fake.requests).toHaveLength(0);
  });
});
