/**
 * Where the autoscaler's checks read their metric (`check { source = "..." query = "..." }`). A source answers
 * one number for a check, or throws a DroverError saying why it cannot.
 *
 *   nomad-apm       `<op>_<metric>`: op avg | min | max | sum over the group's running allocations (none
 *                   running: no data yet); metric
 *                   cpu | memory (Drover: percent of the group's reservation, as cpu-allocated |
 *                   memory-allocated are in Nomad). Read from the clients' allocation stats.
 *   drover-gateway  `<metric>:<route>`: request_rate (requests/s), request_rate_per_instance (÷ running
 *                   allocations of the group), latency_avg_ms; over the time since the check's previous
 *                   evaluation, from the gateways' Prometheus metrics (counters, so the first evaluation
 *                   only takes the baseline).
 *   prometheus      a PromQL query to `<address>/api/v1/query` that must give one number (a scalar or a
 *                   one-element vector), as Nomad's Prometheus APM plugin.
 */
import { DroverError } from '../errors/index.js';
import type { Allocation, AllocStats, Job, TaskGroup } from '../structs/index.js';

/** What a check is evaluated against. */
export interface MetricQuery {
  /** Unique per policy and check: sources that keep samples between evaluations key them by it. */
  key: string;
  query: string;
  job: Job;
  group: TaskGroup;
  /** The group's running allocations. */
  allocs: readonly Allocation[];
  signal: AbortSignal;
  nowMs: number;
}

export interface MetricSource {
  /**
   * The metric, or undefined when there is no data yet and that is normal (a counter's first sample, a group
   * whose allocations are still starting): the check sits this evaluation out without an error event.
   */
  query(q: MetricQuery): Promise<number | undefined>;
}

function unavailable(message: string): DroverError {
  return new DroverError('Unavailable', message);
}

function badQuery(message: string): DroverError {
  return new DroverError('BadRequest', message);
}

// ---- nomad-apm ------------------------------------------------------------------------------------------------

const APM_QUERY = /^(?:taskgroup_)?(avg|min|max|sum)_(cpu|memory)(-allocated)?(?:\/.*)?$/;

/** Reads a nomad-apm query; undefined when it is not one (admission reports it). */
export function parseApmQuery(
  query: string,
): { op: 'avg' | 'min' | 'max' | 'sum'; metric: 'cpu' | 'memory' } | undefined {
  const m = APM_QUERY.exec(query);
  if (!m) return undefined;
  return { op: m[1] as 'avg' | 'min' | 'max' | 'sum', metric: m[2] as 'cpu' | 'memory' };
}

function reservation(group: TaskGroup, metric: 'cpu' | 'memory'): number {
  let sum = 0;
  for (const t of group.Tasks) sum += metric === 'cpu' ? (t.Resources.CPU ?? 0) : (t.Resources.MemoryMB ?? 0);
  return sum;
}

function aggregate(op: 'avg' | 'min' | 'max' | 'sum', values: number[]): number {
  switch (op) {
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'min':
      return Math.min(...values);
    case 'max':
      return Math.max(...values);
  }
}

/** The nomad-apm source over `allocStats`, which fetches one allocation's stats from the client running it. */
export function nomadApmSource(
  allocStats: (alloc: Allocation, signal: AbortSignal) => Promise<AllocStats>,
): MetricSource {
  return {
    async query(q) {
      const parsed = parseApmQuery(q.query);
      if (!parsed) throw badQuery(`nomad-apm query "${q.query}" is not <avg|min|max|sum>_<cpu|memory>, e.g. "avg_cpu"`);
      const reserved = reservation(q.group, parsed.metric);
      if (reserved <= 0) throw badQuery(`group "${q.group.Name}" reserves no ${parsed.metric}`);
      if (q.allocs.length === 0) return undefined;
      const results = await Promise.allSettled(q.allocs.map((a) => allocStats(a, q.signal)));
      const values: number[] = [];
      let firstError: unknown;
      for (const r of results) {
        if (r.status === 'rejected') {
          firstError ??= r.reason;
          continue;
        }
        const u = r.value.ResourceUsage;
        const used = parsed.metric === 'cpu' ? u.CpuStats.TotalTicks : u.MemoryStats.RSS / (1024 * 1024);
        values.push((used / reserved) * 100);
      }
      if (values.length === 0)
        throw unavailable(
          `no allocation of group "${q.group.Name}" answered its stats: ${firstError instanceof Error ? firstError.message : String(firstError)}`,
        );
      return aggregate(parsed.op, values);
    },
  };
}

// ---- drover-gateway -------------------------------------------------------------------------------------------

const GATEWAY_METRICS = ['request_rate', 'request_rate_per_instance', 'latency_avg_ms'] as const;
type GatewayMetric = (typeof GATEWAY_METRICS)[number];

export function parseGatewayQuery(query: string): { metric: GatewayMetric; route: string } | undefined {
  const i = query.indexOf(':');
  if (i < 0) return undefined;
  const metric = query.slice(0, i) as GatewayMetric;
  const route = query.slice(i + 1);
  if (!GATEWAY_METRICS.includes(metric) || route === '') return undefined;
  return { metric, route };
}

export interface RouteCounters {
  requests: number;
  latencySum: number;
  latencyCount: number;
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * The per-route counters of one gateway's `/metrics` text (metrics.ts writes it), added into `into`. Lines
 * other than the three counters read here are skipped.
 */
export function addRouteCounters(text: string, into: Map<string, RouteCounters>): void {
  const line =
    /^(drover_gateway_requests_total|drover_gateway_request_duration_seconds_sum|drover_gateway_request_duration_seconds_count)\{route="((?:[^"\\]|\\.)*)"\}\s+(\S+)$/;
  for (const l of text.split('\n')) {
    const m = line.exec(l);
    if (!m) continue;
    const route = unescapeLabel(m[2]!);
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    let c = into.get(route);
    if (!c) into.set(route, (c = { requests: 0, latencySum: 0, latencyCount: 0 }));
    if (m[1] === 'drover_gateway_requests_total') c.requests += v;
    else if (m[1]!.endsWith('_sum')) c.latencySum += v;
    else c.latencyCount += v;
  }
}

/**
 * The drover-gateway source. `scrape` returns the `/metrics` text of every gateway to count (the agent's own,
 * and any listed in `server { autoscaler { gateway_metrics } }`). A gateway that restarted (counters going
 * back) starts a new baseline.
 */
export function gatewaySource(scrape: (signal: AbortSignal) => Promise<string[]>): MetricSource {
  const last = new Map<string, { atMs: number; c: RouteCounters }>();
  return {
    async query(q) {
      const parsed = parseGatewayQuery(q.query);
      if (!parsed)
        throw badQuery(
          `drover-gateway query "${q.query}" is not <${GATEWAY_METRICS.join('|')}>:<route>, e.g. "request_rate:/web"`,
        );
      const texts = await scrape(q.signal);
      if (texts.length === 0) throw unavailable('no gateway metrics to read: this agent runs no gateway');
      const all = new Map<string, RouteCounters>();
      for (const t of texts) addRouteCounters(t, all);
      const now = all.get(parsed.route) ?? { requests: 0, latencySum: 0, latencyCount: 0 };
      const prev = last.get(q.key);
      last.set(q.key, { atMs: q.nowMs, c: now });
      // The first sample (or one after a gateway restart reset the counters) is the baseline of the next rate.
      if (!prev || prev.c.requests > now.requests || q.nowMs <= prev.atMs) return undefined;
      const seconds = (q.nowMs - prev.atMs) / 1000;
      const rate = (now.requests - prev.c.requests) / seconds;
      switch (parsed.metric) {
        case 'request_rate':
          return rate;
        case 'request_rate_per_instance':
          return rate / Math.max(1, q.allocs.length);
        case 'latency_avg_ms': {
          const n = now.latencyCount - prev.c.latencyCount;
          return n > 0 ? ((now.latencySum - prev.c.latencySum) / n) * 1000 : 0;
        }
      }
    },
  };
}

// ---- prometheus -----------------------------------------------------------------------------------------------

interface PromAnswer {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

/** One number out of a Prometheus instant query's answer, or why there is none. */
export function promValue(body: PromAnswer, query: string): number {
  if (body.status !== 'success') throw unavailable(`prometheus query "${query}" failed: ${body.error ?? 'no status'}`);
  const { resultType, result } = body.data ?? {};
  let raw: unknown;
  if (resultType === 'scalar') raw = (result as unknown[] | undefined)?.[1];
  else if (resultType === 'vector') {
    const v = result as Array<{ value?: unknown[] }> | undefined;
    if (!v || v.length !== 1)
      throw unavailable(
        `prometheus query "${query}" gave ${v?.length ?? 0} series; a check needs exactly one (wrap it in scalar() or sum())`,
      );
    raw = v[0]!.value?.[1];
  } else
    throw unavailable(`prometheus query "${query}" gave a ${resultType ?? 'missing'} result; a check needs one number`);
  const n = Number(raw);
  if (raw == null || !Number.isFinite(n))
    throw unavailable(`prometheus query "${query}" gave ${JSON.stringify(raw)}, not a number`);
  return n;
}

/** The prometheus source: instant queries to `address` (e.g. http://127.0.0.1:9090). */
export function prometheusSource(address: string, timeoutMs = 5000): MetricSource {
  const base = address.replace(/\/+$/, '');
  return {
    async query(q) {
      const url = `${base}/api/v1/query?query=${encodeURIComponent(q.query)}`;
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.any([q.signal, AbortSignal.timeout(timeoutMs)]) });
      } catch (e) {
        throw unavailable(`prometheus at ${base} did not answer: ${e instanceof Error ? e.message : String(e)}`);
      }
      const text = await res.text();
      let body: PromAnswer;
      try {
        body = JSON.parse(text) as PromAnswer;
      } catch {
        throw unavailable(`prometheus at ${base} answered ${res.status} with a body that is not JSON`);
      }
      return promValue(body, q.query);
    },
  };
}
