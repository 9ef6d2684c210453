/** Placement throughput. Skipped unless BENCH=1; it prints figures and never gates on time. */
import { describe, expect, it } from 'vitest';
import { runPlacementBenchmark } from './bench.js';

const enabled = process.env['BENCH'] === '1';

describe.skipIf(!enabled)('placement benchmark', () => {
  it('schedules 10,000 instances of one job on 1,000 nodes and reports placements per second', async () => {
    await runPlacementBenchmark({ nodes: 200, count: 1000 }); // warm-up
    const r = await runPlacementBenchmark({ nodes: 1000, count: 10_000 });
    process.stdout.write(
      `scheduler: ${r.placements} placements on ${r.nodes} nodes in ${r.ms.toFixed(0)} ms = ${r.placementsPerSecond}/s (target 30000/s, ratio ${(r.placementsPerSecond / 30000).toFixed(2)})\n`,
    );
    expect(r.placements).toBe(10_000);
  }, 120_000);

  it('schedules 20 jobs of 1,000 instances on 5,000 nodes (a slice of the C1M shape)', async () => {
    const r = await runPlacementBenchmark({ nodes: 5000, count: 1000, jobs: 20 });
    process.stdout.write(
      `scheduler C1M slice: ${r.placements} placements on ${r.nodes} nodes in ${r.ms.toFixed(0)} ms = ${r.placementsPerSecond}/s (target 15000/s, ratio ${(r.placementsPerSecond / 15000).toFixed(2)})\n`,
    );
    expect(r.placements).toBe(20_000);
  }, 120_000);
});
