/** Invariants checked with fast-check over random clusters, jobs and sequences of scheduling passes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Job, Node } from '../structs/index.js';
import { allocTerminalStatus } from '../structs/index.js';
import { allocsFit } from './index.js';
import { Harness } from './testing/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { build } from '../testing/builders.js';

const nodeArb = fc.record({
  cpu: fc.integer({ min: 500, max: 6000 }),
  mem: fc.integer({ min: 256, max: 4096 }),
  disk: fc.integer({ min: 100, max: 2000 }),
  dynSpan: fc.integer({ min: 1, max: 8 }),
  down: fc.boolean(),
});

const jobArb = fc.record({
  count: fc.integer({ min: 0, max: 8 }),
  cpu: fc.integer({ min: 100, max: 2500 }),
  mem: fc.integer({ min: 64, max: 1500 }),
  disk: fc.integer({ min: 0, max: 400 }),
  staticPort: fc.option(fc.constantFrom(8080, 9090), { nil: null }),
  dynamic: fc.integer({ min: 0, max: 2 }),
  batch: fc.boolean(),
});

type JobShape = typeof jobArb extends fc.Arbitrary<infer T> ? T : never;
type Step =
  | { kind: 'register'; job: number; shape: JobShape }
  | { kind: 'nodeDown'; node: number }
  | { kind: 'eval'; job: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('register' as const), job: fc.integer({ min: 0, max: 2 }), shape: jobArb }),
  fc.record({ kind: fc.constant('nodeDown' as const), node: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('eval' as const), job: fc.integer({ min: 0, max: 2 }) }),
);

function buildNode(s: { cpu: number; mem: number; disk: number; dynSpan: number }, i: number): Node {
  const n = nomadMock.node({ ID: `node-${i}` });
  n.NodeResources = {
    ...n.NodeResources,
    Cpu: { CpuShares: s.cpu + 100, TotalCpuCores: 2 },
    Memory: { MemoryMB: s.mem + 256 },
    Disk: { DiskMB: s.disk + 100 },
    MinDynamicPort: 20000,
    MaxDynamicPort: 20000 + s.dynSpan - 1,
  };
  n.ReservedResources = {
    Cpu: { CpuShares: 100 },
    Memory: { MemoryMB: 256 },
    Disk: { DiskMB: 100 },
    Networks: { ReservedHostPorts: '22,20000' },
  };
  return n;
}

function buildJob(id: string, s: JobShape): Job {
  const j = nomadMock.job({ ID: id, Type: s.batch ? 'batch' : 'service' });
  const tg = j.TaskGroups[0]!;
  tg.Count = s.count;
  tg.EphemeralDisk = { Sticky: false, Migrate: false, SizeMB: s.disk };
  tg.Tasks[0]!.Resources = { CPU: s.cpu, MemoryMB: s.mem };
  tg.Tasks[0]!.Services = null;
  const dyn = [...Array(s.dynamic).keys()].map((i) => ({ Label: `d${i}`, Value: 0, To: 0, HostNetwork: 'default' }));
  const stat = s.staticPort ? [{ Label: 'static', Value: s.staticPort, To: 0, HostNetwork: 'default' }] : null;
  tg.Networks = [{ Mode: 'host', Device: '', CIDR: '', IP: '', ReservedPorts: stat, DynamicPorts: dyn }];
  return j;
}

function assertNoOvercommit(h: Harness): void {
  for (const node of h.nodes()) {
    const live = h.allocsByNode(node.ID).filter((a) => !allocTerminalStatus(a));
    const fit = allocsFit(node, live);
    expect(fit.fit, `node ${node.ID} over-committed in ${fit.dimension}`).toBe(true);
  }
}

describe('scheduler invariants', () => {
  it('never over-commits a node in cpu, memory, disk or ports across any sequence of passes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(nodeArb, { minLength: 1, maxLength: 6 }),
        fc.array(stepArb, { minLength: 1, maxLength: 12 }),
        async (nodes, steps) => {
          const h = new Harness();
          nodes.forEach((s, i) => h.upsertNode(buildNode(s, i)));
          for (const step of steps) {
            if (step.kind === 'nodeDown') {
              const n = h.nodeByID(`node-${step.node % nodes.length}`)!;
              h.upsertNode({ ...n, Status: 'down' });
              for (let j = 0; j < 3; j++) {
                const job = h.jobByID('default', `job-${j}`);
                if (job) await h.process(build.eval({ Job: job, TriggeredBy: 'node-update' }));
              }
            } else if (step.kind === 'register') {
              const job = h.upsertJob(buildJob(`job-${step.job}`, step.shape));
              await h.process(build.eval({ Job: job }));
            } else {
              const job = h.jobByID('default', `job-${step.job}`);
              if (job) await h.process(build.eval({ Job: job }));
            }
            assertNoOvercommit(h);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('makes placements, updates and ignores add up to the desired count, and stops the excess', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            count: fc.integer({ min: 0, max: 12 }),
            change: fc.constantFrom('none', 'inplace', 'destructive'),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (versions) => {
          const h = new Harness();
          for (let i = 0; i < 6; i++) h.upsertNode(nomadMock.node());
          let base = nomadMock.job({ ID: 'svc' });
          for (const v of versions) {
            base = structuredClone(base);
            base.TaskGroups[0]!.Count = v.count;
            if (v.change === 'inplace') base.TaskGroups[0]!.RestartPolicy!.Attempts++;
            if (v.change === 'destructive') base.TaskGroups[0]!.Tasks[0]!.Env = { N: String(Math.random()) };
            const before = h.liveAllocs('default', 'svc').length;
            const job = h.upsertJob(base);
            await h.process(build.eval({ Job: job }));
            const d = h.lastEval()!.PlanAnnotations!.DesiredTGUpdates['web']!;
            expect(d.Place + d.Ignore + d.InPlaceUpdate + d.DestructiveUpdate + d.Migrate).toBe(v.count);
            expect(d.Stop).toBe(Math.max(0, before - v.count));
            expect(h.liveAllocs('default', 'svc')).toHaveLength(v.count);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
