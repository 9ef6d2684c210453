import { describe, expect, it } from 'vitest';
import { flattenPlanned, Harness, mockEval, mockNode, mockSystemJob } from './testing/index.js';

async function runningSystemJob(nodes = 3) {
  const h = new Harness();
  const list = [...Array(nodes).keys()].map(() => h.upsertNode(mockNode()));
  const job = h.upsertJob(mockSystemJob());
  await h.process(mockEval(job));
  h.upsertAllocs(h.liveAllocs(job.Namespace, job.ID).map((a) => ({ ...a, ClientStatus: 'running' })));
  return { h, nodes: list, job };
}

describe('system scheduler', () => {
  it('does nothing when every node already runs the current version', async () => {
    const { h, job } = await runningSystemJob();
    await h.process(mockEval(job));
    expect(h.plans).toHaveLength(1);
    expect(h.lastEval()!.PlanAnnotations!.DesiredTGUpdates['web']?.Ignore).toBe(3);
  });

  it('updates in place on a non-destructive change and replaces on a destructive one', async () => {
    const { h, job } = await runningSystemJob();
    const inplace = h.upsertJob({ ...job, Priority: 90 });
    await h.process(mockEval(inplace));
    expect(h.lastEval()!.PlanAnnotations!.DesiredTGUpdates['web']?.InPlaceUpdate).toBe(3);
    const changed = structuredClone(inplace);
    changed.TaskGroups[0]!.Tasks[0]!.Config = { command: '/bin/true' };
    const v2 = h.upsertJob(changed);
    await h.process(mockEval(v2));
    const plan = h.lastPlan()!;
    expect(flattenPlanned(plan.NodeUpdate)).toHaveLength(3);
    expect(flattenPlanned(plan.NodeAllocation)).toHaveLength(3);
    expect(h.liveAllocs(v2.Namespace, v2.ID).every((a) => a.Job.Version === v2.Version)).toBe(true);
  });

  it('marks allocs on a down node lost and stops everything when the job stops', async () => {
    const { h, nodes, job } = await runningSystemJob();
    h.upsertNode({ ...nodes[0]!, Status: 'down' });
    await h.process(mockEval(job, { TriggeredBy: 'node-update', NodeID: nodes[0]!.ID }));
    expect(h.lastPlan()!.NodeUpdate[nodes[0]!.ID]![0]!.ClientStatus).toBe('lost');
    const stopped = h.upsertJob({ ...job, Stop: true });
    await h.process(mockEval(stopped, { TriggeredBy: 'job-deregister' }));
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(0);
  });

  it('does not run a completed sysbatch alloc again', async () => {
    const h = new Harness();
    h.upsertNode(mockNode());
    const job = h.upsertJob(mockSystemJob({ Type: 'sysbatch' }));
    await h.process(mockEval(job));
    h.upsertAllocs(h.allocsByJob(job.Namespace, job.ID).map((a) => ({ ...a, ClientStatus: 'complete' })));
    await h.process(mockEval(job));
    expect(h.plans).toHaveLength(1);
    expect(h.allocsByJob(job.Namespace, job.ID)).toHaveLength(1);
  });

  it('records exhausted nodes as queued without creating a blocked eval', async () => {
    const h = new Harness();
    h.upsertNode(mockNode());
    const big = mockSystemJob();
    big.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB = 100_000;
    const job = h.upsertJob(big);
    await h.process(mockEval(job));
    const ev = h.lastEval()!;
    expect(ev.QueuedAllocations!['web']).toBe(1);
    expect(ev.FailedTGAllocs!['web']?.DimensionExhausted).toEqual({ memory: 1 });
    expect(h.createdEvals).toHaveLength(0);
  });
});
