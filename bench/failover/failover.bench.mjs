#!/usr/bin/env node
/* global process, console, performance, fetch, setTimeout, clearTimeout, AbortController, AbortSignal */
// Benchmark 3, "failover": a server agent and three client agents (separate processes), a service of six small
// HTTP servers (raw_exec), a bounded load loop against the instances; one client agent is SIGKILLed with its
// tasks, as a machine dying.
//
//   load:   REQ/s through the server agent's gateway (fed by the catalog: the job's service has an http check and
//           a `urlprefix-/` route), or with --direct (or an agent without a gateway) round-robin straight at the
//           running instances as a blocking query on /v1/job/:id/allocations lists them
//   kill ─► server misses the node's heartbeats (TTL + grace) ─► node down, allocations lost, its instances
//           leave the catalog (traffic stops reaching dead instances) ─► replacements placed and running
//
// Reported per round: seconds until traffic stops reaching dead instances, seconds until replacements run,
// failed requests (and how many of them went to dead instances). Reference: Nomad's defaults take 20-30 s to
// detect a dead node (ref = 25 s); Kubernetes about 340 s to replace pods. Goal: replacements within 5 s.
// Direct mode has no proxy to retry: each request sent to a dead instance before it leaves the view fails, and
// those are counted separately. Through the gateway, a connect failure is retried on another instance.
//
// Usage: node bench/failover/failover.bench.mjs [--quick] [--direct] [--rounds N] [--rate 20] [--max-seconds 60]
//        [--min-ttl 2s --grace 1s]   (default: the agent's own heartbeat defaults)
// Needs `npm run build`. Every agent and task it starts is stopped at the end.
import { parseArgs, quantile, resultLine } from '../lib/common.mjs';
import { Cluster } from './cluster.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const rate = Number(args.rate ?? 20);
const maxSeconds = Number(args['max-seconds'] ?? (quick ? 30 : 60));
let useGateway = args.direct !== true;
const COUNT = 6;
const REF_SECONDS = 25;
const GOAL_SECONDS = 5;

// CommonJS on purpose: the task runs with `node FILE` from a temp dir, outside this package's "type": "module".
const SERVER_JS = `const http = require('node:http');
http.createServer((req, res) => res.end(process.env.NOMAD_ALLOC_ID || '')).listen(Number(process.env.NOMAD_PORT_http), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

const SERVICE = `
    service {
      name     = "failover"
      provider = "nomad"
      port     = "http"
      tags     = ["urlprefix-/"]
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }`;

const jobHCL = (script, withService) => `job "failover" {
  datacenters = ["dc1"]
  group "web" {
    count = ${COUNT}
    network {
      port "http" {}
    }${withService ? SERVICE : ''}
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

/**
 * Follows a blocking query until `signal` aborts: `view.list` is the latest `pick(body)`, `view.changes` every
 * version with its time (to find when the dead node's entries left).
 */
function follow(cluster, path, pick, signal) {
  const view = { list: [], index: 0, changes: [] };
  const loop = async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(
          `${cluster.server.address}${path}${path.includes('?') ? '&' : '?'}index=${view.index}&wait=2s`,
          { signal },
        );
        const body = await res.json();
        view.index = Number(res.headers.get('X-Nomad-Index') ?? view.index);
        view.list = pick(body);
        view.changes.push({ t: performance.now(), list: view.list });
      } catch {
        if (!signal.aborted) await sleep(100, signal);
      }
    }
  };
  view.done = loop();
  return view;
}

/** Running instances of the job with their addresses, from its allocations. */
const runningInstances = (allocs) =>
  allocs
    .filter((a) => a.ClientStatus === 'running' && a.DesiredStatus === 'run')
    .map((a) => {
      const p = (a.AllocatedResources?.Shared?.Ports ?? []).find((x) => x.Label === 'http');
      return p ? { id: a.ID, node: a.NodeID, url: `http://${p.HostIP}:${p.Value}/` } : null;
    })
    .filter(Boolean);

/** Instances in the catalog, as the gateway sees them. */
const catalogInstances = (regs) => (Array.isArray(regs) ? regs.map((r) => ({ id: r.AllocID, node: r.NodeID })) : []);

/**
 * REQ/s until `signal` aborts; records every request. `target()` names where the next one goes: an instance
 * (direct mode) or the gateway, whose answer (the serving alloc's ID) says which node served it.
 */
async function loadLoop(target, nodeOfAlloc, signal) {
  const log = [];
  const pending = new Set();
  const every = 1000 / rate;
  let next = performance.now();
  while (!signal.aborted) {
    const to = target();
    if (to) {
      const sent = performance.now();
      const p = fetch(to.url, { signal: AbortSignal.timeout(2000) })
        .then(async (res) => {
          const body = await res.text();
          const ok = res.ok && (to.id ? body === to.id : body !== '');
          log.push({
            t: sent,
            node: to.node ?? nodeOfAlloc(body),
            ok,
            why: ok ? '' : `HTTP ${res.status} ${body.replace(/\s+/g, ' ').slice(0, 100)}`,
          });
        })
        .catch((e) => log.push({ t: sent, node: to.node, ok: false, why: String(e.cause?.code ?? e.name ?? e) }))
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    next += every;
    await sleep(Math.max(0, next - performance.now()), signal);
  }
  await Promise.all(pending);
  return log;
}

/** A started cluster, with the gateway when asked and available; falls back to direct mode otherwise. */
async function startCluster() {
  const opts = { clients: ['a', 'b', 'c'], minTTL: args['min-ttl'], grace: args.grace };
  if (useGateway) {
    const cluster = new Cluster({ ...opts, gateway: true });
    try {
      await cluster.start();
      const gateway = await cluster.gatewayAddress();
      if (gateway) return { cluster, gateway };
      console.log('the server agent runs no gateway: load goes straight to the instances (direct mode)');
    } catch (e) {
      console.log(`the agent did not start with a gateway (${String(e.message).split('\n')[0]}): direct mode`);
    }
    await cluster.stop();
    useGateway = false;
  }
  const cluster = new Cluster(opts);
  await cluster.start();
  return { cluster, gateway: undefined };
}

async function round(n) {
  phase(`round ${n}: starting a server and three clients`);
  const stopAll = new AbortController();
  // The whole round is bounded: whatever happens, the load loop and the watchers end by then.
  const bound = setTimeout(() => stopAll.abort(), (maxSeconds + 90) * 1000);
  const { cluster, gateway } = await startCluster();
  try {
    const script = cluster.file('server.cjs', SERVER_JS);
    await cluster.api('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ Job: await parseJob(cluster, jobHCL(script, Boolean(gateway))) }),
    });
    await cluster.waitFor(`${COUNT} running instances`, async () => (await running(cluster)).length === COUNT);
    // resources=true: the list carries each allocation's ports only when asked, as Nomad's does.
    const allocs = follow(cluster, '/v1/job/failover/allocations?resources=true', runningInstances, stopAll.signal);
    // What routes traffic: the catalog (behind the gateway), or the allocations themselves (direct).
    const routing = gateway ? follow(cluster, '/v1/service/failover', catalogInstances, stopAll.signal) : allocs;
    await cluster.waitFor(
      'every instance routable',
      async () => routing.list.length === COUNT && allocs.list.length === COUNT,
      30_000,
      50,
    );
    phase(
      `round ${n}: ${gateway ? `load through the gateway at ${gateway}` : 'load straight at the instances'}, ${rate} req/s`,
    );

    const nodeOf = new Map();
    const nodeOfAlloc = (id) => {
      for (const c of allocs.changes) for (const x of c.list) nodeOf.set(x.id, x.node);
      return nodeOf.get(id);
    };
    let rr = 0;
    const target = gateway
      ? () => ({ url: `${gateway}/` })
      : () => (allocs.list.length > 0 ? allocs.list[rr++ % allocs.list.length] : undefined);
    const loadStop = new AbortController();
    const loadSignal = AbortSignal.any([loadStop.signal, stopAll.signal, AbortSignal.timeout(maxSeconds * 1000)]);
    const load = loadLoop(target, nodeOfAlloc, loadSignal);
    await sleep(2000, loadSignal);

    const before = await running(cluster);
    const victimNode = mostLoaded(before);
    const victim = cluster.clients.get(before.find((a) => a.NodeID === victimNode).NodeName);
    const lost = before.filter((a) => a.NodeID === victimNode).length;
    phase(`round ${n}: SIGKILL client ${victim.name} and its tasks (${lost} of ${COUNT} instances)`);
    const kill = performance.now();
    await victim.killWithTasks();

    let replaced = NaN;
    await cluster.waitFor(
      'replacements running',
      async () => {
        const now = await running(cluster);
        const ok = now.length === COUNT && now.every((a) => a.NodeID !== victimNode);
        if (ok) replaced = (performance.now() - kill) / 1000;
        return ok;
      },
      maxSeconds * 1000,
      100,
    );
    phase(`round ${n}: replacements running after ${replaced.toFixed(1)} s`);
    await sleep(2000, loadSignal);
    loadStop.abort();
    const log = await load;

    const gone = routing.changes.find((c) => c.t > kill && c.list.every((x) => x.node !== victimNode));
    const detect = gone ? (gone.t - kill) / 1000 : NaN;
    const failed = log.filter((x) => !x.ok);
    const failedDead = failed.filter((x) => x.node === victimNode);
    const served = log.filter((x) => x.ok).length;
    if (served === 0) throw new Error('no request was served: the run measured nothing');
    const why = new Map();
    for (const f of failed) why.set(f.why, (why.get(f.why) ?? 0) + 1);
    for (const [w, c] of why)
      console.log(
        `  ${c} failed: ${w} (first at +${((failed.find((f) => f.why === w).t - kill) / 1000).toFixed(1)} s after the kill)`,
      );
    phase(
      `round ${n}: traffic stopped reaching dead instances after ${detect.toFixed(1)} s; ${failed.length} of ${log.length} requests failed` +
        (gateway ? '' : ` (${failedDead.length} to dead instances)`),
    );
    return {
      detect,
      replaced,
      failed: failed.length,
      failedDead: failedDead.length,
      requests: log.length,
      gateway: Boolean(gateway),
    };
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
  const med = (k) =>
    quantile(
      rs.map((r) => r[k]),
      0.5,
    );
  console.log('');
  console.log(
    `rounds: ${rs.length}, load ${rate} req/s ${rs[0]?.gateway ? 'through the gateway' : 'straight at the instances'}, ${COUNT} instances on 3 clients`,
  );
  console.log(
    `seconds until traffic stops reaching dead instances: ${rs.map((r) => r.detect.toFixed(1)).join(', ')} (median ${med('detect').toFixed(1)})`,
  );
  console.log(
    `seconds until replacements are running:               ${rs.map((r) => r.replaced.toFixed(1)).join(', ')} (median ${med('replaced').toFixed(1)})`,
  );
  console.log(
    `failed requests: ${rs.map((r) => `${r.failed}/${r.requests}${r.gateway ? '' : ` (${r.failedDead} to dead instances)`}`).join(', ')}`,
  );
  console.log(
    resultLine({ name: 'failover-detect', value: med('detect'), unit: 's', ref: REF_SECONDS, goal: 'report' }),
  );
  console.log(
    resultLine({ name: 'failover-failed-requests', value: med('failed'), unit: 'requests', ref: NaN, goal: '0' }),
  );
  console.log(
    resultLine({ name: 'failover', value: med('replaced'), unit: 's', ref: REF_SECONDS, goal: String(GOAL_SECONDS) }),
  );
}

// Last: the helpers above are `const`s, initialised only once evaluation reaches them.
const results = [];
try {
  for (let r = 1; r <= rounds; r++) results.push(await round(r));
  report(results);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
}
