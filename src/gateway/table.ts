/**
 * The live routing table: route groups from the catalog joined with their backends and metrics. A new table is
 * built for every catalog change and swapped in with one assignment; requests already matched keep the route
 * (and backend) they chose.
 */
import { BackendRegistry, type Backend, type Pool, backendKey } from './backend.js';
import type { MetricsRegistry, RouteMetrics } from './metrics.js';
import { groupRoutes, RouteTable, routeLb, type TagProblem } from './routes.js';
import type { GatewayInstance, LoadBalancing, RouteInfo, RouteSpec, RouteTargetInfo } from './types.js';

export interface LiveRoute extends Pool {
  readonly name: string;
  readonly spec: RouteSpec;
  readonly services: readonly string[];
  readonly metrics: RouteMetrics;
  /** Instances declaring this route that are not healthy (they get no traffic). */
  readonly unhealthy: number;
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
): LiveTable {
  const groups = groupRoutes(instances, problems);
  const backends = registry.update(groups.flatMap((g) => g.instances));
  const oldCursors = new Map(previous?.routes.map((r) => [r.name, r.cursor]) ?? []);
  const routes = groups.map((g): LiveRoute => {
    const list: Backend[] = g.instances.map((i) => backends.get(backendKey(i))!);
    return {
      name: g.name,
      spec: g.spec,
      services: g.services,
      unhealthy: g.unhealthy,
      lb: routeLb(g.spec, defaultLb),
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
  R extends { name: string; spec: RouteSpec; lb: LoadBalancing; services: Iterable<string> },
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
      Targets: targets(r),
    }));
}
