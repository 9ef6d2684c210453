/**
 * Per-route counters and latency histograms, rendered in Prometheus' text exposition format.
 * Recording is a few integer increments on objects created once per route, so the hot path allocates nothing.
 */

/** Upper bounds of the latency buckets, in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export type ErrorReason =
  | 'no_route'
  | 'no_instance'
  | 'upstream_failed'
  | 'upstream_timeout'
  | 'upstream_reset'
  | 'client_abort'
  | 'forbidden'
  | 'unauthorized'
  | 'rate_limited'
  | 'body_too_large';

export class RouteMetrics {
  readonly route: string;
  requests = 0;
  /** Responses by status code. */
  readonly codes = new Map<number, number>();
  readonly errors = new Map<ErrorReason, number>();
  retries = 0;
  ejections = 0;
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);
  latencySum = 0;
  latencyCount = 0;

  constructor(route: string) {
    this.route = route;
  }

  response(code: number, seconds: number): void {
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    this.latencySum += seconds;
    this.latencyCount++;
    // buckets has one counter per LATENCY_BUCKETS bound; indexed loops on the per-request path.
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]!++;
        break;
      }
    }
  }

  error(reason: ErrorReason): void {
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + 1);
  }
}

/** Metrics by route name; a route keeps its counters when it leaves and re-enters the table. */
export class MetricsRegistry {
  private readonly routes = new Map<string, RouteMetrics>();

  forRoute(name: string): RouteMetrics {
    let m = this.routes.get(name);
    if (m === undefined) this.routes.set(name, (m = new RouteMetrics(name)));
    return m;
  }

  /** The Prometheus text format (version 0.0.4). */
  render(): string {
    const all = [...this.routes.values()].sort((a, b) => (a.route < b.route ? -1 : 1));
    const out: string[] = [];
    family(out, 'drover_gateway_requests_total', 'counter', 'Requests received, by route.');
    for (const m of all) out.push(`drover_gateway_requests_total{route=${label(m.route)}} ${m.requests}`);
    family(out, 'drover_gateway_responses_total', 'counter', 'Responses sent, by route and status code.');
    for (const m of all)
      for (const [code, n] of [...m.codes].sort((a, b) => a[0] - b[0]))
        out.push(`drover_gateway_responses_total{route=${label(m.route)},code="${code}"} ${n}`);
    family(out, 'drover_gateway_errors_total', 'counter', 'Requests that failed in the gateway, by route and reason.');
    for (const m of all)
      for (const [reason, n] of m.errors)
        out.push(`drover_gateway_errors_total{route=${label(m.route)},reason="${reason}"} ${n}`);
    family(
      out,
      'drover_gateway_retries_total',
      'counter',
      'Attempts retried on another instance after a connect failure.',
    );
    for (const m of all) out.push(`drover_gateway_retries_total{route=${label(m.route)}} ${m.retries}`);
    family(out, 'drover_gateway_ejections_total', 'counter', 'Instances ejected after consecutive connect failures.');
    for (const m of all) out.push(`drover_gateway_ejections_total{route=${label(m.route)}} ${m.ejections}`);
    family(
      out,
      'drover_gateway_request_duration_seconds',
      'histogram',
      'Time from request to response headers, by route.',
    );
    for (const m of all) histogram(out, m);
    return out.join('\n') + '\n';
  }
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function histogram(out: string[], m: RouteMetrics): void {
  const name = 'drover_gateway_request_duration_seconds';
  const route = label(m.route);
  let cumulative = 0;
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
    cumulative += m.buckets[i]!;
    out.push(`${name}_bucket{route=${route},le="${LATENCY_BUCKETS[i]}"} ${cumulative}`);
  }
  out.push(`${name}_bucket{route=${route},le="+Inf"} ${m.latencyCount}`);
  out.push(`${name}_sum{route=${route}} ${m.latencySum}`);
  out.push(`${name}_count{route=${route}} ${m.latencyCount}`);
}

function label(value: string): string {
  return '"' + value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}
