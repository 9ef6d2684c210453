/**
 * The gateway: a proxy listener, an optional admin listener, and a loop that turns each catalog change into a
 * new routing table.
 *
 *   source.watch() --instances--> buildTable() --swap holder.table--> requests match against the new table
 *                                    |                                   (in-flight ones keep their choice)
 *                                    +--> backends gone from the catalog drain, then close their pools
 */
import { createServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ADMIN_PREFIX, createAdminHandler } from './admin.js';
import { BackendRegistry } from './backend.js';
import { MetricsRegistry } from './metrics.js';
import { createProxyHandler, type TableHolder } from './proxy.js';
import { RouteTable, type TagProblem } from './routes.js';
import { buildTable, describeTable } from './table.js';
import type { Gateway, GatewayInstance, GatewayOptions, RouteInfo } from './types.js';
import { createUpgradeHandler } from './websocket.js';
import { listen } from './listen.js';
import { TcpListeners } from './tcp.js';
import { closeTlsServer, createTlsServer } from './tls/node-listener.js';
import { ACME_CHALLENGE_PREFIX, withAcmeChallenge } from './tls/challenge.js';
import { installFastPath } from './fast.js';

/** Starts the gateway; resolves once its listeners are bound (routes arrive as the source yields). */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const logger = opts.logger.child({ component: 'gateway' });
  const now = opts.now ?? Date.now;
  const lb = opts.lb ?? 'round_robin';
  const maxAttempts = opts.maxAttempts ?? 3;
  const registry = new BackendRegistry({
    ejectAfter: opts.ejectAfter ?? 3,
    ejectForMs: opts.ejectForMs ?? 10_000,
    maxIdleSockets: opts.maxIdleSockets ?? 64,
    now,
  });
  const metrics = new MetricsRegistry();
  const holder: TableHolder = { table: new RouteTable([]) };
  const routes = (): RouteInfo[] => describeTable(holder.table);

  const settings = { maxAttempts, responseTimeoutMs: opts.responseTimeoutMs ?? 60_000, now, logger };
  const proxy = createProxyHandler(holder, settings);
  const certs = () => opts.tls?.certs.list() ?? [];
  const admin = createAdminHandler(routes, metrics, opts.admin ? '' : ADMIN_PREFIX, certs);
  const handler = opts.admin ? proxy : withReservedAdmin(proxy, admin);
  const server = createServer(
    {
      ...(opts.headersTimeoutMs === undefined ? {} : { headersTimeout: opts.headersTimeoutMs }),
      ...(opts.maxHeaderSize === undefined ? {} : { maxHeaderSize: opts.maxHeaderSize }),
    },
    withAcmeChallenge(handler, opts.tls?.acmeChallenge),
  );
  const tunnels = new Set<Duplex>();
  const upgrade = createUpgradeHandler(holder, { maxAttempts, now, logger, tunnels });
  server.on('upgrade', upgrade);
  const tlsServer = opts.tls ? createTlsServer(opts.tls.certs, handler, upgrade, logger) : undefined;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const adminServer = opts.admin ? createServer(admin) : undefined;
  const fast =
    opts.fastPath === false
      ? undefined
      : installFastPath(server, {
          holder,
          settings,
          reserved: (target) =>
            (!opts.admin && target.startsWith(ADMIN_PREFIX + '/')) ||
            (opts.tls?.acmeChallenge !== undefined && target.startsWith(ACME_CHALLENGE_PREFIX)),
          headersTimeoutMs: server.headersTimeout,
          maxHeaderSize: opts.maxHeaderSize ?? maxHeaderSize,
        });

  await listen(server, opts.listen.host, opts.listen.port);
  if (adminServer && opts.admin) {
    await listen(adminServer, opts.admin.host, opts.admin.port).catch(async (err: unknown) => {
      await closeServer(server, 0, new Set());
      throw err;
    });
  }
  if (tlsServer && opts.tls) {
    await listen(tlsServer, opts.tls.listen.host, opts.tls.listen.port).catch(async (err: unknown) => {
      await closeServer(server, 0, new Set());
      if (adminServer) await closeServer(adminServer, 0, new Set());
      throw err;
    });
  }

  const stop = new AbortController();
  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));
  let lastProblems = '';
  const tcp = new TcpListeners(opts.listen.host, logger, now);
  const apply = async (instances: GatewayInstance[]) => {
    const problems: TagProblem[] = [];
    holder.table = buildTable(
      instances,
      registry,
      metrics,
      lb,
      holder.table,
      problems,
      {
        auth: opts.auth,
        httpsPort: opts.httpsPort,
        now,
      },
      opts.tcpPorts,
    );
    await tcp.update(holder.table.routes);
    const text = problems.map((p) => `${p.tag}: ${p.message}`).join('; ');
    if (text !== '' && text !== lastProblems) logger.warn('some route tags were not understood', { problems: text });
    lastProblems = text;
    logger.debug('routing table updated', { routes: holder.table.routes.length, instances: instances.length });
    markReady();
  };
  const watching = (async () => {
    for await (const instances of opts.source.watch(stop.signal)) await apply(instances);
  })().catch((err: unknown) => {
    if (!stop.signal.aborted) logger.error('catalog source failed; routing table frozen', { error: String(err) });
  });

  const port = (server.address() as AddressInfo).port;
  const adminPort = adminServer ? (adminServer.address() as AddressInfo).port : undefined;
  const tlsPort = tlsServer ? (tlsServer.address() as AddressInfo).port : undefined;
  logger.info('gateway listening', {
    address: `${opts.listen.host}:${port}`,
    ...(tlsPort !== undefined ? { tls: `${opts.tls!.listen.host}:${tlsPort}` } : {}),
    admin: adminPort === undefined ? ADMIN_PREFIX : `${opts.admin!.host}:${adminPort}`,
  });

  return {
    dataPlane: 'node',
    port,
    adminPort,
    tlsPort,
    routes,
    certs,
    ready: (signal?: AbortSignal) => raceAbort(readyPromise, signal),
    async close(graceMs = 5000) {
      stop.abort();
      markReady();
      await Promise.all([
        fast?.close(graceMs),
        closeServer(server, graceMs, tunnels),
        tlsServer ? closeTlsServer(tlsServer, graceMs, tunnels) : undefined,
        adminServer ? closeServer(adminServer, 0, new Set()) : undefined,
      ]);
      await watching;
      tcp.close();
      registry.closeAll();
    },
  };
}

function withReservedAdmin(
  proxy: (req: IncomingMessage, res: ServerResponse) => void,
  admin: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url;
    // '_' after the first '/' is rare in real paths, so most requests skip the string comparison.
    if (url !== undefined && url.charCodeAt(1) === 95 && url.startsWith(ADMIN_PREFIX + '/')) admin(req, res);
    else proxy(req, res);
  };
}

/** Stops accepting, closes idle keep-alive connections, and cuts what is still open after `graceMs`. */
function closeServer(server: Server, graceMs: number, tunnels: Set<Duplex>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      for (const t of tunnels) t.destroy();
    }, graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

function raceAbort(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, reject);
  });
}
