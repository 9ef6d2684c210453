#!/usr/bin/env node
/* global process, console, fetch, AbortSignal, performance */
// The soak benchmark (issue 13): mixed traffic at a fixed rate against one dev agent for a long time, to see
// whether anything grows that should not.
//
//   every tick (1 / rate s): one operation, in rotation: register a job (count 0, so no tasks pile up),
//   list jobs, read one job, a blocking query on /v1/jobs (wait 200ms), put and get a variable, agent health
//   ──► per 10-s window: p99 per operation; at the end: RSS slope after warm-up (first third), open fds, errors
//
// Usage: node bench/soak/soak.bench.mjs [--quick] [--minutes 10] [--rate 40]
//   --quick: 45 s at the same rate (CI). The run fails only on errors (wrong work), never on time.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mb, parseArgs, quantile, resultLine, rssOfPid, sleep } from '../lib/common.mjs';
import { startDevAgent } from '../lib/agent.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const durationMs = quick ? 45_000 : Number(args.minutes ?? 10) * 60_000;
const rate = Number(args.rate ?? 40);
const windowMs = quick ? 5_000 : 10_000;

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
  const agent = await startDevAgent({ dataDir, args: ['-gateway-port', '0'] });
  const base = agent.base;
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
  };
  const names = Object.keys(ops);
  const windows = [];
  let current = { start: 0, lat: Object.fromEntries(names.map((k) => [k, []])) };
  const samples = []; // [ms since start, rss bytes]
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
        samples.push([t, rssOfPid(agent.proc.pid)]);
        current = { start: t, lat: Object.fromEntries(names.map((k) => [k, []])) };
      }
      const name = names[tick % names.length];
      const w = current;
      n++;
      const t0 = performance.now();
      // Fixed rate: a slow answer does not slow the schedule (at most 200 in flight, then the tick waits).
      const p = ops[name]()
        .then(async (res) => {
          await res.arrayBuffer();
          const ok =
            res.status === 200 || (name === 'read' && res.status === 404) || (name === 'varGet' && res.status === 404);
          if (!ok) throw new Error(`${name} answered ${res.status}`);
          w.lat[name].push(performance.now() - t0);
        })
        .catch((e) => {
          errors++;
          firstError ||= String(e?.message ?? e);
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      while (inflight.size >= 200) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    windows.push(current);
    samples.push([Date.now() - started, rssOfPid(agent.proc.pid)]);
    const fds = fdsOf(agent.proc.pid);

    console.log(
      `soak: ${n} operations over ${((Date.now() - started) / 1000).toFixed(0)} s at ${rate}/s; errors ${errors}${firstError ? ` (first: ${firstError})` : ''}`,
    );
    console.log(`p99 per ${windowMs / 1000}-s window (ms): ${names.join(' / ')}`);
    for (const w of windows)
      console.log(
        `  ${(w.start / 1000).toFixed(0).padStart(4)} s  ${names.map((k) => (w.lat[k].length ? quantile(w.lat[k], 0.99).toFixed(1) : '-')).join(' / ')}`,
      );
    // RSS growth after warm-up (the first third): last sample against the first one after warm-up.
    const after = samples.filter(([t]) => t >= durationMs / 3);
    const rss0 = after[0]?.[1] ?? samples[0]?.[1] ?? NaN;
    const rss1 = samples[samples.length - 1]?.[1] ?? NaN;
    const growth = (rss1 - rss0) / rss0;
    console.log(
      `RSS after warm-up ${mb(rss0).toFixed(0)} MB → end ${mb(rss1).toFixed(0)} MB (${(growth * 100).toFixed(1)}%); open fds ${fds}`,
    );
    const all = windows.flatMap((w) => names.flatMap((k) => w.lat[k]));
    console.log(resultLine({ name: 'soak-p99', value: quantile(all, 0.99), unit: 'ms', ref: NaN, goal: 'report' }));
    console.log(resultLine({ name: 'soak-rss-growth', value: growth * 100, unit: '%', ref: 5, goal: '<5' }));
    console.log(resultLine({ name: 'soak-open-fds', value: fds, unit: 'fds', ref: NaN, goal: 'report' }));
    console.log(resultLine({ name: 'soak', value: errors, unit: 'errors', ref: 0, goal: '0' }));
    if (errors > 0) process.exitCode = 1;
  } finally {
    await agent.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
