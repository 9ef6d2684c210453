/**
 * HAProxy as the gateway's data plane: the routing table rendered as an HAProxy configuration. Each route is a
 * backend with a fixed number of server slots; instances fill slots and empty slots are disabled, so most
 * catalog changes are applied through the runtime API (set server addr / state) without a reload.
 *
 * The semantics mirror the Node data plane: routes for the Host first, then hostless ones, longest prefix first,
 * prefixes matched on segment boundaries; strip=; round robin or least connections; a refused connection is
 * retried on another instance (retry-on conn-failure + redispatch), and so is a GET/HEAD/OPTIONS the instance
 * closed without answering (empty-response); an instance is ejected after consecutive
 * layer-4 errors (observe layer4) and re-admitted when its next TCP check passes; X-Forwarded-* and X-Real-IP are
 * set as the Node plane sets them; 404/503/502 pages name the route and reason.
 */
import { routeName } from '../routes.js';
import { MAX_BODY_LIMIT } from '../route-options.js';
import type { AuthSource, GatewayInstance, LoadBalancing, RouteSpec } from '../types.js';
import { guardLines, rewriteLines, serverWords, tcpBackendLines, tcpFrontends, userlists } from './route-rules.js';

/** One route with its slots: `slots[i]` is the instance in server `s{i+1}`, or undefined for an empty slot. */
export interface HaproxyRoute {
  name: string;
  spec: RouteSpec;
  lb: LoadBalancing;
  services: string[];
  backend: string;
  slots: (GatewayInstance | undefined)[];
  /** Services that gave weight= on this route. */
  weights?: ReadonlyMap<string, number>;
  /** Why the route is not served; such routes are listed, never rendered. */
  error?: string;
}

export interface HaproxyConfigOptions {
  listen: { host: string; port: number };
  /** The runtime API socket (level admin). */
  statsSocket: string;
  /** HAProxy threads; the machine's cores by default. */
  threads?: number;
  maxconn?: number;
  /** Consecutive layer-4 errors that mark an instance down. */
  ejectAfter: number;
  /** Interval of the TCP checks that re-admit an ejected instance, in ms. */
  checkIntervalMs: number;
  /** Old processes are stopped this long after a reload at the latest, in ms (in-flight requests finish first). */
  hardStopAfterMs?: number;
  /** When set, requests under ADMIN_PREFIX go to the gateway's admin endpoints at this address. */
  admin?: { host: string; port: number; prefix: string };
  /** Users for auth= routes. */
  auth?: AuthSource;
  /** Where redirect=https sends clients (443 by default). */
  httpsPort?: number;
  /** A TLS listener (HTTP/2 and HTTP/1.1) whose certificates are in the crt-list file `crtList`. */
  tls?: { host: string; port: number; crtList: string };
  /** When set, ACME HTTP-01 challenge paths go to the gateway's Node listener at this address. */
  acme?: { host: string; port: number };
}

/** Renders the complete configuration for the routes, in match order. */
export function renderHaproxyConfig(all: readonly HaproxyRoute[], o: HaproxyConfigOptions): string {
  // A TCP route without instances has no listener: new connections are refused rather than accepted and cut.
  const served = all.filter(
    (r) => r.error === undefined && (r.spec.listenPort === undefined || r.slots.some((x) => x !== undefined)),
  );
  const routes = served.filter((r) => r.spec.listenPort === undefined);
  const lines: string[] = [
    'global',
    `  maxconn ${o.maxconn ?? 4096}`,
    ...(o.threads !== undefined ? [`  nbthread ${o.threads}`] : []),
    `  stats socket ${o.statsSocket} mode 600 level admin expose-fd listeners`,
    `  hard-stop-after ${o.hardStopAfterMs ?? 30_000}ms`,
    '',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
    '  timeout tunnel 1h',
    '  retries 2',
    '  option redispatch 1',
    // As the Node plane: a refused connection is retried for any request, and an idempotent one also when the
    // instance closed the connection without answering (a killed container behind docker-proxy: accepted, then
    // closed), on another instance (redispatch). The frontend turns the second kind off for other methods.
    '  retry-on conn-failure empty-response',
    '  http-reuse safe',
    '',
    'frontend gateway',
    `  bind ${o.listen.host}:${o.listen.port}`,
    ...(o.tls ? [`  bind ${o.tls.host}:${o.tls.port} ssl crt-list ${o.tls.crtList} alpn h2,http/1.1`] : []),
    '  option forwardfor',
    o.tls
      ? '  http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)] unless { req.hdr(x-forwarded-proto) -m found }'
      : '  http-request set-header X-Forwarded-Proto http unless { req.hdr(x-forwarded-proto) -m found }',
    '  http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found } !{ req.hdr(x-forwarded-host) -m found }',
    '  http-request set-header X-Real-IP %[src] unless { req.hdr(x-real-ip) -m found }',
    '  http-request disable-l7-retry unless METH_GET || METH_OPTIONS',
  ];
  // The normalised Host is only read by host routes; without any, extracting it is work on every request.
  if (routes.some((r) => r.spec.host !== ''))
    lines.push('  http-request set-var(txn.host) req.hdr(host),field(1,:),lower');
  if (o.admin) lines.push(`  use_backend drover_admin if { path -m beg ${o.admin.prefix}/ }`);
  if (o.acme) lines.push('  use_backend drover_acme if { path -m beg /.well-known/acme-challenge/ }');
  for (const r of matchOrder(routes)) {
    const conds = [`path -m str ${r.spec.prefix}`];
    if (!r.spec.prefix.endsWith('/')) conds.push(`path -m beg ${r.spec.prefix}/`);
    else conds[0] = `path -m beg ${r.spec.prefix}`;
    const host = r.spec.host === '' ? '' : ` var(txn.host) -m str ${r.spec.host}`;
    // One acl name per route; HAProxy ORs the conditions declared under the same name.
    for (const c of conds) lines.push(`  acl ${r.backend}_path ${c}`);
    lines.push(`  use_backend ${r.backend} if ${host ? `{${host} } ` : ''}${r.backend}_path`);
  }
  lines.push('  default_backend no_route', '');
  lines.push(...tcpFrontends(served, o.listen.host), ...userlists(routes, o.auth));
  for (const r of served) lines.push(...renderBackend(r, o), '');
  if (o.admin) lines.push('backend drover_admin', `  server admin ${o.admin.host}:${o.admin.port}`, '');
  if (o.acme) lines.push('backend drover_acme', `  server acme ${o.acme.host}:${o.acme.port}`, '');
  lines.push(
    'backend no_route',
    `  http-request return status 404 content-type "text/plain; charset=utf-8" string ${quote(page(404, 'Not Found', '(none)', 'no_route', 'no route matches this request; routes come from service tags such as urlprefix-/path'))} hdr x-drover-gateway-error no_route`,
    '',
  );
  return lines.join('\n');
}

function renderBackend(r: HaproxyRoute, o: HaproxyConfigOptions): string[] {
  const lines = [`backend ${r.backend}`, `  balance ${r.lb === 'least_conn' ? 'leastconn' : 'roundrobin'}`];
  const tcp = r.spec.listenPort !== undefined;
  if (tcp) lines.push(...tcpBackendLines(r.spec));
  else lines.push(...guardLines(r, o.httpsPort));
  if (r.spec.strip !== '') {
    const s = escapeRegex(r.spec.strip.replace(/\/$/, ''));
    lines.push(`  http-request replace-path ^${s}$ /`, `  http-request replace-path ^${s}(/.*)$ \\1`);
  }
  if (!tcp) lines.push(...rewriteLines(r.spec));
  if (!tcp)
    lines.push(
      `  http-error status 503 content-type "text/plain; charset=utf-8" string ${quote(page(503, 'Service Unavailable', r.name, 'no_instance', `no healthy instance for route ${r.name}`))} hdr x-drover-gateway-error no_instance`,
      `  http-error status 502 content-type "text/plain; charset=utf-8" string ${quote(page(502, 'Bad Gateway', r.name, 'upstream_failed', 'the instance failed before answering'))} hdr x-drover-gateway-error upstream_failed`,
    );
  const check = `check inter ${o.checkIntervalMs} fall 3 rise 1 observe layer4 error-limit ${o.ejectAfter} on-error mark-down`;
  r.slots.forEach((inst, i) => {
    lines.push(
      inst === undefined
        ? `  server s${i + 1} 127.0.0.1:1 disabled ${check}${serverWords(r, inst)}`
        : `  server s${i + 1} ${inst.Address}:${inst.Port} ${check}${serverWords(r, inst)}`,
    );
  });
  return lines;
}

/** Host routes before hostless ones, longest prefix first: the Node plane's RouteTable order. */
function matchOrder(routes: readonly HaproxyRoute[]): HaproxyRoute[] {
  return [...routes].sort((a, b) => {
    if ((a.spec.host === '') !== (b.spec.host === '')) return a.spec.host === '' ? 1 : -1;
    return b.spec.prefix.length - a.spec.prefix.length;
  });
}

function page(status: number, title: string, route: string, reason: string, detail: string): string {
  return `${status} ${title}\nroute: ${route}\nreason: ${reason}\n${detail}\n(Drover gateway)\n`;
}

/** A double-quoted HAProxy string with \n escapes. */
function quote(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The backend name for the i-th route; names stay HAProxy-safe whatever the tags contain. */
export function backendName(i: number): string {
  return `r${i}`;
}

/** Slots for a route with `n` instances: room to grow without a reload. */
export function slotCount(n: number): number {
  let s = 4;
  while (s < n * 2) s *= 2;
  return s;
}

/** Whether a route can be written into the configuration as is (tags are user input; HAProxy's syntax is not). */
export function safeForHaproxy(spec: RouteSpec): boolean {
  const path = /^\/[A-Za-z0-9/._~%!*+,=:@-]*$/;
  const cidr = /^[0-9A-Fa-f.:/]+$/;
  const cidrsOk = [...(spec.allow ?? []), ...(spec.deny ?? [])].every((c) => cidr.test(c));
  if (spec.listenPort !== undefined) return /^[a-z0-9.-]*$/.test(spec.host) && cidrsOk;
  return (
    /^[a-z0-9.-]*$/.test(spec.host) &&
    path.test(spec.prefix) &&
    (spec.strip === '' || path.test(spec.strip)) &&
    (spec.addPrefix === undefined || spec.addPrefix === '' || path.test(spec.addPrefix)) &&
    (spec.upstreamHost === undefined || /^[A-Za-z0-9.-]+(:\d+)?$/.test(spec.upstreamHost)) &&
    (spec.auth === undefined || /^[A-Za-z0-9_-]{1,64}$/.test(spec.auth)) &&
    (spec.rate === undefined || Number.isInteger(spec.rate)) &&
    (spec.maxBody === undefined || (Number.isInteger(spec.maxBody) && spec.maxBody <= MAX_BODY_LIMIT)) &&
    (spec.headers ?? []).every(([n, v]) => /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(n) && /^[\x21\x23-\x7e]+$/.test(v)) &&
    cidrsOk
  );
}

export { routeName };
