/**
 * Forwarding one HTTP request through the live table.
 *
 *   match route --none--> 404
 *       |
 *   pick instance --none available--> 503 (first attempt) / 502 (after failed attempts)
 *       |
 *   send --connect failed (nothing sent)--------------------------> count failure, maybe eject; retry elsewhere
 *       |--reused socket reset before any response, GET/HEAD/OPTIONS--> retry elsewhere
 *       |--other failure before the response-------------------------> 502 (504 on timeout)
 *       |
 *   response headers --> stream body to the client; a failure now can only cut the connection
 *
 * A request keeps the route and instance it chose even if the table is swapped meanwhile; a drained instance
 * finishes what it has. A request body is piped only once the connection is established, so a refused connect
 * can be retried for any method.
 */
import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logging/index.js';
import { pickBackend, type Backend } from './backend.js';
import { forwardRequestHeaders, forwardResponseHeaders, type ClientFacts } from './headers.js';
import { sendErrorPage } from './pages.js';
import { stripPrefix } from './routes.js';
import type { LiveRoute, LiveTable } from './table.js';

/** How many instances a request whose connection was refused may try in all. */
const MAX_CONNECT_ATTEMPTS = 16;
export interface ProxySettings {
  maxAttempts: number;
  responseTimeoutMs: number;
  now: () => number;
  logger: Logger;
}

/** Holds the current table; the gateway replaces `table` on every catalog change. */
export interface TableHolder {
  table: LiveTable;
}

/** Methods that may be sent twice when a reused connection breaks before any response. */
export function isIdempotent(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/** What an attempt that failed without an answer knows of itself, on either request engine. */
export interface FailedAttempt {
  /** Idempotent, and nothing of its body was sent nor anything of an answer received. */
  safeToResend: boolean;
  /** It went over a pooled (kept-alive) connection. */
  reused: boolean;
  /** The connection was never made. */
  connectFailed: boolean;
  /** Nothing of the request reached the instance (a refused connection before any body). */
  notSent: boolean;
  /** The one resend of a stale pooled connection was already used. */
  staleRetried: boolean;
  /** Instances tried so far, this one included. */
  tried: number;
  maxAttempts: number;
}

/**
 * The retry policy both engines (node:http's and the fast path) follow after a failed attempt:
 * - `stale`: a request that broke on a pooled connection most likely met the instance closing it as it was
 *   taken (its idle timeout, with no Keep-Alive hint to expire it first): one resend over a new connection, to
 *   another instance or else to this one, as Go's Transport and nginx do. The limit below grows by one for it.
 * - `next`: another instance. A refused connection sent nothing and costs next to nothing, so it may move on to
 *   every other instance of the route (when a node dies, most of a route's instances can be dead before the
 *   catalog says so); a resend after a broken connection stays within maxAttempts.
 * - `fail`: the error page.
 */
export function afterFailedAttempt(f: FailedAttempt): 'stale' | 'next' | 'fail' {
  if (f.safeToResend && f.reused && !f.connectFailed && !f.staleRetried) return 'stale';
  const limit = (f.notSent ? Math.max(f.maxAttempts, MAX_CONNECT_ATTEMPTS) : f.maxAttempts) + (f.staleRetried ? 1 : 0);
  return (f.notSent || f.safeToResend) && f.tried < limit ? 'next' : 'fail';
}

/**
 * Response timeouts for every exchange of one gateway, on one shared timer. A per-request `setTimeout` on the
 * ClientRequest (arming the socket's idle timer and adding and removing its listeners on every request) was a
 * third of the Node plane's CPU per request. Every exchange waits the same time, so insertion order is deadline
 * order: a sweep stops at the first exchange still in time, and a timeout fires up to a quarter of it late.
 */
export class ResponseDeadlines {
  private readonly waiting = new Set<{ deadline: number; expire(): void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** Starts (or restarts, after a retry) the wait for `exchange`'s response. */
  arm(exchange: { deadline: number; expire(): void }): void {
    if (this.timeoutMs <= 0) return;
    this.waiting.delete(exchange);
    exchange.deadline = performance.now() + this.timeoutMs;
    this.waiting.add(exchange);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), Math.max(5, Math.min(1000, this.timeoutMs / 4)));
      this.timer.unref();
    }
  }

  disarm(exchange: { deadline: number; expire(): void }): void {
    this.waiting.delete(exchange);
  }

  private sweep(): void {
    const now = performance.now();
    for (const e of this.waiting) {
      if (e.deadline > now) break;
      this.waiting.delete(e);
      e.expire();
    }
    if (this.waiting.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** The request handler for the proxy listener. */
export function createProxyHandler(
  holder: TableHolder,
  settings: ProxySettings,
): (req: IncomingMessage, res: ServerResponse) => void {
  const deadlines = new ResponseDeadlines(settings.responseTimeoutMs);
  return (req, res) => {
    const url = req.url ?? '/';
    const route = holder.table.match(req.headers.host, url);
    if (route === undefined) {
      sendErrorPage(
        res,
        404,
        'no_route',
        undefined,
        `no route matches ${req.headers.host ?? ''}${url}; routes come from service tags such as urlprefix-/path`,
      );
      return;
    }
    if (route.guard !== undefined && !route.guard(req, res)) {
      route.metrics.requests++;
      route.metrics.response(res.statusCode, 0);
      return;
    }
    new Exchange(req, res, route, settings, deadlines).attempt();
  };
}

/** Replaces (or adds) one header in a flat name, value array. */
export function setHeader(headers: string[], name: string, value: string): void {
  const lower = name.toLowerCase();
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i]!.toLowerCase() === lower) headers.splice(i, 2);
  headers.push(name, value);
}

/** Why no instance can take a request on this route, for the 503 page. */
export function unavailableReason(route: LiveRoute, now: number): string {
  const n = route.backends.length;
  if (n === 0)
    return `no healthy instance for route ${route.name}: ${route.unhealthy} registered instance(s), none passing its checks`;
  const ejected = route.backends.filter((b) => b.ejectedUntil > now).length;
  const draining = route.backends.filter((b) => b.draining).length;
  return `no healthy instance for route ${route.name}: ${n} instance(s), ${ejected} ejected after connect failures, ${draining} draining`;
}

class Exchange {
  private readonly tried: Backend[] = [];
  private readonly facts: ClientFacts;
  private readonly headers: string[];
  private readonly path: string;
  private readonly startedAt = performance.now();
  private proxyReq: ClientRequest | undefined;
  private backend: Backend | undefined;
  private bodyStarted = false;
  private responded = false;
  private finished = false;
  private timedOut = false;
  /** The one resend after a pooled connection closed unanswered was used. */
  private staleRetried = false;
  private lastError = '';
  /** When the current attempt times out (performance.now() ms); kept by ResponseDeadlines. */
  deadline = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: LiveRoute,
    private readonly settings: ProxySettings,
    private readonly deadlines: ResponseDeadlines,
  ) {
    route.metrics.requests++;
    this.facts = {
      remoteAddress: req.socket.remoteAddress ?? '',
      upgrade: false,
      body: false,
      tls: (req.socket as { encrypted?: boolean }).encrypted === true,
    };
    this.headers = forwardRequestHeaders(req.rawHeaders, this.facts);
    const spec = route.spec;
    if (spec.upstreamHost !== undefined) setHeader(this.headers, 'host', spec.upstreamHost);
    const stripped = stripPrefix(req.url ?? '/', spec.strip);
    this.path = spec.addPrefix ? spec.addPrefix + stripped : stripped;
    res.once('close', this.onClientClose);
  }

  /**
   * Sends the request to an instance not tried yet. `stale`: this is the resend after `stale`'s pooled connection
   * closed unanswered: over a new connection (another instance's pooled ones may be as stale), to another
   * instance, or to `stale` again when there is none.
   */
  attempt(stale?: Backend): void {
    const now = this.settings.now();
    let b = this.route.split ? this.route.split.pick(now, this.tried) : pickBackend(this.route, now, this.tried);
    if (b === undefined && stale !== undefined && stale.available(now)) b = stale;
    const fresh = stale !== undefined;
    if (b === undefined) {
      this.fail();
      return;
    }
    this.tried.push(b);
    this.backend = b;
    b.acquire();
    const tls = this.route.spec.proto === 'https';
    const preq = (tls ? httpsRequest : request)({
      // fresh: a one-off connection, closed after the response (`agent: false`).
      agent: fresh ? false : tls ? b.tlsAgent(this.route.spec.tlsSkipVerify === true) : b.agent,
      ...(fresh && tls && this.route.spec.tlsSkipVerify === true ? { rejectUnauthorized: false } : {}),
      host: b.host,
      port: b.port,
      method: this.req.method,
      path: this.path,
      headers: this.headers,
      setHost: false,
    });
    this.proxyReq = preq;
    preq.once('response', (pres) => this.onResponse(preq, pres));
    preq.once('error', (err) => this.onError(preq, err));
    // The wait for a response starts once the request is sent: a long upload is not a silent instance.
    if (!this.facts.body) {
      preq.end();
      this.deadlines.arm(this);
    } else {
      preq.once('socket', (s: Socket) =>
        s.connecting ? s.once('connect', () => this.pipeBody(preq)) : this.pipeBody(preq),
      );
      preq.once('finish', () => {
        if (preq === this.proxyReq && !this.finished) this.deadlines.arm(this);
      });
    }
  }

  private pipeBody(preq: ClientRequest): void {
    if (preq !== this.proxyReq || this.finished) return;
    this.bodyStarted = true;
    this.req.pipe(preq);
  }

  private onResponse(preq: ClientRequest, pres: IncomingMessage): void {
    if (preq !== this.proxyReq || this.finished) {
      pres.resume();
      return;
    }
    this.responded = true;
    this.deadlines.disarm(this);
    this.backend!.succeeded();
    const status = pres.statusCode ?? 502;
    this.route.metrics.response(status, (performance.now() - this.startedAt) / 1000);
    const headers = forwardResponseHeaders(pres.rawHeaders);
    for (const [name, value] of this.route.spec.headers ?? []) setHeader(headers, name, value);
    this.res.writeHead(status, pres.statusMessage, headers);
    pres.pipe(this.res);
    pres.once('error', () => this.res.destroy());
    pres.once('aborted', () => this.res.destroy());
  }

  /** Called by ResponseDeadlines when the instance has not answered in time. */
  expire(): void {
    const preq = this.proxyReq;
    if (preq === undefined || this.responded || this.finished) return;
    this.timedOut = true;
    preq.destroy(new Error(`no response within ${this.settings.responseTimeoutMs} ms`));
  }

  private onError(preq: ClientRequest, err: NodeJS.ErrnoException): void {
    if (preq !== this.proxyReq || this.finished) return;
    this.deadlines.disarm(this);
    const b = this.backend!;
    this.release();
    if (this.responded) {
      // Headers are out: the only honest signal left is to cut the client's connection.
      this.route.metrics.error('upstream_reset');
      this.res.destroy();
      return;
    }
    this.lastError = `${b.host}:${b.port}: ${err.code ?? ''} ${err.message}`.trim();
    if (this.timedOut) {
      this.finish();
      this.route.metrics.error('upstream_timeout');
      sendErrorPage(
        this.res,
        504,
        'upstream_timeout',
        this.route.name,
        `instance ${b.instance.ID} at ${this.lastError}`,
      );
      return;
    }
    const connectFailed = err.syscall === 'connect';
    if (connectFailed && b.failed()) {
      this.route.metrics.ejections++;
      this.settings.logger.warn('instance ejected after consecutive connect failures', {
        route: this.route.name,
        instance: b.instance.ID,
        address: `${b.host}:${b.port}`,
        until: b.ejectedUntil,
      });
    }
    const notSent = connectFailed && !this.bodyStarted;
    // An idempotent request that got no answer may go to another instance, as nginx's `proxy_next_upstream
    // error` does: the instance may have died with it in flight (a reset or hang-up on a fresh socket as much as
    // on a reused one), which is what a killed container does to the requests it was serving.
    const next = afterFailedAttempt({
      safeToResend: isIdempotent(this.req.method) && !this.bodyStarted,
      reused: preq.reusedSocket,
      connectFailed,
      notSent,
      staleRetried: this.staleRetried,
      tried: this.tried.length,
      maxAttempts: this.settings.maxAttempts,
    });
    if (next !== 'fail') {
      this.route.metrics.retries++;
      if (next === 'stale') {
        this.staleRetried = true;
        this.attempt(b);
      } else this.attempt();
      return;
    }
    this.fail();
  }

  /** No attempt is left: 503 when nothing could be tried, 502 when every try failed. */
  private fail(): void {
    this.finish();
    if (this.tried.length === 0) {
      this.route.metrics.error('no_instance');
      this.route.metrics.response(503, (performance.now() - this.startedAt) / 1000);
      sendErrorPage(this.res, 503, 'no_instance', this.route.name, unavailableReason(this.route, this.settings.now()));
      return;
    }
    this.route.metrics.error('upstream_failed');
    this.route.metrics.response(502, (performance.now() - this.startedAt) / 1000);
    sendErrorPage(
      this.res,
      502,
      'upstream_failed',
      this.route.name,
      `all ${this.tried.length} attempt(s) failed; last: ${this.lastError}`,
    );
  }

  private finish(): void {
    this.finished = true;
    this.deadlines.disarm(this);
    this.proxyReq = undefined;
  }

  private readonly onClientClose = (): void => {
    if (!this.res.writableFinished && !this.finished) {
      this.route.metrics.error('client_abort');
      this.proxyReq?.destroy();
    }
    this.finished = true;
    this.deadlines.disarm(this);
    this.release();
  };

  private release(): void {
    if (this.backend !== undefined) {
      this.backend.release();
      this.backend = undefined;
    }
  }
}
