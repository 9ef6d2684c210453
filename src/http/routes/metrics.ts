/**
 * `GET /v1/metrics`: the agent's telemetry in Nomad's JSON form (go-metrics' in-memory summary: `Timestamp`,
 * `Gauges`, `Counters`, `Samples`, with dotted names) or, with `?format=prometheus`, the Prometheus text
 * exposition written by prom-client. Names are Nomad's where the figure means the same thing (`nomad.nomad.
 * broker.total_ready` → `nomad_nomad_broker_total_ready`); Drover's own figures are `drover_*`, and so are
 * the Node.js process metrics. Every gauge is read at scrape time from the server and client, so nothing is
 * updated on any hot path.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { badRequest } from '../../errors/index.js';
import type { RequestContext, Router } from '../router.js';
import { HANDLED } from '../reply.js';
import type { HttpApiOptions } from '../types.js';

/** A gauge read at scrape time: its dotted (Nomad) name, its help, and how to read it (undefined: absent). */
interface Reading {
  name: string;
  help: string;
  labels?: string[];
  read: () => Array<{ labels?: Record<string, string>; value: number }> | undefined;
}

const promName = (dotted: string) => dotted.replace(/[.-]/g, '_');

function readings(opts: HttpApiOptions): Reading[] {
  const out: Reading[] = [];
  const server = opts.server;
  const client = opts.client;
  const one = (v: number | undefined) => (v === undefined ? undefined : [{ value: v }]);
  if (server) {
    const s = () => server.stats();
    out.push(
      {
        name: 'nomad.nomad.broker.total_ready',
        help: 'Evaluations ready to be dequeued by a scheduler worker',
        read: () => one(s().broker.ready),
      },
      {
        name: 'nomad.nomad.broker.total_unacked',
        help: 'Evaluations dequeued and not yet acknowledged',
        read: () => one(s().broker.unacked),
      },
      {
        name: 'nomad.nomad.broker.total_pending',
        help: 'Evaluations waiting behind another evaluation of the same job',
        read: () => one(s().broker.pending),
      },
      {
        name: 'nomad.nomad.broker.total_waiting',
        help: 'Evaluations waiting for their WaitUntil time',
        read: () => one(s().broker.delayed),
      },
      {
        name: 'nomad.nomad.broker.eval_ready',
        help: 'Ready evaluations by scheduler type',
        labels: ['type'],
        read: () => Object.entries(s().broker.byType).map(([type, value]) => ({ labels: { type }, value })),
      },
      {
        name: 'nomad.nomad.blocked_evals.total_blocked',
        help: 'Evaluations blocked until resources free up',
        read: () => one(s().blocked.totalBlocked),
      },
      {
        name: 'nomad.nomad.blocked_evals.total_escaped',
        help: 'Blocked evaluations that escaped computed node classes',
        read: () => one(s().blocked.totalEscaped),
      },
      {
        name: 'nomad.nomad.heartbeat.active',
        help: 'Client nodes with a live heartbeat timer',
        read: () => one(s().heartbeats),
      },
      { name: 'drover.state.index', help: 'The latest committed state store index', read: () => one(s().stateIndex) },
    );
  }
  if (client) {
    const statuses = ['pending', 'running', 'complete', 'failed', 'lost'];
    out.push({
      name: 'drover.client.allocations',
      help: 'Allocations run by this client, by client status',
      labels: ['status'],
      read: () => {
        const counts = client.allocStatusCounts?.();
        return counts === undefined
          ? undefined
          : statuses.map((status) => ({ labels: { status }, value: counts[status] ?? 0 }));
      },
    });
    const counts = () => client.allocStatusCounts?.();
    out.push(
      {
        name: 'nomad.client.allocations.running',
        help: 'Allocations running on this client',
        read: () => one(counts()?.['running'] ?? (counts() ? 0 : undefined)),
      },
      {
        name: 'nomad.client.allocations.pending',
        help: 'Allocations pending on this client',
        read: () => one(counts()?.['pending'] ?? (counts() ? 0 : undefined)),
      },
      {
        name: 'nomad.client.allocations.terminal',
        help: 'Terminal allocations still known to this client',
        read: () => {
          const c = counts();
          return c === undefined ? undefined : one((c['complete'] ?? 0) + (c['failed'] ?? 0) + (c['lost'] ?? 0));
        },
      },
    );
    const host = () => client.hostStats?.() as { Memory?: Record<string, number>; Uptime?: number } | undefined;
    for (const f of ['Total', 'Available', 'Used', 'Free']) {
      out.push({
        name: `nomad.client.host.memory.${f.toLowerCase()}`,
        help: `Host memory ${f.toLowerCase()} in bytes`,
        read: () => one(host()?.Memory?.[f]),
      });
    }
    out.push({ name: 'nomad.client.uptime', help: 'Host uptime in seconds', read: () => one(host()?.Uptime) });
  }
  return out;
}

/** One registry per HTTP API: two agents in one process (tests) must not share figures. */
export function buildMetricsRegistry(opts: HttpApiOptions): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'drover_' });
  for (const r of readings(opts)) {
    new Gauge({
      name: promName(r.name),
      help: r.help,
      labelNames: r.labels ?? [],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of r.read() ?? []) {
          if (v.labels) this.set(v.labels, v.value);
          else this.set(v.value);
        }
      },
    });
  }
  return registry;
}

/** Nomad's JSON time stamp (Go's time.Time String, truncated to the second as go-metrics' interval). */
function goTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

export function metricsRoutes(r: Router, opts: HttpApiOptions): void {
  const registry = buildMetricsRegistry(opts);
  const dotted = new Map(readings(opts).map((x) => [promName(x.name), x.name]));
  r.get('/v1/metrics', async (c: RequestContext) => {
    const format = c.query.get('format');
    if (format === 'prometheus') {
      const text = await registry.metrics();
      c.res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text) });
      c.res.end(text);
      return HANDLED;
    }
    if (format !== null && format !== '' && format !== 'json')
      throw badRequest(`invalid format "${format}": expected prometheus (or none, for JSON)`);
    const gauges: Array<{ Name: string; Value: number; Labels: Record<string, string> }> = [];
    const counters: Array<{
      Name: string;
      Count: number;
      Sum: number;
      Min: number;
      Max: number;
      Mean: number;
      Rate: number;
      Stddev: number;
      Labels: Record<string, string>;
    }> = [];
    for (const m of await registry.getMetricsAsJSON()) {
      const name = dotted.get(m.name) ?? m.name;
      for (const v of m.values) {
        const labels = Object.fromEntries(Object.entries(v.labels ?? {}).map(([k, x]) => [k, String(x)]));
        if (String(m.type) === 'counter')
          counters.push({
            Name: name,
            Count: 1,
            Sum: v.value,
            Min: v.value,
            Max: v.value,
            Mean: v.value,
            Rate: 0,
            Stddev: 0,
            Labels: labels,
          });
        else if (String(m.type) === 'gauge') gauges.push({ Name: name, Value: v.value, Labels: labels });
      }
    }
    return { Timestamp: goTimestamp(new Date()), Gauges: gauges, Counters: counters, Samples: [], Points: [] };
  });
}
