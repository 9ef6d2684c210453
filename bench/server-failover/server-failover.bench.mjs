#!/usr/bin/env node
/* global process, console, fetch, setTimeout, clearTimeout, AbortSignal */
// Benchmark "server-failover": three Drover servers (`agent -server` with `server { etcd { endpoints } }`) on a
// three-member etcd, all real processes on 127.0.0.1. Writers register jobs round-robin through the live
// servers (standbys forward to the leader); the leader is SIGKILLed; the figure is the time from the kill to the
// first write acknowledged afterwards (by the new leader). Every acknowledged job is then checked to be present.
//
//   leader SIGKILL ─► its lease (2 s TTL) expires in etcd ─► a standby's CAS on the leader key wins ─► it loads
//   the state from etcd and starts the server ─► forwarded writes succeed again
//
// Reference: Nomad's Raft defaults (1 s heartbeat + 1 s election timeout, ref = 2 s); goal <= 3 s. Kubernetes'
// controller-manager lease is 15 s. Quick mode: one round; full: five rounds, median reported.
//
// Usage: node bench/server-failover/server-failover.bench.mjs [--quick] [--rounds N] [--writers 8] [--timeline]
//        --timeline: the servers log at info level and each round prints the survivors' log lines from the kill
//        on, timed from it (election won, state loaded, server started), to see where the seconds go.
// Needs `npm run build` and `etcd` on PATH. Everything it starts is stopped at the end.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dist, parseArgs, quantile, repoRoot, resultLine, sleep } from '../lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const rounds = Number(args.rounds ?? (quick ? 1 : 5));
const writers = Number(args.writers ?? 8);
const timeline = args.timeline === true;
/** Characters of each server's output kept (info-level logs with --timeline are longer). */
const keepLog = timeline ? 500_000 : 20_000;
const DROVER = join(repoRoot, 'bin', 'drover');

if (spawnSync('etcd', ['--version']).status !== 0) {
  console.log('server-failover: etcd is not installed (apt-get install etcd-server); skipped');
  process.exit(3);
}
const { startEtcd } = await import(dist('state/testing/etcd-server.js'));

function startServer(dir, name, hcl) {
  const dataDir = join(dir, name);
  const proc = spawn(
    DROVER,
    [
      'agent',
      '-server',
      '-config',
      hcl,
      '-data-dir',
      dataDir,
      '-bind',
      '127.0.0.1',
      '-http-port',
      '0',
      '-log-level',
      timeline ? 'info' : 'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${name} did not start:\n${output}`)), 30_000);
    proc.stdout.on('data', (b) => {
      output = (output + b.toString()).slice(-keepLog);
      const m = /API at (http:\/\/[\d.]+:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({
          name,
          proc,
          address: m[1],
          log: () => output,
          get alive() {
            return proc.exitCode === null && proc.signalCode === null;
          },
        });
      }
    });
    proc.stderr.on('data', (b) => (output = (output + b.toString()).slice(-keepLog)));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${name} exited with ${code}:\n${output}`));
    });
  });
}

async function kill(s) {
  if (!s.alive) return;
  const gone = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGKILL');
  await gone;
}

const job = (id) => ({
  Job: {
    ID: id,
    Name: id,
    Type: 'batch',
    Datacenters: ['dc1'],
    TaskGroups: [
      {
        Name: 'g',
        Count: 1,
        Tasks: [{ Name: 't', Driver: 'mock_driver', Config: {}, Resources: { CPU: 10, MemoryMB: 16 } }],
      },
    ],
  },
});

async function put(address, id) {
  try {
    const r = await fetch(`${address}/v1/jobs`, {
      method: 'POST',
      body: JSON.stringify(job(id)),
      signal: AbortSignal.timeout(5000),
    });
    await r.text();
    return r.ok;
  } catch {
    return false;
  }
}

async function round(r) {
  const etcd = await startEtcd({ members: 3 });
  const dir = mkdtempSync(join(tmpdir(), 'drover-server-failover-'));
  const servers = [];
  try {
    const hcl = join(dir, 'server.hcl');
    writeFileSync(
      hcl,
      `server {\n  enabled = true\n  etcd {\n    endpoints = ${JSON.stringify(etcd.endpoints)}\n  }\n}\n`,
    );
    for (let i = 0; i < 3; i++) servers.push(await startServer(dir, `s${i}`, hcl));
    let leaderAddr = '';
    for (let i = 0; i < 100 && !leaderAddr; i++) {
      leaderAddr = await fetch(`${servers[0].address}/v1/status/leader`)
        .then((x) => x.json())
        .catch(() => '');
      if (!leaderAddr) await sleep(100);
    }
    const leader = servers.find((s) => s.address === `http://${leaderAddr}`);
    if (!leader) throw new Error(`no leader among the servers (status/leader: ${JSON.stringify(leaderAddr)})`);
    const acked = [];
    let killedAt = 0;
    let firstAfter = 0;
    const deadline = Date.now() + 30_000;
    const writer = async (w) => {
      for (let n = 0; n < 500 && Date.now() < deadline; n++) {
        const id = `r${r}-w${w}-${n}`;
        for (let a = 0; Date.now() < deadline; a++) {
          const live = servers.filter((s) => s.alive);
          if (await put(live[(w + n + a) % live.length].address, id)) {
            acked.push(id);
            if (killedAt && !firstAfter) firstAfter = Date.now();
            break;
          }
          await sleep(20);
        }
        if (firstAfter && Date.now() - firstAfter > 1000) return;
      }
    };
    const running = Array.from({ length: writers }, (_, w) => writer(w));
    while (acked.length < 4 * writers && Date.now() < deadline) await sleep(50);
    await kill(leader);
    killedAt = Date.now();
    await Promise.all(running);
    if (!firstAfter) throw new Error('no write was acknowledged after the leader was killed');
    const survivor = servers.find((s) => s.alive);
    const listed = new Set((await fetch(`${survivor.address}/v1/jobs`).then((x) => x.json())).map((j) => j.ID));
    const lost = acked.filter((id) => !listed.has(id));
    const seconds = (firstAfter - killedAt) / 1000;
    console.log(
      `round ${r + 1}: first acknowledged write ${seconds.toFixed(2)} s after the leader SIGKILL; ${acked.length} writes acknowledged, ${lost.length} lost`,
    );
    if (timeline) {
      for (const s of servers.filter((x) => x.alive))
        for (const line of s.log().split('\n')) {
          const m = /^\{.*"time":(\d+).*"msg":"([^"]*)"/.exec(line);
          if (m && Number(m[1]) >= killedAt - 100)
            console.log(`  ${s.name} +${((Number(m[1]) - killedAt) / 1000).toFixed(3)} s  ${m[2]}`);
        }
      console.log(`  first acknowledged write +${seconds.toFixed(3)} s`);
    }
    if (lost.length > 0) throw new Error(`acknowledged writes missing after failover: ${lost.slice(0, 5).join(', ')}`);
    return seconds;
  } finally {
    for (const s of servers) await kill(s);
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const figures = [];
for (let r = 0; r < rounds; r++) figures.push(await round(r));
const median = quantile(figures, 0.5);
console.log(resultLine({ name: 'server-failover', value: median, unit: 's', ref: 2, goal: '<=3' }));
