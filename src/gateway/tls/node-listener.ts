/**
 * The Node data plane's TLS listener: one `http2.createSecureServer` that speaks HTTP/2 and HTTP/1.1 (ALPN h2,
 * http/1.1) and picks each handshake's certificate by SNI from the CertStore, so a certificate changed in the
 * store is used from the next handshake on, with no restart and no connection dropped.
 *
 *   ClientHello --SNICallback(servername)--> store.contextFor() --none--> handshake fails (logged once per name)
 *   ClientHello without SNI ------------------> the server's context: the default certificate (kept in step)
 *   h2 request --adapt (pseudo-headers out, Host from :authority, connection headers out of the answer)--> proxy
 *   h1 request --------------------------------------------------------------------------------------> proxy
 */
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../logging/index.js';
import type { CertStore } from './certs.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Headers HTTP/2 forbids in a message (RFC 9113 §8.2.2): a backend's HTTP/1.1 answer may carry them. */
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** A TLS server for `handler`, with certificates from `store`. */
export function createTlsServer(
  store: CertStore,
  handler: Handler,
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
  logger: Logger,
): Http2SecureServer {
  const unknownNames = new Set<string>();
  const connections = new Set<TLSSocket>();
  const sessions = new Set<ServerHttp2Session>();
  const server = createSecureServer(
    {
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      SNICallback: (servername, cb) => {
        const ctx = store.contextFor(servername);
        if (ctx) return cb(null, ctx);
        if (!unknownNames.has(servername) && unknownNames.size < 1000) {
          unknownNames.add(servername);
          logger.warn('TLS handshake refused: no certificate for this name and no default certificate', {
            servername,
          });
        }
        cb(new Error(`no certificate for ${servername}`));
      },
    },
    (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => {
      if (req.httpVersionMajor === 2) adaptH2(req as Http2ServerRequest, res as Http2ServerResponse);
      else trackH1(req as IncomingMessage, res as ServerResponse);
      handler(req as IncomingMessage, res as ServerResponse);
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  tracked.set(server, { connections, sessions });
  // A client that sends no SNI name (https://127.0.0.1, old clients) never reaches SNICallback: it gets the
  // server's own context, kept to the default certificate.
  const setDefault = () => {
    const c = store.pick(undefined);
    if (c) server.setSecureContext({ cert: c.entry.cert, key: c.entry.key });
  };
  setDefault();
  const unsubscribe = store.onChange(setDefault);
  server.once('close', unsubscribe);
  // HTTP/1.1 over TLS can still upgrade (WebSocket); HTTP/2 has no Upgrade.
  server.on('upgrade', upgrade);
  server.on('tlsClientError', (err: Error & { code?: string }) => {
    logger.debug('TLS handshake failed', { error: err.message, code: err.code });
  });
  return server;
}

/**
 * Makes an HTTP/2 exchange look like the HTTP/1.1 one the proxy forwards: raw headers without pseudo-headers and
 * with Host (from :authority), and an answer whose HTTP/1.1 connection headers are dropped.
 */
function adaptH2(req: Http2ServerRequest, res: Http2ServerResponse): void {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let hasHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58) continue; // ':'
    if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
    out.push(name, raw[i + 1]!);
  }
  const authority = req.headers[':authority'];
  if (!hasHost && typeof authority === 'string') {
    out.unshift('host', authority);
    req.headers.host = authority;
  }
  Object.defineProperty(req, 'rawHeaders', { value: out });
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: OutgoingHttpHeaders) => Http2ServerResponse;
  Object.defineProperty(res, 'writeHead', {
    value: (status: number, msgOrHeaders?: unknown, maybeHeaders?: unknown) => {
      const headers = typeof msgOrHeaders === 'string' ? maybeHeaders : msgOrHeaders;
      return writeHead(status, h2Headers(headers));
    },
  });
}

/** Headers (an object or a flat name, value list) as an HTTP/2-legal object. */
function h2Headers(headers: unknown): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const add = (name: string, value: unknown) => {
    const lower = name.toLowerCase();
    if (H2_FORBIDDEN.has(lower) || value === undefined) return;
    const prev = out[lower];
    if (prev === undefined) out[lower] = value as string;
    else out[lower] = [...(Array.isArray(prev) ? prev : [String(prev)]), String(value)];
  };
  if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
  else if (headers && typeof headers === 'object') for (const [k, v] of Object.entries(headers)) add(k, v);
  return out;
}

/** Requests in flight per HTTP/1.1 connection, so closing can end idle keep-alive connections at once. */
const inFlight = new WeakMap<object, number>();
const tracked = new WeakMap<Http2SecureServer, { connections: Set<TLSSocket>; sessions: Set<ServerHttp2Session> }>();

function trackH1(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
  res.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
}

/**
 * Stops accepting; HTTP/2 sessions get GOAWAY (open streams finish), idle HTTP/1.1 connections close at once,
 * and whatever is still open after `graceMs` is cut (with `tunnels`, the upgraded sockets).
 */
export function closeTlsServer(server: Http2SecureServer, graceMs: number, tunnels: Set<Duplex>): Promise<void> {
  const t = tracked.get(server);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      for (const s of t?.sessions ?? []) s.destroy();
      for (const c of t?.connections ?? []) c.destroy();
      for (const x of tunnels) x.destroy();
    }, graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    for (const s of t?.sessions ?? []) s.close();
    for (const c of t?.connections ?? []) {
      if (c.alpnProtocol !== 'h2' && (inFlight.get(c) ?? 0) === 0) c.destroy();
    }
  });
}
