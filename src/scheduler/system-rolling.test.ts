import { describe, expect, it } from 'vitest';
import type { Job } from '../structs/index.js';
import { NS_PER_S } from '../structs/index.js';
import { flattenPlanned, Harness } from './testing/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { build } from '../testing/builders.js';

const T0 = 1_700_000_000_000;

async function runningSystemJob(nodes: number, edit: (j: Job) => void = () => {}) {
  const h = new Harness();
  const now = { ms: T0 };
  h.clock = { now: () => now.ms };
  const list = [...Array(nodes).keys()].map(() => h.upsertNode(nomadMock.node()));
  const base = nomadMock.systemJob();
  edit(base);
  const job = h.upsertJob(base);
  await h.process(build.eval({ Job: job }));
  h.upsertAllocs(h.liveAllocs(job.Namespace, job.ID).map((a) => ({ ...a, ClientStatus: 'running' })));
  return { h, nodes: list, job, now };
}

const update = (maxParallel: number, staggerS: number) =>
  build.update({ Stagger: staggerS * NS_PER_S, MaxParallel: maxParallel, HealthCheck: 'task_states' });

describe('system job rolling updates (update stagger)', () => {
  it('replaces max_parallel allocs per eval and schedules the next batch a stagger later', async () => {
    const { h, job, now } = await runningSystemJob(5, (j) => (j.TaskGroups[0]!.Update = update(2, 10)));
    const changed = structuredClone(job);
    changed.TaskGroups[0]!.Tasks[0]!.Config = { command: '/bin/true' };
    const v2 = h.upsertJob(changed);
    const batches: number[] = [];
    let ev = build.eval({ Job: v2 });
    for (let i = 0; i < 5; i++) {
      const plans = h.plans.length;
      await h.process(ev);
      batches.push(h.plans.length > plans ? flattenPlanned(h.lastPlan()!.NodeUpdate).length : 0);
      const done = h.lastEval()!;
      const next = h.createdEvals.find((e) => e.ID === done.NextEval);
      if (!next) break;
      expect(next.TriggeredBy).toBe('rolling-update');
      expect(Date.parse(next.WaitUntil!)).toBe(now.ms + 10_000);
      now.ms += 10_000;
      h.upsertAllocs(
        h
          .liveAllocs(v2.Namespace, v2.ID)
          .filter((a) => a.ClientStatus === 'pending')
          .map((a) => ({ ...a, ClientStatus: 'running' })),
      );
      ev = next;
    }
    expect(batches).toEqual([2, 2, 1]);
    expect(h.liveAllocs(v2.Namespace, v2.ID).every((a) => a.Job.Version === v2.Version)).toBe(true);
    expect(h.liveAllocs(v2.Namespace, v2.ID)).toHaveLength(5);
  });

  it('replaces every node at once without an update block', async () => {
    const { h, job } = await runningSystemJob(4);
    const changed = structuredClone(job);
    changed.TaskGroups[0]!.Tasks[0]!.Config = { command: '/bin/true' };
    await h.process(build.eval({ Job: h.upsertJob(changed) }));
    expect(flattenPlanned(h.lastPlan()!.NodeUpdate)).toHaveLength(4);
    expect(h.lastEval()!.NextEval ?? '').toBe('');
    expect(h.createdEvals.filter((e) => e.TriggeredBy === 'rolling-update')).toHaveLength(0);
  });
});

describe('system jobs on a disconnected node', () => {
  it('keeps the alloc as unknown (no replacement elsewhere) when its group has lost_after, and records its reconnect', async () => {
    const { h, nodes, job, now } = await runningSystemJob(
      2,
      (j) => (j.TaskGroups[0]!.Disconnect = { LostAfter: 60 * NS_PER_S, Replace: true, Reconcile: 'best_score' }),
    );
    const island = nodes[0]!;
    const original = h.allocsByNode(island.ID)[0]!;
    h.upsertNode({ ...island, Status: 'disconnected' });
    await h.process(build.eval({ Job: job, TriggeredBy: 'node-update', NodeID: island.ID }));
    const plan = h.lastPlan()!;
    expect(flattenPlanned(plan.NodeUpdate)).toHaveLength(0);
    expect(flattenPlanned(plan.NodeAllocation).map((a) => [a.ID, a.ClientStatus])).toEqual([[original.ID, 'unknown']]);
    expect(
      h.createdEvals.some(
        (e) => e.TriggeredBy === 'max-disconnect-timeout' && Date.parse(e.WaitUntil!) === now.ms + 60_000,
      ),
    ).toBe(true);

    h.upsertNode({ ...island, Status: 'ready' });
    h.upsertAllocs([{ ...h.allocByID(original.ID)!, ClientStatus: 'running' }]);
    now.ms += 5_000;
    await h.process(build.eval({ Job: job, TriggeredBy: 'reconnect' }));
    expect(flattenPlanned(h.lastPlan()!.NodeUpdate)).toHaveLength(0);
    expect(h.allocByID(original.ID)!.AllocStates?.at(-1)?.Value).toBe('running');
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(2);
  });

  it('marks the alloc lost when its group has no disconnect block', async () => {
    const { h, nodes, job } = await runningSystemJob(2);
    h.upsertNode({ ...nodes[0]!, Status: 'disconnected' });
    await h.process(build.eval({ Job: job, TriggeredBy: 'node-update', NodeID: nodes[0]!.ID }));
    expect(h.lastPlan()!.NodeUpdate[nodes[0]!.ID]!.map((a) => a.ClientStatus)).toEqual(['lost']);
  });
});
