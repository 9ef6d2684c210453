import { describe, expect, it } from 'vitest';
import { isDroverError } from '../errors/index.js';
import { nullLogger } from '../logging/index.js';
import { newScheduler } from './index.js';
import { flattenPlanned, Harness } from './testing/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { build } from '../testing/builders.js';

describe('generic scheduler', () => {
  it('throws a BadRequest error for an unknown scheduler type', () => {
    const h = new Harness();
    let err: unknown;
    try {
      newScheduler('nope', h, h, { logger: nullLogger, clock: h.clock });
    } catch (e) {
      err = e;
    }
    expect(isDroverError(err, 'BadRequest')).toBe(true);
  });

  it('prefers the fuller node when bin-packing', async () => {
    const h = new Harness();
    const busy = h.upsertNode(nomadMock.node());
    h.upsertNode(nomadMock.node());
    const filler = nomadMock.job();
    filler.TaskGroups[0]!.Count = 1;
    filler.TaskGroups[0]!.Tasks[0]!.Resources = { CPU: 8000, MemoryMB: 4000 };
    const other = h.upsertJob(filler);
    h.upsertAllocs([
      {
        ...nomadMock.alloc(other, busy, 0),
        AllocatedResources: {
          ...nomadMock.alloc(other, busy, 0).AllocatedResources,
          Tasks: { web: { Cpu: { CpuShares: 8000 }, Memory: { MemoryMB: 4000, MemoryMaxMB: 0 } } },
        },
      },
    ]);
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 1;
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const placed = h.liveAllocs(job.Namespace, job.ID);
    expect(placed.map((a) => a.NodeID)).toEqual([busy.ID]);
    const meta = placed[0]!.Metrics!.ScoreMetaData!;
    // Only the chosen node's entry is kept (memory at the C1M); its score is the packing one.
    expect(meta).toHaveLength(1);
    expect(meta[0]?.NodeID).toBe(busy.ID);
    expect(meta[0]?.Scores.binpack).toBeGreaterThan(0);
  });

  it('shares one frozen AllocatedResources between the placements of a group without networks', async () => {
    const h = new Harness();
    for (let i = 0; i < 2; i++) h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 3;
    base.TaskGroups[0]!.Networks = [];
    for (const t of base.TaskGroups[0]!.Tasks) t.Resources = { CPU: 100, MemoryMB: 64 };
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const placed = h.liveAllocs(job.Namespace, job.ID);
    expect(placed).toHaveLength(3);
    const shared = placed[0]!.AllocatedResources;
    expect(placed.every((a) => a.AllocatedResources === shared)).toBe(true);
    expect(Object.isFrozen(shared) && Object.isFrozen(shared.Tasks)).toBe(true);
    // The shared object still says what each placement was given.
    expect(Object.values(shared.Tasks)[0]?.Memory.MemoryMB).toBe(64);
    expect(placed.every((a) => Object.isFrozen(a.DesiredTransition))).toBe(true);
  });

  it('spreads instances of one job over nodes through job anti-affinity', async () => {
    const h = new Harness();
    for (let i = 0; i < 4; i++) h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 4;
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const nodes = new Set(h.liveAllocs(job.Namespace, job.ID).map((a) => a.NodeID));
    expect(nodes.size).toBeGreaterThanOrEqual(3);
  });

  it('produces the same placements for the same eval ID', async () => {
    const run = async () => {
      const h = new Harness();
      for (let i = 0; i < 20; i++) h.upsertNode(nomadMock.node({ ID: `node-${i}` }));
      const job = h.upsertJob(nomadMock.job({ ID: 'fixed' }));
      await h.process(build.eval({ Job: job, ID: 'eval-1' }));
      return h
        .liveAllocs('default', 'fixed')
        .map((a) => `${a.Name}@${a.NodeID}`)
        .sort();
    };
    expect(await run()).toEqual(await run());
  });

  it('stops the highest indexes when the count shrinks and reuses freed indexes when it grows', async () => {
    const h = new Harness();
    for (let i = 0; i < 5; i++) h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job }));
    const smaller = h.upsertJob({ ...job, TaskGroups: [{ ...job.TaskGroups[0]!, Count: 7 }] });
    await h.process(build.eval({ Job: smaller }));
    const stopped = flattenPlanned(h.lastPlan()!.NodeUpdate)
      .map((a) => a.Name)
      .sort();
    expect(stopped).toEqual([7, 8, 9].map((i) => `${job.ID}.web[${i}]`));
    expect(h.lastEval()!.PlanAnnotations!.DesiredTGUpdates['web']).toMatchObject({
      Stop: 3,
      InPlaceUpdate: 7,
      Place: 0,
    });
    const bigger = h.upsertJob({ ...smaller, TaskGroups: [{ ...smaller.TaskGroups[0]!, Count: 9 }] });
    const existed = new Set(h.allocs.keys());
    await h.process(build.eval({ Job: bigger }));
    const placed = flattenPlanned(h.lastPlan()!.NodeAllocation)
      .filter((a) => !existed.has(a.ID))
      .map((a) => a.Name)
      .sort();
    expect(placed).toEqual([7, 8].map((i) => `${job.ID}.web[${i}]`));
  });

  it('retries the plan on fresher state when the applier refuses a node', async () => {
    const h = new Harness();
    const nodes = [0, 1, 2].map(() => h.upsertNode(nomadMock.node()));
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 3;
    const job = h.upsertJob(base);
    h.rejectNodes.add(nodes[0]!.ID);
    const origSubmit = h.submitPlan.bind(h);
    let calls = 0;
    h.submitPlan = async (p) => {
      if (++calls > 1) h.rejectNodes.clear();
      return origSubmit(p);
    };
    await h.process(build.eval({ Job: job }));
    expect(h.plans.length).toBeGreaterThanOrEqual(2);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(3);
    expect(h.lastEval()!.Status).toBe('complete');
  });

  it('fails the eval after repeated refusals and leaves a blocked eval triggered by max-plan-attempts', async () => {
    const h = new Harness();
    const n = h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 1;
    const job = h.upsertJob(base);
    h.rejectNodes.add(n.ID);
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(5);
    expect(h.lastEval()!.Status).toBe('failed');
    expect(h.createdEvals.map((e) => [e.Status, e.TriggeredBy])).toEqual([['blocked', 'max-plan-attempts']]);
  });

  it('reblocks a blocked eval that still cannot place instead of creating another', async () => {
    const h = new Harness();
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job, Status: 'blocked' }));
    expect(h.createdEvals).toHaveLength(0);
    expect(h.reblockedEvals).toHaveLength(1);
    expect(h.reblockedEvals[0]?.Status).toBe('blocked');
  });

  it('places the remainder when a blocked eval runs again after a node joins', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Tasks[0]!.Resources = { CPU: 3000, MemoryMB: 256 };
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(4);
    const blocked = h.createdEval(0);
    expect(h.lastEval()!.QueuedAllocations!['web']).toBe(6);
    for (let i = 0; i < 2; i++) h.upsertNode(nomadMock.node());
    await h.process(blocked);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(10);
    expect(h.lastEval()!.Status).toBe('complete');
  });

  it('annotates the plan with desired updates when asked (job plan) without applying anything new', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job, AnnotatePlan: true }));
    expect(h.plan(0).Annotations!.DesiredTGUpdates['web']?.Place).toBe(10);
  });

  it('stops allocs of a group removed from the job', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job }));
    const renamed = structuredClone(job);
    renamed.TaskGroups[0]!.Name = 'api';
    const j2 = h.upsertJob(renamed);
    await h.process(build.eval({ Job: j2 }));
    const plan = h.lastPlan()!;
    expect(flattenPlanned(plan.NodeUpdate).every((a) => a.TaskGroup === 'web')).toBe(true);
    expect(flattenPlanned(plan.NodeUpdate)).toHaveLength(10);
    expect(flattenPlanned(plan.NodeAllocation).every((a) => a.TaskGroup === 'api')).toBe(true);
  });

  it('places a rolling update in batches until every alloc runs the new version', async () => {
    const h = new Harness();
    for (let i = 0; i < 10; i++) h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job }));
    const j2 = structuredClone(job);
    j2.TaskGroups[0]!.Tasks[0]!.Env = { FOO: 'baz' };
    j2.TaskGroups[0]!.Update = build.update({ MaxParallel: 3 });
    const v1 = h.upsertJob(j2);
    for (let pass = 0; pass < 6; pass++) {
      await h.process(build.eval({ Job: v1, TriggeredBy: 'deployment-watcher' }));
      // The deployment watcher would mark new allocs healthy; do it here.
      h.upsertAllocs(
        h
          .liveAllocs(v1.Namespace, v1.ID)
          .filter((a) => a.Job.Version === v1.Version)
          .map((a) => ({
            ...a,
            ClientStatus: 'running',
            DeploymentStatus: { Healthy: true, Timestamp: null, Canary: false, ModifyIndex: 0 },
          })),
      );
    }
    const live = h.liveAllocs(v1.Namespace, v1.ID);
    expect(live).toHaveLength(10);
    expect(live.every((a) => a.Job.Version === v1.Version)).toBe(true);
  });

  it('stops every alloc of a purged job (the job is gone from state)', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job }));
    h.jobs.clear();
    await h.process(build.eval({ Job: job, TriggeredBy: 'job-deregister' }));
    expect(flattenPlanned(h.lastPlan()!.NodeUpdate)).toHaveLength(10);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(0);
    expect(h.lastEval()!.Status).toBe('complete');
  });
});
