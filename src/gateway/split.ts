/**
 * Traffic split between the services sharing a route (`weight=0.2` on one service's tag): Fabio's rule, where a
 * weighted service gets its share and the unweighted ones share what is left equally. Both data planes take
 * their numbers from `serviceShares`; the Node plane picks with smooth weighted round robin (the order nginx and
 * HAProxy use), so a split is exact over any window of a few dozen requests rather than only on average.
 */
import { pickBackend, type Backend, type Pool } from './backend.js';
import type { GatewayInstance, LoadBalancing } from './types.js';

/**
 * Each service's share (summing to 1) among those with at least one instance. Weights summing above 1 are
 * scaled down; when only weighted services have instances their weights are scaled to fill the route.
 */
export function serviceShares(
  instances: readonly GatewayInstance[],
  weights: ReadonlyMap<string, number>,
): Map<string, number> {
  const services = [...new Set(instances.map((i) => i.ServiceName))];
  const weighted = services.filter((s) => weights.has(s));
  const rest = services.filter((s) => !weights.has(s));
  let sum = weighted.reduce((a, s) => a + weights.get(s)!, 0);
  const shares = new Map<string, number>();
  if (rest.length === 0 || sum >= 1) {
    if (sum === 0) sum = 1;
    for (const s of weighted) shares.set(s, weights.get(s)! / sum);
    for (const s of rest) shares.set(s, 0);
  } else {
    for (const s of weighted) shares.set(s, weights.get(s)!);
    for (const s of rest) shares.set(s, (1 - sum) / rest.length);
  }
  return shares;
}

/** One service's instances on a split route. */
interface SubPool extends Pool {
  share: number;
  current: number;
}

/** Picks a service by smooth weighted round robin, then an instance within it with the route's balancing. */
export class SplitPicker {
  private readonly pools: SubPool[];

  constructor(backends: readonly Backend[], shares: ReadonlyMap<string, number>, lb: LoadBalancing) {
    const byService = new Map<string, Backend[]>();
    for (const b of backends) {
      const list = byService.get(b.instance.ServiceName) ?? [];
      list.push(b);
      byService.set(b.instance.ServiceName, list);
    }
    this.pools = [...byService].map(([svc, list]) => ({
      backends: list,
      lb,
      cursor: 0,
      share: shares.get(svc) ?? 0,
      current: 0,
    }));
  }

  pick(now: number, tried?: readonly Backend[]): Backend | undefined {
    const open = this.pools.filter((p) => p.share > 0 && p.backends.some((b) => b.available(now)));
    let best: SubPool | undefined;
    let total = 0;
    for (const p of open) {
      p.current += p.share;
      total += p.share;
      if (best === undefined || p.current > best.current) best = p;
    }
    if (best !== undefined) {
      best.current -= total;
      const b = pickBackend(best, now, tried);
      if (b !== undefined) return b;
    }
    // The chosen service had nothing left to try (a retry): any other instance of the route will do.
    for (const p of this.pools) {
      const b = pickBackend(p, now, tried);
      if (b !== undefined) return b;
    }
    return undefined;
  }
}
