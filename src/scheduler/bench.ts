/**
 * A local placement benchmark: one job of `count` instances on `nodes` mock nodes, through the real
 * service scheduler and the in-memory harness. It first checks the run produced a real plan, then
 * reports placements per second. Used by bench.test.ts (BENCH=1) and by the bench/ folder.
 */
import type { Job } from '../structs/index.js';
import { flattenPlanned, Harness } from './testing/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { build } from '../testing/builders.js';

export interface PlacementBenchResult {
  nodes: number;
  placements: number;
  ms: number;
  placementsPerSecond: number;
}

export interface PlacementBenchOptions {
  nodes: number;
  count: number;
  /** Jobs registered one after the other, each with `count` instances (C1M shape: many jobs). */
  jobs?: number;
}

function benchJob(id: string, count: number): Job {
  const j = nomadMock.job({ ID: id });
  const tg = j.TaskGroups[0]!;
  tg.Count = count;
  tg.Tasks[0]!.Resources = { CPU: 20, MemoryMB: 20 };
  tg.EphemeralDisk = { Sticky: false, Migrate: false, SizeMB: 10 };
  tg.Networks = null;
  tg.Tasks[0]!.Services = null;
  return j;
}

export async function runPlacementBenchmark(o: PlacementBenchOptions): Promise<PlacementBenchResult> {
  const h = new Harness();
  for (let i = 0; i < o.nodes; i++) {
    const n = nomadMock.node({ ID: `bench-node-${i}` });
    n.NodeResources.Cpu.CpuShares = 1_000_000;
    n.NodeResources.Memory.MemoryMB = 1_000_000;
    h.upsertNode(n);
  }
  const jobs = o.jobs ?? 1;
  let placements = 0;
  const start = performance.now();
  for (let j = 0; j < jobs; j++) {
    const job = h.upsertJob(benchJob(`bench-${j}`, o.count));
    await h.process(build.eval({ Job: job }));
    const plan = h.lastPlan();
    const placed = plan ? flattenPlanned(plan.NodeAllocation).length : 0;
    if (placed !== o.count) throw new Error(`benchmark produced ${placed} placements, expected ${o.count}`);
    placements += placed;
  }
  const ms = performance.now() - start;
  return { nodes: o.nodes, placements, ms, placementsPerSecond: Math.round((placements / ms) * 1000) };
}
