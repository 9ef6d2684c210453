/**
 * The live routing table: route groups from the catalog joined with their backends and metrics. A new table is
 * built for every catalog change and swapped in with one assignment; requests already matched keep the route
 * (and backend) they chose.
 */
import { BackendRegistry, type Backend, type Pool, backendKey } from './backend.js';
import type { MetricsRegistry, RouteMetrics } from './metrics.js';
import { describeOptions, groupRoutes, RouteTable, routeLb, type PortRanges, type TagProblem } from './routes.js';
import { serviceShares, SplitPicker } from './split.js';
import { buildGuard, type Guard, type GuardSettings } from './guard.js';
import type { GatewayInstance, LoadBalancing, RouteInfo, RouteSpec, RouteTargetInfo } from './types.js';

export interface LiveRoute extends Pool {
  readonly name: string;
  readonly spec: RouteSpec;
  readonly services: readonly string[];
  readonly metrics: RouteMetrics;
  /** Instances declaring this route that are not healthy (they get no traffic). */
  readonly unhealthy: number;
  readonly weights: ReadonlyMap<string, number>;
  /** Set when services on the route gave weights: picks a service first, then an instance. */
  readonly split?: SplitPicker;
  /** Why the route is not served. */
  error?: string;
  /** The route's protection (auth, allow/deny, rate, maxbody, redirect), when it has any. */
  readonly guard?: Guard;
}

export type LiveTable = RouteTable<LiveRoute>;

/** Builds the next table; drains backends that left the catalog. */
export function buildTable(
  instances: readonly GatewayInstance[],
  registry: BackendRegistry,
  metrics: MetricsRegistry,
  defaultLb: LoadBalancing,
  previous: LiveTable | undefined,
  problems?: TagProblem[],
  guards: GuardSettings = { now: Date.now },
  tcpPorts?: PortRanges,
): LiveTable {
  const groups = groupRoutes(instances, problems, tcpPorts);
  const backends = registry.update(groups.flatMap((g) => g.instances));
  const oldCursors = new Map(previous?.routes.map((r) => [r.name, r.cursor]) ?? []);
  const routes = groups.map((g): LiveRoute => {
    const list: Backend[] = g.instances.map((i) => backends.get(backendKey(i))!);
    const lb = routeLb(g.spec, defaultLb);
    return {
      name: g.name,
      spec: g.spec,
      services: g.services,
      unhealthy: g.unhealthy,
      weights: g.weights,
      split: g.weights.size > 0 ? new SplitPicker(list, serviceShares(g.instances, g.weights), lb) : undefined,
      error: g.error,
      guard: buildGuard(g.name, g.spec, guards),
      lb,
      backends: list,
      // Keeping the cursor means a catalog change does not send the next burst to the first instance again.
      cursor: oldCursors.get(g.name) ?? 0,
      metrics: metrics.forRoute(g.name),
    };
  });
  return new RouteTable(routes);
}

/** The table as the admin API shows it. */
export function describeTable(table: LiveTable): RouteInfo[] {
  return describeRoutes(table.routes, (r) => r.backends.map((b) => b.info()));
}

/** Routes as the admin API shows them, sorted by name, for either data plane. */
export function describeRoutes<
  R extends {
    name: string;
    spec: RouteSpec;
    lb: LoadBalancing;
    services: Iterable<string>;
    weights?: ReadonlyMap<string, number>;
    error?: string;
  },
>(routes: Iterable<R>, targets: (route: R) => RouteTargetInfo[]): RouteInfo[] {
  return [...routes]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((r) => ({
      Name: r.name,
      Host: r.spec.host,
      Prefix: r.spec.prefix,
      Strip: r.spec.strip,
      LB: r.lb,
      Services: [...r.services],
      Targets: r.error === undefined ? targets(r) : [],
      ...(r.spec.proto !== undefined ? { Proto: r.spec.proto } : {}),
      ...(optionList(r) ?? {}),
      ...(r.error !== undefined ? { Error: r.error } : {}),
    }));
}

function optionList(r: { spec: RouteSpec; weights?: ReadonlyMap<string, number> }): { Options: string[] } | undefined {
  const o = describeOptions(r.spec, r.weights);
  return o.length > 0 ? { Options: o } : undefined;
}
