/**
 * The HTTP API: Nomad's paths and JSON over node:http. Routes live in one file per resource; this file
 * owns body reading (size limit), error mapping and the listener.
 */
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { badRequest, bodyTooLarge, DroverError, isDroverError } from '../errors/index.js';
import { Router, type RequestContext } from './router.js';
import { checkBodyValue, requireObjectBody } from './body.js';
import { sleep } from '../lib/sleep.js';
import { blockingWaitMs } from './query.js';
import { HANDLED, JsonReply, sendError, sendJson } from './reply.js';
import type { HttpApiOptions } from './types.js';
import { jobRoutes } from './routes/jobs.js';
import { allocRoutes } from './routes/allocs.js';
import { nodeRoutes } from './routes/nodes.js';
import { evalRoutes } from './routes/evals.js';
import { agentRoutes } from './routes/agent.js';
import { clientRoutes } from './routes/client.js';
import { internalRoutes } from './routes/internal.js';
import { jobTypeRoutes } from './routes/jobtypes.js';
import { scalingRoutes } from './routes/scaling.js';
import { deploymentRoutes } from './routes/deployments.js';
import { variableRoutes } from './routes/variables.js';
import { kvRoutes } from './routes/kv.js';
import { keyringRoutes } from './routes/keyring.js';
import { serviceRoutes } from './routes/services.js';
import { connectRoutes } from './routes/connect.js';
import { uiRoutes } from './routes/ui.js';
import { snapshotRoutes } from './routes/snapshot.js';
import { simRoutes } from './routes/sim.js';
import { forwardRequest, REGION_FORWARDED_HEADER, regionServer } from './forward.js';
import { aclRoutes } from './routes/acl.js';
import { authorize, requestSecret, ruleFor, serverForwarded, SERVER_IDENTITY } from './acl-rules.js';
import { clientFsRoutes } from './routes/client-fs.js';
import { metricsRoutes } from './routes/metrics.js';
import { opsRoutes } from './routes/ops.js';
import { eventRoutes } from './routes/events.js';
import { clientExecRoutes, upgradeHeads, wss as execWss } from './routes/client-exec.js';
import { acceptWsHandshake, wantsWsHandshake } from './ws-handshake.js';

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Nomad's `http_max_conns_per_client` default. */
export const DEFAULT_MAX_CONNS_PER_CLIENT = 100;
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

export function buildRouter(opts: HttpApiOptions): Router {
  const r = new Router();
  agentRoutes(r, opts);
  const server = opts.server;
  // A client-only agent serves the agent and client paths; the rest need a server.
  if (server) {
    const so = { ...opts, server };
    // First: `/v1/node/pools` must win over `/v1/node/:id`.
    opsRoutes(r, so);
    eventRoutes(r, so);
    jobRoutes(r, so);
    allocRoutes(r, so);
    nodeRoutes(r, so);
    evalRoutes(r, so);
    internalRoutes(r, so);
    jobTypeRoutes(r, so);
    scalingRoutes(r, so);
    deploymentRoutes(r, so);
    variableRoutes(r, so);
    kvRoutes(r, so);
    keyringRoutes(r, so);
    serviceRoutes(r, so);
    connectRoutes(r, so);
    snapshotRoutes(r, so);
    simRoutes(r, so);
  }
  aclRoutes(r, opts);
  clientRoutes(r, opts);
  clientFsRoutes(r, opts);
  clientExecRoutes(r, opts);
  metricsRoutes(r, opts);
  uiRoutes(r);
  return r;
}

function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let failed = false;
    // A client that sends its body slowly (or never) holds a socket and a buffer: give it a deadline.
    const timer = setTimeout(() => {
      failed = true;
      reject(new DroverError('Timeout', `request body not received within ${timeoutMs} ms`));
      req.socket.destroy();
    }, timeoutMs);
    timer.unref();
    req.once('close', () => clearTimeout(timer));
    const declared = Number(req.headers['content-length'] ?? -1);
    if (declared > limit) {
      reject(bodyTooLarge(limit));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(bodyTooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/**
 * Splits a request target into its decoded-as-URL path and its query. A WHATWG `URL` per request cost more
 * than the rest of routing; an origin-form target (`/v1/jobs?x=1`) needs no more than this. Anything else
 * (absolute-form, dot segments) still goes through `URL`, which normalises it.
 */
export function splitTarget(target: string): { pathname: string; query: URLSearchParams } {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const hash = target.indexOf('#');
  if (path.startsWith('/') && !path.includes('/.') && !path.includes('\\') && hash < 0) {
    return { pathname: path, query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
  }
  const url = new URL(target, 'http://localhost');
  return { pathname: url.pathname, query: url.searchParams };
}

export function handleRequest(router: Router, opts: HttpApiOptions) {
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bodyTimeoutMs = opts.limits?.httpBodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  const leaderMeta = opts.leaderContact && leaderContactHeaders(opts.leaderContact);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The AbortController is made only when a handler asks for the signal (blocking queries, streams):
    // building one per request was ≈ 1% of the agent's time under API load. Only a request whose response
    // never finished was abandoned: aborting every finished one built a DOMException (with its stack) each.
    let ac: AbortController | undefined;
    res.on('close', () => {
      if (ac !== undefined && !res.writableFinished) ac.abort();
    });
    const { pathname, query } = splitTarget(req.url ?? '/');
    let bodyPromise: Promise<Buffer> | undefined;
    const body = () => (bodyPromise ??= readBody(req, limit, bodyTimeoutMs));
    const ctx: RequestContext = {
      req,
      res,
      params: {},
      query,
      get signal() {
        if (ac === undefined) {
          ac = new AbortController();
          // Asked for after the client already went away (the close event has fired).
          if (res.destroyed && !res.writableFinished) ac.abort();
        }
        return ac.signal;
      },
      leaderMeta,
      text: async () => (await body()).toString('utf8'),
      bytes: body,
      json: async <T>() => {
        const raw = (await body()).toString('utf8');
        if (raw.trim() === '') throw badRequest('request body is empty: expected a JSON document');
        let v: unknown;
        try {
          v = JSON.parse(raw);
        } catch (e) {
          throw badRequest(`request body is not valid JSON: ${(e as Error).message}`);
        }
        requireObjectBody(v);
        checkBodyValue(v);
        return v as T;
      },
    };
    if (opts.audit) {
      const audit = opts.audit;
      res.on('finish', () =>
        audit.write({
          accessorID: ctx.identity?.accessor ?? 'anonymous',
          tokenName: ctx.identity?.token?.Name,
          method: req.method ?? 'GET',
          path: pathname,
          namespace: query.get('namespace') || 'default',
          remoteAddress: req.socket.remoteAddress ?? '',
          status: res.statusCode,
        }),
      );
    }
    const answer = async (): Promise<void> => {
      await opts.holdForLeader?.(req.method ?? 'GET', pathname, query, () => ctx.signal);
      const target = opts.forwardTo?.(req.method ?? 'GET', pathname, query);
      if (target !== undefined)
        return await forwardRequest(req, res, target, 'leader', opts.peerTls?.toServers?.material);
      const m = router.match(req.method ?? 'GET', pathname);
      if (m === undefined) throw new DroverError('NotFound', `no API route for ${req.method} ${pathname}`);
      if (m === 'methodNotAllowed') {
        res.writeHead(405, { 'Content-Type': 'text/plain' });
        res.end(`method ${req.method} not allowed on ${pathname}`);
        return;
      }
      ctx.params = m.params;
      let filter: ((body: unknown) => unknown) | undefined;
      const gate = opts.acl ?? opts.aclGate;
      // Inside answerLocally: a standby answering a `?stale` read resolves the token from its replica too.
      const run = async () => {
        if (gate?.enabled) {
          ctx.identity = serverForwarded(req, pathname, opts)
            ? SERVER_IDENTITY
            : await gate.resolve(requestSecret(ctx));
          filter = await authorize(ctx, ruleFor(m.method, m.pattern), ctx.identity, opts);
        }
        return m.handler(ctx);
      };
      const out = opts.answerLocally ? await opts.answerLocally(req.method ?? 'GET', run) : await run();
      if (out === HANDLED) return;
      // How current this server's answer is (a standby answering from its replica), as Nomad's query meta: passed
      // with the reply's own headers rather than set before the handler, so node:http writes them in one go
      // (headers set earlier with setHeader send every writeHead down its slower, per-header path).
      const meta = leaderMeta?.();
      if (out instanceof JsonReply) {
        const headers = meta && out.headers ? { ...out.headers, ...meta } : (meta ?? out.headers);
        sendJson(res, out.status, filter ? filter(out.body) : out.body, out.index, headers);
      } else sendJson(res, 200, filter ? filter(out) : out, undefined, meta);
    };
    try {
      // Another region's request goes to a server of that region before anything here looks at it (Nomad's RPC
      // forwarding): its leader, ACLs and state answer it. `/v1/regions` is answered by every region alike.
      const region = query.get('region');
      // A client-only agent knows no regions: it passes the request to its server (forwardTo), which does.
      const otherRegion = region && opts.region !== undefined && region !== opts.region && pathname !== '/v1/regions';
      if (otherRegion && (opts.regions !== undefined || opts.forwardTo === undefined)) {
        const to = regionServer(opts, region, req.headers[REGION_FORWARDED_HEADER]);
        if (req.headers.upgrade !== undefined)
          throw new DroverError(
            'BadRequest',
            `a websocket (alloc exec) is not forwarded to region "${region}": send it to a server of that region`,
          );
        // Another region's servers name their own region: the CA and the address are checked, not our role name.
        const m = opts.peerTls?.toServers?.material;
        return await forwardRequest(req, res, to, 'region', m && { ...m, checkServerIdentity: undefined });
      }
      // A blocking query whose server stepped down under it (an HA server that lost its etcd lease) is asked
      // again of what this agent is now: a standby forwards it to the new leader or answers it from its replica.
      // Until its own wait runs out: an election under load may take longer than a few retries.
      const blocking = req.method === 'GET' && query.has('index');
      let until = 0;
      let tries = 0;
      for (;;) {
        try {
          return await answer();
        } catch (e) {
          const again = isDroverError(e, 'ServerStopped') || (until > 0 && isDroverError(e, 'NotLeader'));
          if (!blocking || !again || res.headersSent || res.destroyed) throw e;
          if (until === 0) until = Date.now() + blockingWaitMs(query);
          if (Date.now() >= until) throw e;
          // Backing off, with jitter: thousands of held queries retrying in step starved the new connections.
          await sleep(
            Math.min(STEPPED_DOWN_RETRY_MAX_MS, STEPPED_DOWN_RETRY_MS * 2 ** tries++) * (0.5 + Math.random()),
          );
        }
      }
    } catch (e) {
      if (!isDroverError(e))
        opts.logger.error('http handler failed', {
          method: req.method,
          path: pathname,
          error: String((e as Error)?.stack ?? e),
        });
      // An oversized body is still read to its end (and thrown away) rather than the connection closed, so
      // a client still sending reads our 413 instead of a broken pipe.
      if (isDroverError(e, 'BodyTooLarge')) req.resume();
      sendError(res, e, leaderMeta?.());
    }
  };
}

/** X-Nomad-KnownLeader / X-Nomad-LastContact as headers, from the agent's `leaderContact`. */
function leaderContactHeaders(contact: NonNullable<HttpApiOptions['leaderContact']>): () => Record<string, string> {
  return () => {
    const c = contact();
    return { 'X-Nomad-KnownLeader': String(c.knownLeader), 'X-Nomad-LastContact': String(c.lastContactMs) };
  };
}

/**
 * Nomad's `http_max_conns_per_client`: one address may hold at most `max` open connections (0: no limit).
 * Past it the new connection gets a 429 and is closed, so one client cannot take every socket and buffer.
 */
function limitConnsPerClient(server: Server, max: number): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const addr = socket.remoteAddress ?? '';
    const n = (open.get(addr) ?? 0) + 1;
    if (n > max) {
      const body = `too many connections from ${addr}: the limit is ${max} (limits.http_max_conns_per_client)`;
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      socket.destroySoon();
      return;
    }
    open.set(addr, n);
    socket.once('close', () => {
      const left = (open.get(addr) ?? 1) - 1;
      if (left <= 0) open.delete(addr);
      else open.set(addr, left);
    });
  });
}

/** How far apart a blocking query is asked again after its server stepped down (until its wait runs out). */
const STEPPED_DOWN_RETRY_MS = 250;
const STEPPED_DOWN_RETRY_MAX_MS = 2_000;

/** Pending connections the kernel may queue for accept (capped by net.core.somaxconn, 4096 on recent Linux). */
export const LISTEN_BACKLOG = 4096;

/** New connections handed to the HTTP parser per turn of the event loop (see admitInSlices). */
export const CONNECTIONS_PER_TURN = 64;

/**
 * Hands new connections to the HTTP server at most `perTurn` per turn of the event loop. Without it a burst of
 * thousands of connections (watchers opening blocking queries) is accepted, read and parsed in one poll phase:
 * on a loaded 2-core machine 10,000 took 3.7 s during which no timer ran, so the leader's etcd lease went
 * unrenewed and it stepped down. Each socket is accepted paused and resumed when its turn comes; timers and
 * I/O already under way run between slices. Below `perTurn` new connections per turn nothing waits.
 */
function admitInSlices(server: Server, perTurn: number): void {
  // The server's own listeners (node:http's parser set-up, or node:tls's handshake) run when a socket is admitted.
  const own = server.listeners('connection') as Array<(s: Socket) => void>;
  server.removeAllListeners('connection');
  (server as Server & { pauseOnConnect: boolean }).pauseOnConnect = true;
  let queue: Socket[] = [];
  let inTurn = 0;
  let turnEnds = false;
  const admit = (socket: Socket) => {
    inTurn++;
    // Refused meanwhile (http_max_conns_per_client) or gone: nothing to parse.
    if (socket.destroyed || socket.writableEnded) return;
    for (const l of own) l.call(server, socket);
    socket.resume();
  };
  const nextTurn = () => {
    inTurn = 0;
    turnEnds = false;
    const slice = queue.slice(0, perTurn);
    queue = queue.slice(slice.length);
    for (const s of slice) admit(s);
    if (inTurn > 0) endTurnSoon();
  };
  const endTurnSoon = () => {
    if (turnEnds) return;
    turnEnds = true;
    setImmediate(nextTurn);
  };
  server.on('connection', (socket: Socket) => {
    if (queue.length === 0 && inTurn < perTurn) admit(socket);
    else queue.push(socket);
    endTurnSoon();
  });
}

export interface HttpApi {
  server: Server;
  address: string;
  port: number;
  close(): Promise<void>;
  /** HTTPS only: new certificate files for new connections (SIGHUP). */
  setTls?(material: HttpTlsMaterial): void;
}

/** PEM text of the CA, the certificate and its key. */
export interface HttpTlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

export interface HttpTlsOptions {
  material: HttpTlsMaterial;
  /** Mutual TLS: refuse a connection without a client certificate signed by the CA. */
  requireClientCert: boolean;
}

/** Starts the API listener; resolves once it is accepting connections. */
export async function startHttpApi(
  opts: HttpApiOptions & { host: string; port: number; tls?: HttpTlsOptions },
): Promise<HttpApi> {
  const router = buildRouter(opts);
  const handler = handleRequest(router, opts);
  const headersTimeout = opts.limits?.httpHeaderTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    void handler(req, res);
  };
  const tls = opts.tls;
  // Node checks the header deadline on this interval (30 s by default): check often enough to honour it.
  const common = { keepAliveTimeout: 65_000, connectionsCheckingInterval: Math.min(1_000, headersTimeout) };
  const server: Server = tls
    ? createHttpsServer(
        { ...common, ...tls.material, requestCert: true, rejectUnauthorized: tls.requireClientCert },
        onRequest,
      )
    : createServer(common, onRequest);
  // Blocking queries may be held for minutes: no deadline on the whole request, only on its headers and body.
  server.requestTimeout = 0;
  server.headersTimeout = headersTimeout;
  admitInSlices(server, CONNECTIONS_PER_TURN);
  limitConnsPerClient(server, opts.limits?.httpMaxConnsPerClient ?? DEFAULT_MAX_CONNS_PER_CLIENT);
  // A websocket (alloc exec) goes through the same pipeline (region, ACL, errors) with a response bound to the
  // raw socket: a handler that upgrades detaches it; any other answer is written there and the socket closed.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    upgradeHeads.set(req, head);
    // Nomad's ws_handshake: the token is in the first frame, so the socket is upgraded before the pipeline runs.
    if (wantsWsHandshake(req)) {
      acceptWsHandshake(execWss, req, socket, head, (r, res) => void handler(r, res));
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => socket.end());
    void handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Node's default backlog (511) overflows when thousands of watchers connect at once: the kernel then answers
    // with SYN cookies and resets what it cannot accept. The kernel caps this at net.core.somaxconn.
    server.listen({ port: opts.port, host: opts.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    server,
    port: addr.port,
    address: `${tls ? 'https' : 'http'}://${opts.host}:${addr.port}`,
    ...(tls ? { setTls: (m: HttpTlsMaterial) => (server as HttpsServer).setSecureContext({ ...m }) } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
