#!/usr/bin/env node
/* global process, console, fetch, AbortSignal, performance */
// The soak benchmark (issue 13): mixed traffic at a fixed rate against one dev agent for a long time, to see
// whether anything grows that should not.
//
//   every tick (1 / rate s): one operation, in rotation: register a job (count 0, so no tasks pile up),
//   list jobs, read one job, a blocking query on /v1/jobs (wait 200ms), put and get a variable, agent health,
//   a request through the agent's gateway (to a host with no route: the proxy's own answer), the last 1 KB of
//   the log of a task that prints a line a second (one mock_driver allocation started before the clock runs)
//   ──► per 10-s window: p99 per operation, the agent's RSS and V8 heap in use (from /v1/metrics)
//   ──► at the end: growth after warm-up (the first half), from a least-squares line through the second half's
//       samples (a single end-to-end difference is at the mercy of where the GC happened to be), open fds, errors
//
// Usage: node bench/soak/soak.bench.mjs [--quick] [--minutes 10] [--rate 40] [--eval-gc-threshold 1m]
//          [--heap-snapshots DIR]
//   --eval-gc-threshold: the agent's `server { eval_gc_threshold }` (default 10s quick, 1m full): every register
//   adds an evaluation, kept that long, so the state reaches its steady size within the warm-up half.
//   --quick: 30 s at the same rate (CI). The run fails only on errors (wrong work), never on time.
//   --heap-snapshots DIR: the agent writes a heap snapshot into DIR at the end of warm-up and at the end (to
//   compare in Chrome DevTools' Comparison view); each pauses it for seconds, so figures of that run are off.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mb, parseArgs, quantile, resultLine, rssOfPid, sleep } from '../lib/common.mjs';
import { startDevAgent } from '../lib/agent.mjs';

const MAX_IN_FLIGHT = 90;

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const durationMs = quick ? 30_000 : Number(args.minutes ?? 10) * 60_000;
const rate = Number(args.rate ?? 40);
// Quick: 10 windows of 3 s, 5 memory samples after the 15-s warm-up (45 s and 5-s windows gave 4–5 as well).
const windowMs = quick ? 3_000 : 10_000;
const evalGC = String(args['eval-gc-threshold'] ?? (quick ? '10s' : '1m'));
const snapshotDir = typeof args['heap-snapshots'] === 'string' ? args['heap-snapshots'] : undefined;

const job = (id) =>
  JSON.stringify({
    Job: {
      ID: id,
      Name: id,
      Type: 'batch',
      Datacenters: ['dc1'],
      TaskGroups: [{ Name: 'g', Count: 0, Tasks: [{ Name: 't', Driver: 'mock_driver', Config: { run_for: '1s' } }] }],
    },
  });

const fdsOf = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
};

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-soak-'));
  const nodeFlags = snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : [];
  // The agent's own memory figures every window (bench/soak/mem-probe.mjs, preloaded; inherits these variables).
  const probeFile = join(dataDir, 'memory.ndjson');
  process.env.DROVER_MEM_PROBE_FILE = probeFile;
  process.env.DROVER_MEM_PROBE_MS = String(windowMs);
  nodeFlags.push('--import', join(dirname(fileURLToPath(import.meta.url)), 'mem-probe.mjs'));
  const config = join(dataDir, 'soak.hcl');
  writeFileSync(config, `server {\n  eval_gc_threshold = "${evalGC}"\n}\n`);
  const agent = await startDevAgent({ dataDir, nodeFlags, args: ['-gateway-port', '0', '-config', config] });
  const base = agent.base;
  const self = await (await fetch(`${base}/v1/agent/self`)).json();
  const gateway = self.config?.Gateway?.Address;
  if (!gateway) throw new Error('the dev agent runs no gateway');
  const logAlloc = await startLogger(base);
  let n = 0;
  let errors = 0;
  let firstError = '';
  const ops = {
    register: async () =>
      fetch(`${base}/v1/jobs`, { method: 'PUT', body: job(`soak-${n % 200}`), signal: AbortSignal.timeout(10_000) }),
    list: async () => fetch(`${base}/v1/jobs`, { signal: AbortSignal.timeout(10_000) }),
    read: async () => fetch(`${base}/v1/job/soak-${n % 200}`, { signal: AbortSignal.timeout(10_000) }),
    blocking: async () => fetch(`${base}/v1/jobs?index=1&wait=200ms`, { signal: AbortSignal.timeout(10_000) }),
    varPut: async () =>
      fetch(`${base}/v1/var/soak/${n % 50}`, {
        method: 'PUT',
        body: JSON.stringify({ Items: { n: String(n) } }),
        signal: AbortSignal.timeout(10_000),
      }),
    varGet: async () => fetch(`${base}/v1/var/soak/${n % 50}`, { signal: AbortSignal.timeout(10_000) }),
    health: async () => fetch(`${base}/v1/agent/health`, { signal: AbortSignal.timeout(10_000) }),
    logs: async () =>
      fetch(`${base}/v1/client/fs/logs/${logAlloc}?task=t&type=stdout&origin=end&offset=1024&plain=true`, {
        signal: AbortSignal.timeout(10_000),
      }),
    gateway: async () =>
      fetch(`${gateway}/soak/${n % 100}`, { headers: { host: 'soak.invalid' }, signal: AbortSignal.timeout(10_000) }),
  };
  const names = Object.keys(ops);
  const windows = [];
  let current = { start: 0, lat: Object.fromEntries(names.map((k) => [k, []])) };
  const samples = []; // [ms since start, rss bytes, heap used bytes]
  const sample = async (t) => samples.push([t, rssOfPid(agent.proc.pid), await heapUsed(base)]);
  let snapshotted = false;
  const started = Date.now();
  const inflight = new Set();
  try {
    // register first so reads find something
    await ops.register();
    for (let tick = 0; Date.now() - started < durationMs; tick++) {
      const due = started + (tick * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const t = Date.now() - started;
      if (t - current.start >= windowMs) {
        windows.push(current);
        current = { start: t, lat: Object.fromEntries(names.map((k) => [k, []])) };
        await sample(t);
        if (snapshotDir && !snapshotted && t >= durationMs / 2) {
          snapshotted = true;
          agent.proc.kill('SIGUSR2');
        }
      }
      const name = names[tick % names.length];
      const w = current;
      n++;
      const t0 = performance.now();
      // Fixed rate: a slow answer does not slow the schedule, up to MAX_IN_FLIGHT, then the tick waits. The cap
      // stays under the agent's http_max_conns_per_client (100): the soak is one client address, and above that
      // limit the agent answers 429 by design, which would count as errors of the soak, not of the agent.
      const p = ops[name]()
        .then(async (res) => {
          await res.arrayBuffer();
          const ok =
            res.status === 200 ||
            (name === 'read' && res.status === 404) ||
            (name === 'varGet' && res.status === 404) ||
            (name === 'gateway' && res.status === 404);
          if (!ok) throw new Error(`${name} answered ${res.status}`);
          w.lat[name].push(performance.now() - t0);
        })
        .catch((e) => {
          errors++;
          firstError ||= String(e?.message ?? e);
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      while (inflight.size >= MAX_IN_FLIGHT) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    windows.push(current);
    await sample(Date.now() - started);
    const fds = fdsOf(agent.proc.pid);
    if (snapshotDir) {
      agent.proc.kill('SIGUSR2');
      await waitForSnapshots(snapshotDir, 2);
    }

    console.log(`eval_gc_threshold ${evalGC}; evaluations at the end: ${await evalCount(base)}`);
    console.log(
      `soak: ${n} operations over ${((Date.now() - started) / 1000).toFixed(0)} s at ${rate}/s; errors ${errors}${firstError ? ` (first: ${firstError})` : ''}`,
    );
    console.log(`p99 per ${windowMs / 1000}-s window (ms): ${names.join(' / ')}`);
    for (const w of windows)
      console.log(
        `  ${(w.start / 1000).toFixed(0).padStart(4)} s  ${names.map((k) => (w.lat[k].length ? quantile(w.lat[k], 0.99).toFixed(1) : '-')).join(' / ')}`,
      );
    // Growth after warm-up (the first half): the least-squares line through the second half's samples,
    // its rise over that half relative to its value where the half starts.
    const after = samples.filter(([t]) => t >= durationMs / 2);
    const rss = trend(after.map(([t, r]) => [t, r]));
    const heap = trend(after.filter(([, , h]) => Number.isFinite(h)).map(([t, , h]) => [t, h]));
    const growth = rss.growth;
    console.log('samples (s: RSS MB / heap used MB):');
    console.log(
      `  ${samples.map(([t, r, h]) => `${(t / 1000).toFixed(0)}: ${mb(r).toFixed(0)}/${mb(h).toFixed(0)}`).join(', ')}`,
    );
    console.log(
      `after warm-up (${after.length} samples): RSS ${mb(rss.from).toFixed(0)} → ${mb(rss.to).toFixed(0)} MB (${(growth * 100).toFixed(1)}%), ` +
        `heap used ${mb(heap.from).toFixed(0)} → ${mb(heap.to).toFixed(0)} MB (${(heap.growth * 100).toFixed(1)}%); open fds ${fds}`,
    );
    memoryBreakdown(probeFile, dataDir, durationMs / 2);
    const all = windows.flatMap((w) => names.flatMap((k) => w.lat[k]));
    console.log(resultLine({ name: 'soak-p99', value: quantile(all, 0.99), unit: 'ms', ref: NaN, goal: 'report' }));
    console.log(resultLine({ name: 'soak-rss-growth', value: growth * 100, unit: '%', ref: 5, goal: '<5' }));
    console.log(resultLine({ name: 'soak-heap-growth', value: heap.growth * 100, unit: '%', ref: 5, goal: '<5' }));
    console.log(resultLine({ name: 'soak-open-fds', value: fds, unit: 'fds', ref: NaN, goal: 'report' }));
    console.log(resultLine({ name: 'soak', value: errors, unit: 'errors', ref: 0, goal: '0' }));
    if (errors > 0) process.exitCode = 1;
  } finally {
    await agent.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * What the agent's resident memory is made of (mem-probe.mjs samples), over the run and along the least-squares
 * line after warm-up: V8 heap committed and used, external and arrayBuffers, anonymous memory outside the V8 heap
 * (malloc: SQLite's page cache, native buffers), file-backed and shared (SQLite's WAL index) pages; and the size
 * of the state database and its WAL on disk now.
 */
function memoryBreakdown(file, dataDir, warmupMs) {
  if (!existsSync(file)) return console.log('memory breakdown: no samples from the agent');
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l))
    .map((r) => ({ ...r, native: (r.RssAnon ?? NaN) - r.heapTotal }));
  const keys = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers', 'RssAnon', 'native', 'RssFile', 'RssShmem'];
  console.log(`agent memory (MB; native = RssAnon - heapTotal): t s: ${keys.join(' / ')}`);
  for (const r of rows)
    console.log(`  ${(r.t / 1000).toFixed(0).padStart(4)}: ${keys.map((k) => mb(r[k] ?? NaN).toFixed(1)).join(' / ')}`);
  const after = rows.filter((r) => r.t >= warmupMs);
  const parts = keys.map((k) => {
    const line = trend(after.filter((r) => Number.isFinite(r[k])).map((r) => [r.t, r[k]]));
    return `${k} ${(mb(line.to) - mb(line.from)).toFixed(1)}`;
  });
  console.log(`agent memory change along the line after warm-up (MB): ${parts.join(', ')}`);
  const sizes = readdirSync(dataDir, { recursive: true })
    .map(String)
    .filter((f) => /\.db(-wal|-shm)?$/.test(f))
    .map((f) => `${f} ${mb(statSync(join(dataDir, f)).size).toFixed(1)} MB`);
  console.log(`state files at the end: ${sizes.join(', ') || 'none found'}`);
}

/** Registers a service whose one task prints a line a second for hours; resolves with its running allocation. */
async function startLogger(base) {
  const body = JSON.stringify({
    Job: {
      ID: 'soak-logger',
      Name: 'soak-logger',
      Type: 'service',
      Datacenters: ['dc1'],
      TaskGroups: [
        {
          Name: 'g',
          Count: 1,
          Tasks: [
            {
              Name: 't',
              Driver: 'mock_driver',
              Config: {
                run_for: '24h',
                stdout_string: 'soak log line\n',
                stdout_repeat: 86_400,
                stdout_repeat_duration: '1s',
              },
            },
          ],
        },
      ],
    },
  });
  const res = await fetch(`${base}/v1/jobs`, { method: 'PUT', body });
  if (res.status !== 200) throw new Error(`registering the logging job answered ${res.status}: ${await res.text()}`);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const allocs = await (await fetch(`${base}/v1/job/soak-logger/allocations`)).json();
    const a = allocs.find((x) => x.ClientStatus === 'running');
    if (a) return a.ID;
    await sleep(250);
  }
  throw new Error('the logging allocation did not run within 60 s');
}

/** How many evaluations the agent holds (they grow with every register until GC). */
async function evalCount(base) {
  try {
    return (await (await fetch(`${base}/v1/evaluations`, { signal: AbortSignal.timeout(10_000) })).json()).length;
  } catch {
    return NaN;
  }
}

/** The agent's V8 heap in use, from its Prometheus metrics; NaN when unreadable. */
async function heapUsed(base) {
  try {
    const res = await fetch(`${base}/v1/metrics?format=prometheus`, { signal: AbortSignal.timeout(10_000) });
    const m = /^drover_nodejs_heap_size_used_bytes (\S+)$/m.exec(await res.text());
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Least-squares line through [t, v] points: its value at the first and the last t, and the relative rise
 * between them (NaN with fewer than two points).
 */
function trend(points) {
  const n = points.length;
  if (n < 2) return { from: points[0]?.[1] ?? NaN, to: points[0]?.[1] ?? NaN, growth: NaN };
  const mt = points.reduce((a, [t]) => a + t, 0) / n;
  const mv = points.reduce((a, [, v]) => a + v, 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of points) {
    num += (t - mt) * (v - mv);
    den += (t - mt) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  const at = (t) => mv + slope * (t - mt);
  const from = at(points[0][0]);
  const to = at(points[n - 1][0]);
  return { from, to, growth: (to - from) / from };
}

/** Waits (up to 60 s) until `dir` holds `n` finished heap snapshots. */
async function waitForSnapshots(dir, n) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const done = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
    if (done.length >= n) {
      await sleep(2_000); // the last one may still be being written
      console.log(`heap snapshots in ${dir}: ${done.join(', ')}`);
      return;
    }
    await sleep(500);
  }
  console.log(`heap snapshots: fewer than ${n} in ${dir} after 60 s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
