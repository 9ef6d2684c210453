#!/usr/bin/env node
/* global process, console, performance, fetch */
// Benchmark 2, "time-to-running": N docker containers through Drover against the same containers started
// with plain `docker run -d` at the same parallelism, in the same run.
//
//   reference: N concurrent `docker run -d drover-test/busybox:latest sleep 3600` ──► all exited 0 (= running)
//   drover:    `drover job run -detach` of a job with count N (docker driver, same image and command)
//                ──► poll /v1/job/<id>/allocations until N are running
//   ratio = drover seconds / reference seconds (goal ≤ 1.15). Every container is removed afterwards.
//
// Usage: node bench/time-to-running/time-to-running.bench.mjs [--quick] [--counts 20,50] [--rounds 1] [--cpu-prof]
// Needs `npm run build`, dockerd, and `bash scripts/build-test-images.sh` (the image is local: nothing pulls).
// Exits 3 with `SKIP <reason>` when docker or the image is missing.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg as osLoadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cpuSecondsOfPid, parseArgs, repoRoot, resultLine, sleep } from '../lib/common.mjs';
import { startDevAgent } from '../lib/agent.mjs';
import { summarizeProfiles } from '../lib/profile-summary.mjs';

const run = promisify(execFile);
const IMAGE = 'drover-test/busybox:latest';
const REF_LABEL = 'drover-bench=time-to-running';
const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const counts = String(args.counts ?? (quick ? '10' : '20,50'))
  .split(',')
  .map(Number);
const rounds = Number(args.rounds ?? 1);
const timeoutMs = Number(args.timeout ?? (quick ? 40 : 180)) * 1000;

// --cpu-prof: profile the agent (written when it exits) and print the top self time at the end.
const profDir = args['cpu-prof'] ? join(tmpdir(), 'drover-profiles', `ttr-${Date.now()}`) : undefined;

const dataDir = mkdtempSync(join(tmpdir(), 'drover-ttr-bench-'));
/** The running agent: { proc, base, stop } (bench/lib/agent.mjs). */
let agent;
const t0 = performance.now();
const phase = (what) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${what}`);

// CPU seconds per side (Linux /proc; NaN elsewhere): dockerd + containerd, this benchmark's children (the
// docker CLIs, or the drover CLI) and the agent. On a shared machine these say more than wall-clock figures.
let daemonPids = [];
const daemonCpu = () => daemonPids.reduce((sum, pid) => sum + cpuSecondsOfPid(pid), 0);
function childrenCpu() {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(f[13]) + Number(f[14])) / 100; // cutime + cstime (fields 16, 17), in USER_HZ = 100
  } catch {
    return NaN;
  }
}
const loadavg = () => osLoadavg()[0].toFixed(1);
const agentCpu = () => (agent ? cpuSecondsOfPid(agent.proc.pid) : NaN);
/** A CPU meter started now: calling it gives the CPU-seconds each side used since. */
function cpuMeter() {
  const before = { d: daemonCpu(), c: childrenCpu(), a: agentCpu() };
  return () => ({ daemon: daemonCpu() - before.d, children: childrenCpu() - before.c, agent: agentCpu() - before.a });
}
const fmtCpu = (c) =>
  `CPU-s dockerd+containerd ${c.daemon.toFixed(2)}, CLIs ${c.children.toFixed(2)}, agent ${c.agent.toFixed(2)}`;

try {
  if (!prerequisites()) process.exitCode = 3;
  else await main();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await cleanup();
}

function prerequisites() {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 });
  } catch {
    console.log('SKIP docker is not available (start dockerd)');
    return false;
  }
  try {
    execFileSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore', timeout: 20_000 });
  } catch {
    console.log(`SKIP image ${IMAGE} is missing: run bash scripts/build-test-images.sh`);
    return false;
  }
  return true;
}

async function main() {
  agent = await startDevAgent({
    dataDir: join(dataDir, 'agent'),
    cwd: dataDir,
    profDir,
    // Its own gateway port: a gateway left on the default 8080 by anything else must not stop the run.
    args: ['-gateway-port', '0'],
  });
  const base = agent.base;
  phase(`agent at ${base}`);
  try {
    daemonPids = ['dockerd', 'containerd'].flatMap((name) =>
      execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number),
    );
  } catch {
    daemonPids = [];
  }
  const results = [];
  for (const n of counts) {
    for (let r = 0; r < rounds; r++) {
      // Alternate which side goes first, so a machine getting busier (or calmer) during a round does not
      // always favour the same side; with --rounds ≥ 2 the medians compare like with like.
      const refFirst = r % 2 === 0;
      const reference = async () => {
        const { s, cpu } = await dockerRun(n);
        phase(`docker run ×${n}: ${s.toFixed(2)} s (${fmtCpu(cpu)}; load ${loadavg()})`);
        return s;
      };
      let ref = refFirst ? await reference() : NaN;
      const drv = await droverRun(base, n, `ttr-${n}-${r}`);
      phase(
        `drover job run count=${n}: ${drv.s.toFixed(2)} s (${drv.timeline}; ${fmtCpu(drv.cpu)}; load ${loadavg()})`,
      );
      if (!refFirst) ref = await reference();
      results.push({ n, ref, drv: drv.s });
    }
  }
  const byN = new Map();
  for (const r of results) {
    const cur = byN.get(r.n) ?? { ref: [], drv: [] };
    cur.ref.push(r.ref);
    cur.drv.push(r.drv);
    byN.set(r.n, cur);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lines = [...byN].map(([n, v]) => ({ n, ref: median(v.ref), drv: median(v.drv) }));
  for (const l of lines.slice(0, -1)) {
    console.log(
      resultLine({ name: `time-to-running-${l.n}`, value: l.drv, unit: 's', ref: l.ref, goal: 'ratio<=1.15' }),
    );
  }
  const last = lines[lines.length - 1];
  console.log(resultLine({ name: 'time-to-running', value: last.drv, unit: 's', ref: last.ref, goal: 'ratio<=1.15' }));
}

/** Seconds until N concurrent `docker run -d` have all returned (each returns once its container runs). */
async function dockerRun(n) {
  const meter = cpuMeter();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: n }, () =>
      run('docker', ['run', '-d', '--label', REF_LABEL, IMAGE, 'sleep', '3600'], { timeout: timeoutMs }),
    ),
  );
  const s = (performance.now() - start) / 1000;
  const cpu = meter();
  await removeReferenceContainers();
  return { s, cpu };
}

function jobHCL(id, n) {
  return `
job "${id}" {
  datacenters = ["dc1"]
  type = "service"
  group "g" {
    count = ${n}
    task "sleep" {
      driver = "docker"
      config {
        image   = "${IMAGE}"
        command = "sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`;
}

/** Seconds from `drover job run -detach` until N allocations of the job are running, then stop and purge it. */
async function droverRun(base, n, id) {
  const file = join(dataDir, `${id}.nomad.hcl`);
  writeFileSync(file, jobHCL(id, n));
  const meter = cpuMeter();
  const start = performance.now();
  const startWall = Date.now();
  await run(process.execPath, [join(repoRoot, 'bin', 'drover'), 'job', 'run', '-detach', '-address', base, file], {
    timeout: timeoutMs,
  });
  const cliMs = performance.now() - start;
  const deadline = start + timeoutMs;
  let running = 0;
  let allocs = [];
  // A blocking query (Nomad's `index` + `wait`): answered as soon as the job's allocations change, so the
  // observer neither misses the moment nor loads the agent with 40 full listings a second while it starts
  // containers (at N = 50 that polling cost the agent ≈ 0.7 CPU-s of the two cores dockerd needs).
  let index = 0;
  while (performance.now() < deadline) {
    const res = await fetch(`${base}/v1/job/${id}/allocations?index=${index}&wait=5s`);
    allocs = await res.json();
    const next = Number(res.headers.get('x-nomad-index'));
    running = allocs.filter((a) => a.ClientStatus === 'running').length;
    if (running >= n) break;
    const failed = allocs.filter((a) => a.ClientStatus === 'failed').length;
    if (failed > 0) throw new Error(`${failed} allocations of ${id} failed`);
    // No index (or it did not move): fall back to a short poll.
    if (!(next > index)) await sleep(25);
    index = next > index ? next : index;
  }
  const s = (performance.now() - start) / 1000;
  const cpu = meter();
  if (running < n) throw new Error(`only ${running} of ${n} allocations running after ${timeoutMs / 1000} s`);
  await stopJob(base, id);
  return { s, cpu, timeline: timeline(allocs, startWall, cliMs) };
}

/**
 * Where the time went, in ms from the CLI's start: the CLI returning (register acknowledged), the allocations
 * placed (CreateTime), the client receiving them (first/last "Received"), the tasks started by the driver
 * (first/last "Started"). After the last start, the client's update (batched for up to 200 ms, as Nomad's) still
 * has to reach the server before the allocation reads running.
 */
function timeline(allocs, startWall, cliMs) {
  const rel = (ns) => ns / 1e6 - startWall;
  const events = (type) =>
    allocs.flatMap((a) =>
      Object.values(a.TaskStates ?? {}).flatMap((t) =>
        (t.Events ?? []).filter((e) => e.Type === type).map((e) => rel(e.Time)),
      ),
    );
  const span = (xs) => (xs.length ? `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}` : '?');
  const placed = allocs.map((a) => rel(a.CreateTime));
  return `cli ${cliMs.toFixed(0)} ms, placed ${span(placed)}, received ${span(events('Received'))}, started ${span(events('Started'))}`;
}

async function stopJob(base, id) {
  await fetch(`${base}/v1/job/${id}?purge=true`, { method: 'DELETE' });
  // Wait (bounded) for the client to stop the containers, so the next round starts from an idle docker.
  const until = performance.now() + 60_000;
  while (performance.now() < until) {
    const { stdout } = await run('docker', ['ps', '-q', '--filter', `label=com.hashicorp.nomad.job_name=${id}`]);
    if (stdout.trim() === '') return;
    await sleep(250);
  }
}

async function removeReferenceContainers() {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', `label=${REF_LABEL}`]);
  const ids = stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await run('docker', ['rm', '-f', ...ids], { timeout: 120_000 });
}

async function cleanup() {
  await agent?.stop(20_000);
  if (profDir && existsSync(profDir)) {
    console.log(`agent CPU profile (${profDir}), top self time:`);
    for (const l of summarizeProfiles(profDir, 25)) console.log(`  ${l}`);
  }
  try {
    await removeReferenceContainers();
    // Anything the agent left behind (it was killed, or a stop did not finish): containers of our jobs only.
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=com.hashicorp.nomad.job_name']);
    const mine = [];
    for (const cid of stdout.split('\n').filter(Boolean)) {
      const { stdout: job } = await run('docker', [
        'inspect',
        '-f',
        '{{index .Config.Labels "com.hashicorp.nomad.job_name"}}',
        cid,
      ]);
      if (job.trim().startsWith('ttr-')) mine.push(cid);
    }
    if (mine.length > 0) await run('docker', ['rm', '-f', ...mine], { timeout: 120_000 });
  } catch {
    // docker itself is gone: nothing to clean
  }
  rmSync(dataDir, { recursive: true, force: true });
}
