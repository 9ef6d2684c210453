/**
 * Nomad's scheduler scenarios 19–28 (../shared/conformance/nomad/scheduler-scenarios.md): the system
 * scheduler, and the ranking formulas checked on the placement stack's parts.
 */
import { describe, expect, it } from 'vitest';
import type { Job, Node } from '../structs/index.js';
import { EvalEligibility } from './feasible/feasibility.js';
import { buildGroupSpec } from './feasible/group-spec.js';
import { jobAntiAffinityScore, nodeAffinityScore, SpreadScorer, evenSpreadBoost } from './feasible/rank.js';
import { PlacementStack } from './feasible/select.js';
import { JobTracker, UsageTracker } from './feasible/usage.js';
import { scoreFitBinPack, scoreFitSpread } from './index.js';
import { countPlanned, flattenPlanned, Harness } from './testing/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { build } from '../testing/builders.js';

describe('system scheduler scenarios', () => {
  it('19: places one alloc per node, all named with index 0', async () => {
    const h = new Harness();
    for (let i = 0; i < 10; i++) h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.systemJob());
    await h.process(build.eval({ Job: job }));
    expect(h.plans).toHaveLength(1);
    const placed = flattenPlanned(h.plan(0).NodeAllocation);
    expect(placed).toHaveLength(10);
    expect(new Set(placed.map((a) => a.NodeID)).size).toBe(10);
    expect(placed.every((a) => a.Name === `${job.Name}.web[0]`)).toBe(true);
    expect(placed.every((a) => a.Metrics!.NodesAvailable!['dc1'] === 10 && a.Metrics!.NodesInPool === 10)).toBe(true);
    const ev = h.lastEval()!;
    expect(ev.PlanAnnotations!.DesiredTGUpdates['web']?.Place).toBe(10);
    expect(ev.QueuedAllocations!['web']).toBe(0);
  });

  it('20: places exactly one alloc on a node that joins', async () => {
    const h = new Harness();
    for (let i = 0; i < 10; i++) h.upsertNode(nomadMock.node());
    const job = h.upsertJob(nomadMock.systemJob());
    await h.process(build.eval({ Job: job }));
    const added = h.upsertNode(nomadMock.node());
    await h.process(build.eval({ Job: job, TriggeredBy: 'node-update', NodeID: added.ID }));
    expect(h.plans).toHaveLength(2);
    const plan = h.plan(1);
    expect(countPlanned(plan.NodeUpdate)).toBe(0);
    expect(Object.keys(plan.NodeAllocation)).toEqual([added.ID]);
    expect(plan.NodeAllocation[added.ID]).toHaveLength(1);
    expect(h.liveAllocs(job.Namespace, job.ID)).toHaveLength(11);
  });

  it('21: explains a constraint that filters every node under its string form', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    h.upsertNode(nomadMock.node());
    const job = h.upsertJob(
      nomadMock.systemJob({
        Constraints: [{ LTarget: '${node.unique.name}', RTarget: 'something-else', Operand: '==' }],
      }),
    );
    await h.process(build.eval({ Job: job }));
    expect(h.updatedEvals).toHaveLength(1);
    const failed = h.lastEval()!.FailedTGAllocs!;
    expect(Object.keys(failed)).toEqual(['web']);
    expect(failed['web']?.ConstraintFiltered!['${node.unique.name} == something-else']).toBe(2);
  });

  it('22: preempts a lower-priority service alloc to place a system alloc on a full node', async () => {
    const h = new Harness();
    const node = h.upsertNode(nomadMock.node());
    const svc = nomadMock.job();
    svc.TaskGroups[0]!.Count = 1;
    svc.TaskGroups[0]!.Tasks[0]!.Resources.CPU = 13500;
    const service = h.upsertJob(svc);
    await h.process(build.eval({ Job: service }));
    expect(h.liveAllocs(service.Namespace, service.ID)).toHaveLength(1);
    const job = h.upsertJob(nomadMock.systemJob());
    await h.process(build.eval({ Job: job }));
    const plan = h.lastPlan()!;
    expect(plan.NodeAllocation[node.ID]).toHaveLength(1);
    expect(Object.keys(plan.NodePreemptions)).toEqual([node.ID]);
    expect(plan.NodePreemptions[node.ID]?.map((a) => a.JobID)).toEqual([service.ID]);
    expect(h.lastEval()!.QueuedAllocations!['web']).toBe(0);
  });
});

function resourcesNode(cpu: number, mem: number, rcpu: number, rmem: number): Node {
  const n = nomadMock.node();
  n.NodeResources.Cpu.CpuShares = cpu;
  n.NodeResources.Memory.MemoryMB = mem;
  n.ReservedResources.Cpu.CpuShares = rcpu;
  n.ReservedResources.Memory.MemoryMB = rmem;
  return n;
}

function stackFor(h: Harness, job: Job, nodes: Node[]) {
  const usage = new UsageTracker(h);
  const jobs = new JobTracker(h, job.Namespace, job.ID, (id) => usage.isRemoved(id));
  const pass = { nodes, nodesAvailable: {}, nodesInPool: nodes.length, nodePool: 'default' };
  const stack = new PlacementStack(pass, usage, jobs, new EvalEligibility(), { batch: false, algorithm: 'binpack' });
  return { stack, usage, jobs };
}

describe('ranking scenarios', () => {
  it('23: scores bin-pack and spread fit with Nomad formula', () => {
    const n = resourcesNode(4096, 8192, 2048, 4096);
    expect(scoreFitBinPack(n, { cpu: 2048, memoryMB: 4096 })).toBeCloseTo(18, 6);
    expect(scoreFitSpread(n, { cpu: 2048, memoryMB: 4096 })).toBeCloseTo(0, 6);
    expect(scoreFitBinPack(n, { cpu: 0, memoryMB: 0 })).toBeCloseTo(0, 6);
    expect(scoreFitSpread(n, { cpu: 0, memoryMB: 0 })).toBeCloseTo(18, 6);
    expect(Math.abs(scoreFitBinPack(n, { cpu: 1024, memoryMB: 2048 }) - 13.675)).toBeLessThan(0.001);
    expect(Math.abs(scoreFitSpread(n, { cpu: 1024, memoryMB: 2048 }) - 4.325)).toBeLessThan(0.001);
  });

  it('24: filters a node too small after reservations and prefers the perfectly fitting node', () => {
    const h = new Harness();
    const a = h.upsertNode(resourcesNode(2048, 2048, 1024, 1024));
    const b = h.upsertNode(resourcesNode(1024, 1024, 512, 512));
    const c = h.upsertNode(resourcesNode(4096, 4096, 1024, 1024));
    const base = nomadMock.job();
    const tg = base.TaskGroups[0]!;
    tg.Networks = null;
    tg.EphemeralDisk = null;
    tg.Tasks[0]!.Resources = { CPU: 1024, MemoryMB: 1024 };
    const job = h.upsertJob(base);
    const { stack } = stackFor(h, job, [a, b, c]);
    const spec = buildGroupSpec(job, job.TaskGroups[0]!);
    const m = stack.newMetric();
    const ranked = [a, b, c].map((n) => stack.evaluate(spec, n, m, {}));
    expect(ranked[1]).toBeNull();
    expect(m.DimensionExhausted).toEqual({ cpu: 1 });
    expect(ranked[0]?.binpack).toBeCloseTo(1, 6);
    expect(ranked[2]?.binpack).toBeGreaterThan(0.5);
    expect(ranked[2]?.binpack).toBeLessThan(0.6);
    expect(stack.select(spec).best!.node.ID).toBe(a.ID);
  });

  it('25: penalises collisions with the job, the reschedule node, and averages the two', () => {
    expect(jobAntiAffinityScore(2, 4)).toBe(-0.75);
    expect(jobAntiAffinityScore(0, 4)).toBe(0);
    const h = new Harness();
    const n1 = h.upsertNode(nomadMock.node());
    const n2 = h.upsertNode(nomadMock.node());
    const base = nomadMock.job();
    base.TaskGroups[0]!.Count = 4;
    const job = h.upsertJob(base);
    const other = h.upsertJob(nomadMock.job());
    h.upsertAllocs([nomadMock.alloc(other, n2, 0)]);
    const { stack, jobs } = stackFor(h, job, [n1, n2]);
    jobs.add('p1', n1, n1.ID, 'web');
    jobs.add('p2', n1, n1.ID, 'web');
    const spec = buildGroupSpec(job, job.TaskGroups[0]!);
    const c1 = stack.evaluate(spec, n1, stack.newMetric(), { penaltyNodes: new Set([n1.ID]) })!;
    const c2 = stack.evaluate(spec, n2, stack.newMetric(), { penaltyNodes: new Set([n1.ID]) })!;
    expect(c1.antiAffinity).toBe(-0.75);
    expect(c2.antiAffinity).toBe(0);
    expect(c1.penalty).toBe(-1);
    expect(c2.penalty).toBe(0);
    expect((c1.antiAffinity + c1.penalty) / 2).toBe(-0.875);
    expect(c1.score).toBeCloseTo((c1.binpack - 0.75 - 1) / 3, 10);
  });

  it('26: normalises node affinity by the total absolute weight', () => {
    const affinities = [
      { LTarget: '${node.datacenter}', RTarget: 'dc1', Operand: '=', Weight: 100 },
      { LTarget: '${node.datacenter}', RTarget: 'dc2', Operand: '=', Weight: -100 },
      { LTarget: '${attr.kernel.version}', RTarget: '>4.0', Operand: 'version', Weight: 50 },
      { LTarget: '${node.class}', RTarget: 'large', Operand: 'is', Weight: 50 },
    ];
    const dc1Kernel = nomadMock.node();
    dc1Kernel.Attributes = { ...dc1Kernel.Attributes, 'kernel.version': '4.9' };
    expect(nodeAffinityScore(affinities, dc1Kernel)).toBeCloseTo(0.5, 10);
    expect(nodeAffinityScore(affinities, nomadMock.node({ Datacenter: 'dc2' }))).toBeCloseTo(-1 / 3, 10);
    expect(nodeAffinityScore(affinities, nomadMock.node({ Datacenter: 'dc2', NodeClass: 'large' }))).toBeCloseTo(
      -1 / 6,
      10,
    );
    expect(nodeAffinityScore(affinities, nomadMock.node())).toBeCloseTo(1 / 3, 10);
    const nothing = nomadMock.node({ Datacenter: 'dc3' });
    expect(nodeAffinityScore(affinities, nothing)).toBe(0);

    const h = new Harness();
    h.upsertNode(nothing);
    const base = nomadMock.job({ Affinities: affinities });
    const job = h.upsertJob(base);
    const { stack } = stackFor(h, job, [h.nodeByID(nothing.ID)!]);
    const { metric } = stack.select(buildGroupSpec(job, job.TaskGroups[0]!));
    expect(metric.ScoreMetaData).toHaveLength(1);
    expect(metric.ScoreMetaData![0]?.Scores['node-affinity']).toBe(0);
  });

  it('27: boosts spread targets by (desired − (current+1)) / desired and ignores other jobs', () => {
    const h = new Harness();
    const nodes = ['dc1', 'dc2', 'dc1', 'dc1'].map((dc) => h.upsertNode(nomadMock.node({ Datacenter: dc })));
    const base = nomadMock.job({ Datacenters: ['dc1', 'dc2'] });
    base.TaskGroups[0]!.Spreads = [
      { Attribute: '${node.datacenter}', Weight: 100, SpreadTarget: [{ Value: 'dc1', Percent: 80 }] },
    ];
    const job = h.upsertJob(base);
    const other = h.upsertJob(nomadMock.job());
    h.upsertAllocs([
      nomadMock.alloc(job, nodes[0]!, 0),
      nomadMock.alloc(job, nodes[2]!, 1),
      nomadMock.alloc(other, nodes[1]!, 0),
      nomadMock.alloc(other, nodes[3]!, 1),
    ]);
    const { jobs } = stackFor(h, job, nodes);
    const scorer = new SpreadScorer(job.TaskGroups[0]!.Spreads!, 'web', 10);
    expect(scorer.score(nodes[0]!, jobs)).toBeCloseTo(0.625, 10);
    expect(scorer.score(nodes[1]!, jobs)).toBeCloseTo(0.5, 10);
    for (let i = 0; i < 5; i++) jobs.add(`p${i}`, nodes[3]!, nodes[3]!.ID, 'web');
    expect(scorer.score(nodes[0]!, jobs)).toBeCloseTo(0, 10);
    expect(scorer.score(nodes[1]!, jobs)).toBeCloseTo(0.5, 10);
  });

  it('28: scores an even spread by distance from the least-used value', () => {
    expect(evenSpreadBoost(new Map(), 'dc1')).toBe(0);
    const twoZero = new Map([['dc1', 2]]);
    expect(evenSpreadBoost(twoZero, 'dc1')).toBe(-1);
    expect(evenSpreadBoost(twoZero, 'dc2')).toBe(1);
    const twoThree = new Map([
      ['dc1', 2],
      ['dc2', 3],
    ]);
    expect(evenSpreadBoost(twoThree, 'dc1')).toBe(0.5);
    expect(evenSpreadBoost(twoThree, 'dc2')).toBe(-0.5);
    const level = new Map([
      ['dc1', 3],
      ['dc2', 3],
    ]);
    expect(evenSpreadBoost(level, 'dc1')).toBe(-1);
    expect(evenSpreadBoost(level, 'dc2')).toBe(-1);
    expect(evenSpreadBoost(level, 'dc3')).toBe(1);

    const h = new Harness();
    const nodes = [...Array(10).keys()].map((i) => h.upsertNode(nomadMock.node({ Datacenter: i % 2 ? 'dc2' : 'dc1' })));
    const base = nomadMock.job({ Datacenters: ['dc1', 'dc2'] });
    base.TaskGroups[0]!.Spreads = [{ Attribute: '${node.datacenter}', Weight: 100, SpreadTarget: null }];
    const job = h.upsertJob(base);
    const { jobs } = stackFor(h, job, nodes);
    const scorer = new SpreadScorer(job.TaskGroups[0]!.Spreads!, 'web', 10);
    expect(scorer.score(nodes[0]!, jobs)).toBe(0);
    jobs.add('a', nodes[0]!, nodes[0]!.ID, 'web');
    jobs.add('b', nodes[2]!, nodes[2]!.ID, 'web');
    expect(scorer.score(nodes[0]!, jobs)).toBe(-1);
    expect(scorer.score(nodes[1]!, jobs)).toBe(1);
  });
});
