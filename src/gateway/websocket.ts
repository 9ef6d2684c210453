/**
 * HTTP/1.1 Upgrade (WebSocket) through the gateway: the handshake is forwarded like a request, and once the
 * instance answers 101 the two sockets are spliced together until either side closes.
 *
 *   client --Upgrade--> gateway --Upgrade--> instance
 *          <---101-----         <---101-----            then bytes flow both ways, untouched
 *   (connect refused: retried on another instance, as for GET; any other answer is passed back and the socket closed)
 *
 * The route's guard (allow/deny, redirect, rate, auth, maxbody) runs first, exactly as for a plain request, and the
 * same rewrites apply (strip=, prefix=, host=, weighted split). proto=https routes refuse upgrades with 502.
 *
 * Tunnels do not use the keep-alive pools: an upgraded socket never returns to a pool.
 */
import { request, ServerResponse, STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logging/index.js';
import { pickBackend, type Backend } from './backend.js';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.js';
import { setHeader, unavailableReason, type TableHolder } from './proxy.js';
import { stripPrefix } from './routes.js';
import type { LiveRoute } from './table.js';

export interface UpgradeSettings {
  maxAttempts: number;
  now: () => number;
  logger: Logger;
  /** Client sockets with an open tunnel, so closing the gateway can cut them after its grace period. */
  tunnels: Set<Duplex>;
}

/** The 'upgrade' listener for the proxy's http.Server. */
export function createUpgradeHandler(
  holder: TableHolder,
  settings: UpgradeSettings,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = req.url ?? '/';
    const route = holder.table.match(req.headers.host, url);
    if (route === undefined) {
      writeRawError(socket, 404, `no route matches ${req.headers.host ?? ''}${url}`);
      return;
    }
    route.metrics.requests++;
    if (route.guard !== undefined) {
      // The guard answers through a ServerResponse; bind one to the raw socket so a refusal is written on it.
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as Socket);
      if (!route.guard(req, res)) {
        route.metrics.response(res.statusCode, 0);
        const close = () => socket.end(() => socket.destroy());
        if (res.writableFinished) close();
        else res.once('finish', close);
        return;
      }
      res.detachSocket(socket as Socket);
    }
    if (route.spec.proto === 'https') {
      route.metrics.error('upstream_failed');
      writeRawError(socket, 502, `route ${route.name} has proto=https: the gateway does not tunnel upgrades over TLS`);
      return;
    }
    const headers = forwardRequestHeaders(req.rawHeaders, {
      remoteAddress: req.socket.remoteAddress ?? '',
      upgrade: true,
      body: false,
    });
    if (route.spec.upstreamHost !== undefined) setHeader(headers, 'host', route.spec.upstreamHost);
    const stripped = stripPrefix(url, route.spec.strip);
    const path = route.spec.addPrefix ? route.spec.addPrefix + stripped : stripped;
    tryUpgrade(req, socket, head, route, path, headers, [], settings);
  };
}

function tryUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  route: LiveRoute,
  path: string,
  headers: string[],
  tried: Backend[],
  settings: UpgradeSettings,
): void {
  const now = settings.now();
  const b = route.split ? route.split.pick(now, tried) : pickBackend(route, now, tried);
  if (b === undefined) {
    const status = tried.length === 0 ? 503 : 502;
    route.metrics.error(tried.length === 0 ? 'no_instance' : 'upstream_failed');
    writeRawError(
      socket,
      status,
      tried.length === 0
        ? unavailableReason(route, settings.now())
        : `all ${tried.length} attempt(s) to open the tunnel on route ${route.name} failed`,
    );
    return;
  }
  tried.push(b);
  b.acquire();
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      b.release();
    }
  };
  const preq = request({ host: b.host, port: b.port, method: req.method, path, headers, setHost: false, agent: false });
  preq.once('upgrade', (pres, psocket, phead) => {
    b.succeeded();
    route.metrics.response(101, 0);
    socket.write(statusLine(pres) + rawHeaderLines(pres.rawHeaders) + '\r\n');
    if (phead.length > 0) socket.write(phead);
    if (head.length > 0) psocket.write(head);
    psocket.on('error', () => socket.destroy());
    socket.on('error', () => psocket.destroy());
    psocket.once('close', () => {
      socket.destroy();
      release();
    });
    socket.once('close', () => psocket.destroy());
    // The proxy listener keeps sockets half-open; a tunnel is over once the client stops sending, so finish
    // our side too, which closes the socket and with it the instance's.
    socket.once('end', () => socket.end());
    settings.tunnels.add(socket);
    socket.once('close', () => settings.tunnels.delete(socket));
    psocket.pipe(socket);
    socket.pipe(psocket);
  });
  preq.once('response', (pres) => {
    // The instance declined the upgrade: pass its answer on and close, as it asked for no tunnel.
    b.succeeded();
    route.metrics.response(pres.statusCode ?? 502, 0);
    socket.write(
      statusLine(pres) + rawHeaderLines(forwardResponseHeaders(pres.rawHeaders)) + 'Connection: close\r\n\r\n',
    );
    pres.pipe(socket);
    pres.once('end', release);
  });
  preq.once('error', (err: NodeJS.ErrnoException) => {
    release();
    if (err.syscall === 'connect') {
      if (b.failed()) route.metrics.ejections++;
      if (tried.length < settings.maxAttempts && !socket.destroyed) {
        route.metrics.retries++;
        tryUpgrade(req, socket, head, route, path, headers, tried, settings);
        return;
      }
    }
    route.metrics.error('upstream_failed');
    writeRawError(socket, 502, `instance ${b.instance.ID} at ${b.host}:${b.port}: ${err.code ?? err.message}`);
  });
  socket.once('close', () => {
    if (!preq.destroyed) preq.destroy();
  });
  preq.end();
}

function statusLine(res: IncomingMessage): string {
  return `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? STATUS_CODES[res.statusCode ?? 0] ?? ''}\r\n`;
}

function rawHeaderLines(raw: readonly string[]): string {
  let s = '';
  for (let i = 0; i < raw.length; i += 2) s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return s;
}

function writeRawError(socket: Duplex, status: number, detail: string): void {
  if (socket.destroyed) return;
  const body = `${status} ${STATUS_CODES[status] ?? 'Error'}\n${detail}\n(Drover gateway)\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
