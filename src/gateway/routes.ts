/**
 * Routes from service tags, Fabio-style, and the immutable table that matches a request to one of them.
 *
 *   urlprefix-/api strip=/api          hostless prefix, prefix removed before forwarding
 *   urlprefix-example.com/             host route (a port after the host is accepted and ignored)
 *   drover.route=/admin lb=least_conn  the gateway's own form; same syntax after the '='
 *
 * Matching: routes for the request's host first, then hostless ones; within each, the longest prefix wins.
 */
import type { PortRanges } from '../lib/ports.js';
import { applyRouteOption, checkRouteOptions } from './route-options.js';
import type { GatewayInstance, LoadBalancing, RouteSpec } from './types.js';

const TAG_PREFIXES = ['urlprefix-', 'drover.route='] as const;

/** Why a tag that looked like a route was not (or not entirely) understood. */
export interface TagProblem {
  tag: string;
  message: string;
}

/**
 * Parses one tag; returns undefined for tags that are not routes. A route whose options cannot all be honoured is
 * returned with `error` set (and reported): it is listed, never served.
 *
 *   urlprefix-/path opts            HTTP route, any host
 *   urlprefix-host[:port]/path opts HTTP route for one Host
 *   urlprefix-:PORT proto=tcp       TCP listener on PORT
 *   urlprefix-host:PORT proto=tcp+sni  TLS on PORT passed through to the instances when the SNI is host
 */
export function parseRouteTag(tag: string, problems?: TagProblem[]): RouteSpec | undefined {
  const kind = TAG_PREFIXES.find((p) => tag.startsWith(p));
  if (kind === undefined) return undefined;
  const [target = '', ...opts] = tag.slice(kind.length).trim().split(/\s+/);
  const slash = target.indexOf('/');
  const hostPort = (slash < 0 ? target : target.slice(0, slash)).toLowerCase();
  const colon = hostPort.lastIndexOf(':');
  const host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
  if (slash < 0 && !/^\d{1,5}$/.test(hostPort.slice(colon + 1))) {
    problems?.push({
      tag,
      message: 'a route needs a path starting with "/" (urlprefix-/api) or a port for TCP (urlprefix-:5432 proto=tcp)',
    });
    return undefined;
  }
  const spec: RouteSpec = { host, prefix: slash < 0 ? '' : target.slice(slash), strip: '' };
  if (slash < 0) {
    const port = Number(hostPort.slice(colon + 1));
    if (port < 1 || port > 65535) return invalid(spec, tag, `port ${port} is not between 1 and 65535`, problems);
    spec.listenPort = port;
  }
  for (const opt of opts) {
    const why = applyRouteOption(spec, opt);
    if (why !== undefined) return invalid(spec, tag, why, problems);
  }
  const why = checkRouteOptions(spec);
  return why === undefined ? spec : invalid(spec, tag, why, problems);
}

function invalid(spec: RouteSpec, tag: string, message: string, problems?: TagProblem[]): RouteSpec {
  problems?.push({ tag, message: `${message}; the route is not served` });
  spec.error = message;
  return spec;
}

export { parsePortRanges, type PortRanges } from '../lib/ports.js';

/**
 * Whether a TCP route may listen on `port`: inside the operator's `tcp_ports` when set, else any unprivileged
 * port (1024-65535), so a job cannot take :22 or :25 on the gateway host.
 */
export function tcpPortAllowed(port: number, ranges: PortRanges | undefined): boolean {
  if (ranges === undefined) return port >= 1024 && port <= 65535;
  return ranges.some(([lo, hi]) => port >= lo && port <= hi);
}

/** Whether a route has its own TCP listener rather than matching HTTP requests. */
export function isTcpRoute(spec: RouteSpec): boolean {
  return spec.listenPort !== undefined;
}

/** A route's name: `host/prefix` for HTTP, `:port` or `host:port` for TCP. */
export function specName(spec: RouteSpec): string {
  return spec.listenPort !== undefined ? `${spec.host}:${spec.listenPort}` : routeName(spec.host, spec.prefix);
}

/** The options that must agree between the services sharing a route (all but weight), field by field. */
function sharedOptions(spec: RouteSpec): Record<string, unknown> {
  const { weight: _w, host: _h, prefix: _p, listenPort: _l, error: _e, ...rest } = spec;
  return rest;
}

/** How two specs for one route differ, as `auth=ops vs none`; undefined when they agree. */
function optionsDiff(a: RouteSpec, b: RouteSpec): string | undefined {
  const x = sharedOptions(a);
  const y = sharedOptions(b);
  const show = (v: unknown) =>
    v === undefined || v === ''
      ? 'none'
      : typeof v === 'string'
        ? v
        : Array.isArray(v) && v.every((e) => typeof e === 'string')
          ? v.join(',')
          : JSON.stringify(v);
  const diffs: string[] = [];
  for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
    const l = show(x[k]);
    const r = show(y[k]);
    if (l !== r) diffs.push(`${k}=${l} vs ${r}`);
  }
  return diffs.length > 0 ? diffs.join(', ') : undefined;
}

/** A route's options as tag text, for `drover gateway routes`; weights are shown per service. */
export function describeOptions(spec: RouteSpec, weights?: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  if (spec.addPrefix) out.push(`prefix=${spec.addPrefix}`);
  if (spec.tlsSkipVerify) out.push('tlsskipverify=true');
  if (spec.upstreamHost) out.push(`host=${spec.upstreamHost}`);
  if (spec.redirectHttps) out.push('redirect=https');
  if (spec.auth) out.push(`auth=${spec.auth}`);
  if (spec.allow) out.push(`allow=${spec.allow.join(',')}`);
  if (spec.deny) out.push(`deny=${spec.deny.join(',')}`);
  if (spec.rate !== undefined) out.push(`rate=${spec.rate}`);
  if (spec.maxBody !== undefined) out.push(`maxbody=${spec.maxBody}`);
  for (const [n, v] of spec.headers ?? []) out.push(`header=${n}:${v}`);
  for (const [svc, w] of weights ?? []) out.push(`weight(${svc})=${w}`);
  return out;
}

/** The name of a route in metrics, error pages and the admin API. */
export function routeName(host: string, prefix: string): string {
  return host + prefix;
}

/** Instances grouped under one route, before backends are attached. */
export interface RouteGroup {
  name: string;
  spec: RouteSpec;
  services: string[];
  /** Healthy instances only. */
  instances: GatewayInstance[];
  /** Instances that declare the route but are not healthy: the route exists (answering 503), they get no traffic. */
  unhealthy: number;
  /** Services that gave a weight= for this route, and their share. */
  weights: Map<string, number>;
  /** Why the route is not served (its spec's error, a port that could not be bound...). */
  error?: string;
}

/**
 * Groups instances by the routes their tags declare. Several services may share a route: their instances are
 * pooled (as Fabio does) when their options agree; when they differ the route is an error and not served. An
 * unhealthy instance still declares its route, so clients get a 503 naming it rather than a 404.
 */
export function groupRoutes(
  instances: readonly GatewayInstance[],
  problems?: TagProblem[],
  tcpPorts?: PortRanges,
): RouteGroup[] {
  // Invalid routes are grouped too, so `drover gateway routes` lists them with their error.
  const groups = new Map<string, RouteGroup>();
  const sorted = [...instances].sort((a, b) =>
    a.ServiceName < b.ServiceName ? -1 : a.ServiceName > b.ServiceName ? 1 : a.ID < b.ID ? -1 : 1,
  );
  for (const inst of sorted) {
    const seen = new Set<string>();
    for (const tag of inst.Tags) {
      let spec = parseRouteTag(tag, problems);
      if (spec === undefined) continue;
      if (spec.error === undefined && spec.listenPort !== undefined && !tcpPortAllowed(spec.listenPort, tcpPorts)) {
        const allowed = tcpPorts === undefined ? '1024-65535' : tcpPorts.map(([l, h]) => (l === h ? l : `${l}-${h}`));
        spec = invalid(
          spec,
          tag,
          `port ${spec.listenPort} is not in the gateway's tcp_ports (${String(allowed)})`,
          problems,
        );
      }
      const name = specName(spec);
      if (seen.has(name)) continue;
      seen.add(name);
      let group = groups.get(name);
      if (group === undefined) {
        group = { name, spec, services: [], instances: [], unhealthy: 0, weights: new Map(), error: spec.error };
        groups.set(name, group);
      } else if (group.error === undefined) {
        // Services sharing a route must agree on every option: otherwise a second job could strip the first
        // one's protection (auth=, allow=...) or change where its traffic goes. The route is not served.
        const diff = spec.error ?? optionsDiff(group.spec, spec);
        if (diff !== undefined) {
          const error = `services ${group.services[0]} and ${inst.ServiceName} tag ${tag.split(/\s+/)[0]} with different options: ${diff}`;
          problems?.push({ tag, message: `${error}; the route is not served` });
          group.error = error;
          group.spec = { ...group.spec, error };
          group.unhealthy += group.instances.length;
          group.instances = [];
        }
      }
      if (!group.services.includes(inst.ServiceName)) group.services.push(inst.ServiceName);
      if (spec.weight !== undefined && !group.weights.has(inst.ServiceName))
        group.weights.set(inst.ServiceName, spec.weight);
      if (inst.Healthy === false || group.error !== undefined) group.unhealthy++;
      else group.instances.push(inst);
    }
  }
  return [...groups.values()];
}

/** Anything with a host and a prefix can be matched. */
export interface Matchable {
  spec: RouteSpec;
}

/**
 * An immutable matcher. Built once per catalog change and swapped in whole, so a request sees one consistent
 * table from match to response.
 */
let tableGenerations = 0;

export class RouteTable<R extends Matchable> {
  private readonly byHost = new Map<string, R[]>();
  private readonly hostless: R[] = [];
  readonly routes: readonly R[];
  /** Different for every table built: what a cache of matches compares, instead of holding the table. */
  readonly generation = ++tableGenerations;

  constructor(routes: readonly R[]) {
    this.routes = routes;
    const longestFirst = [...routes]
      .filter((r) => r.spec.listenPort === undefined && r.spec.error === undefined)
      .sort((a, b) => b.spec.prefix.length - a.spec.prefix.length);
    for (const r of longestFirst) {
      if (r.spec.host === '') this.hostless.push(r);
      else {
        let list = this.byHost.get(r.spec.host);
        if (list === undefined) this.byHost.set(r.spec.host, (list = []));
        list.push(r);
      }
    }
  }

  /**
   * Finds the route for a request. `host` is the raw Host header (port and case are normalised here); `url` is
   * the request target (path and query).
   */
  match(host: string | undefined, url: string): R | undefined {
    if (host !== undefined && this.byHost.size > 0) {
      const list = this.byHost.get(normaliseHost(host));
      if (list !== undefined) {
        const r = firstPrefix(list, url);
        if (r !== undefined) return r;
      }
    }
    return firstPrefix(this.hostless, url);
  }
}

function normaliseHost(host: string): string {
  // IPv6 literals keep their brackets; only a trailing :port is removed.
  const colon = host.lastIndexOf(':');
  const bare = colon > host.lastIndexOf(']') ? host.slice(0, colon) : host;
  return bare.toLowerCase();
}

function firstPrefix<R extends Matchable>(list: readonly R[], url: string): R | undefined {
  for (const r of list) {
    if (prefixMatches(r.spec.prefix, url)) return r;
  }
  return undefined;
}

/**
 * A prefix matches on path-segment boundaries: `/api` matches `/api`, `/api/x` and `/api?q`, but not `/apiary`,
 * so one service cannot capture another's paths by sharing their first letters.
 */
export function prefixMatches(prefix: string, url: string): boolean {
  if (!url.startsWith(prefix)) return false;
  if (url.length === prefix.length || prefix.charCodeAt(prefix.length - 1) === 47 /* / */) return true;
  const next = url.charCodeAt(prefix.length);
  return next === 47 /* / */ || next === 63; /* ? */
}

/** Removes `strip` from the front of the request target, keeping it a valid origin-form target. */
export function stripPrefix(url: string, strip: string): string {
  if (strip === '' || !prefixMatches(strip, url)) return url;
  const rest = url.slice(strip.endsWith('/') ? strip.length - 1 : strip.length);
  return rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? '/' + rest : rest;
}

/** The default balancing for a route. */
export function routeLb(spec: RouteSpec, fallback: LoadBalancing): LoadBalancing {
  return spec.lb ?? fallback;
}
