/* global process, setInterval */
// Preloaded into the agent by `api.bench.mjs --loop-probe` (node --import): records what stalls its event loop,
// so that a latency tail can be told apart as GC pauses or long synchronous work. Written, at exit, to the file
// named by DROVER_LOOP_PROBE_OUT as JSON: `{ blocks: [[atMs, ms], ...], gc: [[atMs, ms, kind], ...] }`, times in
// Unix ms so that the benchmark can keep its load window only.
//   blocks: a 5 ms timer that fired more than 10 ms late, and by how much (any synchronous work, GC, or the
//           process not being scheduled at all on a loaded machine: compare with the GC entries and the load);
//   gc:     every garbage collection pause of 1 ms or more (perf_hooks 'gc' entries), with its kind.
import { writeFileSync } from 'node:fs';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';

const out = process.env.DROVER_LOOP_PROBE_OUT;
if (out) {
  const TICK_MS = 5;
  const BLOCK_MS = 10;
  const blocks = [];
  const gc = [];
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const origin = performance.timeOrigin;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration >= 1)
        gc.push([Math.round(origin + e.startTime), +e.duration.toFixed(2), kinds[e.detail?.kind] ?? '?']);
    }
  }).observe({ entryTypes: ['gc'] });
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - TICK_MS;
    if (late > BLOCK_MS) blocks.push([Math.round(origin + now - late), +late.toFixed(2)]);
    last = now;
  }, TICK_MS).unref();
  process.on('exit', () => {
    try {
      writeFileSync(out, JSON.stringify({ blocks, gc }));
    } catch {
      // The benchmark reports a missing probe file; the agent's exit must not fail because of it.
    }
  });
}
