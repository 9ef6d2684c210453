/**
 * `drover gateway routes [-gateway URL]`: the live routing table of a running gateway (the agent's, or a
 * standalone `drover gateway`), read from its admin `/routes` JSON. It talks to the gateway, not to the agent
 * API, so it needs no API client.
 */
import type { RouteInfo } from '../../gateway/index.js';
import { formatRoutesTable } from '../routes-table.js';
import { command, str, UsageError, type CommandSpec } from '../command.js';

const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';
/** The admin endpoints on the gateway's main listener (ADMIN_PREFIX in the gateway module). */
const SHARED_ADMIN_PATH = '/_drover/gateway';

/**
 * Asks the main listener's reserved path first, then `/routes` for a gateway URL that is its admin listener
 * (which answers 404 under the reserved prefix). Only a JSON array is taken as the table, so a backend that
 * happens to answer `/routes` is never mistaken for it.
 */
export async function fetchRoutes(
  base: string,
  signal: AbortSignal,
  fetchFn: typeof fetch = fetch,
): Promise<RouteInfo[]> {
  return fetchAdminList<RouteInfo>(base, 'routes', signal, fetchFn);
}

/** A JSON list from one of the gateway's admin endpoints (`routes`, `certs`), found as fetchRoutes finds it. */
export async function fetchAdminList<T>(
  base: string,
  endpoint: string,
  signal: AbortSignal,
  fetchFn: typeof fetch = fetch,
): Promise<T[]> {
  const root = base.replace(/\/+$/, '');
  let last = '';
  for (const path of [`${SHARED_ADMIN_PATH}/${endpoint}`, `/${endpoint}`]) {
    let res: Response;
    try {
      res = await fetchFn(root + path, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
    } catch (e) {
      // fetch wraps the socket error: its cause says what happened (ECONNREFUSED, bad port, ...).
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (e instanceof Error ? e.message : String(e));
      throw new UsageError(
        `Error querying the gateway at ${root}: ${cause} (is it running? set -gateway or DROVER_GATEWAY)`,
      );
    }
    const text = await res.text();
    if (res.ok) {
      try {
        const body = JSON.parse(text) as unknown;
        if (Array.isArray(body)) return body as T[];
      } catch {
        /* not the admin endpoint: try the next path */
      }
    }
    last = `${path} answered ${res.status}`;
  }
  throw new UsageError(
    `Error querying the gateway at ${root}: no ${endpoint === 'routes' ? 'routing table' : `${endpoint} list`} found (${last}); is this a Drover gateway?`,
  );
}

/** Instances are shown by their allocation's short ID (what `alloc status` takes), not the registration ID. */
function byAlloc(routes: RouteInfo[]): RouteInfo[] {
  return routes.map((r) => ({ ...r, Targets: r.Targets.map((t) => (t.AllocID ? { ...t, ID: t.AllocID } : t)) }));
}

/** The options of the commands that read a gateway's admin endpoints. */
export const GATEWAY_ADMIN_OPTIONS: CommandSpec['options'] = [
  {
    flags: '--gateway <url>',
    description: `the gateway, or its admin address (env DROVER_GATEWAY; default ${DEFAULT_GATEWAY})`,
  },
  { flags: '--json', description: 'print the admin JSON instead of the table' },
];

/** The gateway URL from -gateway, DROVER_GATEWAY or the default. */
export function gatewayBase(opts: Record<string, unknown>, env: Record<string, string | undefined>): string {
  const base = str(opts.gateway) ?? env.DROVER_GATEWAY ?? DEFAULT_GATEWAY;
  if (!/^https?:\/\//.test(base))
    throw new UsageError(`Invalid -gateway "${base}": expected a URL such as ${DEFAULT_GATEWAY}`);
  return base;
}

export const gatewayRoutes = command('gateway routes', {
  summary: "List a gateway's live routes and the instances behind each",
  noGlobals: true,
  options: GATEWAY_ADMIN_OPTIONS,
  async run(ctx, _args, opts) {
    const base = gatewayBase(opts, ctx.env);
    const routes = await fetchRoutes(base, ctx.signal);
    if (opts.json === true) ctx.out.printJSON(routes);
    else ctx.out.raw(formatRoutesTable(byAlloc(routes), ctx.now()));
    return 0;
  },
});
