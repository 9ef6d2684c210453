/**
 * The routing table as text, for `drover gateway routes`. CLI presentation of the gateway's admin `/routes` JSON,
 * so it lives with the CLI; only the gateway's types are shared.
 */
import type { RouteInfo } from '../gateway/index.js';
import { formatTable } from './format.js';

/**
 * One row per instance, the route's columns only on its first row; routes without instances still show, so a
 * missing backend is visible. `now` decides which ejections are still running.
 */
export function formatRoutesTable(routes: readonly RouteInfo[], now: number = Date.now()): string {
  const header = ['Route', 'Strip', 'LB', 'Service', 'Instance', 'Address', 'Active', 'State'];
  const rows: string[][] = [];
  for (const r of routes) {
    const first = [r.Name, r.Strip || '-', r.LB];
    if (r.Targets.length === 0) rows.push([...first, r.Services.join(',') || '-', '-', '-', '0', 'no instances']);
    r.Targets.forEach((t, i) => {
      const state = t.EjectedUntil > now ? `ejected ${Math.ceil((t.EjectedUntil - now) / 1000)}s` : 'ok';
      rows.push([
        ...(i === 0 ? first : ['', '', '']),
        t.ServiceName,
        t.ID.slice(0, 8),
        `${t.Address}:${t.Port}`,
        String(t.Active),
        state,
      ]);
    });
  }
  if (rows.length === 0) return 'No routes: no passing instance has a urlprefix- or drover.route= tag.\n';
  return formatTable([header, ...rows]) + '\n';
}
