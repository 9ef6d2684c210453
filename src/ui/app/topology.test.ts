import { describe, expect, it } from 'vitest';
import {
  blockAt,
  jobColour,
  nextRound,
  percent,
  stripes,
  topology,
  usageOf,
  usageSample,
  type AllocBlock,
} from './topology.js';
import type { AllocListStub, NodeListStub } from './types.js';

const node = (id: string, dc: string, pool: string, cpu = 4000, mem = 8192): NodeListStub => ({
  ID: id,
  Name: id,
  Datacenter: dc,
  NodePool: pool,
  Address: '',
  Status: 'ready',
  SchedulingEligibility: 'eligible',
  Drain: false,
  Drivers: null,
  NodeResources: { Cpu: { CpuShares: cpu }, Memory: { MemoryMB: mem } },
  ReservedResources: { Cpu: { CpuShares: 100 }, Memory: { MemoryMB: 192 } },
});

const alloc = (id: string, nodeId: string, cpu: number, mem: number, status = 'running', desired = 'run') =>
  ({
    ID: id,
    Name: `web.g[${id}]`,
    Namespace: 'default',
    NodeID: nodeId,
    NodeName: nodeId,
    JobID: 'web',
    JobVersion: 0,
    TaskGroup: 'g',
    DesiredStatus: desired,
    ClientStatus: status,
    TaskStates: null,
    CreateTime: 0,
    ModifyTime: 0,
    AllocatedResources: {
      Tasks: {
        a: { Cpu: { CpuShares: cpu }, Memory: { MemoryMB: mem } },
        b: { Cpu: { CpuShares: 10 }, Memory: { MemoryMB: 8 } },
      },
    },
  }) as AllocListStub;

describe('the topology arithmetic', () => {
  it('groups clients by datacenter and pool and sums each allocation over its tasks', () => {
    const { groups, totals } = topology(
      [node('b', 'dc1', 'default'), node('a', 'dc1', 'default'), node('c', 'dc2', 'gpu')],
      [alloc('1', 'a', 500, 256), alloc('2', 'a', 90, 56, 'pending'), alloc('3', 'c', 1000, 1024)],
    );
    expect(groups.map((g) => [g.datacenter, g.pool, g.nodes.map((n) => n.node.ID)])).toEqual([
      ['dc1', 'default', ['a', 'b']],
      ['dc2', 'gpu', ['c']],
    ]);
    const a = groups[0]!.nodes[0]!;
    expect([a.cpu, a.memoryMB, a.reservedCpu, a.reservedMemoryMB]).toEqual([3900, 8000, 610, 328]);
    expect(totals).toEqual({
      nodes: 3,
      allocs: 3,
      cpu: 11700,
      memoryMB: 24000,
      reservedCpu: 1620,
      reservedMemoryMB: 1360,
    });
  });

  it('leaves out allocations that hold nothing: finished, failed, or told to stop', () => {
    const { totals } = topology(
      [node('a', 'dc1', 'default')],
      [
        alloc('1', 'a', 500, 256, 'complete'),
        alloc('2', 'a', 500, 256, 'failed'),
        alloc('3', 'a', 500, 256, 'running', 'stop'),
      ],
    );
    expect(totals.allocs).toBe(0);
    expect(totals.reservedCpu).toBe(0);
  });

  it('gives a job the same colour every time and keeps percentages within 0..100', () => {
    expect(jobColour('web')).toBe(jobColour('web'));
    expect(jobColour('web')).toMatch(/^hsl\(\d+ 60% 32%\)$/);
    expect(percent(50, 200)).toBe(25);
    expect(percent(300, 200)).toBe(100);
    expect(percent(1, 0)).toBe(0);
  });

  it('draws a bar as one gradient of stripes, and finds the block under a point of it', () => {
    const b = (id: string, jobId: string, memoryMB: number, status = 'running'): AllocBlock => ({
      id,
      name: id,
      jobId,
      namespace: 'default',
      status,
      cpu: 0,
      memoryMB,
    });
    const blocks = [b('x', 'web', 250), b('y', 'db', 500, 'pending')];
    expect(stripes([], 'memoryMB', 1000)).toBe('none');
    expect(stripes(blocks, 'memoryMB', 1000)).toBe(
      `linear-gradient(to right, ${jobColour('web')} 0.000% calc(25.000% - 1px), transparent 0 25.000%, ` +
        `${jobColour('db', 0.55)} 25.000% calc(75.000% - 1px), transparent 0 75.000%)`,
    );
    expect(blockAt(blocks, 'memoryMB', 1000, 0.1)?.id).toBe('x');
    expect(blockAt(blocks, 'memoryMB', 1000, 0.25)?.id).toBe('y');
    expect(blockAt(blocks, 'memoryMB', 1000, 0.8)).toBeUndefined();
    // A bar over capacity stops at its end.
    expect(blockAt([b('z', 'web', 5000)], 'memoryMB', 1000, 0.99)?.id).toBe('z');
  });

  it('sums the actual use of the running allocations that have a sample, against what those reserve', () => {
    const { groups } = topology(
      [node('a', 'dc1', 'default')],
      [alloc('1', 'a', 500, 256), alloc('2', 'a', 200, 128), alloc('3', 'a', 90, 56, 'pending')],
    );
    const blocks = groups[0]!.nodes[0]!.allocs;
    const stats = (ticks: number, rss: number, usage = 0) => ({
      ResourceUsage: { CpuStats: { Percent: 0, TotalTicks: ticks }, MemoryStats: { RSS: rss, Usage: usage } },
      Timestamp: 0,
    });
    expect(usageSample(stats(42.5, 3 * 1024 * 1024))).toEqual({ cpu: 42.5, memoryMB: 3 });
    // A driver that reports no RSS: its usage counts.
    expect(usageSample(stats(0, 0, 1024 * 1024)).memoryMB).toBe(1);
    // Only allocation 1 has a sample; the pending one is not running and never counts.
    const u = usageOf(
      blocks,
      new Map([
        ['1', { cpu: 40, memoryMB: 100 }],
        ['3', { cpu: 9, memoryMB: 9 }],
      ]),
    );
    expect(u).toEqual({ cpu: 40, memoryMB: 100, sampled: 1, running: 2, reservedCpu: 510, reservedMemoryMB: 264 });
    expect(usageOf(blocks, new Map())).toMatchObject({ cpu: 0, sampled: 0, running: 2 });
  });

  it('samples a large cluster a bounded round at a time, wrapping around the list', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    expect(nextRound(ids.slice(0, 2), 7, 3)).toEqual({ batch: ['a', 'b'], cursor: 0 });
    const r1 = nextRound(ids, 0, 3);
    expect(r1).toEqual({ batch: ['a', 'b', 'c'], cursor: 3 });
    expect(nextRound(ids, r1.cursor, 3)).toEqual({ batch: ['d', 'e', 'a'], cursor: 1 });
    // A cursor past a list that shrank starts within it.
    expect(nextRound(ids, 12, 3).batch).toEqual(['c', 'd', 'e']);
  });
});
