#!/usr/bin/env node
/* global process, console, fetch, setTimeout, clearTimeout, URL, performance */
// Benchmark "follower-fanout": blocking queries answered by a standby server from its replica. Two Drover servers
// (`server { etcd { endpoints } }`) on a three-member etcd, real processes on 127.0.0.1. N watchers (10,000; 1,000
// with --quick) hold `GET /v1/vars?stale&index=I&wait=120s` on the standby, each on its own connection; one
// variable is then written on the leader. The figure is the time from sending that write to the last watcher's
// answer (the leader commits to etcd, etcd's watch reaches the standby's replica, the replica wakes every query).
//
//   PUT /v1/var/.. ─► leader ─► etcd txn ─► watch event ─► standby replica.replicate ─► N blocking queries answer
//
// Reference, measured in the same run: the same N watchers on the leader itself (no etcd hop). Goal: every
// watcher on the follower answered within 1 s of the write.
//
// Usage: node bench/follower-fanout/follower-fanout.bench.mjs [--quick] [--watchers N]
// Needs `npm run build` and `etcd` on PATH. Everything it starts is stopped at the end.
import { spawn, spawnSync } from 'node:child_process';
import { request, Agent } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dist, parseArgs, quantile, repoRoot, resultLine, sleep } from '../lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const watchers = Number(args.watchers ?? (quick ? 1000 : 10_000));
/** Seconds the watchers wait, once all are sent, before the write. */
const holdSeconds = Number(args.hold ?? 1);
const DROVER = join(repoRoot, 'bin', 'drover');

if (spawnSync('etcd', ['--version']).status !== 0) {
  console.log('SKIP follower-fanout: etcd is not installed (apt-get install etcd-server)');
  process.exit(3);
}
const { startEtcd } = await import(dist('state/testing/etcd-server.js'));

function startServer(dir, name, hcl) {
  const proc = spawn(
    DROVER,
    ['agent', '-server', '-config', hcl, '-data-dir', join(dir, name), '-http-port', '0', '-log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
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
 * Opens `n` blocking queries on `address` (each on its own connection), waits until every request is sent,
 * writes a variable on `leader`, and returns the seconds from sending that write to each answer.
 */
async function fanOut(address, leader, n, tag) {
  await register(leader, `${tag}-base`);
  const index = await indexHolding(address, `${tag}-base`);
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const url = new URL(`${address}/v1/vars?stale&index=${index}&wait=120s`);
  let sent = 0;
  let early = 0;
  let firstEarly = '';
  let writeAt = 0;
  const openedAt = performance.now();
  const answers = [];
  const done = Array.from(
    { length: n },
    () =>
      new Promise((resolve, reject) => {
        const req = request(url, { agent }, (res) => {
          let body = '';
          res.on('data', (b) => (body = (body + b.toString()).slice(0, 300)));
          res.once('end', () => {
            if (writeAt === 0 && early === 0)
              firstEarly = `HTTP ${res.statusCode} index ${res.headers['x-nomad-index']} (asked ${index}) at ${((performance.now() - openedAt) / 1000).toFixed(1)} s: ${body}`;
            const at = performance.now();
            if (writeAt === 0) early++;
            else answers.push((at - writeAt) / 1000);
            if (res.statusCode !== 200) reject(new Error(`watcher answered HTTP ${res.statusCode}`));
            else resolve();
          });
        });
        req.once('error', reject);
        req.once('finish', () => sent++);
        req.end();
      }),
  );
  const all = Promise.all(done);
  all.catch(() => undefined);
  for (let i = 0; i < 600 && sent < n; i++) await sleep(50);
  if (sent < n) throw new Error(`only ${sent} of ${n} watchers sent their request`);
  await sleep(holdSeconds * 1000); // let the last requests reach their handlers
  if (early > 0)
    throw new Error(`${early} watchers answered before the write: the index moved under them (first: ${firstEarly})`);
  writeAt = performance.now();
  await register(leader, `${tag}-wake`);
  const ack = (performance.now() - writeAt) / 1000;
  await all;
  console.log(`${tag}: the write was acknowledged ${ack.toFixed(3)} s after it was sent`);
  agent.destroy();
  return answers;
}

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

  const onLeader = await fanOut(leader.address, leader.address, watchers, 'leader');
  const onFollower = await fanOut(follower.address, leader.address, watchers, 'follower');
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
} catch (e) {
  // What the servers said (warnings and errors: a lost lease, a reloaded replica) explains most failed runs.
  for (const s of servers) console.log(`--- server ${s.name} (${s.address}), last lines:\n${s.log().slice(-3000)}`);
  throw e;
} finally {
  for (const s of servers) await stop(s);
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
