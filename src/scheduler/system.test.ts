import { describe, expect, it } from 'vitest';
import { flattenPlanned, Harness } from './testing/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { build } from '../testing/builders.js';

async function runningSystemJob(nodes = 3) {
  const h = new Harness();
  const list = [...Array(nodes).keys()].map(() => h.upsertNode(nomadMock.node()));
  const job = h.upsertJob(nomadMock.systemJob());
  await h.process(build.eval({ Job: job }));
  h.upsertAllocs(h.liveAllocs(job.Namespace, job.ID).map((a) => ({ ...a, ClientStatus: 'running' })));
  return { h, nodes: list, job };
}

describe('system scheduler', () => {
  it('does nothing when every node already runs the current version', async () => {
    const { h, job } = await runningSystemJob();
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(1);
    expect(h.lastEval()!.PlanAnnotations!.DesiredTGUpdates['web']?.Ignore).toBe(3);
  });

  it('updates in place on a non-destructive change and replaces on a destructive one', async () => {
    const { h, job } = await runningSystemJob();
    const inplace = h.upsertJob({ ...job, Priority: 90 });
    await h.process(build.eval({ Job: inplace }));
    expect(h.lastEval()!.PlanAnnotations!.DesiredTGUpdates['web']?.InPlaceUpdate).toBe(3);
    const changed = structuredClone(inplace);
    changed.TaskGroups[0]!.Tasks[0]!.Config = { command: '/bin/true' };
    const v2 = h.upsertJob(changed);
    await h.process(build.eval({ Job: v2 }));
    const plan = h.lastPlan()!;
    expect(flattenPlanned(plan.NodeUpdate)).toHaveLength(3);
    expect(flattenPlanned(plan.NodeAllocation)).toHaveLength(3);
    expect(h.liveAllocs(v2.Namespace, v2.ID).every((a) => a.Job.Version === v2.Version)).toBe(true);
  });

  it('marks allocs on a down node lost and stops everything when the job stops', async () => {
    const { h, nodes, job } = await runningSystemJob();
    h.upsertNode({ ...nodes[0]!, Status: 'down' });
    await h.process(build.eval({ Job: job, TriggeredBy: 'node-update', NodeID: nodes[0]!.ID }));
    expect(h.lastPlan()!.NodeUpdate[nodes[0]!.ID]![0]!.ClientStatus).toBe('lost');
    const stopped = h.upsertJob({ ...job, Stop: true });
    await h.process(build.eval({ Job: stopped, TriggeredBy: 'job-deregister' }));
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(0);
  });

  it('does not run a completed sysbatch alloc again', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.systemJob({ Type: 'sysbatch' }));
    await h.process(build.eval({ Job: job }));
    h.upsertAllocs(h.allocsByJob(job.Namespace, job.ID).map((a) => ({ ...a, ClientStatus: 'complete' })));
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(1);
    expect(h.allocsByJob(job.Namespace, job.ID)).toHaveLength(1);
  });

  it('records exhausted nodes as queued without creating a blocked eval', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const big = nomadMock.systemJob();
    big.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB = 100_000;
    const job = h.upsertJob(big);
    await h.process(build.eval({ Job: job }));
    const ev = h.lastEval()!;
    expect(ev.QueuedAllocations!['web']).toBe(1);
    expect(ev.FailedTGAllocs!['web']?.DimensionExhausted).toEqual({ memory: 1 });
    expect(h.createdEvals).toHaveLength(0);
  });
});
