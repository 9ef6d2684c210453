#!/usr/bin/env node
/* global process, console, performance, URL */
// Benchmark "mesh": requests/s and p99 through two sidecars (app → outbound sidecar → mTLS → inbound sidecar →
// service) against the same HTTP service reached directly, in one run. The sidecars run on the data plane a
// client uses by default: HAProxy when the binary is on PATH (the config src/mesh/haproxy-sidecar.ts renders,
// one single-threaded process per sidecar), else Drover's own Node proxy (dist/mesh/sidecar.js); --plane
// node|haproxy chooses. Each sidecar is its own process as on a client, with leaves from a fresh mesh CA, on
// 127.0.0.1 (no namespaces: this measures the proxy, not CNI).
// Goal: mesh throughput ≥ 0.7× direct, mesh p99 ≤ 2× direct.
// Checks that work was done: every response carries the service's body and status 200.
//
// Fairness: one load generator (this process, which is also the service) with the same C keep-alive connections
// for every path, opened in a warm-up that also pays the JIT and the mTLS handshakes and is not measured; the
// paths then alternate in rounds so a change of foreign load on a shared machine falls on each alike. CPU per
// request of every process is printed (from /proc, so it holds when the wall-clock figures do not).
// --floor adds a third path through two bare Node relays (bench/mesh/relay.mjs: the same mTLS hop, no proxy
// logic): what any Node sidecar pair costs, so the sidecars' own overhead is the difference.
//
// Usage: node bench/mesh/mesh.bench.mjs [--quick] [--requests 20000] [--connections 16] [--rounds 6]
//        [--warmup 3000] [--floor] [--profile DIR] [--plane node|haproxy]
// Needs `npm run build` and the openssl binary; otherwise prints SKIP and exits 3.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as netServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { cpuTimesOfPid, dist, parseArgs, quantile, resultLine } from '../lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const total = Number(args.requests ?? (quick ? 3000 : 20000));
const conns = Number(args.connections ?? 16);
const rounds = Number(args.rounds ?? 6);
// --fresh: a new connection per request (an app without a connection pool): every mesh request then pays an
// mTLS handshake between the sidecars.
const fresh = args.fresh === true;
const warm = Number(args.warmup ?? (quick ? 1000 : 3000));

try {
  execFileSync('openssl', ['version']);
} catch {
  console.log('SKIP mesh needs the openssl binary');
  process.exit(3);
}

const { testPKI, inboundConfig, outboundConfig } = await import(dist('mesh/testing/fixtures.js'));
const { findExecutable } = await import(dist('lib/haproxy/binary.js'));
const haproxyBin = findExecutable('haproxy');
const plane = args.plane ?? (haproxyBin ? 'haproxy' : 'node');
if (plane !== 'node' && plane !== 'haproxy') throw new Error(`--plane must be node or haproxy, got ${plane}`);
if (plane === 'haproxy' && !haproxyBin) {
  console.log('SKIP mesh --plane haproxy needs the haproxy binary');
  process.exit(3);
}

const freePort = () =>
  new Promise((resolve) => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
const listening = async (port) => {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => {
      const c = connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`proxy on ${port} never listened`);
};

const BODY = 'x'.repeat(256);
const service = createServer((_q, s) => s.end(BODY));
// Idle connections stay open between rounds (Node's 5 s default could close one a client is about to reuse).
service.keepAliveTimeout = 120_000;
await new Promise((r) => service.listen(0, '127.0.0.1', r));
const servicePort = service.address().port;

const pki = await testPKI();
const dir = mkdtempSync(join(tmpdir(), 'drover-bench-mesh-'));
const inPort = await freePort();
const meshPort = await freePort();
const inCfg = inboundConfig(await pki.material('db'), servicePort);
inCfg.Inbound.Port = inPort;
const outCfg = outboundConfig(await pki.material('web'), 'db', [{ Address: '127.0.0.1', Port: inPort }]);
outCfg.Upstreams[0].LocalBindPort = meshPort;
writeFileSync(join(dir, 'in.json'), JSON.stringify(inCfg));
writeFileSync(join(dir, 'out.json'), JSON.stringify(outCfg));
const env = { ...process.env, DROVER_SIDECAR_LOG_LEVEL: 'warn' };
// --profile DIR: each sidecar writes a V8 CPU profile there when it stops (open it in Chrome DevTools).
const prof = typeof args.profile === 'string' ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [];
const node = (argv) => spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'inherit'] });
/** One HAProxy sidecar (no master: its CPU is then one process's), files rendered as the client renders them. */
async function haproxySidecar(name, cfg) {
  const { HaproxySidecar } = await import(dist('mesh/haproxy-sidecar.js'));
  const quiet = { debug() {}, info() {}, warn: console.warn, error: console.error };
  quiet.child = () => quiet;
  const sc = new HaproxySidecar(join(dir, name), dir, quiet, haproxyBin);
  sc.prepare(cfg);
  return spawn(haproxyBin, ['-db', '-f', sc.paths.cfg], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
}
const procs =
  plane === 'haproxy'
    ? // The inbound first: the outbound's first check would otherwise find nothing and mark it down a moment.
      [await haproxySidecar('in', inCfg), await listening(inPort).then(() => haproxySidecar('out', outCfg))]
    : [
        node([...prof, dist('mesh/sidecar.js'), join(dir, 'in.json')]),
        node([...prof, dist('mesh/sidecar.js'), join(dir, 'out.json')]),
      ];
/** A path the load goes through: its entry port and the proxy processes (inbound, outbound) it crosses. */
const pathOf = (name, port, kind, [inbound, outbound]) => ({
  name,
  port,
  procs: inbound
    ? [
        [`inbound ${kind}`, inbound],
        [`outbound ${kind}`, outbound],
      ]
    : [],
});
// A failed run must not leave a sidecar behind (an HAProxy would also hold the caller's stderr pipe open).
process.once('exit', () => procs.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));
const paths = [pathOf('direct', servicePort, '', []), pathOf('mesh', meshPort, `${plane} sidecar`, procs)];
await listening(inPort);
await listening(meshPort);
if (args.floor === true) {
  const relay = fileURLToPath(new URL('relay.mjs', import.meta.url));
  const [fin, fout] = [await freePort(), await freePort()];
  const pair = [
    node([relay, 'in', String(fin), String(servicePort), join(dir, 'in.json')]),
    node([relay, 'out', String(fout), String(fin), join(dir, 'out.json')]),
  ];
  procs.push(...pair);
  paths.push(pathOf('floor', fout, 'relay', pair));
  await listening(fin);
  await listening(fout);
}

function one(agent, port) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let n = 0;
      res.on('data', (d) => (n += d.length));
      res.on('end', () => {
        if (res.statusCode !== 200 || n !== BODY.length) reject(new Error(`bad response ${res.statusCode} ${n}`));
        else resolve(performance.now() - t);
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** `n` requests over the `conns` keep-alive connections of `agent`: the latencies and the wall time they took. */
async function run(agent, port, n) {
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (next < n) {
        next++;
        lat.push(await one(agent, port));
      }
    }),
  );
  return { lat, secs: (performance.now() - t0) / 1000 };
}

// Each path keeps its connections open from the warm-up to the end (keep-alive, as an app's pool does).
for (const p of paths) {
  Object.assign(p, { agent: new Agent({ keepAlive: !fresh, maxSockets: conns }), lat: [], secs: 0, selfUs: 0 });
  await run(p.agent, p.port, warm);
}
for (const p of paths) p.cpu0 = p.procs.map(([, c]) => cpuTimesOfPid(c.pid));
for (let r = 0; r < rounds; r++) {
  const n = Math.floor(total / rounds) + (r < total % rounds ? 1 : 0);
  // Rotated each round: no path always runs first or always follows the same one.
  for (let i = 0; i < paths.length; i++) {
    const p = paths[(r + i) % paths.length];
    const c0 = process.cpuUsage();
    const { lat, secs } = await run(p.agent, p.port, n);
    const c = process.cpuUsage(c0);
    p.selfUs += c.user + c.system;
    p.secs += secs;
    for (const l of lat) p.lat.push(l);
  }
}
const loads = loadavg();
// A path's proxies idle while the other paths run, so all they used in the measured phase is that path's.
for (const p of paths) {
  if (p.lat.length !== total) throw new Error(`${p.name}: not every request was made`);
  p.rps = total / p.secs;
  p.p99 = quantile(p.lat, 0.99);
  p.cpu = p.procs.map(([name, c], i) => {
    const t = cpuTimesOfPid(c.pid);
    return {
      name,
      user: ((t.user - p.cpu0[i].user) * 1e6) / total,
      sys: ((t.system - p.cpu0[i].system) * 1e6) / total,
    };
  });
}

const us = (v) => `${v.toFixed(0)} µs`;
console.log(
  `${total} requests per path over ${conns} ${fresh ? 'connections at a time, a new one per request' : 'keep-alive connections'}, ` +
    `${rounds} rounds, ${warm} warm-up; sidecars on the ${plane} data plane`,
);
for (const p of paths) {
  const hops = p.cpu.map((c) => `, ${c.name} ${us(c.user + c.sys)} (sys ${us(c.sys)})`).join('');
  console.log(
    `${p.name.padEnd(6)}: ${p.rps.toFixed(0)} req/s, p99 ${p.p99.toFixed(2)} ms; CPU per request: ` +
      `load generator + service ${us(p.selfUs / total)}${hops}`,
  );
}
console.log(`load average when measured: ${loads.map((l) => l.toFixed(1)).join(' ')}`);
const [direct, mesh] = paths;
console.log(resultLine({ name: 'mesh_rps', value: mesh.rps, unit: 'req/s', ref: direct.rps, goal: '>=0.7x' }));
console.log(resultLine({ name: 'mesh_p99', value: mesh.p99, unit: 'ms', ref: direct.p99, goal: '<=2x' }));

for (const p of paths) p.agent.destroy();
await killAll();
rmSync(dir, { recursive: true, force: true });
service.close();

/** Stops the sidecars and waits for them. */
async function killAll() {
  await Promise.all(
    procs.map((c) => new Promise((r) => (c.exitCode !== null ? r() : (c.once('exit', r), c.kill('SIGTERM'))))),
  );
}
