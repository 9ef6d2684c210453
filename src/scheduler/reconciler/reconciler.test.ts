import { describe, expect, it } from 'vitest';
import { NS_PER_S } from '../../structs/index.js';
import { flattenPlanned, Harness } from '../testing/index.js';
import { nomadMock } from '../../testing/nomad-mock.js';
import { build } from '../../testing/builders.js';
import { nextDelayNs, rescheduleDecision } from './reschedule.js';
import { tasksUpdated } from './update.js';

describe('destructive vs in-place changes', () => {
  const job = nomadMock.job();
  const variant = (f: (j: typeof job) => void) => {
    const j = structuredClone(job);
    f(j);
    return j;
  };
  it('treats driver, config, env, resources, ports and meta changes as destructive', () => {
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Tasks[0]!.Driver = 'docker')),
        'web',
      ),
    ).toBe(true);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Tasks[0]!.Config = { command: 'x' })),
        'web',
      ),
    ).toBe(true);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Tasks[0]!.Env = { A: 'b' })),
        'web',
      ),
    ).toBe(true);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Tasks[0]!.Resources.CPU = 501)),
        'web',
      ),
    ).toBe(true);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Networks![0]!.DynamicPorts![0]!.Label = 'web')),
        'web',
      ),
    ).toBe(true);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.Meta = { owner: 'someone' })),
        'web',
      ),
    ).toBe(true);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Tasks[0]!.Services![0]!.PortLabel = 'admin')),
        'web',
      ),
    ).toBe(true);
  });
  it('treats count, update, reschedule, constraints and priority changes as in-place', () => {
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Count = 3)),
        'web',
      ),
    ).toBe(false);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.Priority = 70)),
        'web',
      ),
    ).toBe(false);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Constraints = null)),
        'web',
      ),
    ).toBe(false);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.ReschedulePolicy!.Attempts = 9)),
        'web',
      ),
    ).toBe(false);
    expect(
      tasksUpdated(
        job,
        variant((j) => (j.TaskGroups[0]!.Tasks[0]!.Env = { FOO: 'bar' })),
        'web',
      ),
    ).toBe(false);
  });
});

describe('reschedule policy', () => {
  const node = nomadMock.node();
  const ev = (delay: number) => ({ RescheduleTime: 0, PrevAllocID: 'x', PrevNodeID: 'n', Delay: delay });
  it('grows exponential delays by doubling up to max_delay and fibonacci delays by summing', () => {
    const p = {
      Attempts: 0,
      Interval: 0,
      Delay: 5 * NS_PER_S,
      DelayFunction: 'exponential',
      MaxDelay: 30 * NS_PER_S,
      Unlimited: true,
    };
    const a = nomadMock.alloc(nomadMock.job(), node);
    expect(nextDelayNs(p, a)).toBe(5 * NS_PER_S);
    expect(nextDelayNs(p, { ...a, RescheduleTracker: { Events: [ev(5 * NS_PER_S), ev(10 * NS_PER_S)] } })).toBe(
      20 * NS_PER_S,
    );
    expect(nextDelayNs(p, { ...a, RescheduleTracker: { Events: [ev(20 * NS_PER_S)] } })).toBe(30 * NS_PER_S);
    const f = { ...p, DelayFunction: 'fibonacci', MaxDelay: 0 };
    expect(nextDelayNs(f, { ...a, RescheduleTracker: { Events: [ev(5 * NS_PER_S)] } })).toBe(5 * NS_PER_S);
    expect(nextDelayNs(f, { ...a, RescheduleTracker: { Events: [ev(5 * NS_PER_S), ev(5 * NS_PER_S)] } })).toBe(
      10 * NS_PER_S,
    );
  });
  it('refuses a reschedule once the attempts in the interval are used, and allows it after the interval', () => {
    const job = nomadMock.job();
    const tg = job.TaskGroups[0]!;
    const now = 1_700_000_000_000;
    const recent = { RescheduleTime: (now - 60_000) * 1e6, PrevAllocID: 'x', PrevNodeID: 'n', Delay: 0 };
    const old = { ...recent, RescheduleTime: (now - 3_600_000) * 1e6 };
    const failed = nomadMock.alloc(job, node, 0, { ClientStatus: 'failed', ModifyTime: (now - 60_000) * 1e6 });
    expect(rescheduleDecision(job, tg, { ...failed, RescheduleTracker: { Events: [recent, recent] } }, now).kind).toBe(
      'never',
    );
    expect(rescheduleDecision(job, tg, { ...failed, RescheduleTracker: { Events: [old, old] } }, now).kind).toBe('now');
  });
});

describe('reconciler through the scheduler', () => {
  it('replaces lost allocs of a down node elsewhere, keeping their names and linking them', async () => {
    const h = new Harness();
    const down = h.upsertNode(nomadMock.node());
    h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 2;
    const job = h.upsertJob(base);
    const allocs = [0, 1].map((i) => nomadMock.alloc(job, down, i, { ClientStatus: 'running' }));
    h.upsertAllocs(allocs);
    h.upsertNode({ ...down, Status: 'down' });
    await h.process(build.eval({ Job: job, TriggeredBy: 'node-update', NodeID: down.ID }));
    const plan = h.lastPlan()!;
    expect(plan.NodeUpdate[down.ID]?.map((a) => a.ClientStatus)).toEqual(['lost', 'lost']);
    const placed = flattenPlanned(plan.NodeAllocation);
    expect(placed.map((a) => a.Name).sort()).toEqual(allocs.map((a) => a.Name).sort());
    expect(placed.every((a) => a.NodeID !== down.ID && allocs.some((o) => o.ID === a.PreviousAllocation))).toBe(true);
  });

  it('does not replace lost allocs when the group prevents rescheduling on lost', async () => {
    const h = new Harness();
    const down = h.upsertNode(nomadMock.node({ Status: 'down' }));
    h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 1;
    base.TaskGroups[0]!.PreventRescheduleOnLost = true;
    const job = h.upsertJob(base);
    h.upsertAllocs([nomadMock.alloc(job, down, 0, { ClientStatus: 'running' })]);
    await h.process(build.eval({ Job: job, TriggeredBy: 'node-update' }));
    expect(flattenPlanned(h.lastPlan()!.NodeAllocation)).toHaveLength(0);
    expect(flattenPlanned(h.lastPlan()!.NodeUpdate)).toHaveLength(1);
  });

  it('cancels the running deployment of an older job version', async () => {
    const h = new Harness();
    for (let i = 0; i < 3; i++) h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 3;
    base.TaskGroups[0]!.Update = build.update();
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const first = h.lastPlan()!.Deployment!;
    const j2 = structuredClone(job);
    j2.TaskGroups[0]!.Tasks[0]!.Env = { X: '1' };
    const v1 = h.upsertJob(j2);
    await h.process(build.eval({ Job: v1 }));
    const plan = h.lastPlan()!;
    expect(plan.DeploymentUpdates).toEqual([
      { DeploymentID: first.ID, Status: 'cancelled', StatusDescription: 'Cancelled due to newer version of job' },
    ]);
    expect(plan.Deployment!.ID).not.toBe(first.ID);
    expect(flattenPlanned(plan.NodeUpdate)).toHaveLength(1);
  });

  it('starts a new deployment for a job purged and registered again at the same version', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 1;
    base.TaskGroups[0]!.Update = build.update();
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const first = h.lastPlan()!.Deployment!;
    // `job stop -purge`: the deployment is cancelled and the allocations stopped; the job is gone, but its
    // deployment and allocations stay in the state until garbage collection.
    h.upsertDeployment({ ...h.deploymentByID(first.ID)!, Status: 'cancelled' });
    h.upsertAllocs(
      h.liveAllocs(job.Namespace, job.ID).map((a) => ({ ...a, DesiredStatus: 'stop', ClientStatus: 'complete' })),
    );
    h.jobs.clear();
    const again = h.upsertJob(base);
    expect(again.Version).toBe(job.Version);
    expect(again.CreateIndex).not.toBe(job.CreateIndex);
    await h.process(build.eval({ Job: again }));
    const plan = h.lastPlan()!;
    expect(plan.Deployment?.ID).not.toBe(first.ID);
    expect(plan.Deployment).toMatchObject({ Status: 'running', JobCreateIndex: again.CreateIndex });
    expect(flattenPlanned(plan.NodeAllocation).map((a) => a.DeploymentID)).toEqual([plan.Deployment!.ID]);
  });

  it('replaces old allocs by canary name once the deployment is promoted', async () => {
    const h = new Harness();
    for (let i = 0; i < 4; i++) h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 4;
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const j2 = structuredClone(job);
    j2.TaskGroups[0]!.Tasks[0]!.Env = { X: '1' };
    j2.TaskGroups[0]!.Update = build.update({ MaxParallel: 4, Canary: 1 });
    const v1 = h.upsertJob(j2);
    await h.process(build.eval({ Job: v1 }));
    const dep = h.lastPlan()!.Deployment!;
    const canary = flattenPlanned(h.lastPlan()!.NodeAllocation)[0]!;
    expect(dep.StatusDescription).toBe('Deployment is running but requires manual promotion');
    const stored = h.deploymentByID(dep.ID)!;
    h.upsertDeployment({ ...stored, TaskGroups: { web: { ...stored.TaskGroups['web']!, Promoted: true } } });
    h.upsertAllocs([
      {
        ...h.allocByID(canary.ID)!,
        ClientStatus: 'running',
        DeploymentStatus: { Healthy: true, Timestamp: null, Canary: true, ModifyIndex: 0 },
      },
    ]);
    await h.process(build.eval({ Job: v1, TriggeredBy: 'deployment-watcher' }));
    const stops = flattenPlanned(h.lastPlan()!.NodeUpdate);
    expect(stops.some((a) => a.Name === canary.Name)).toBe(true);
    expect(h.liveAllocs(v1.Namespace, v1.ID)).toHaveLength(4);
  });
});
