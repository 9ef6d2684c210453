#!/usr/bin/env node
/* global process, console, performance */
// Benchmark "mesh": requests/s and p99 through two sidecars (app → outbound sidecar → mTLS → inbound sidecar →
// service) against the same HTTP service reached directly, in one run. The sidecars are Drover's own proxy
// (dist/mesh/sidecar.js, each its own process as on a client) with leaves from a fresh mesh CA, on 127.0.0.1
// (no namespaces: this measures the proxy, not CNI). Load: C keep-alive connections, N requests each mode (quick: fewer), direct first then mesh.
// Goal: mesh throughput ≥ 0.7× direct, mesh p99 ≤ 2× direct.
// Checks that work was done: every response carries the service's body and status 200.
//
// Usage: node bench/mesh/mesh.bench.mjs [--quick] [--requests 20000] [--connections 16]
// Needs `npm run build` and the openssl binary; otherwise prints SKIP and exits 3.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as netServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { cpuSecondsOfPid, dist, parseArgs, quantile, resultLine } from '../lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const total = Number(args.requests ?? (quick ? 3000 : 20000));
const conns = Number(args.connections ?? 16);

try {
  execFileSync('openssl', ['version']);
} catch {
  console.log('SKIP mesh needs the openssl binary');
  process.exit(3);
}

const { testPKI, inboundConfig, outboundConfig } = await import(dist('mesh/testing/fixtures.js'));

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
  throw new Error(`sidecar on ${port} never listened`);
};

const BODY = 'x'.repeat(256);
const service = createServer((_q, s) => s.end(BODY));
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
const sidecars = ['in.json', 'out.json'].map((f) =>
  spawn(process.execPath, [dist('mesh/sidecar.js'), join(dir, f)], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
);
await listening(inPort);
await listening(meshPort);

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

async function run(port) {
  const agent = new Agent({ keepAlive: true, maxSockets: conns });
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (next < total) {
        next++;
        lat.push(await one(agent, port));
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: lat.length / secs, p99: quantile(lat, 0.99), n: lat.length };
}

await run(servicePort); // warm-up of both paths' code
const direct = await run(servicePort);
// CPU per request of each sidecar: the figure that holds under foreign load, when wall-clock ones do not.
const cpu0 = sidecars.map((p) => cpuSecondsOfPid(p.pid));
const mesh = await run(meshPort);
const cpuUs = sidecars.map((p, i) => ((cpuSecondsOfPid(p.pid) - cpu0[i]) * 1e6) / total);
if (direct.n !== total || mesh.n !== total) throw new Error('not every request was made');

console.log(`direct: ${direct.rps.toFixed(0)} req/s, p99 ${direct.p99.toFixed(2)} ms`);
console.log(`mesh:   ${mesh.rps.toFixed(0)} req/s, p99 ${mesh.p99.toFixed(2)} ms (${conns} keep-alive connections)`);
console.log(`sidecar CPU per request: inbound ${cpuUs[0].toFixed(0)} µs, outbound ${cpuUs[1].toFixed(0)} µs`);
console.log(
  `load average while measured: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(resultLine({ name: 'mesh_rps', value: mesh.rps, unit: 'req/s', ref: direct.rps, goal: '>=0.7x' }));
console.log(resultLine({ name: 'mesh_p99', value: mesh.p99, unit: 'ms', ref: direct.p99, goal: '<=2x' }));

for (const p of sidecars) p.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
service.close();
