#!/usr/bin/env node
/* global process, console, setTimeout, clearTimeout, performance, Buffer */
// Benchmark 1, "scheduler": the C1M shape through the real server path.
//
//   parent ──spawn──► one child per size (own process, so peak RSS is its own)
//   child:  createServer (SQLite in a temp dir, 2 workers)
//             ──► N nodes through server.nodeRegister (client fingerprint shape, long heartbeat TTL)
//             ──► J jobs × C instances through server.jobs.register (HCL → parseJobSource → canonicalizeJob)
//             ──► eval broker ──► workers (service scheduler) ──► plan applier ──► state + SQLite
//             ──► wait until every eval is terminal ──► count placements from the state, check capacity
//
// Usage: node bench/scheduler/scheduler.bench.mjs [--quick] [--sizes 100:20:1000,1000:200:1000,...]
//        [--cpu-prof] [--workers 2] [--register-concurrency 1 (jobs registered at once)] [--sqlite main|worker] [--synchronous full|normal] [--timeout S] [--tmp DIR (where the data dir goes, e.g. /dev/shm)]
//        [--node-flags="--max-semi-space-size=64"] (V8 flags for the server process)
//        [--backend etcd]   (each size on SQLite, then on a 3-member etcd started here: the state through etcd's
//                            log of compressed batches; RESULT scheduler-etcd with the SQLite figure as its ref)
//        node bench/scheduler/scheduler.bench.mjs --single --nodes N --jobs J --count C   (one size, JSON out)
// Needs `npm run build` first (imports dist/). Ends with the RESULT lines of issue 7, `name=scheduler` last.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countingLogger, dist, mb, parseArgs, peakRSSBytes, quantile, resultLine, sleep } from '../lib/common.mjs';
import { summarizeProfiles } from '../lib/profile-summary.mjs';

const REF_PLACEMENTS_PER_S = 3750; // Nomad's C1M: 1M containers in under 5 minutes on 5 servers.
const GOAL_PLACEMENTS_PER_S = 15000;
const ASK = { cpu: 100, memoryMB: 128 };
// A client the size of a common cloud instance: 32 cores × 3 GHz, 64 GiB, 500 GiB disk.
const FACTS = { cores: 32, mhz: 3000, memoryBytes: 64 * 1024 ** 3, diskMB: 500 * 1024 };
const RESERVED = { cpu: 200, memoryMB: 512, diskMB: 4096 };

async function parent(a) {
  const quick = a.quick === true;
  const sizes = String(a.sizes ?? (quick ? '500:20:500' : '100:20:1000,1000:200:1000,5000:1000:1000'))
    .split(',')
    .map((s) => s.split(':').map(Number))
    .map(([nodes, jobs, count]) => ({ nodes, jobs, count }));
  // The full C1M takes a long time on 2 cores (see BENCHMARKS.md): an hour at most, then it fails loudly.
  const timeoutS = Number(a.timeout ?? (quick ? 50 : 3600));
  const profDir = a['cpu-prof'] ? join(tmpdir(), 'drover-profiles', `scheduler-${Date.now()}`) : undefined;
  if (a.backend === 'etcd') return etcdBeside(a, sizes, timeoutS, profDir);
  const runs = [];
  for (const s of sizes) {
    process.stdout.write(`scheduler: ${s.nodes} nodes, ${s.jobs} jobs × ${s.count} instances ... `);
    const r = await runChild(s, {
      timeoutS,
      profDir,
      workers: a.workers,
      sqlite: a.sqlite,
      synchronous: a.synchronous,
      tmp: a.tmp,
      nodeFlags: a['node-flags'],
      registerConcurrency: a['register-concurrency'],
    });
    runs.push(r);
    console.log(
      `${r.placements} placements in ${r.seconds.toFixed(1)} s = ${r.placementsPerSecond.toFixed(0)}/s; ` +
        `eval p50 ${r.evalP50ms.toFixed(0)} ms p99 ${r.evalP99ms.toFixed(0)} ms; ` +
        `nodes used ${r.nodesUsed} / lower bound ${r.lowerBound} (${r.packingRatio.toFixed(3)}); ` +
        `peak RSS ${r.peakRSSMB.toFixed(0)} MB; CPU ${r.cpuSeconds.toFixed(1)} s (main thread ${r.mainCpuSeconds.toFixed(1)} s); node register ${r.nodeRegisterSeconds.toFixed(1)} s` +
        (r.heapAfterGCMB !== undefined ? `; heap after GC ${r.heapAfterGCMB.toFixed(0)} MB` : ''),
    );
  }
  if (profDir) {
    console.log(`\nCPU profile (${profDir}), top self time:`);
    for (const line of summarizeProfiles(profDir, 25)) console.log(`  ${line}`);
  }
  const main = runs[runs.length - 1];
  for (const r of runs.slice(0, -1)) {
    console.log(
      resultLine({
        name: `scheduler-${r.nodes}-nodes`,
        value: r.placementsPerSecond,
        unit: 'placements/s',
        ref: REF_PLACEMENTS_PER_S,
        goal: `>=${GOAL_PLACEMENTS_PER_S}`,
      }),
    );
  }
  console.log(
    resultLine({
      name: 'scheduler-seconds',
      value: main.seconds,
      unit: 's',
      ref: main.placements / REF_PLACEMENTS_PER_S,
      goal: `<=${(main.placements / GOAL_PLACEMENTS_PER_S).toFixed(1)}`,
    }),
  );
  console.log(resultLine({ name: 'scheduler-eval-p50', value: main.evalP50ms, unit: 'ms', ref: NaN, goal: 'report' }));
  console.log(resultLine({ name: 'scheduler-eval-p99', value: main.evalP99ms, unit: 'ms', ref: NaN, goal: 'report' }));
  console.log(
    resultLine({
      name: 'scheduler-binpack',
      value: main.nodesUsed,
      unit: 'nodes',
      ref: main.lowerBound,
      goal: '<=1.05',
    }),
  );
  // Placements per CPU second of the server process: robust against other load on a shared machine.
  console.log(
    resultLine({
      name: 'scheduler-per-cpu-second',
      value: main.placements / main.cpuSeconds,
      unit: 'placements/cpu-s',
      ref: REF_PLACEMENTS_PER_S,
      goal: `>=${GOAL_PLACEMENTS_PER_S}`,
    }),
  );
  console.log(resultLine({ name: 'scheduler-peak-rss', value: main.peakRSSMB, unit: 'MB', ref: 4096, goal: '<4096' }));
  console.log(
    resultLine({
      name: 'scheduler',
      value: main.placementsPerSecond,
      unit: 'placements/s',
      ref: REF_PLACEMENTS_PER_S,
      goal: `>=${GOAL_PLACEMENTS_PER_S}`,
    }),
  );
}

/**
 * `--backend etcd`: every size on SQLite and then with the state on a 3-member etcd (loopback, started and
 * stopped here), one server scheduling in both (standbys do not schedule). The SQLite figure of the same run is
 * the reference; issue 14's goal is >= 5,000 placements/s at 1,000 nodes / 100k placements.
 */
async function etcdBeside(a, sizes, timeoutS, profDir) {
  const { startEtcd } = await import(dist('state/testing/etcd-server.js'));
  const etcd = await startEtcd({ members: 3 });
  const pairs = [];
  try {
    for (const s of sizes) {
      const base = { timeoutS, workers: a.workers, tmp: a.tmp, nodeFlags: a['node-flags'] };
      const line = (what, r) =>
        console.log(
          `scheduler (${what}): ${s.nodes} nodes, ${s.jobs} jobs × ${s.count}: ${r.placements} placements in ` +
            `${r.seconds.toFixed(1)} s = ${r.placementsPerSecond.toFixed(0)}/s; eval p99 ${r.evalP99ms.toFixed(0)} ms; ` +
            `peak RSS ${r.peakRSSMB.toFixed(0)} MB; CPU ${r.cpuSeconds.toFixed(1)} s`,
        );
      const sqlite = await runChild(s, base);
      line('sqlite', sqlite);
      // With --cpu-prof only the etcd run is profiled: that is the figure under study.
      const etcdProf = profDir ? join(profDir, `etcd-${s.nodes}`) : undefined;
      const onEtcd = await runChild(s, { ...base, profDir: etcdProf, etcd: etcd.endpoints.join(',') });
      line('etcd, 3 members', onEtcd);
      const r = onEtcd.reload;
      console.log(
        `  read back from etcd by a fresh backend (the etcd part of a takeover; the store's indexes not built): ${r.allocs} placements at index ${r.index} in ` +
          `${r.seconds.toFixed(1)} s (snapshot at index ${r.snapshotIndex}, ${r.snapshotChunks} chunks, then the log)`,
      );
      if (etcdProf) {
        console.log(`\nCPU profile of the etcd run (${etcdProf}), top self time:`);
        for (const l of summarizeProfiles(etcdProf, 25)) console.log(`  ${l}`);
      }
      pairs.push({ s, sqlite, onEtcd });
    }
  } finally {
    await etcd.stop();
  }
  for (const { s, sqlite, onEtcd } of pairs)
    console.log(
      resultLine({
        name: `scheduler-etcd-${s.nodes}-nodes-${s.jobs * s.count}`,
        value: onEtcd.placementsPerSecond,
        unit: 'placements/s',
        ref: sqlite.placementsPerSecond,
        goal: '>=5000',
      }),
    );
}

/** Runs one size in a fresh Node process and returns its figures. */
function runChild(
  size,
  { timeoutS, profDir, workers, sqlite, synchronous, tmp, nodeFlags, etcd, registerConcurrency },
) {
  const self = fileURLToPath(import.meta.url);
  const nodeArgs = ['--max-old-space-size=6144', ...(nodeFlags ? String(nodeFlags).split(' ').filter(Boolean) : [])];
  if (profDir) {
    mkdirSync(profDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
  }
  const childArgs = [
    '--single',
    '--nodes',
    String(size.nodes),
    '--jobs',
    String(size.jobs),
    '--count',
    String(size.count),
    '--timeout',
    String(timeoutS),
  ];
  if (workers) childArgs.push('--workers', String(workers));
  if (sqlite) childArgs.push('--sqlite', String(sqlite));
  if (synchronous) childArgs.push('--synchronous', String(synchronous));
  if (tmp) childArgs.push('--tmp', String(tmp));
  if (etcd) childArgs.push('--etcd', etcd);
  if (registerConcurrency) childArgs.push('--register-concurrency', String(registerConcurrency));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, self, ...childArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    const forward = () => child.kill('SIGTERM');
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // The child enforces its own timeout; this one only guards against a hang in teardown.
    const guard = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 120) * 1000);
    child.on('error', reject);
    child.on('exit', (code, sig) => {
      clearTimeout(guard);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      const line = out.split('\n').find((l) => l.startsWith('FIGURES '));
      if (code !== 0 || !line) return reject(new Error(`scheduler child exited with ${code ?? sig}:\n${out}`));
      resolve(JSON.parse(line.slice('FIGURES '.length)));
    });
  });
}

function jobHCL(id, count) {
  return `
job "${id}" {
  datacenters = ["dc1"]
  type        = "service"
  group "app" {
    count = ${count}
    task "server" {
      driver = "mock_driver"
      config {
        run_for = "1h"
      }
      resources {
        cpu    = ${ASK.cpu}
        memory = ${ASK.memoryMB}
      }
    }
  }
}
`;
}

function simulatedNode(buildNode, i) {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const hex = i.toString(16).padStart(12, '0');
  const node = buildNode({
    identity: { id: `00000000-0000-4000-8000-${hex}`, secretID: `10000000-0000-4000-8000-${hex}` },
    name: `sim-${i}`,
    datacenter: 'dc1',
    nodePool: 'default',
    nodeClass: '',
    meta: { rack: `r${i % 40}` },
    advertiseIP: ip,
    httpAddr: `${ip}:4646`,
    facts: {
      ...FACTS,
      modelName: 'Simulated CPU @ 3.00GHz',
      osName: 'debian',
      osVersion: '12',
      kernelName: 'linux',
      kernelVersion: '6.1.0',
      arch: 'amd64',
      hostname: `sim-${i}`,
    },
    drivers: {
      attributes: { 'driver.mock_driver': '1', 'driver.exec': '1', 'driver.raw_exec': '1' },
      drivers: Object.fromEntries(
        ['mock_driver', 'exec', 'raw_exec'].map((d) => [
          d,
          { Attributes: null, Detected: true, Healthy: true, HealthDescription: 'Healthy', UpdateTime: '' },
        ]),
      ),
    },
    portRange: { min: 20000, max: 32000 },
    reservedPorts: '22',
    reserved: RESERVED,
    hostVolumes: {},
    now: Date.now(),
  });
  // The client registers, then reports itself ready once its drivers are fingerprinted; these never run anything.
  return { ...node, Status: 'ready' };
}

async function single(a) {
  const nodes = Number(a.nodes);
  const jobs = Number(a.jobs);
  const count = Number(a.count);
  const timeoutMs = Number(a.timeout ?? 900) * 1000;
  const { createServer } = await import(dist('server/index.js'));
  const { buildNode } = await import(dist('client/index.js'));
  const { parseJobSource, canonicalizeJob } = await import(dist('jobspec/index.js'));

  // --tmp /dev/shm separates disk latency from CPU work (SQLite still runs, on tmpfs).
  const dataDir = mkdtempSync(join(a.tmp ? String(a.tmp) : tmpdir(), 'drover-sched-bench-'));
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const logger = countingLogger();
  const etcdPrefix = `/ha-bench/${process.pid}/`;
  const server = await createServer({
    dataDir,
    logger,
    numWorkers: Number(a.workers ?? 2),
    // `--sqlite worker` commits on a worker thread (the server's option); the default is the main thread.
    sqliteWorkerThread: a.sqlite === 'worker',
    // `--synchronous normal` measures the old default (no fsync per commit) beside FULL, the default now.
    sqliteSynchronous: a.synchronous ? String(a.synchronous).toUpperCase() : undefined,
    // Simulated clients never heartbeat: a TTL longer than the run keeps them ready.
    heartbeat: { minTTLms: 3_600_000, gracems: 3_600_000 },
    // `--etcd URL,...` (from --backend etcd): the state on etcd, under a prefix of this run's own.
    ...(a.etcd ? { etcd: { endpoints: String(a.etcd).split(','), prefix: etcdPrefix } } : {}),
  });
  let figures;
  try {
    const t0 = performance.now();
    for (let i = 0; i < nodes; i++) await server.nodeRegister(simulatedNode(buildNode, i));
    const nodeRegisterSeconds = (performance.now() - t0) / 1000;

    // Parsing is the CLI's work, not the server's: done before the clock starts.
    const specs = [];
    for (let j = 0; j < jobs; j++) specs.push(canonicalizeJob(parseJobSource(jobHCL(`c1m-${j}`, count)).job));

    const start = performance.now();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCPUSeconds();
    const evalIDs = [];
    // --register-concurrency N: N API callers registering at once (each still waits for its own commit).
    const conc = Math.max(1, Number(a['register-concurrency'] ?? 1));
    for (let i = 0; i < specs.length; i += conc)
      for (const r of await Promise.all(specs.slice(i, i + conc).map((job) => server.jobs.register(job))))
        evalIDs.push(r.EvalID);
    const done = await waitForEvals(server, evalIDs, timeoutMs);
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    // CPU seconds of this process: less sensitive than wall time to other load on a shared machine.
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    // The main thread's share (the rest is SQLite's worker thread, if any, and V8's helper threads).
    const mainCpuSeconds = mainThreadCPUSeconds() - main0;
    if (!done)
      throw new Error(`evaluations not finished after ${timeoutMs / 1000} s: ${JSON.stringify(server.stats())}`);

    figures = measure(server.store.snapshot(), evalIDs, { nodes, jobs, count });
    // With --node-flags=--expose-gc: the heap still in use after a full collection (what the state holds).
    if (typeof globalThis.gc === 'function') {
      globalThis.gc();
      figures.heapAfterGCMB = mb(process.memoryUsage().heapUsed);
      if (a['mem-breakdown']) figures.heapBreakdown = heapBreakdown(server.store.snapshot());
    }
    Object.assign(figures, {
      seconds,
      cpuSeconds,
      mainCpuSeconds,
      nodeRegisterSeconds,
      placementsPerSecond: figures.placements / seconds,
      peakRSSMB: mb(peakRSSBytes()),
      warnings: logger.seen.warn,
      errors: logger.seen.error,
      firstLogs: logger.seen.first,
    });
    if (figures.placements !== jobs * count) {
      throw new Error(`expected ${jobs * count} placements, found ${figures.placements}; ${JSON.stringify(figures)}`);
    }
  } finally {
    await server.stop();
    if (a['keep-data']) console.error(`data dir kept: ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
  if (a.etcd) figures.reload = await reloadFromEtcd(String(a.etcd).split(','), etcdPrefix, jobs * count);
  console.log(`FIGURES ${JSON.stringify(figures)}`);
}

/**
 * The etcd part of what a standby does when it takes over: a fresh backend loads the whole state from etcd (the
 * latest snapshot, then the log after it); the state store's indexes are not built here. Proves the run's
 * snapshots were written and can be read back, and counts every placement again.
 */
async function reloadFromEtcd(endpoints, prefix, expected) {
  const { EtcdBackend } = await import(dist('state/etcd/index.js'));
  const backend = new EtcdBackend({ endpoints, prefix });
  try {
    const t0 = performance.now();
    let allocs = 0;
    const meta = await backend.load((table, _key, value) => {
      if (table === 'allocs' && value.DesiredStatus === 'run') allocs++;
    });
    const seconds = (performance.now() - t0) / 1000;
    const snap = (await backend.client.range(Buffer.from(`${prefix}snap`))).kvs[0];
    const snapshot = snap ? JSON.parse(snap.value.toString('utf8')) : undefined;
    if (allocs !== expected) throw new Error(`reloaded ${allocs} placements from etcd, ${expected} expected`);
    return {
      seconds,
      allocs,
      index: meta.index,
      snapshotIndex: snapshot?.index ?? 0,
      snapshotChunks: snapshot?.chunks ?? 0,
    };
  } finally {
    await backend.close();
  }
}

/**
 * `--mem-breakdown` (with --node-flags=--expose-gc): bytes per allocation the heap holds for each part of the
 * placed allocations, found by dropping that part from every allocation (in place, after the run) and
 * collecting. What is left at the end is the allocation objects, their strings and the state's indexes.
 */
function heapBreakdown(snap) {
  const allocs = [...snap.allocs()];
  const used = () => {
    globalThis.gc();
    return process.memoryUsage().heapUsed;
  };
  const out = { allocations: allocs.length, totalBytesPerAlloc: 0 };
  let before = used();
  out.totalBytesPerAlloc = Math.round(before / allocs.length);
  const drop = (name, f) => {
    for (const al of allocs) f(al);
    const now = used();
    out[name] = Math.round((before - now) / allocs.length);
    before = now;
  };
  drop('Metrics.ScoreMetaData', (al) => al.Metrics && (al.Metrics.ScoreMetaData = null));
  drop('Metrics (rest)', (al) => (al.Metrics = null));
  drop('AllocatedResources', (al) => (al.AllocatedResources = null));
  drop('DesiredTransition', (al) => (al.DesiredTransition = null));
  drop('TaskStates', (al) => (al.TaskStates = null));
  allocs.length = 0;
  return out;
}

/** CPU seconds of this process's main thread (Linux: its task's utime + stime), NaN elsewhere. */
function mainThreadCPUSeconds() {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

const TERMINAL = new Set(['complete', 'failed', 'canceled', 'blocked']);

/** Polls the committed state until every registered eval is terminal and the broker is idle. */
async function waitForEvals(server, ids, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let from = 0;
  while (Date.now() < deadline) {
    const snap = server.store.snapshot();
    while (from < ids.length && TERMINAL.has(snap.evalByID(ids[from])?.Status)) from++;
    const b = server.stats().broker;
    if (from === ids.length && b.ready + b.unacked + b.pending === 0) return true;
    await sleep(20);
  }
  return false;
}

/** Placements, eval latency and packing quality, read back from the state; also checks no node is over-committed. */
function measure(snap, evalIDs, size) {
  const latencies = [];
  for (const id of evalIDs) {
    const ev = snap.evalByID(id);
    if (ev?.Status === 'complete') latencies.push((ev.ModifyTime - ev.CreateTime) / 1e6);
  }
  const perNode = new Map();
  let placements = 0;
  for (const al of snap.allocs()) {
    if (al.DesiredStatus !== 'run') continue;
    placements++;
    perNode.set(al.NodeID, (perNode.get(al.NodeID) ?? 0) + 1);
  }
  const capCPU = FACTS.cores * FACTS.mhz - RESERVED.cpu;
  const capMem = FACTS.memoryBytes / 1024 ** 2 - RESERVED.memoryMB;
  const perNodeMax = Math.min(Math.floor(capCPU / ASK.cpu), Math.floor(capMem / ASK.memoryMB));
  let maxOnNode = 0;
  for (const n of perNode.values()) maxOnNode = Math.max(maxOnNode, n);
  if (maxOnNode > perNodeMax) throw new Error(`a node holds ${maxOnNode} allocations, more than fit (${perNodeMax})`);
  // Identical asks: no packing can use fewer nodes than this (the binding dimension is memory here).
  const lowerBound = Math.ceil(placements / perNodeMax);
  return {
    ...size,
    placements,
    completeEvals: latencies.length,
    evalP50ms: quantile(latencies, 0.5),
    evalP99ms: quantile(latencies, 0.99),
    nodesUsed: perNode.size,
    lowerBound,
    perNodeMax,
    packingRatio: perNode.size / lowerBound,
  };
}

// Last, so every const above is initialised before the top-level await runs.
const args = parseArgs(process.argv.slice(2));
if (args.single) await single(args);
else await parent(args);
