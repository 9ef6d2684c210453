import { describe, expect, it } from 'vitest';
import type * as S from '../../../structs/index.js';
import { buildSimRequest, EMPTY_FORM, segments, simPicture, splitList } from './sim-model.js';

const usage = (name: string, over: Partial<S.SimNodeUsage> = {}): S.SimNodeUsage => ({
  ID: `id-${name}`,
  Name: name,
  Datacenter: 'dc1',
  NodeClass: '',
  Status: 'ready',
  SchedulingEligibility: 'eligible',
  Added: false,
  Allocs: 0,
  CPU: { Used: 0, Total: 4000 },
  MemoryMB: { Used: 0, Total: 8000 },
  DiskMB: { Used: 0, Total: 10000 },
  CPUBefore: 0,
  MemoryMBBefore: 0,
  Placed: [],
  Stopped: 0,
  Preempted: 0,
  ...over,
});

const placed = (job: string, count: number, cpu: number, mem: number): S.SimNodePlacement => ({
  Namespace: 'default',
  JobID: job,
  TaskGroup: 'g',
  Count: count,
  CPU: cpu,
  MemoryMB: mem,
});

describe('the what-if form', () => {
  it('turns every filled field into the simulation request, lists split on commas and spaces', () => {
    const { request, problems } = buildSimRequest({
      ...EMPTY_FORM,
      addCount: '2',
      addLike: 'client-1',
      addCPU: '8000',
      removeNodes: 'client-2, client-3',
      drainNodes: 'client-4',
      failDatacenters: 'dc2 dc3',
      scaleJob: 'web',
      scaleCount: '0',
      maxJob: 'web',
      maxGroup: 'app',
      namespace: 'prod',
    });
    expect(problems).toEqual([]);
    expect(request).toEqual({
      Namespace: 'prod',
      AddNodes: [{ Count: 2, Like: 'client-1', CPU: 8000 }],
      RemoveNodes: ['client-2', 'client-3'],
      DrainNodes: ['client-4'],
      FailDatacenters: ['dc2', 'dc3'],
      Scale: [{ JobID: 'web', Group: '', Count: 0 }],
      MaxCount: { JobID: 'web', Group: 'app' },
    });
  });

  it('adds a pasted job to the request as it was parsed', () => {
    const job = { ID: 'new', TaskGroups: [] };
    expect(buildSimRequest(EMPTY_FORM, job).request).toEqual({ Jobs: [job] });
  });

  it('names each bad field instead of sending the request', () => {
    const { problems } = buildSimRequest({ ...EMPTY_FORM, addCount: 'two', addMemoryMB: '-1', scaleCount: '3' });
    expect(problems.map((p) => p.field)).toEqual(['addCount', 'addLike', 'addMemoryMB', 'scaleJob']);
    expect(problems[0]!.message).toMatch(/whole number from 1/);
  });

  it('refuses an empty form, which would ask nothing', () => {
    expect(buildSimRequest(EMPTY_FORM).problems).toEqual([
      { field: 'addCount', message: expect.stringMatching(/at least one what-if/) },
    ]);
  });

  it('splits lists on commas and white space, dropping empty parts', () => {
    expect(splitList(' a,,b  c\n')).toEqual(['a', 'b', 'c']);
  });
});

describe('the what-if picture', () => {
  it('draws what stays, then each group placed, then what was freed, in percent of the capacity', () => {
    // 1,000 MHz ran before; 500 of it stopped; 1,000 placed for web and 500 for db: 2,000 used after.
    expect(segments(2000, 1000, 4000, [placed('web', 2, 1000, 0), placed('db', 1, 500, 0)], 'CPU')).toEqual([
      { kind: 'kept', amount: 500, width: 12.5 },
      { kind: 'placed', amount: 1000, width: 25, jobId: 'web', namespace: 'default', group: 'g', count: 2 },
      { kind: 'placed', amount: 500, width: 12.5, jobId: 'db', namespace: 'default', group: 'g', count: 1 },
      { kind: 'freed', amount: 500, width: 12.5 },
    ]);
  });

  it('never draws a bar wider than the node, and draws nothing for an idle node', () => {
    const segs = segments(4000, 3000, 4000, [placed('web', 1, 4000, 0)], 'CPU');
    expect(segs.reduce((s, x) => s + x.width, 0)).toBe(100);
    expect(segments(0, 0, 4000, [], 'CPU')).toEqual([]);
  });

  it('groups nodes by datacenter, added nodes first, and marks what happened to each', () => {
    const pic = simPicture({
      Index: 7,
      Changes: [],
      Groups: [
        {
          Namespace: 'default',
          JobID: 'web',
          TaskGroup: 'g',
          Desired: 4,
          RunningBefore: 2,
          Running: 3,
          Placed: 2,
          Stopped: 1,
          Unplaced: 1,
          Metrics: null,
        },
      ],
      Nodes: [
        usage('b-old', { Datacenter: 'dc2', Status: 'down', Stopped: 1, CPUBefore: 1000 }),
        usage('a-old', { Preempted: 1 }),
        usage('z-new', { Added: true, Placed: [placed('web', 2, 2000, 128)], CPU: { Used: 2000, Total: 4000 } }),
      ],
      Capacity: { Nodes: 2, CPU: { Used: 2000, Total: 8000 }, MemoryMB: { Used: 128, Total: 16000 } },
      Preemptions: [],
      MaxCount: null,
      Evaluations: 1,
      DurationMs: 3,
    });
    expect(pic.datacenters.map((d) => [d.datacenter, d.nodes.map((n) => [n.node.Name, n.marks])])).toEqual([
      [
        'dc1',
        [
          ['z-new', ['added', '2 placed']],
          ['a-old', ['1 preempted']],
        ],
      ],
      ['dc2', [['b-old', ['down', '1 stopped']]]],
    ]);
    expect(pic.datacenters[1]!.nodes[0]!.cpu).toEqual([{ kind: 'freed', amount: 1000, width: 25 }]);
    expect(pic).toMatchObject({ placed: 2, unplaced: 1, preempted: 0 });
  });
});
