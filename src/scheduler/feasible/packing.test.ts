import { describe, expect, it } from 'vitest';
import { Harness } from '../testing/index.js';
import { nomadMock } from '../../testing/nomad-mock.js';
import { build } from '../../testing/builders.js';
import type { Job } from '../../structs/index.js';

/** A job whose instances fit 10 to a mock node (7,936 MB free: memory binds). */
function bigJob(id: string, count: number, over: Partial<Job> = {}): Job {
  const j = nomadMock.job({ ID: id, ...over });
  const tg = j.TaskGroups[0]!;
  tg.Count = count;
  tg.Networks = [];
  tg.Tasks[0]!.Resources = { ...tg.Tasks[0]!.Resources, CPU: 500, MemoryMB: 780, Networks: [] };
  return j;
}

function nodesUsed(h: Harness, job: Job): number {
  return new Set(h.liveAllocs(job.Namespace, job.ID).map((a) => a.NodeID)).size;
}

describe('bin-packing with the binpack algorithm', () => {
  it('places a large job on as few nodes as its instances need', async () => {
    const h = new Harness();
    for (let i = 0; i < 30; i++) h.upsertNode(nomadMock.node());
    const job = h.upsertJob(bigJob('big', 100));
    await h.process(build.eval({ Job: job }));
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(100);
    expect(nodesUsed(h, job)).toBe(10);
  });

  it('fills the nodes other jobs already use before opening empty ones', async () => {
    const h = new Harness();
    for (let i = 0; i < 30; i++) h.upsertNode(nomadMock.node());
    const first = h.upsertJob(bigJob('first', 45));
    await h.process(build.eval({ Job: first }));
    const second = h.upsertJob(bigJob('second', 45));
    await h.process(build.eval({ Job: second }));
    const all = new Set(
      [...h.liveAllocs('default', 'first'), ...h.liveAllocs('default', 'second')].map((a) => a.NodeID),
    );
    expect(all.size).toBe(9); // ceil(90 / 10)
  });

  it('packs a job of many small instances once its whole demand passes most of a node', async () => {
    const h = new Harness();
    for (let i = 0; i < 30; i++) h.upsertNode(nomadMock.node());
    // 120 × 50 MB ≈ 0.76 of a node's memory. Nomad's −(collisions+1)/count puts them on all 30 nodes; the packing
    // form fills a node until the penalty (collisions / count) passes its bin-pack score (≈ 70 here), then opens one more.
    const j = bigJob('many-small', 120);
    j.TaskGroups[0]!.Tasks[0]!.Resources = { ...j.TaskGroups[0]!.Tasks[0]!.Resources, CPU: 50, MemoryMB: 50 };
    const job = h.upsertJob(j);
    await h.process(build.eval({ Job: job }));
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(120);
    expect(nodesUsed(h, job)).toBeLessThanOrEqual(2);
  });

  it('still spreads the instances of a small job over nodes (job anti-affinity outweighs packing)', async () => {
    const h = new Harness();
    for (let i = 0; i < 10; i++) h.upsertNode(nomadMock.node());
    const job = h.upsertJob(bigJob('small', 4));
    await h.process(build.eval({ Job: job }));
    expect(nodesUsed(h, job)).toBe(4);
  });

  it('spreads a large job over nodes with the spread algorithm', async () => {
    const h = new Harness();
    h.config = { ...h.config, SchedulerAlgorithm: 'spread' };
    for (let i = 0; i < 30; i++) h.upsertNode(nomadMock.node());
    const job = h.upsertJob(bigJob('big', 100));
    await h.process(build.eval({ Job: job }));
    expect(nodesUsed(h, job)).toBeGreaterThan(20);
  });
});
