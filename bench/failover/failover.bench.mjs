#!/usr/bin/env node
/* global process, console, performance, fetch, setTimeout, clearTimeout, AbortController, AbortSignal */
// Benchmark 3, "failover": a server agent and three client agents (separate processes), a service of six small
// HTTP servers (raw_exec), a bounded load loop against the instances; one client agent is SIGKILLed with its
// tasks, as a machine dying.
//
//   load:   REQ/s round-robin over the running instances, as the load generator sees them through a blocking
//           query on /v1/job/:id/allocations (the addresses a catalog-fed proxy would route to)
//   kill ─► server misses the node's heartbeats (TTL + grace) ─► node down, allocations lost ─► the instances
//           leave the view (traffic stops reaching dead instances) ─► replacements placed and running
//
// Reported per round: seconds until traffic stops reaching dead instances, seconds until replacements run,
// failed requests (and how many of them went to dead instances). Reference: Nomad's defaults take 20-30 s to
// detect a dead node (ref = 25 s); Kubernetes about 340 s to replace pods. Goal: replacements within 5 s.
// Failed requests are counted directly against instance addresses: without a gateway that retries, each
// request sent to a dead instance before it leaves the view fails.
//
// Usage: node bench/failover/failover.bench.mjs [--quick] [--rounds N] [--rate 20] [--max-seconds 60]
//        [--min-ttl 2s --grace 1s]   (default: the agent's own heartbeat defaults)
// Needs `npm run build`. Every agent and task it starts is stopped at the end.
import { parseArgs, quantile, resultLine } from '../lib/common.mjs';
import { Cluster } from './cluster.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const rate = Number(args.rate ?? 20);
const maxSeconds = Number(args['max-seconds'] ?? (quick ? 30 : 60));
const COUNT = 6;
const REF_SECONDS = 25;
const GOAL_SECONDS = 5;

// CommonJS on purpose: the task runs with `node FILE` from a temp dir, outside this package's "type": "module".
const SERVER_JS = `const http = require('node:http');
http.createServer((req, res) => res.end(process.env.NOMAD_ALLOC_ID || '')).listen(Number(process.env.NOMAD_PORT_http), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

const jobHCL = (script) => `job "failover" {
  datacenters = ["dc1"]
  group "web" {
    count = ${COUNT}
    network {
      port "http" {}
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = ${JSON.stringify(process.execPath)}
        args    = [${JSON.stringify(script)}]
      }
      resources {
        cpu    = 50
        memory = 48
      }
      kill_timeout = "2s"
    }
  }
}`;

/** A sleep that ends early on abort and removes its listener either way (the load loop sleeps thousands of times). */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

const t0 = performance.now();
const phase = (what) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${what}`);

const results = [];
try {
  for (let r = 1; r <= rounds; r++) results.push(await round(r));
  report(results);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
}

/** Live instances of the job, kept current by a blocking query (stops on abort). */
function watchInstances(cluster, signal) {
  const view = { instances: [], index: 0, changedAt: [] };
  const loop = async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(`${cluster.server.address}/v1/job/failover/allocations?index=${view.index}&wait=2s`, { signal });
        const allocs = await res.json();
        view.index = Number(res.headers.get('X-Nomad-Index') ?? view.index);
        view.instances = allocs
          .filter((a) => a.ClientStatus === 'running' && a.DesiredStatus === 'run')
          .map((a) => {
            const p = (a.AllocatedResources?.Shared?.Ports ?? []).find((x) => x.Label === 'http');
            return p ? { id: a.ID, node: a.NodeID, url: `http://${p.HostIP}:${p.Value}/` } : null;
          })
          .filter(Boolean);
        view.changedAt.push({ t: performance.now(), instances: view.instances });
      } catch {
        if (!signal.aborted) await sleep(100, signal);
      }
    }
  };
  view.done = loop();
  return view;
}

/** REQ/s round-robin over the view until `signal` aborts; records every request. */
async function loadLoop(view, signal) {
  const log = [];
  const pending = new Set();
  const every = 1000 / rate;
  let next = performance.now();
  let i = 0;
  while (!signal.aborted) {
    const list = view.instances;
    if (list.length > 0) {
      const inst = list[i++ % list.length];
      const sent = performance.now();
      const p = fetch(inst.url, { signal: AbortSignal.timeout(1000) })
        .then(async (res) => {
          const body = await res.text();
          log.push({ t: sent, node: inst.node, ok: res.ok && body === inst.id });
        })
        .catch(() => log.push({ t: sent, node: inst.node, ok: false }))
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    next += every;
    await sleep(Math.max(0, next - performance.now()), signal);
  }
  await Promise.all(pending);
  return log;
}

async function round(n) {
  phase(`round ${n}: starting a server and three clients`);
  const cluster = new Cluster({ clients: ['a', 'b', 'c'], minTTL: args['min-ttl'], grace: args.grace });
  const stopAll = new AbortController();
  // The whole round is bounded: whatever happens, the load loop and the watcher end by then.
  const bound = setTimeout(() => stopAll.abort(), (maxSeconds + 60) * 1000);
  try {
    await cluster.start();
    const script = cluster.file('server.cjs', SERVER_JS);
    await cluster.api('/v1/jobs', { method: 'POST', body: JSON.stringify({ Job: await parseJob(cluster, jobHCL(script)) }) });
    await cluster.waitFor(`${COUNT} running instances`, async () => (await running(cluster)).length === COUNT);
    const view = watchInstances(cluster, stopAll.signal);
    await cluster.waitFor('the view to fill', async () => view.instances.length === COUNT, 10_000, 50);

    const loadStop = new AbortController();
    const loadSignal = AbortSignal.any([loadStop.signal, stopAll.signal, AbortSignal.timeout(maxSeconds * 1000)]);
    const load = loadLoop(view, loadSignal);
    await sleep(2000, loadSignal);

    const before = await running(cluster);
    const victimNode = mostLoaded(before);
    const victim = [...cluster.clients.values()].find((c) => before.some((a) => a.NodeID === victimNode && a.NodeName === c.name));
    const lost = before.filter((a) => a.NodeID === victimNode).length;
    phase(`round ${n}: SIGKILL client ${victim.name} and its tasks (${lost} of ${COUNT} instances)`);
    const kill = performance.now();
    await victim.killWithTasks();

    let replaced = NaN;
    await cluster.waitFor('replacements running', async () => {
      const now = await running(cluster);
      const ok = now.length === COUNT && now.every((a) => a.NodeID !== victimNode);
      if (ok) replaced = (performance.now() - kill) / 1000;
      return ok;
    }, maxSeconds * 1000, 100);
    phase(`round ${n}: replacements running after ${replaced.toFixed(1)} s`);
    await sleep(2000, loadSignal);
    loadStop.abort();
    const log = await load;

    const gone = view.changedAt.find((c) => c.t > kill && c.instances.every((x) => x.node !== victimNode));
    const lastDead = Math.max(kill, ...log.filter((x) => x.node === victimNode && x.t > kill).map((x) => x.t));
    const detect = ((gone?.t ?? lastDead) - kill) / 1000;
    const failed = log.filter((x) => !x.ok);
    const failedDead = failed.filter((x) => x.node === victimNode);
    const served = log.filter((x) => x.ok).length;
    if (served === 0) throw new Error('no request was served: the run measured nothing');
    phase(`round ${n}: traffic stopped reaching dead instances after ${detect.toFixed(1)} s; ${failed.length} of ${log.length} requests failed (${failedDead.length} to dead instances)`);
    return { detect, replaced, failed: failed.length, failedDead: failedDead.length, requests: log.length };
  } finally {
    clearTimeout(bound);
    stopAll.abort();
    await cluster.stop();
  }
}

async function parseJob(cluster, hcl) {
  return cluster.api('/v1/jobs/parse', { method: 'POST', body: JSON.stringify({ JobHCL: hcl, Canonicalize: true }) });
}

async function running(cluster) {
  const allocs = await cluster.api('/v1/job/failover/allocations');
  return allocs.filter((a) => a.ClientStatus === 'running' && a.DesiredStatus === 'run');
}

function mostLoaded(allocs) {
  const per = new Map();
  for (const a of allocs) per.set(a.NodeID, (per.get(a.NodeID) ?? 0) + 1);
  return [...per.entries()].sort((x, y) => y[1] - x[1])[0][0];
}

function report(rs) {
  const med = (k) => quantile(rs.map((r) => r[k]), 0.5);
  console.log('');
  console.log(`rounds: ${rs.length}, load ${rate} req/s, ${COUNT} instances on 3 clients`);
  console.log(`seconds until traffic stops reaching dead instances: ${rs.map((r) => r.detect.toFixed(1)).join(', ')} (median ${med('detect').toFixed(1)})`);
  console.log(`seconds until replacements are running:               ${rs.map((r) => r.replaced.toFixed(1)).join(', ')} (median ${med('replaced').toFixed(1)})`);
  console.log(`failed requests: ${rs.map((r) => `${r.failed}/${r.requests} (${r.failedDead} to dead instances)`).join(', ')}`);
  console.log(resultLine({ name: 'failover-detect', value: med('detect'), unit: 's', ref: REF_SECONDS, goal: 'report' }));
  console.log(resultLine({ name: 'failover-failed-requests', value: med('failed'), unit: 'requests', ref: NaN, goal: '0' }));
  console.log(resultLine({ name: 'failover', value: med('replaced'), unit: 's', ref: REF_SECONDS, goal: String(GOAL_SECONDS) }));
}
