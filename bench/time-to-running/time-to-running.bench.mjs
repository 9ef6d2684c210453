#!/usr/bin/env node
/* global process, console, setTimeout, clearTimeout, performance, fetch */
// Benchmark 2, "time-to-running": N docker containers through Drover against the same containers started
// with plain `docker run -d` at the same parallelism, in the same run.
//
//   reference: N concurrent `docker run -d drover-test/busybox:latest sleep 3600` ──► all exited 0 (= running)
//   drover:    `drover job run -detach` of a job with count N (docker driver, same image and command)
//                ──► poll /v1/job/<id>/allocations until N are running
//   ratio = drover seconds / reference seconds (goal ≤ 1.15). Every container is removed afterwards.
//
// Usage: node bench/time-to-running/time-to-running.bench.mjs [--quick] [--counts 20,50] [--rounds 1]
// Needs `npm run build`, dockerd, and `bash scripts/build-test-images.sh` (the image is local: nothing pulls).
// Exits 3 with `SKIP <reason>` when docker or the image is missing.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs, repoRoot, resultLine, sleep } from '../lib/common.mjs';

const run = promisify(execFile);
const IMAGE = 'drover-test/busybox:latest';
const REF_LABEL = 'drover-bench=time-to-running';
const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const counts = String(args.counts ?? (quick ? '10' : '20,50')).split(',').map(Number);
const rounds = Number(args.rounds ?? 1);
const timeoutMs = Number(args.timeout ?? (quick ? 40 : 180)) * 1000;

const dataDir = mkdtempSync(join(tmpdir(), 'drover-ttr-bench-'));
let agent;
const t0 = performance.now();
const phase = (what) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${what}`);

function idle(ms) {
  return new Promise((r) => setTimeout(r, ms).unref());
}

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
  const base = await startAgent();
  phase(`agent at ${base}`);
  const results = [];
  for (const n of counts) {
    for (let r = 0; r < rounds; r++) {
      const ref = await dockerRun(n);
      phase(`docker run ×${n}: ${ref.toFixed(2)} s`);
      const drv = await droverRun(base, n, `ttr-${n}-${r}`);
      phase(`drover job run count=${n}: ${drv.toFixed(2)} s`);
      results.push({ n, ref, drv });
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
    console.log(resultLine({ name: `time-to-running-${l.n}`, value: l.drv, unit: 's', ref: l.ref, goal: 'ratio<=1.15' }));
  }
  const last = lines[lines.length - 1];
  console.log(resultLine({ name: 'time-to-running', value: last.drv, unit: 's', ref: last.ref, goal: 'ratio<=1.15' }));
}

async function startAgent() {
  agent = spawn(process.execPath, [join(repoRoot, 'bin', 'drover'), 'agent', '-dev', '-data-dir', join(dataDir, 'agent'), '-http-port', '0', '-log-level', 'warn'], {
    cwd: dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  agent.stderr.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent did not print its API address in 30 s:\n${out}`)), 30_000);
    agent.stdout.on('data', (d) => {
      out += d;
      const m = /API at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        agent.stdout.on('data', () => {});
        resolve(m[1]);
      }
    });
    agent.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`agent exited with ${code}:\n${out}`));
    });
  });
}

/** Seconds until N concurrent `docker run -d` have all returned (each returns once its container runs). */
async function dockerRun(n) {
  const start = performance.now();
  await Promise.all(
    Array.from({ length: n }, () => run('docker', ['run', '-d', '--label', REF_LABEL, IMAGE, 'sleep', '3600'], { timeout: timeoutMs })),
  );
  const s = (performance.now() - start) / 1000;
  await removeReferenceContainers();
  return s;
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
  const start = performance.now();
  await run(process.execPath, [join(repoRoot, 'bin', 'drover'), 'job', 'run', '-detach', '-address', base, file], { timeout: timeoutMs });
  const deadline = start + timeoutMs;
  let running = 0;
  while (performance.now() < deadline) {
    const res = await fetch(`${base}/v1/job/${id}/allocations`);
    const allocs = await res.json();
    running = allocs.filter((a) => a.ClientStatus === 'running').length;
    if (running >= n) break;
    const failed = allocs.filter((a) => a.ClientStatus === 'failed').length;
    if (failed > 0) throw new Error(`${failed} allocations of ${id} failed`);
    await sleep(25);
  }
  const s = (performance.now() - start) / 1000;
  if (running < n) throw new Error(`only ${running} of ${n} allocations running after ${timeoutMs / 1000} s`);
  await stopJob(base, id);
  return s;
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
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent.once('exit', r));
    agent.kill('SIGTERM');
    await Promise.race([exited, idle(20_000)]);
    if (agent.exitCode === null) agent.kill('SIGKILL');
  }
  try {
    await removeReferenceContainers();
    // Anything the agent left behind (it was killed, or a stop did not finish): containers of our jobs only.
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=com.hashicorp.nomad.job_name']);
    const mine = [];
    for (const cid of stdout.split('\n').filter(Boolean)) {
      const { stdout: job } = await run('docker', ['inspect', '-f', '{{index .Config.Labels "com.hashicorp.nomad.job_name"}}', cid]);
      if (job.trim().startsWith('ttr-')) mine.push(cid);
    }
    if (mine.length > 0) await run('docker', ['rm', '-f', ...mine], { timeout: 120_000 });
  } catch {
    // docker itself is gone: nothing to clean
  }
  rmSync(dataDir, { recursive: true, force: true });
}
