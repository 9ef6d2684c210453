#!/usr/bin/env node
/* global process, console, setTimeout */
// Benchmark 4, "gateway": wrk against the Drover gateway and against nginx proxying to the same backends, with
// the same connections and duration, in one run. Everything listens on 127.0.0.1 and every wrk run is bounded.
//
//   wrk ──► nginx (reference, proxy_pass + keepalive upstream) ──┐
//   wrk ──► Drover gateway (Node data plane)                 ──┼──► N backends (one nginx, return 200)
//   wrk ──► HAProxy driven by Drover (optional data plane)   ──┘
//
// Usage: node bench/gateway/gateway.bench.mjs [--quick] [--duration S] [--connections C] [--backends N]
//        [--workers W] [--rounds R] [--dataplane node|haproxy|both (default)] [--tls on|off|only]
//        [--fast-path on|off|both]
//        [--tls-rounds R] [--handshake-connections C]
// With TLS on, the same proxies also listen with TLS (nginx `listen ssl`, the gateway's TLS listener) on one
// certificate, and the HTTPS rounds and the handshake rounds (wrk with Connection: close) follow the HTTP ones.
// Needs `npm run build` first (imports dist/). Ends with the RESULT lines of issue 7.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, resultLine } from '../lib/common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
// Many short rounds rather than a few long ones: the machine is shared, and a p99 is decided by whatever else
// was running during that round. With 2 rounds the median is the mean of both, so one disturbed round doubled a
// plane's p99; with 6+ interleaved rounds each plane's median round is one where the machine was as quiet as
// it was for the others.
const duration = Number(args.duration ?? (quick ? 2 : 4));
const connections = Number(args.connections ?? 64);
const backends = Number(args.backends ?? 4);
const workers = Number(args.workers ?? 1);
const rounds = Number(args.rounds ?? (quick ? 6 : 12));
const warmup = quick ? 1 : 3;
const dataplane = String(args.dataplane ?? 'both');
// The Node plane's raw-socket fast path (src/gateway/fast.ts): `on` (default), `off` (everything through
// node:http), or `both` (an extra Node gateway with it off, `gateway-node-http`, measured in the same rounds).
const fastPath = String(args['fast-path'] ?? 'on');
if (!['on', 'off', 'both'].includes(fastPath)) throw new Error(`--fast-path ${fastPath}: expected on, off or both`);
// HTTPS through the TLS listener (keep-alive) and TLS handshakes (a new connection per request), against nginx
// terminating TLS with the same certificate: `on` (default) after the plain HTTP rounds, `only`, or `off`.
const tlsMode = String(args.tls ?? 'on');
const tlsRounds = Number(args['tls-rounds'] ?? (quick ? 2 : 8)); // quick: CI keeps the code working, figures are full mode's
const handshakeConnections = Number(args['handshake-connections'] ?? 16);
if (!['on', 'off', 'only'].includes(tlsMode)) throw new Error(`--tls ${tlsMode}: expected on, off or only`);

const children = [];
const dir = mkdtempSync(join(tmpdir(), 'drover-gw-bench-'));
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
}
await stopChildren();
cleanup();

async function main() {
  const missing = ['wrk', 'nginx', ...(tlsMode !== 'off' ? ['openssl'] : [])].filter((bin) => !installed(bin));
  if (missing.length > 0) {
    // The runner's convention: SKIP with a reason, exit code 3.
    console.log(`SKIP ${missing.join(' and ')} not installed (Debian packages wrk, nginx, openssl)`);
    process.exitCode = 3;
    return;
  }
  if (dataplane !== 'node' && !installed('haproxy'))
    console.log('note: haproxy is not installed; measuring the Node data plane only');
  const backendPorts = await freePorts(backends);
  await startNginx('backends', backendsConf(backendPorts), backendPorts[0]);

  // One certificate (EC P-256, for localhost) served by nginx and by the gateway alike.
  const tls = tlsMode === 'off' ? undefined : await writeCertificate();
  const [nginxPort, gatewayPort, haproxyPort, nginxTls, gatewayTls, haproxyTls] = await freePorts(6);
  const nginxPid = await startNginx(
    'reference',
    proxyConf(nginxPort, backendPorts, workers, tls && { port: nginxTls, ...tls }),
    nginxPort,
  );
  const planes = [{ name: 'nginx', pid: nginxPid, http: nginxPort, https: nginxTls }];
  const tlsOf = (port) => (tls ? { tls: { port, certFile: tls.certFile, keyFile: tls.keyFile } } : {});
  if (dataplane === 'node' || dataplane === 'both') {
    const fast = { fastPath: fastPath !== 'off' };
    const pid = await startGatewayProcess(gatewayPort, backendPorts, { plane: 'node', ...fast, ...tlsOf(gatewayTls) });
    planes.push({ name: 'gateway', pid, http: gatewayPort, https: gatewayTls });
    if (fastPath === 'both') {
      const [port] = await freePorts(1);
      const pid2 = await startGatewayProcess(port, backendPorts, { plane: 'node', fastPath: false });
      planes.push({ name: 'gateway-node-http', pid: pid2, http: port });
    }
  }
  if ((dataplane === 'haproxy' || dataplane === 'both') && installed('haproxy')) {
    // HAProxy gets as many threads as nginx gets workers.
    const extra = { plane: 'haproxy', threads: workers, ...tlsOf(haproxyTls) };
    const pid = await startGatewayProcess(haproxyPort, backendPorts, extra);
    planes.push({ name: 'gateway-haproxy', pid, http: haproxyPort, https: haproxyTls });
  }

  console.log(
    `gateway benchmark: ${backends} backends, ${workers} worker(s) per proxy, TLS ${tlsMode}, node ${process.version}, load ${loadavg()}`,
  );
  if (tlsMode !== 'only') {
    const summary = await measure(
      'HTTP',
      planes.map((p) => ({ name: p.name, pid: p.pid, url: `http://127.0.0.1:${p.http}/` })),
      { rounds, connections },
    );
    results(summary, '');
  }
  if (tls) {
    const httpsTargets = planes
      .filter((p) => p.https !== undefined)
      .map((p) => ({ name: p.name, pid: p.pid, url: `https://127.0.0.1:${p.https}/` }));
    const summary = await measure('HTTPS, keep-alive', httpsTargets, { rounds: tlsRounds, connections });
    results(summary, '-tls');
    // A fresh connection, so a full handshake, per request: wrk keeps no TLS session to resume.
    const hs = await measure('HTTPS, a new TLS connection per request', httpsTargets, {
      rounds: tlsRounds,
      connections: handshakeConnections,
      headers: ['Connection: close'],
    });
    const ref = hs.nginx;
    for (const name of Object.keys(hs).filter((n) => n !== 'nginx')) {
      const label = `gateway-tls-handshakes-${name === 'gateway' ? 'node' : 'haproxy'}`;
      console.log(
        resultLine({
          name: label,
          value: Math.round(hs[name].rps),
          unit: 'handshakes/s',
          ref: Math.round(ref.rps),
          goal: 'report',
        }),
      );
    }
  }
  console.log(`load average at the end: ${loadavg()}`);
}

/** Warms each target once, then `rounds` rounds in rotating order; the median per target. */
async function measure(label, targets, { rounds: nRounds, connections: conns, headers = [] }) {
  console.log(`\n${label}: ${conns} connections, ${duration}s x ${nRounds} round(s)`);
  for (const t of targets) {
    const proto = await checkResponds(t.url);
    if (proto) console.log(`  ${t.name} negotiates ${proto}`);
    wrk(t.url, warmup, conns, headers); // warm JIT and pools; not counted
  }
  const perTarget = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (let r = 0; r < nRounds; r++) {
    // Rotate the order each round so every proxy takes every position (none always runs on a warmer machine).
    const order = targets.map((_, i) => targets[(i + r) % targets.length]);
    for (const t of order) {
      const cpuBefore = treeCpuMs(t.pid);
      const m = wrk(t.url, duration, conns, headers);
      // CPU per request is steadier than req/s on a shared machine: it does not depend on what else runs.
      m.cpuUs = ((treeCpuMs(t.pid) - cpuBefore) * 1000) / (m.rps * duration);
      perTarget[t.name].push(m);
      console.log(
        `  round ${r + 1} ${t.name.padEnd(16)} ${m.rps.toFixed(0).padStart(8)} req/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms  cpu ${m.cpuUs.toFixed(1)} us/req  errors ${m.errors}`,
      );
    }
  }
  const summary = Object.fromEntries(Object.entries(perTarget).map(([k, ms]) => [k, median(ms)]));
  for (const [name, m] of Object.entries(summary)) {
    console.log(
      `${name.padEnd(16)} ${m.rps.toFixed(0).padStart(8)} req/s  p99 ${m.p99.toFixed(2)} ms (rounds ${m.p99Min.toFixed(1)}–${m.p99Max.toFixed(1)})  cpu ${m.cpuUs.toFixed(1)} us/req  errors ${m.errors}`,
    );
  }
  return summary;
}

/**
 * The RESULT lines of one measurement against nginx: per data plane (`gateway-node`, `gateway-haproxy`, with
 * `suffix` after `gateway`) when there are two, then the best plane's as `gateway<suffix>`.
 */
function results(summary, suffix) {
  const ref = summary.nginx;
  // gateway-node-http (--fast-path both) is a comparison, not a data plane: its line comes first, on its own.
  const http = summary['gateway-node-http'];
  if (http !== undefined)
    console.log(
      resultLine({
        name: 'gateway-node-http',
        value: Math.round(http.rps),
        unit: 'req/s',
        ref: Math.round(ref.rps),
        goal: '-',
      }),
    );
  const planes = Object.keys(summary).filter((n) => n !== 'nginx' && n !== 'gateway-node-http');
  const label = (p) => `gateway${suffix}${p === 'gateway' ? '-node' : '-haproxy'}`;
  const line = (name, m, what) =>
    what === 'rps'
      ? resultLine({ name, value: Math.round(m.rps), unit: 'req/s', ref: Math.round(ref.rps), goal: '0.85' })
      : resultLine({ name: `${name}-p99`, value: round2(m.p99), unit: 'ms', ref: round2(ref.p99), goal: '1.5' });
  if (planes.length > 1) {
    for (const p of planes) console.log(line(label(p), summary[p], 'rps'));
    for (const p of planes) console.log(line(label(p), summary[p], 'p99'));
  }
  // The gateway's figure is its best data plane (the one `drover gateway -data-plane` should use here).
  const best = planes.reduce((a, b) => (summary[b].rps > summary[a].rps ? b : a));
  console.log(`best data plane${suffix ? ' (TLS)' : ''}: ${best === 'gateway' ? 'node' : 'haproxy'}`);
  console.log(line(`gateway${suffix}`, summary[best], 'p99'));
  console.log(line(`gateway${suffix}`, summary[best], 'rps'));
}

function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** A test CA and a leaf for localhost / 127.0.0.1, written to the run's directory. */
async function writeCertificate() {
  const { createSelfSignedCA, signLeaf } = await import('../../dist/lib/openssl.js');
  const ca = await createSelfSignedCA('Drover gateway bench CA');
  const now = Date.now();
  const leaf = await signLeaf(ca, {
    commonName: 'localhost',
    subjectAltName: 'DNS:localhost,IP:127.0.0.1',
    extendedKeyUsage: 'serverAuth',
    notBefore: now - 60_000,
    notAfter: now + 86_400_000,
  });
  const certFile = join(dir, 'tls.pem');
  const keyFile = join(dir, 'tls.key');
  writeFileSync(certFile, leaf.certPEM);
  writeFileSync(keyFile, leaf.keyPEM, { mode: 0o600 });
  return { certFile, keyFile };
}

function round2(x) {
  return Math.round(x * 100) / 100;
}

function installed(bin) {
  try {
    execFileSync('which', [bin], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One bounded wrk run; returns throughput and latency percentiles in ms. */
function wrk(url, seconds, conns, headers) {
  const hdrs = headers.flatMap((h) => ['-H', h]);
  const out = execFileSync(
    'wrk',
    ['-t1', `-c${conns}`, `-d${seconds}s`, '--timeout', '5s', '--latency', ...hdrs, url],
    {
      encoding: 'utf8',
      timeout: (seconds + 30) * 1000,
    },
  );
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]] : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50: pct(50), p99: pct(99), errors };
}

/** Median per figure over the rounds: the machine is shared, and one disturbed round should not decide. */
function median(ms) {
  const mid = (k) => {
    const v = ms.map((m) => m[k]).sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const p99s = ms.map((m) => m.p99);
  return {
    rps: mid('rps'),
    p50: mid('p50'),
    p99: mid('p99'),
    p99Min: Math.min(...p99s),
    p99Max: Math.max(...p99s),
    cpuUs: mid('cpuUs'),
    errors: ms.reduce((a, m) => a + m.errors, 0),
  };
}

/** CPU time (user + system, ms) of a process and all its descendants, from /proc. */
function treeCpuMs(rootPid) {
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  const procs = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.push({ pid: Number(name), ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) * tick });
    } catch {
      // exited meanwhile
    }
  }
  const tree = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (tree.has(p.pid) || !tree.has(p.ppid)) continue;
      tree.add(p.pid);
      grew = true;
    }
  }
  return procs.filter((p) => tree.has(p.pid)).reduce((a, p) => a + p.cpu, 0);
}

function backendsConf(ports) {
  const servers = ports
    .map(
      (p) =>
        `  server { listen 127.0.0.1:${p} reuseport; access_log off; keepalive_requests 1000000; location / { return 200 "ok\\n"; } }`,
    )
    .join('\n');
  return nginxMain(1, servers);
}

function proxyConf(port, backendPorts, nWorkers, tls) {
  const location = `    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_next_upstream error timeout;
    }`;
  // TLS 1.2 and 1.3 as the gateway offers them (nginx's default since 1.23.4; Debian 12's 1.22 would stop at
  // TLS 1.2, whose handshake costs the server half of a TLS 1.3 one); tickets on, no session cache (defaults).
  const ssl = tls
    ? `
  server {
    listen 127.0.0.1:${tls.port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    access_log off;
    keepalive_requests 1000000;
${location}
  }`
    : '';
  return nginxMain(
    nWorkers,
    `  upstream backends {\n${backendPorts.map((p) => `    server 127.0.0.1:${p};`).join('\n')}\n    keepalive 64;\n    keepalive_requests 1000000;\n  }
  server {
    listen 127.0.0.1:${port};
    access_log off;
    keepalive_requests 1000000;
${location}
  }${ssl}`,
  );
}

function nginxMain(nWorkers, http) {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes ${nWorkers};
error_log stderr warn;
pid PIDFILE;
events { worker_connections 4096; }
http {
  client_body_temp_path TMP/body; proxy_temp_path TMP/proxy; fastcgi_temp_path TMP/fcgi; uwsgi_temp_path TMP/uwsgi; scgi_temp_path TMP/scgi;
${http}
}
`;
}

async function startNginx(name, conf, probePort) {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf.replace('PIDFILE', join(dir, `${name}.pid`)).replaceAll('TMP', dir));
  const child = spawn('nginx', ['-p', dir, '-c', file, '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  await waitForPort(probePort, `nginx ${name}`);
  return child.pid;
}

async function startGatewayProcess(port, backendPorts, extra) {
  const cfg = JSON.stringify({ ports: backendPorts, listenPort: port, workers, lb: 'round_robin', ...extra });
  // GATEWAY_NODE_ARGS: extra node flags for the gateway processes, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'.
  const nodeArgs = (process.env.GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, join(here, 'gateway-server.mjs'), cfg], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}; did you run npm run build?`)));
  });
  return child.pid;
}

function checkResponds(url) {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsRequest : request;
    // The bench's own certificate is not trusted by the system; what is checked here is that it answers.
    const req = get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      // The TLS version, so a run shows both sides negotiated the same one.
      const proto = typeof res.socket.getProtocol === 'function' ? res.socket.getProtocol() : undefined;
      res.on('end', () =>
        res.statusCode === 200 ? resolve(proto) : reject(new Error(`${url} answered ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitForPort(port, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await checkResponds(`http://127.0.0.1:${port}/`);
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${what} did not start on port ${port}: ${err.message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function freePorts(n) {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Stops what this run started and waits (bounded) for it to exit, so nothing outlives the benchmark. */
async function stopChildren() {
  const waits = children.map((c) =>
    typeof c.once === 'function' && c.exitCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve(),
  );
  for (const c of children) {
    try {
      await c.kill('SIGTERM');
    } catch {
      // already gone
    }
  }
  children.length = 0;
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 3000))]);
}

function cleanup() {
  for (const c of children.splice(0)) {
    try {
      c.kill('SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
