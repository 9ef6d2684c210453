#!/usr/bin/env node
/* global process, console, fetch, setTimeout, clearTimeout, performance */
// Benchmark "follower-fanout": blocking queries answered by a standby server from its replica. Two Drover servers
// (`server { etcd { endpoints } }`) on a three-member etcd, real processes on 127.0.0.1. N watchers (10,000; 1,000
// with --quick) hold `GET /v1/vars?stale&index=I&wait=120s` on the standby, each on its own keep-alive
// connection; once the standby is idle (every connection accepted and parsed), one variable is written on the
// leader. The figure is the time from sending that write to the last watcher's
// answer (the leader commits to etcd, etcd's watch reaches the standby's replica, the replica wakes every query).
//
//   PUT /v1/var/.. ─► leader ─► etcd txn ─► watch event ─► standby replica.replicate ─► N blocking queries answer
//
// Reference, measured in the same run: the same N watchers on the leader itself (no etcd hop). Goal: every
// watcher on the follower answered within 1 s of the write.
// A second RESULT line gives the CPU seconds the standby used from the write to the last answer: a loaded
// machine stretches the wall clock by the wait for a core, not that.
//
// The watchers are spread over --clients processes (default 4, bench/follower-fanout/watchers.mjs), each timing
// its answers on the machine's clock, so the figure is not one client process's time to read 10,000 answers.
//
// Usage: node bench/follower-fanout/follower-fanout.bench.mjs [--quick] [--watchers N] [--clients K]
//        [--close] [--profile DIR]   (each server writes a V8 CPU profile under DIR/<name> when it stops)
// Needs `npm run build` and `etcd` on PATH. Everything it starts is stopped at the end.
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSecondsOfPid, dist, parseArgs, quantile, repoRoot, resultLine, sleep } from '../lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const watchers = Number(args.watchers ?? (quick ? 1000 : 10_000));
/** Seconds the watchers wait, once all are sent, before the write. */
const holdSeconds = Number(args.hold ?? 1);
const profDir = typeof args.profile === 'string' ? args.profile : undefined;
/** Watcher processes the watchers are spread over (one process reading every answer was itself a bottleneck). */
const clientProcs = Number(args.clients ?? 4);
const here = dirname(fileURLToPath(import.meta.url));
/** --close: each watcher's connection closes after its answer (`Connection: close`), as before keep-alive. */
const closeEach = args.close === true;
const DROVER = join(repoRoot, 'bin', 'drover');

if (spawnSync('etcd', ['--version']).status !== 0) {
  console.log('SKIP follower-fanout: etcd is not installed (apt-get install etcd-server)');
  process.exit(3);
}
const { startEtcd } = await import(dist('state/testing/etcd-server.js'));

function startServer(dir, name, hcl) {
  // --profile DIR: each server writes a V8 CPU profile there when it stops (SIGTERM, then a clean exit).
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, name)}`] : [];
  const agent = ['agent', '-server', '-config', hcl, '-data-dir', join(dir, name), '-http-port', '0'];
  const proc = spawn(process.execPath, [...prof, DROVER, ...agent, '-log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${name} did not start:\n${output}`)), 30_000);
    proc.stdout.on('data', (b) => {
      output = (output + b.toString()).slice(-20_000);
      const m = /API at (http:\/\/[\d.]+:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({ name, proc, address: m[1], log: () => output });
      }
    });
    proc.stderr.on('data', (b) => (output = (output + b.toString()).slice(-20_000)));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${name} exited with ${code}:\n${output}`));
    });
  });
}

async function stop(s) {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const gone = new Promise((r) => s.proc.once('exit', r));
  // A profiled server writes its profile on a clean exit: SIGTERM first, SIGKILL if it lingers.
  if (profDir) {
    s.proc.kill('SIGTERM');
    if (await Promise.race([gone.then(() => true), sleep(20_000).then(() => false)])) return;
  }
  s.proc.kill('SIGKILL');
  await gone;
}

/** Writes the variable `bench/<id>` through `address` (variables change only when written: a steady index). */
async function register(address, id) {
  const r = await fetch(`${address}/v1/var/bench/${id}`, { method: 'PUT', body: JSON.stringify({ Items: { v: id } }) });
  if (!r.ok) throw new Error(`variable write on ${address}: HTTP ${r.status} ${await r.text()}`);
  await r.text();
}

/** The variables index as `address` answers a stale read, once it lists `bench/<id>`. */
async function indexHolding(address, id) {
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${address}/v1/vars?stale`);
    const list = await r.json();
    if (r.ok && list.some((v) => v.Path === `bench/${id}`)) return Number(r.headers.get('x-nomad-index'));
    await sleep(50);
  }
  throw new Error(`${address} never listed variable bench/${id}`);
}

/**
 * Opens `n` blocking queries on `address` (each on its own connection, spread over `clientProcs` watcher
 * processes), waits until every request is sent, writes a variable on `leader`, and returns the seconds from
 * sending that write to each answer.
 */
async function fanOut(address, leader, n, tag, pid) {
  await register(leader, `${tag}-base`);
  const index = await indexHolding(address, `${tag}-base`);
  const url = `${address}/v1/vars?stale&index=${index}&wait=120s`;
  const procs = Math.min(clientProcs, n);
  const kids = Array.from({ length: procs }, (_, k) => {
    const share = Math.floor(n / procs) + (k < n % procs ? 1 : 0);
    const child = fork(join(here, 'watchers.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const kid = { child, sent: 0, early: '', done: undefined };
    kid.result = new Promise((resolve, reject) => {
      child.on('message', (m) => {
        if (m.type === 'sent') kid.sent = m.sent;
        else if (m.type === 'early') kid.early ||= m.what;
        else if (m.type === 'done') resolve(m);
      });
      child.once('exit', (code) => reject(new Error(`watcher process ${k} exited with ${code} before its answers`)));
    });
    kid.result.catch(() => undefined);
    child.send({ url, n: share, closeEach });
    return kid;
  });
  try {
    const sent = () => kids.reduce((a, k) => a + k.sent, 0);
    for (let i = 0; i < 1200 && sent() < n; i++) await sleep(50);
    if (sent() < n) throw new Error(`only ${sent()} of ${n} watchers sent their request`);
    await sleep(holdSeconds * 1000); // let the last requests reach their handlers
    // Then until the server is idle (under 20 ms of CPU in 500 ms): on a loaded machine it may still be
    // accepting and parsing the last connections, which is not the answering this measures.
    for (let i = 0, last = cpuSecondsOfPid(pid); i < 120; i++) {
      await sleep(500);
      const now = cpuSecondsOfPid(pid);
      if (!(now - last >= 0.02)) break;
      last = now;
    }
    const early = kids.find((k) => k.early);
    if (early)
      throw new Error(`watchers answered before the write: the index moved under them (first: ${early.early})`);
    for (const k of kids) k.child.send({ type: 'armed' });
    const cpuBefore = cpuSecondsOfPid(pid);
    const writeAt = performance.timeOrigin + performance.now();
    if (profDir) console.log(`${tag}: write sent at monotonic ${process.hrtime.bigint() / 1000n} us`);
    await register(leader, `${tag}-wake`);
    console.log(
      `${tag}: the write was acknowledged ${((performance.timeOrigin + performance.now() - writeAt) / 1000).toFixed(3)} s after it was sent`,
    );
    const results = await Promise.all(kids.map((k) => k.result));
    const cpu = cpuSecondsOfPid(pid) - cpuBefore;
    console.log(
      `${tag}: the answering server used ${cpu.toFixed(2)} CPU s from the write to the last answer (${((cpu / n) * 1e6).toFixed(0)} µs per watcher)`,
    );
    cpuUsed[tag] = cpu;
    const watcherCpu = results.reduce((a, r) => a + (r.cpuSeconds ?? 0), 0);
    console.log(
      `${tag}: the ${procs} watcher processes used ${watcherCpu.toFixed(2)} CPU s from the write to their last answer (on the same cores)`,
    );
    const failed = results.reduce((a, r) => a + r.failed, 0);
    if (failed > 0) throw new Error(`${failed} watchers failed: ${results.flatMap((r) => r.errors).join('; ')}`);
    return results.flatMap((r) => r.at.map((t) => (t - writeAt) / 1000));
  } finally {
    for (const k of kids) if (k.child.exitCode === null && k.child.signalCode === null) k.child.kill('SIGKILL');
  }
}

/**
 * CPU seconds each fan-out's answering server used (cpuSecondsOfPid): on a loaded machine the wall clock mostly
 * measures the wait for a core, this does not.
 */
const cpuUsed = {};

const etcd = await startEtcd({ members: 3 });
const dir = mkdtempSync(join(tmpdir(), 'ha-follower-fanout-'));
const servers = [];
try {
  const hcl = join(dir, 'server.hcl');
  writeFileSync(
    hcl,
    `limits {\n  http_max_conns_per_client = 0\n}\nserver {\n  enabled = true\n  etcd {\n    endpoints = ${JSON.stringify(etcd.endpoints)}\n  }\n}\n`,
  );
  for (let i = 0; i < 2; i++) servers.push(await startServer(dir, `s${i}`, hcl));
  let leaderAddr = '';
  for (let i = 0; i < 100 && !leaderAddr; i++) {
    leaderAddr = await fetch(`${servers[0].address}/v1/status/leader`)
      .then((x) => x.json())
      .catch(() => '');
    if (!leaderAddr) await sleep(100);
  }
  const leader = servers.find((s) => s.address === `http://${leaderAddr}`);
  const follower = servers.find((s) => s !== leader);
  if (!leader || !follower) throw new Error(`no leader among the servers (status/leader: ${leaderAddr})`);

  const onLeader = await fanOut(leader.address, leader.address, watchers, 'leader', leader.proc.pid);
  const onFollower = await fanOut(follower.address, leader.address, watchers, 'follower', follower.proc.pid);
  const line = (what, xs) =>
    `${what}: ${xs.length} watchers answered; p50 ${quantile(xs, 0.5).toFixed(3)} s, p99 ${quantile(xs, 0.99).toFixed(3)} s, last ${Math.max(...xs).toFixed(3)} s after the write was sent`;
  console.log(line('on the leader (reference)', onLeader));
  console.log(line('on a follower', onFollower));
  console.log(
    resultLine({
      name: 'follower-fanout',
      value: Math.max(...onFollower),
      unit: 's',
      ref: Math.max(...onLeader),
      goal: '<=1',
    }),
  );
  // The load-independent figure: what the follower's answers cost in CPU (a loaded machine stretches the wall
  // clock by the wait for a core). Under 1 CPU second, one idle core answers every watcher within the goal.
  console.log(
    resultLine({
      name: 'follower-fanout-cpu',
      value: cpuUsed.follower,
      unit: 'cpu-s',
      ref: cpuUsed.leader,
      goal: '<=1',
    }),
  );
} catch (e) {
  // What the servers said (warnings and errors: a lost lease, a reloaded replica) explains most failed runs.
  for (const s of servers) console.log(`--- server ${s.name} (${s.address}), last lines:\n${s.log().slice(-3000)}`);
  throw e;
} finally {
  for (const s of servers) await stop(s);
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
