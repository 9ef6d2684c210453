import { describe, expect, it } from 'vitest';
import { Harness } from '../testing/index.js';
import { nomadMock } from '../../testing/nomad-mock.js';
import { build } from '../../testing/builders.js';
import { computeNodeClass } from './node-class.js';
import { allocsFit, parsePortSpec } from './resources.js';

async function placeOne(h: Harness, change: (j: ReturnType<typeof nomadMock.job>) => void = () => {}) {
  const base = nomadMock.job();
  base.TaskGroups[0]!.Count = 1;
  change(base);
  const job = h.upsertJob(base);
  await h.process(build.eval({ Job: job }));
  return { job, ev: h.lastEval()! };
}

describe('feasibility', () => {
  it('filters nodes whose driver is missing or unhealthy and says so', async () => {
    const h = new Harness();
    const n = nomadMock.node();
    n.Drivers = { ...n.Drivers, exec: { ...n.Drivers['exec']!, Healthy: false } };
    h.upsertNode(n);
    const { ev } = await placeOne(h);
    expect(ev.FailedTGAllocs!['web']?.ConstraintFiltered).toEqual({ 'missing drivers': 1 });
  });

  it('accepts the legacy driver attribute when the driver map lacks the driver', async () => {
    const h = new Harness();
    const n = nomadMock.node({ Drivers: {} });
    h.upsertNode(n);
    const { ev } = await placeOne(h);
    expect(ev.FailedTGAllocs).toBeNull();
  });

  it('never places on nodes that are down, ineligible, draining, in another pool or datacenter', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node({ Status: 'down' }));
    h.upsertNode(nomadMock.node({ SchedulingEligibility: 'ineligible' }));
    h.upsertNode(
      nomadMock.node({ DrainStrategy: { Deadline: 0, IgnoreSystemJobs: false, ForceDeadline: '', StartedAt: '' } }),
    );
    h.upsertNode(nomadMock.node({ NodePool: 'gpu' }));
    h.upsertNode(nomadMock.node({ Datacenter: 'dc9' }));
    const { ev } = await placeOne(h);
    expect(h.plans).toHaveLength(0);
    expect(ev.FailedTGAllocs!['web']?.NodesInPool).toBe(1);
    expect(ev.FailedTGAllocs!['web']?.NodesAvailable).toEqual({});
  });

  it('requires the host volumes a group asks for', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const withVol = h.upsertNode(nomadMock.node({ HostVolumes: { data: { Path: '/srv/data', ReadOnly: false } } }));
    const { job } = await placeOne(h, (j) => {
      j.TaskGroups[0]!.Volumes = { data: { Name: 'data', Type: 'host', Source: 'data', ReadOnly: false } };
    });
    const placed = h.liveAllocs(job.Namespace, job.ID);
    expect(placed.map((a) => a.NodeID)).toEqual([withVol.ID]);
  });

  it('checks a class once and reports later nodes of that class as class-ineligible', async () => {
    const h = new Harness();
    for (let i = 0; i < 3; i++) {
      const n = nomadMock.node();
      n.Attributes = { ...n.Attributes, 'kernel.name': 'windows' };
      h.upsertNode(n);
    }
    const { ev } = await placeOne(h);
    const m = ev.FailedTGAllocs!['web']!;
    expect(m.NodesFiltered).toBe(3);
    expect(m.ConstraintFiltered).toEqual({ '${attr.kernel.name} = linux': 1, 'computed class ineligible': 2 });
    expect(m.ClassFiltered).toEqual({ 'linux-medium-pci': 3 });
  });

  it('reports an exhausted dimension when nothing fits', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const { ev } = await placeOne(h, (j) => (j.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB = 100_000));
    expect(ev.FailedTGAllocs!['web']?.DimensionExhausted).toEqual({ memory: 1 });
    expect(ev.FailedTGAllocs!['web']?.NodesExhausted).toBe(1);
  });

  it('counts a full node once when it holds allocations, so one node is never "exhausted on 2 nodes"', async () => {
    const h = new Harness();
    const node = nomadMock.node();
    h.upsertNode(node);
    const mem = node.NodeResources.Memory.MemoryMB;
    // The first job fills most of the node, so the node is in use and the packing pass looks at it first.
    await placeOne(h, (j) => {
      j.ID = 'filler';
      j.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB = Math.floor(mem * 0.8);
    });
    const { ev } = await placeOne(h, (j) => {
      j.ID = 'big';
      j.TaskGroups[0]!.Tasks[0]!.Resources.MemoryMB = Math.floor(mem * 0.5);
    });
    const m = ev.FailedTGAllocs!['web']!;
    expect(m.NodesExhausted).toBe(1);
    expect(m.NodesEvaluated).toBe(1);
    expect(m.DimensionExhausted).toEqual({ memory: 1 });
  });

  it('refuses a static port already held on the node', async () => {
    const h = new Harness();
    h.upsertNode(nomadMock.node());
    const { ev } = await placeOne(h, (j) => {
      j.TaskGroups[0]!.Networks = [
        {
          Mode: 'host',
          Device: '',
          CIDR: '',
          IP: '',
          ReservedPorts: [{ Label: 'ssh', Value: 22, To: 0, HostNetwork: 'default' }],
          DynamicPorts: null,
        },
      ];
    });
    expect(ev.FailedTGAllocs!['web']?.DimensionExhausted).toEqual({ 'network: port collision': 1 });
  });

  it('gives nodes that differ only in unique attributes the same class', () => {
    const a = nomadMock.node({ Name: 'a' });
    const b = nomadMock.node({ Name: 'b' });
    b.Attributes = { ...b.Attributes, 'unique.hostname': 'b' };
    expect(computeNodeClass(a)).toBe(computeNodeClass(b));
    expect(computeNodeClass(a)).not.toBe(computeNodeClass(nomadMock.node({ NodeClass: 'other' })));
    expect(computeNodeClass(a)).toMatch(/^v1:[0-9a-f]{16}$/);
  });
});

describe('allocsFit', () => {
  it('fits allocations within capacity minus reserved and names the exhausted dimension', () => {
    const node = nomadMock.node();
    const job = nomadMock.job();
    const small = [nomadMock.alloc(job, node, 0), nomadMock.alloc(job, node, 1)];
    expect(allocsFit(node, small)).toEqual({ fit: true, used: { CPU: 1000, MemoryMB: 512, DiskMB: 300 } });
    const big = nomadMock.alloc(job, node, 2);
    big.AllocatedResources = {
      ...big.AllocatedResources,
      Tasks: { web: { Cpu: { CpuShares: 13901 }, Memory: { MemoryMB: 1, MemoryMaxMB: 0 } } },
    };
    expect(allocsFit(node, [big]).dimension).toBe('cpu');
  });

  it('detects a port used twice and ignores terminal allocations', () => {
    const node = nomadMock.node();
    const job = nomadMock.job();
    const a = nomadMock.alloc(job, node, 0);
    const b = nomadMock.alloc(job, node, 0);
    expect(allocsFit(node, [a, b])).toMatchObject({ fit: false, dimension: 'network: port collision' });
    expect(allocsFit(node, [a, { ...b, DesiredStatus: 'stop' }]).fit).toBe(true);
  });

  it('parses reserved port specs with ranges', () => {
    expect(parsePortSpec('22, 80,8000-8002')).toEqual([22, 80, 8000, 8001, 8002]);
  });
});
