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
    if (r.Targets.length === 0)
      rows.push([...first, r.Services.join(',') || '-', '-', '-', '0', r.Error ? 'not served' : 'no instances']);
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
  return formatTable([header, ...rows]) + '\n' + routeNotes(routes);
}

/** Options beyond strip and lb, and why routes are not served, under the table (they would make it too wide). */
function routeNotes(routes: readonly RouteInfo[]): string {
  const options = routes
    .map((r) => [r.Name, [...(r.Proto ? [`proto=${r.Proto}`] : []), ...(r.Options ?? [])].join(' ')])
    .filter(([, o]) => o !== '');
  const errors = routes.filter((r) => r.Error).map((r) => [r.Name, r.Error!]);
  let out = '';
  if (options.length > 0) out += '\nRoute options:\n' + indent(formatTable(options)) + '\n';
  if (errors.length > 0) out += '\nRoutes not served:\n' + indent(formatTable(errors)) + '\n';
  return out;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => '  ' + l)
    .join('\n');
}
