/**
 * The admin endpoints: `GET /routes` (the live table as JSON) and `GET /metrics` (Prometheus text). Served on
 * their own listener, or on the proxy listener under ADMIN_PREFIX when no admin address is configured.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsRegistry } from './metrics.js';
import type { RouteInfo } from './types.js';

/** Reserved path on the proxy listener for admin endpoints when there is no admin listener. */
export const ADMIN_PREFIX = '/_drover/gateway';

export function createAdminHandler(
  routes: () => RouteInfo[],
  metrics: MetricsRegistry,
  prefix = '',
  certs: () => unknown[] = () => [],
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = (q < 0 ? url : url.slice(0, q)).slice(prefix.length);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'text/plain; charset=utf-8', 'only GET is served here\n');
    if (path === '/routes') return send(res, 200, 'application/json', JSON.stringify(routes()));
    if (path === '/certs') return send(res, 200, 'application/json', JSON.stringify(certs()));
    if (path === '/metrics') return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics.render());
    if (path === '/health') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    send(
      res,
      404,
      'text/plain; charset=utf-8',
      `no admin endpoint at ${path}; try ${prefix}/routes or ${prefix}/metrics\n`,
    );
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
