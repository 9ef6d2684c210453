/**
 * Nomad's scheduler scenarios 1–18 (../shared/conformance/nomad/scheduler-scenarios.md), one test each,
 * run through the real schedulers against the in-memory harness.
 */
import { describe, expect, it } from 'vitest';
import type { Allocation, Job, Node } from '../structs/index.js';
import { NS_PER_S } from '../structs/index.js';
import { countPlanned, flattenPlanned, Harness } from './testing/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { build } from '../testing/builders.js';

function setup(nodes = 10, nodeOverrides: (i: number) => Partial<Node> = () => ({})): { h: Harness; nodes: Node[] } {
  const h = new Harness();
  const list: Node[] = [];
  for (let i = 0; i < nodes; i++) list.push(h.upsertNode(nomadMock.node(nodeOverrides(i))));
  return { h, nodes: list };
}

function dynamicPortsUnique(allocs: Allocation[]): boolean {
  const seen = new Set<string>();
  for (const a of allocs) {
    for (const p of a.AllocatedResources.Shared.Ports ?? []) {
      const key = `${a.NodeID}:${p.Value}`;
      if (seen.has(key)) return false;
      seen.add(key);
    }
  }
  return true;
}

/** Ten running allocs of `job` on ten nodes, plus five terminal ones (scenario 7's setup). */
function runningAllocs(h: Harness, job: Job, nodes: Node[], terminal = 0): Allocation[] {
  const allocs: Allocation[] = [];
  for (let i = 0; i < 10; i++) allocs.push(nomadMock.alloc(job, nodes[i]!, i, { ClientStatus: 'running' }));
  for (let i = 0; i < terminal; i++)
    allocs.push(nomadMock.alloc(job, nodes[i]!, i, { DesiredStatus: 'stop', ClientStatus: 'failed' }));
  h.upsertAllocs(allocs);
  return allocs;
}

function changedJob(job: Job, change: (j: Job) => void): Job {
  const j2: Job = structuredClone(job);
  change(j2);
  return j2;
}

describe('service and batch scheduler scenarios', () => {
  it('1: places all ten instances of a newly registered job in one plan with unique names and ports', async () => {
    const { h } = setup();
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(1);
    const plan = h.plan(0);
    expect(countPlanned(plan.NodeAllocation)).toBe(10);
    expect(plan.Annotations).toBeNull();
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(10);
    const ev = h.lastEval()!;
    expect(ev.Status).toBe('complete');
    expect(ev.PlanAnnotations!.DesiredTGUpdates['web']?.Place).toBe(10);
    expect(h.createdEvals).toHaveLength(0);
    const names = h
      .liveAllocs(job.Namespace, job.ID)
      .map((a) => a.Name)
      .sort();
    expect(names).toEqual([...Array(10).keys()].map((i) => `${job.ID}.web[${i}]`).sort());
    expect(dynamicPortsUnique(flattenPlanned(plan.NodeAllocation))).toBe(true);
  });

  it('2: places one alloc per node under distinct_hosts and blocks the eleventh', async () => {
    const { h } = setup();
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 11;
    base.Constraints!.push({ LTarget: '', RTarget: '', Operand: 'distinct_hosts' });
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const placed = flattenPlanned(h.plan(0).NodeAllocation);
    expect(placed).toHaveLength(10);
    expect(new Set(placed.map((a) => a.NodeID)).size).toBe(10);
    expect(h.createdEvals.filter((e) => e.Status === 'blocked')).toHaveLength(1);
    expect(Object.keys(h.lastEval()!.FailedTGAllocs!)).toEqual(['web']);
  });

  it('3: places at most two allocs per rack value under distinct_property and blocks the rest', async () => {
    const { h } = setup(10, (i) => ({
      Meta: { 'pci-dss': 'true', database: 'mysql', version: '5.6', rack: i < 5 ? 'rack1' : 'rack2' },
    }));
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 8;
    base.Constraints!.push({ LTarget: '${meta.rack}', RTarget: '2', Operand: 'distinct_property' });
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    const placed = flattenPlanned(h.plan(0).NodeAllocation);
    expect(placed).toHaveLength(4);
    expect(h.plan(0).Annotations).toBeNull();
    expect(h.createdEvals.filter((e) => e.Status === 'blocked')).toHaveLength(1);
    expect(Object.keys(h.lastEval()!.FailedTGAllocs!)).toHaveLength(1);
  });

  it('4: submits no plan at all for a group with count zero', async () => {
    const { h } = setup();
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 0;
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(0);
    expect(h.allocs.size).toBe(0);
    expect(h.lastEval()!.Status).toBe('complete');
  });

  it('5: creates one blocked eval with coalesced failures when there are no nodes', async () => {
    const h = new Harness();
    const job = h.upsertJob(nomadMock.job());
    const ev = build.eval({ Job: job });
    await h.process(ev);
    expect(h.plans).toHaveLength(0);
    expect(h.createdEvals).toHaveLength(1);
    const blocked = h.createdEval(0);
    expect(blocked.Status).toBe('blocked');
    const done = h.lastEval()!;
    expect(done.BlockedEval).toBe(blocked.ID);
    const m = done.FailedTGAllocs!['web']!;
    expect(m.CoalescedFailures).toBe(9);
    expect(m.NodesAvailable!['dc1']).toBeUndefined();
    expect(m.NodesInPool).toBe(0);
    expect(done.QueuedAllocations!['web']).toBe(10);
  });

  it('6: records class eligibility of a full node and a filtered node on the blocked eval', async () => {
    const h = new Harness();
    const full = nomadMock.node();
    full.ReservedResources.Cpu.CpuShares = full.NodeResources.Cpu.CpuShares;
    h.upsertNode(full);
    const windows = nomadMock.node({ NodeClass: 'windows' });
    windows.Attributes = { ...windows.Attributes, 'kernel.name': 'windows' };
    h.upsertNode(windows);
    const job = h.upsertJob(nomadMock.job());
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(0);
    expect(h.createdEvals).toHaveLength(1);
    const blocked = h.createdEval(0);
    const { computeNodeClass } = await import('./index.js');
    expect(blocked.ClassEligibility).toEqual({ [computeNodeClass(full)]: true, [computeNodeClass(windows)]: false });
    expect(blocked.EscapedComputedClass).toBe(false);
    const m = h.lastEval()!.FailedTGAllocs!['web']!;
    expect(m.CoalescedFailures).toBe(9);
    expect(m.NodesAvailable!['dc1']).toBe(2);
    expect(m.NodesInPool).toBe(2);
  });

  it('7: replaces every live alloc on a destructive change and ignores terminal allocs', async () => {
    const { h, nodes } = setup();
    const job = h.upsertJob(nomadMock.job());
    runningAllocs(h, job, nodes, 5);
    const job2 = h.upsertJob(changedJob(job, (j) => (j.TaskGroups[0]!.Tasks[0]!.Config = { command: '/bin/other' })));
    await h.process(build.eval({ Job: job2 }));
    expect(h.plans).toHaveLength(1);
    const plan = h.plan(0);
    expect(countPlanned(plan.NodeUpdate)).toBe(10);
    expect(countPlanned(plan.NodeAllocation)).toBe(10);
    expect(flattenPlanned(plan.NodeUpdate).every((a) => a.ClientStatus === 'running')).toBe(true);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(10);
  });

  it('8: rolls a destructive change four at a time under an update block and creates a deployment', async () => {
    const { h, nodes } = setup();
    const job = h.upsertJob(nomadMock.job());
    runningAllocs(h, job, nodes, 5);
    const job2 = h.upsertJob(
      changedJob(job, (j) => {
        j.TaskGroups[0]!.Tasks[0]!.Config = { command: '/bin/other' };
        j.TaskGroups[0]!.Update = updateBlock({ MaxParallel: 4 });
      }),
    );
    const ev = build.eval({ Job: job2 });
    await h.process(ev);
    const plan = h.plan(0);
    expect(countPlanned(plan.NodeUpdate)).toBe(4);
    expect(countPlanned(plan.NodeAllocation)).toBe(4);
    expect(plan.Deployment).not.toBeNull();
    expect(h.lastEval()!.DeploymentID).toBe(plan.Deployment!.ID);
    expect(plan.Deployment!.TaskGroups['web']?.DesiredTotal).toBe(10);
  });

  it('9: places two canaries and stops nothing when the update block asks for canaries', async () => {
    const { h, nodes } = setup();
    const job = h.upsertJob(nomadMock.job());
    runningAllocs(h, job, nodes, 5);
    const job2 = h.upsertJob(
      changedJob(job, (j) => {
        j.TaskGroups[0]!.Tasks[0]!.Config = { command: '/bin/other' };
        j.TaskGroups[0]!.Update = updateBlock({ MaxParallel: 2, Canary: 2 });
      }),
    );
    await h.process(build.eval({ Job: job2 }));
    const plan = h.plan(0);
    expect(countPlanned(plan.NodeUpdate)).toBe(0);
    const placed = flattenPlanned(plan.NodeAllocation);
    expect(placed).toHaveLength(2);
    expect(placed.every((a) => a.DeploymentStatus?.Canary === true)).toBe(true);
    const dep = h.deployments.get(plan.Deployment!.ID)!;
    expect(dep.TaskGroups['web']?.DesiredTotal).toBe(10);
    expect(dep.TaskGroups['web']?.DesiredCanaries).toBe(2);
    expect(dep.TaskGroups['web']?.PlacedCanaries).toHaveLength(2);
  });

  it('10: updates allocs in place when only the update block changed, moving them to the new deployment', async () => {
    const { h, nodes } = setup();
    const job = h.upsertJob(nomadMock.job());
    const old = runningAllocs(h, job, nodes).map((a) => ({
      ...a,
      DeploymentID: 'old-deployment',
      DeploymentStatus: { Healthy: true, Timestamp: null, Canary: false, ModifyIndex: 0 },
    }));
    h.upsertAllocs(old);
    const job2 = h.upsertJob(changedJob(job, (j) => (j.TaskGroups[0]!.Update = updateBlock({ MaxParallel: 3 }))));
    await h.process(build.eval({ Job: job2 }));
    const plan = h.plan(0);
    expect(countPlanned(plan.NodeUpdate)).toBe(0);
    const updated = flattenPlanned(plan.NodeAllocation);
    expect(updated).toHaveLength(10);
    const byID = new Map(old.map((a) => [a.ID, a]));
    for (const a of updated) {
      const before = byID.get(a.ID)!;
      expect(a.Job.Version).toBe(job2.Version);
      expect(a.AllocatedResources).toEqual(before.AllocatedResources);
      expect(a.DeploymentID).toBe(plan.Deployment!.ID);
      expect(a.DeploymentStatus).toBeNull();
    }
  });

  it('11: stops every alloc of a stopped job and keeps each alloc carrying its job', async () => {
    const { h, nodes } = setup();
    const job = h.upsertJob(nomadMock.job());
    runningAllocs(h, job, nodes);
    const stopped = h.upsertJob({ ...job, Stop: true });
    await h.process(build.eval({ Job: stopped, TriggeredBy: 'job-deregister' }));
    expect(h.plans).toHaveLength(1);
    const stops = flattenPlanned(h.plan(0).NodeUpdate);
    expect(stops).toHaveLength(10);
    expect(stops.every((a) => a.Job != null)).toBe(true);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(0);
    expect(h.lastEval()!.QueuedAllocations!['web'] ?? 0).toBe(0);
  });

  describe('12: allocs on a down node', () => {
    const cases: {
      desired: string;
      client: string;
      migrate?: boolean;
      expect: 'lost' | 'migrate' | 'none' | 'reschedule';
    }[] = [
      { desired: 'stop', client: 'running', expect: 'lost' },
      { desired: 'run', client: 'pending', migrate: true, expect: 'migrate' },
      { desired: 'run', client: 'running', migrate: true, expect: 'migrate' },
      { desired: 'run', client: 'lost', expect: 'none' },
      { desired: 'run', client: 'complete', expect: 'none' },
      { desired: 'run', client: 'failed', expect: 'reschedule' },
      { desired: 'evict', client: 'running', expect: 'lost' },
    ];
    for (const c of cases) {
      it(`handles (${c.desired}, ${c.client}${c.migrate ? ', migrate' : ''}) as ${c.expect}`, async () => {
        const h = new Harness();
        const node = h.upsertNode(nomadMock.node({ Status: 'down' }));
        const job = h.upsertJob(nomadMock.job());
        const a = nomadMock.alloc(job, node, 0, {
          DesiredStatus: c.desired,
          ClientStatus: c.client,
          DesiredTransition: { Migrate: c.migrate ?? null },
        });
        h.upsertAllocs([a]);
        await h.process(build.eval({ Job: job, TriggeredBy: 'node-update', NodeID: node.ID }));
        expect(h.lastEval()!.Status).toBe('complete');
        if (c.expect === 'none') {
          expect(h.plans).toHaveLength(0);
          return;
        }
        const plan = h.plan(0);
        if (c.expect === 'lost') {
          expect(plan.NodeUpdate[node.ID]?.[0]?.ClientStatus).toBe('lost');
        } else if (c.expect === 'migrate') {
          const stopped = plan.NodeUpdate[node.ID]![0]!;
          expect(stopped.ID).toBe(a.ID);
          expect(stopped.ClientStatus).not.toBe('lost');
        } else {
          const upd = plan.NodeAllocation[node.ID]![0]!;
          expect(upd.ID).toBe(a.ID);
          expect(upd.ClientStatus).toBe('failed');
        }
      });
    }
  });

  it('13: migrates every alloc off a draining node', async () => {
    const { h, nodes } = setup(10);
    const draining = h.upsertNode(
      nomadMock.node({
        DrainStrategy: { Deadline: 0, IgnoreSystemJobs: false, ForceDeadline: '', StartedAt: '' },
        SchedulingEligibility: 'ineligible',
      }),
    );
    const job = h.upsertJob(nomadMock.job());
    const allocs = [...Array(10).keys()].map((i) =>
      nomadMock.alloc(job, draining, i, { ClientStatus: 'running', DesiredTransition: { Migrate: true } }),
    );
    h.upsertAllocs(allocs);
    await h.process(build.eval({ Job: job, TriggeredBy: 'node-drain', NodeID: draining.ID }));
    expect(h.plans).toHaveLength(1);
    const plan = h.plan(0);
    expect(plan.NodeUpdate[draining.ID]).toHaveLength(10);
    const placed = flattenPlanned(plan.NodeAllocation);
    expect(placed).toHaveLength(10);
    expect(placed.every((a) => nodes.some((n) => n.ID === a.NodeID))).toBe(true);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(10);
  });

  it('14: reschedules a failed alloc now, once, with a tracker pointing at the failed alloc', async () => {
    const { h, nodes } = setup();
    const job = h.upsertJob(rescheduleOnceJob(5 * NS_PER_S));
    const now = h.clock.now();
    const failedAt = new Date(now - 10_000).toISOString();
    const ok = nomadMock.alloc(job, nodes[0]!, 0, { ClientStatus: 'running' });
    const failed = nomadMock.alloc(job, nodes[1]!, 1, {
      ClientStatus: 'failed',
      TaskStates: { web: taskDead(failedAt) },
    });
    h.upsertAllocs([ok, failed]);
    await h.process(build.eval({ Job: job, TriggeredBy: 'alloc-failure' }));
    expect(h.allocsByJob(job.Namespace, job.ID)).toHaveLength(3);
    const repl = flattenPlanned(h.plan(0).NodeAllocation).find((a) => a.ID !== failed.ID)!;
    expect(repl.PreviousAllocation).toBe(failed.ID);
    expect(repl.RescheduleTracker!.Events).toHaveLength(1);
    expect(repl.RescheduleTracker!.Events![0]?.PrevAllocID).toBe(failed.ID);
    expect(repl.NodeID).not.toBe(failed.NodeID);

    h.upsertAllocs([{ ...h.allocByID(repl.ID)!, ClientStatus: 'failed', TaskStates: { web: taskDead(failedAt) } }]);
    await h.process(build.eval({ Job: job, TriggeredBy: 'alloc-failure' }));
    expect(h.allocsByJob(job.Namespace, job.ID)).toHaveLength(3);
  });

  it('15: schedules a failed alloc for later with a pending follow-up eval', async () => {
    const { h, nodes } = setup();
    const job = h.upsertJob(rescheduleOnceJob(15 * NS_PER_S));
    const now = h.clock.now();
    const ok = nomadMock.alloc(job, nodes[0]!, 0, { ClientStatus: 'running' });
    const failed = nomadMock.alloc(job, nodes[1]!, 1, {
      ClientStatus: 'failed',
      TaskStates: { web: taskDead(new Date(now).toISOString()) },
    });
    h.upsertAllocs([ok, failed]);
    await h.process(build.eval({ Job: job, TriggeredBy: 'alloc-failure' }));
    expect(h.allocsByJob(job.Namespace, job.ID)).toHaveLength(2);
    expect(h.createdEvals).toHaveLength(1);
    const follow = h.createdEval(0);
    expect(follow.Status).toBe('pending');
    expect(Date.parse(follow.WaitUntil!)).toBe(now + 15_000);
    expect(h.allocByID(failed.ID)!.FollowupEvalID).toBe(follow.ID);
  });

  it('16a: never re-runs a completed batch alloc', async () => {
    const { h, nodes } = setup(1);
    const base = nomadMock.batchJob();
    base.TaskGroups[0]!.Count = 1;
    const job = h.upsertJob(base);
    h.upsertAllocs([nomadMock.alloc(job, nodes[0]!, 0, { ClientStatus: 'complete' })]);
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(0);
    expect(h.allocsByJob(job.Namespace, job.ID)).toHaveLength(1);
  });

  it('16b: replaces a batch alloc that failed ten seconds ago', async () => {
    const { h, nodes } = setup(1);
    const base = nomadMock.batchJob();
    base.TaskGroups[0]!.Count = 1;
    const job = h.upsertJob(base);
    const failedAt = new Date(h.clock.now() - 10_000).toISOString();
    h.upsertAllocs([
      nomadMock.alloc(job, nodes[0]!, 0, { ClientStatus: 'failed', TaskStates: { web: taskDead(failedAt) } }),
    ]);
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(1);
    expect(h.allocsByJob(job.Namespace, job.ID)).toHaveLength(2);
    expect(h.lastEval()!.QueuedAllocations!['web']).toBe(0);
  });

  it('17: spreads ten allocs evenly over two datacenters', async () => {
    const { h } = setup(10, (i) => ({ Datacenter: i < 5 ? 'dc1' : 'dc2' }));
    const base = nomadMock.job({ Datacenters: ['dc1', 'dc2'] });
    base.TaskGroups[0]!.Spreads = [{ Attribute: '${node.datacenter}', Weight: 100, SpreadTarget: null }];
    const job = h.upsertJob(base);
    await h.process(build.eval({ Job: job }));
    expect(dcCounts(h, flattenPlanned(h.plan(0).NodeAllocation))).toEqual({ dc1: 5, dc2: 5 });
    expect(h.createdEvals).toHaveLength(0);
  });

  describe('18: spread targets', () => {
    for (let p = 100; p >= 10; p -= 10) {
      it(`places ${p / 10} allocs in dc1 and ${10 - p / 10} in dc2 for a ${p}% target`, async () => {
        const { h } = setup(10, (i) => {
          const n = nomadMock.node({ Datacenter: i < 5 ? 'dc1' : 'dc2' });
          n.NodeResources.MinDynamicPort = 20000;
          n.NodeResources.MaxDynamicPort = 20005;
          return n;
        });
        const base = nomadMock.job({ Datacenters: ['dc*'] });
        const targets = [{ Value: 'dc1', Percent: p }];
        if (p < 100) targets.push({ Value: 'dc2', Percent: 100 - p });
        base.TaskGroups[0]!.Spreads = [{ Attribute: '${node.datacenter}', Weight: 100, SpreadTarget: targets }];
        const job = h.upsertJob(base);
        await h.process(build.eval({ Job: job }));
        const want: Record<string, number> = { dc1: p / 10 };
        if (p < 100) want['dc2'] = 10 - p / 10;
        expect(dcCounts(h, flattenPlanned(h.plan(0).NodeAllocation))).toEqual(want);
      });
    }
  });

  describe('18b: spread targets with one node per datacenter (job anti-affinity pulls the other way)', () => {
    for (const p of [70, 60, 80, 90]) {
      it(`places ${p / 10} allocs in dc1 and ${10 - p / 10} in dc2 for a ${p}/${100 - p} target`, async () => {
        const { h } = setup(2, (i) => ({ Datacenter: i === 0 ? 'dc1' : 'dc2' }));
        const base = nomadMock.job({ Datacenters: ['dc1', 'dc2'] });
        base.TaskGroups[0]!.Count = 10;
        base.TaskGroups[0]!.Tasks[0]!.Resources.CPU = 20;
        base.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB = 16;
        const targets = [
          { Value: 'dc1', Percent: p },
          { Value: 'dc2', Percent: 100 - p },
        ];
        base.TaskGroups[0]!.Spreads = [{ Attribute: '${node.datacenter}', Weight: 100, SpreadTarget: targets }];
        const job = h.upsertJob(base);
        await h.process(build.eval({ Job: job }));
        expect(dcCounts(h, flattenPlanned(h.plan(0).NodeAllocation))).toEqual({ dc1: p / 10, dc2: 10 - p / 10 });
      });
    }
  });
});

function updateBlock(o: { MaxParallel: number; Canary?: number }) {
  return build.update({
    Stagger: 30 * NS_PER_S,
    MaxParallel: o.MaxParallel,
    MinHealthyTime: 10 * NS_PER_S,
    HealthyDeadline: 600 * NS_PER_S,
    Canary: o.Canary ?? 0,
  });
}

/** Two instances that may be rescheduled once in 15 minutes, after a constant `delayNs`. */
function rescheduleOnceJob(delayNs: number) {
  const job = nomadMock.job();
  job.TaskGroups[0]!.Count = 2;
  job.TaskGroups[0]!.ReschedulePolicy = {
    Attempts: 1,
    Interval: 15 * 60 * NS_PER_S,
    Delay: delayNs,
    MaxDelay: 60 * NS_PER_S,
    DelayFunction: 'constant',
    Unlimited: false,
  };
  return job;
}

function taskDead(finishedAt: string) {
  return build.taskState({ State: 'dead', Failed: true, FinishedAt: finishedAt });
}

function dcCounts(h: Harness, allocs: Allocation[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of allocs) {
    const dc = h.nodeByID(a.NodeID)!.Datacenter;
    out[dc] = (out[dc] ?? 0) + 1;
  }
  return out;
}
