/**
 * A failed allocation that its reschedule policy will not replace (attempts = 0, unlimited = false) keeps the
 * group one short while the job stays the same, as in Nomad; but a new job version, a revert included, must
 * place a fresh allocation for it, or the new deployment waits forever for a slot a dead alloc holds.
 */
import { describe, expect, it } from 'vitest';
import type { Allocation, Job, Node } from '../../structs/index.js';
import { flattenPlanned, Harness } from '../testing/index.js';
import { nomadMock } from '../../testing/nomad-mock.js';
import { build } from '../../testing/builders.js';

const S = 1_000_000_000;

function failedState(finishedAt: string) {
  return build.taskState({ State: 'dead', Failed: true, FinishedAt: finishedAt });
}

/** A count-1 service with a rolling update block and no rescheduling, whose only alloc has failed. */
function setup(): { h: Harness; job: Job; failed: Allocation; nodes: Node[] } {
  const h = new Harness();
  const nodes = [0, 1, 2].map(() => h.upsertNode(nomadMock.node()));
  const base = nomadMock.job();
  const tg = base.TaskGroups[0]!;
  tg.Count = 1;
  tg.ReschedulePolicy = {
    Attempts: 0,
    Interval: 0,
    Delay: 5 * S,
    DelayFunction: 'constant',
    MaxDelay: 0,
    Unlimited: false,
  };
  tg.Update = build.update({ AutoRevert: true });
  const job = h.upsertJob(base);
  const failed = nomadMock.alloc(job, nodes[0]!, 0, {
    ClientStatus: 'failed',
    TaskStates: { web: failedState(new Date(h.clock.now() - 10_000).toISOString()) },
  });
  h.upsertAllocs([failed]);
  return { h, job, failed, nodes };
}

function withEnv(job: Job, env: Record<string, string>): Job {
  const j = structuredClone(job);
  j.TaskGroups[0]!.Tasks[0]!.Env = env;
  return j;
}

describe('a failed allocation that will not be rescheduled', () => {
  it('is not replaced while the job version stays the same', async () => {
    const { h, job } = setup();
    await h.process(build.eval({ Job: job, TriggeredBy: 'alloc-failure' }));
    expect(h.plans.flatMap((p) => flattenPlanned(p.NodeAllocation))).toHaveLength(0);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(0);
  });

  it('is replaced by a new job version with a destructive change, the failed alloc linked as previous', async () => {
    const { h, failed } = setup();
    const v1 = h.upsertJob(withEnv(failed.Job, { RELEASE: '2' }));
    await h.process(build.eval({ Job: v1 }));
    const plan = h.lastPlan()!;
    const placed = flattenPlanned(plan.NodeAllocation);
    expect(placed).toHaveLength(1);
    expect(placed[0]).toMatchObject({
      Name: failed.Name,
      PreviousAllocation: failed.ID,
      DeploymentID: plan.Deployment!.ID,
    });
    expect(placed[0]?.Job.Version).toBe(1);
    expect(flattenPlanned(plan.NodeUpdate).map((a) => a.ID)).toEqual([failed.ID]);
  });

  it('does not block the rollback deployment of a revert to the stable version', async () => {
    const { h, job, nodes } = setup();
    // v0 was healthy (its alloc replaced and running); v1's alloc failed; auto-revert registers v2 = v0's spec.
    h.upsertAllocs([{ ...h.allocsByJob(job.Namespace, job.ID)[0]!, DesiredStatus: 'stop', ClientStatus: 'complete' }]);
    const v1 = h.upsertJob(withEnv(job, { RELEASE: 'bad' }));
    const bad = nomadMock.alloc(v1, nodes[1]!, 0, {
      ClientStatus: 'failed',
      TaskStates: { web: failedState(new Date(h.clock.now() - 5_000).toISOString()) },
    });
    h.upsertAllocs([bad]);
    const v2 = h.upsertJob(structuredClone(job));
    await h.process(build.eval({ Job: v2, TriggeredBy: 'deployment-watcher' }));
    const plan = h.lastPlan()!;
    expect(plan.Deployment).toMatchObject({ JobVersion: 2, Status: 'running' });
    const placed = flattenPlanned(plan.NodeAllocation);
    expect(placed.map((a) => [a.Name, a.PreviousAllocation, a.Job.Version])).toEqual([[bad.Name, bad.ID, 2]]);
    expect(h.liveAllocs(v2.Namespace, v2.ID)).toHaveLength(1);
  });
});

describe('the canary of a failed deployment', () => {
  it('is stopped by the revert, which updates the old allocations in place and places no canary of its own', async () => {
    const h = new Harness();
    for (let i = 0; i < 3; i++) h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    const tg = base.TaskGroups[0]!;
    tg.Count = 3;
    tg.Update = build.update({ AutoRevert: true, AutoPromote: true, Canary: 1 });
    const v0 = h.upsertJob(base);
    await h.process(build.eval({ Job: v0 }));
    const old = h.liveAllocs(v0.Namespace, v0.ID);
    h.upsertAllocs(
      old.map((a) => ({
        ...a,
        ClientStatus: 'running',
        DeploymentStatus: { Healthy: true, Timestamp: null, Canary: false, ModifyIndex: 0 },
      })),
    );
    h.upsertDeployment({ ...h.deploymentByID(h.lastPlan()!.Deployment!.ID)!, Status: 'successful' });

    const v1 = h.upsertJob(withEnv(v0, { RELEASE: 'broken' }));
    await h.process(build.eval({ Job: v1 }));
    const dep = h.lastPlan()!.Deployment!;
    const canary = flattenPlanned(h.lastPlan()!.NodeAllocation)[0]!;
    expect(canary.DeploymentStatus?.Canary).toBe(true);
    // Its check never passed: unhealthy, the deployment failed, and auto_revert registered v0's spec again.
    h.upsertAllocs([
      {
        ...h.allocByID(canary.ID)!,
        ClientStatus: 'running',
        DeploymentStatus: { Healthy: false, Timestamp: null, Canary: true, ModifyIndex: 0 },
      },
    ]);
    h.upsertDeployment({ ...h.deploymentByID(dep.ID)!, Status: 'failed' });
    const v2 = h.upsertJob(structuredClone(v0));
    await h.process(build.eval({ Job: v2, TriggeredBy: 'deployment-watcher' }));

    const plan = h.lastPlan()!;
    expect(flattenPlanned(plan.NodeUpdate).map((a) => [a.ID, a.DesiredStatus])).toEqual([[canary.ID, 'stop']]);
    const updated = flattenPlanned(plan.NodeAllocation);
    expect(updated.map((a) => a.ID).sort()).toEqual(old.map((a) => a.ID).sort());
    expect(updated.every((a) => a.Job.Version === 2 && !a.DeploymentStatus?.Canary)).toBe(true);
    expect(plan.Deployment?.TaskGroups['web']?.DesiredCanaries ?? 0).toBe(0);
    expect(h.liveAllocs(v2.Namespace, v2.ID)).toHaveLength(3);
  });
});
