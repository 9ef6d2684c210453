/**
 * The Node plane's fast path: plain HTTP/1.1 requests without a body, proxied over raw sockets with a small
 * HTTP/1.1 framing layer, in front of the node:http server (whose server + client machinery costs 3-4x nginx's
 * whole proxy path; see bench/gateway/README.md).
 *
 *   client socket --head complete--> strict parse --smuggling signal--> 400, close
 *        |                               |--anything it does not serve--> node:http (the connection stays there)
 *        |                               v
 *        |                      route match, pick instance (retries and timeouts as proxy.ts)
 *        |                               v
 *        |      raw keep-alive socket from the instance's pool --response framed by Content-Length / chunked /
 *        |      close, or no body (HEAD, 1xx, 204, 304)--> bytes streamed to the client as they come
 *        +<--------- next request (pipelined ones wait in the buffer) ---------+
 *
 * Served here: GET/HEAD/DELETE/OPTIONS/POST/PUT/PATCH with no body (no Content-Length or `Content-Length: 0`,
 * no Transfer-Encoding), origin-form target, Host present, no Upgrade or Expect, on routes without a guard,
 * `proto=https` or response headers. Everything else falls back to node:http untouched, at a request boundary
 * (nothing in flight): the bytes read so far are unshifted and the socket handed to the server's own
 * connection listener. Request headers are rewritten by the same `forwardRequestHeaders` as the node:http path.
 */
import { connect, type Server } from 'node:net';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Backend } from './backend.js';
import { pickBackend, pooledIdleLimitMs } from './backend.js';
import { connectionTokens, forwardRequestHeaders, removeNamed, type ClientFacts } from './headers.js';
import type { ErrorReason } from './metrics.js';
import { errorPageText } from './pages.js';
import {
  afterFailedAttempt,
  isIdempotent,
  ResponseDeadlines,
  setHeader,
  unavailableReason,
  type ProxySettings,
  type TableHolder,
} from './proxy.js';
import { stripPrefix } from './routes.js';
import type { LiveRoute } from './table.js';

/** Where every instance connection's reads land (see Upstream); 64 KiB as libuv's default read size. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** Largest chunked trailer line, as node:http's default `maxHeaderSize`. */
export const MAX_HEAD = 16 * 1024;
/** Idle keep-alive connections close after this, as node:http's `keepAliveTimeout`. */
const KEEP_ALIVE_MS = 5000;
/** The longest request head a client connection keeps for reuse (see ClientConn.serveOne). */
const CACHED_HEAD_MAX = 4096;
/** What keep-alive responses say, as node:http's server does for its `keepAliveTimeout`. */
const KEEP_ALIVE_HEADERS = `Connection: keep-alive\r\nKeep-Alive: timeout=${KEEP_ALIVE_MS / 1000}\r\n`;
const SWEEP_MS = 1000;

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const HEAD_TOO_LARGE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';
const FAST_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([A-Z]+) ([\x21-\x7e]+) HTTP\/1\.1$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: (.*))?$/;
const CRLF2 = Buffer.from('\r\n\r\n');
const LF2 = Buffer.from('\n\n');

/** What the fast path needs from a request head. */
export interface RequestHead {
  method: string;
  target: string;
  host: string;
  /** name, value, name, value... as the client sent them (for forwardRequestHeaders). */
  raw: string[];
  /** The client asked to close after this exchange. */
  close: boolean;
}

/**
 * Parses a request head (without its final CRLFCRLF). Returns 'bad' for heads that must be refused (request
 * smuggling signals: bare CR or LF, obs-fold, invalid names, both Content-Length and Transfer-Encoding, a
 * duplicate or non-numeric Content-Length, a duplicate Host), 'fallback' for valid requests the fast path does
 * not serve, else the head.
 */
export function parseRequestHead(head: string): RequestHead | 'bad' | 'fallback' {
  const lines = splitLines(head);
  if (lines === undefined) return 'bad';
  const m = REQUEST_LINE.exec(lines[0]!);
  if (m === null) return 'fallback'; // HTTP/1.0, absolute-form, odd methods: node:http judges them
  const method = m[1]!;
  const target = m[2]!;
  const raw: string[] = [];
  let host: string | undefined;
  let contentLength: string | undefined;
  let te = false;
  let close = false;
  let fallback = !FAST_METHODS.has(method) || target.charCodeAt(0) !== 47;
  for (let i = 1; i < lines.length; i++) {
    const h = parseHeaderLine(lines[i]!);
    if (h === undefined) return 'bad';
    const [name, value] = h;
    raw.push(name, value);
    const len = name.length;
    if (len !== 4 && len !== 6 && len !== 7 && len !== 10 && len !== 14 && len !== 17) continue;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      if (host !== undefined) return 'bad';
      host = value;
    } else if (lower === 'content-length') {
      if (contentLength !== undefined || !/^\d+$/.test(value)) return 'bad';
      contentLength = value;
    } else if (lower === 'transfer-encoding') te = true;
    else if (lower === 'connection') {
      for (const t of value.split(',')) {
        const token = t.trim().toLowerCase();
        if (token === 'close') close = true;
        else if (token === 'upgrade') fallback = true;
      }
    } else if (lower === 'upgrade' || lower === 'expect') fallback = true;
  }
  if (te && contentLength !== undefined) return 'bad';
  if (te || (contentLength !== undefined && !/^0+$/.test(contentLength)) || host === undefined) return 'fallback';
  return fallback ? 'fallback' : { method, target, host, raw, close };
}

/** The lines of a head separated by CRLF; undefined when a bare CR or LF appears. */
function splitLines(head: string): string[] | undefined {
  const lines = head.split('\r\n');
  for (const l of lines) if (l.indexOf('\n') >= 0 || l.indexOf('\r') >= 0) return undefined;
  return lines;
}

/** One `name: value` line; undefined for obs-fold, an invalid name, whitespace before the colon, or CTLs. */
function parseHeaderLine(line: string): [string, string] | undefined {
  const colon = line.indexOf(':');
  if (colon <= 0) return undefined;
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) return undefined;
  let a = colon + 1;
  let b = line.length;
  while (a < b && (line.charCodeAt(a) === 32 || line.charCodeAt(a) === 9)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 32 || line.charCodeAt(b - 1) === 9)) b--;
  const value = line.slice(a, b);
  if (hasControl(value)) return undefined;
  return [name, value];
}

/** Whether `s` holds a control character other than HTAB, which no header value or reason phrase may. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}

let dateLine = '';
let dateUntil = 0;

/**
 * `Date: ...\r\n` for now, made at most once a second (as node:http's cached `utcDate()`): RFC 9110 6.6.1 wants
 * it from an origin with a clock, and the gateway adds it when the instance sent none, as node:http does.
 */
export function dateHeaderLine(): string {
  const now = Date.now();
  // A clock stepped back would otherwise keep the old line until it caught up again.
  if (now >= dateUntil || now < dateUntil - 1000) {
    dateLine = `Date: ${new Date(now).toUTCString()}\r\n`;
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateLine;
}

/** How a response body ends. */
type Framing = 'none' | 'length' | 'chunked' | 'close';

/** A parsed response head; shared by the exchanges that got the same head (Upstream.responseHead), so read-only. */
export interface ResponseHead {
  readonly status: number;
  /** The head to send to the client, with its final CRLFCRLF. */
  readonly text: string;
  readonly framing: Framing;
  readonly length: number;
  /** The instance connection cannot carry another request afterwards. */
  readonly close: boolean;
  /** From the instance's `Keep-Alive: timeout=N`: how long its connection may idle in the pool (pooledIdleLimitMs). */
  readonly idleLimitMs: number | undefined;
}

/**
 * Parses a response head (without its final CRLFCRLF) with the same strictness as requests; undefined when it is
 * invalid. Connection and Keep-Alive are dropped (they concern the instance connection), as forwardResponseHeaders,
 * and the head sent to the client ends as node:http's server would end it: a Date when the instance sent none,
 * then `Connection: close`, or `Connection: keep-alive` with the gateway's `Keep-Alive: timeout=5`.
 */
export function parseResponseHead(head: string, method: string, closeClient: boolean): ResponseHead | undefined {
  const lines = splitLines(head);
  if (lines === undefined) return undefined;
  const m = STATUS_LINE.exec(lines[0]!);
  if (m === null || (m[3] !== undefined && hasControl(m[3]))) return undefined;
  const status = Number(m[2]);
  let close = m[1] === '0';
  let length: string | undefined;
  let te: string | undefined;
  let text = `HTTP/1.1 ${m[2]} ${m[3] ?? ''}\r\n`;
  let extraHop: Set<string> | undefined;
  let kept: string[] | undefined;
  let date = false;
  let idleLimitMs: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const h = parseHeaderLine(lines[i]!);
    if (h === undefined) return undefined;
    const [name, value] = h;
    const len = name.length;
    if (len === 10 || len === 14 || len === 17) {
      const lower = name.toLowerCase();
      if (lower === 'connection') {
        extraHop = connectionTokens(value, extraHop);
        if (/(^|,)\s*close\s*(,|$)/i.test(value)) close = true;
        else if (m[1] === '0' && /(^|,)\s*keep-alive\s*(,|$)/i.test(value)) close = false;
        continue;
      }
      if (lower === 'keep-alive') {
        idleLimitMs = pooledIdleLimitMs(value);
        continue;
      }
      if (lower === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== value)) return undefined;
        if (length !== undefined) continue;
        length = value;
      } else if (lower === 'transfer-encoding') {
        if (te !== undefined) return undefined;
        te = value;
      }
    }
    (kept ??= []).push(name, value);
  }
  if (kept !== undefined) {
    if (extraHop !== undefined) removeNamed(kept, extraHop);
    for (let i = 0; i < kept.length; i += 2) {
      const name = kept[i]!;
      // The instance's Date, unless its Connection header named it (then it is dropped and the gateway adds one).
      if (name.length === 4) date ||= name.toLowerCase() === 'date';
      text += `${name}: ${kept[i + 1]}\r\n`;
    }
  }
  if (te !== undefined && (length !== undefined || te.toLowerCase() !== 'chunked')) return undefined;
  let framing: Framing;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) framing = 'none';
  else if (te !== undefined) framing = 'chunked';
  else if (length !== undefined) framing = 'length';
  else framing = 'close';
  if (framing === 'close') close = true;
  if (!date) text += dateHeaderLine();
  text += closeClient || framing === 'close' ? 'Connection: close\r\n' : KEEP_ALIVE_HEADERS;
  return {
    status,
    text: text + '\r\n',
    framing,
    length: length === undefined ? 0 : Number(length),
    close,
    idleLimitMs,
  };
}

/**
 * Follows chunked framing byte by byte (the data itself is skipped, not read), so the end of a response whose
 * bytes are passed through unchanged is known. As strict as llhttp: the size (leading zeros allowed, at most
 * 2^53-1), optional whitespace, then only `;` extensions of token characters (values: tokens or quoted strings);
 * trailers are passed through but each must be a valid header line.
 */
export class ChunkedReader {
  // 0 size, 10 whitespace after the size, 1 extension, 11 quoted string, 12 quoted-pair, 2 size LF, 3 data,
  // 4 data CR, 5 data LF, 6 trailer line start, 7 trailer, 8 trailer LF, 9 end LF
  private state = 0;
  private size = 0;
  private digits = 0;
  private trailer = '';
  done = false;

  /**
   * Consumes `buf` from `start`; returns the index just after the last byte of the body, -1 when all of `buf`
   * belongs to the body, or -2 on a framing error.
   */
  feed(buf: Buffer, start: number): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      const c = buf[i]!;
      switch (this.state) {
        case 0: {
          const v = hexValue(c);
          if (v >= 0) {
            this.digits++;
            if (this.size > (Number.MAX_SAFE_INTEGER - v) / 16) return -2;
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) return -2;
          else if (c === 13) this.state = 2;
          else if (c === 59) this.state = 1;
          else if (c === 32 || c === 9) this.state = 10;
          else return -2;
          i++;
          break;
        }
        case 10:
          if (c === 13) this.state = 2;
          else if (c === 59) this.state = 1;
          else if (c !== 32 && c !== 9) return -2;
          i++;
          break;
        case 1:
          if (c === 13) this.state = 2;
          else if (c === 34) this.state = 11;
          else if (!(isTokenChar(c) || c === 59 || c === 61 || c === 32 || c === 9)) return -2;
          i++;
          break;
        case 11:
          if (c === 34) this.state = 1;
          else if (c === 92) this.state = 12;
          else if ((c < 32 && c !== 9) || c === 127) return -2;
          i++;
          break;
        case 12:
          if ((c < 32 && c !== 9) || c === 127) return -2;
          this.state = 11;
          i++;
          break;
        case 2:
          if (c !== 10) return -2;
          i++;
          this.state = this.size === 0 ? 6 : 3;
          break;
        case 3: {
          const take = Math.min(this.size, n - i);
          this.size -= take;
          i += take;
          if (this.size === 0) this.state = 4;
          break;
        }
        case 4:
          if (c !== 13) return -2;
          i++;
          this.state = 5;
          break;
        case 5:
          if (c !== 10) return -2;
          i++;
          this.state = 0;
          this.digits = 0;
          break;
        case 6:
          if (c === 13) {
            this.state = 9;
            i++;
            break;
          }
          this.state = 7;
          break;
        case 7: {
          let e = i;
          while (e < n && buf[e] !== 13 && buf[e] !== 10) e++;
          this.trailer += buf.toString('latin1', i, e);
          if (this.trailer.length > MAX_HEAD) return -2;
          i = e;
          if (i < n) {
            if (buf[i] === 10 || parseHeaderLine(this.trailer) === undefined) return -2;
            this.trailer = '';
            this.state = 8;
            i++;
          }
          break;
        }
        case 8:
          if (c !== 10) return -2;
          i++;
          this.state = 6;
          break;
        case 9:
          if (c !== 10) return -2;
          this.done = true;
          return i + 1;
      }
    }
    return -1;
  }
}

/** Whether byte `c` is a token character (RFC 9110 tchar). */
function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN_CHARS[c] === 1;
}

const TOKEN_CHARS = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TOKEN_CHARS[ch.charCodeAt(0)] = 1;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** An instance connection, in an exchange or idle in its backend's pool. */
class Upstream {
  owner: FastExchange | undefined;
  /** Connected and used before: a failure on it may be a stale keep-alive close. */
  reused = false;
  /** While pooled: past this (settings.now() ms) it is closed rather than reused, from the instance's hint. */
  private usableUntil = Infinity;
  private dead = false;

  readonly sock: Socket;

  /**
   * Connects to `backend`. Reads land in the one shared READ_BUFFER (`onread`): no buffer and no stream event per
   * read; onUpstreamData consumes each read before returning, copying what it keeps or queues.
   */
  constructor(readonly backend: Backend) {
    const sock = connect({
      host: backend.host,
      port: backend.port,
      onread: { buffer: READ_BUFFER, callback: (n: number) => this.onRead(n) },
    });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('error', (err: NodeJS.ErrnoException) => this.onGone(err));
    sock.on('close', () => this.onGone(undefined));
    sock.on('end', () => this.onGone(undefined));
  }

  /** Returns true: reading goes on unless the exchange paused the socket (backpressure from the client). */
  private onRead(n: number): boolean {
    if (this.owner !== undefined) this.owner.onUpstreamData(READ_BUFFER.subarray(0, n));
    else this.destroy(); // bytes nobody asked for: the connection is out of step
    return true;
  }

  private onGone(err: NodeJS.ErrnoException | undefined): void {
    if (this.dead) return;
    this.dead = true;
    const owner = this.owner;
    this.owner = undefined;
    if (owner !== undefined) owner.onUpstreamGone(this, err);
    else removeIdle(this.backend, this);
    this.sock.destroy();
  }

  /**
   * Back to the pool (or closed when the pool is full, the backend gone, or the instance's Keep-Alive hint
   * allows no idle time). `idleLimitMs`: from the last response's hint, undefined for none.
   */
  park(idleLimitMs: number | undefined, now: number): void {
    this.owner = undefined;
    this.reused = true;
    const idle = this.backend.fastIdle as Upstream[];
    if (this.dead || this.backend.closed || idle.length >= this.backend.maxIdle || idleLimitMs === 0) this.destroy();
    else {
      this.usableUntil = idleLimitMs === undefined ? Infinity : now + idleLimitMs;
      idle.push(this);
    }
  }

  /** The last response head read here, its parse, and the gateway's Date line then (see responseHead). */
  private lastHead = '';
  private lastKey = 0;
  private lastDate = '';
  private lastRes: ResponseHead | undefined;

  /**
   * parseResponseHead, remembered: an instance tends to send the same head again and again (its Date changes once
   * a second), so a repeat within the same second (the gateway's Date line too) reuses the previous parse.
   */
  responseHead(head: string, method: string, closeClient: boolean): ResponseHead | undefined {
    const key = (method === 'HEAD' ? 1 : 0) | (closeClient ? 2 : 0);
    const date = dateHeaderLine();
    if (this.lastRes !== undefined && head === this.lastHead && key === this.lastKey && date === this.lastDate)
      return this.lastRes;
    const res = parseResponseHead(head, method, closeClient);
    this.lastHead = head;
    this.lastKey = key;
    this.lastDate = date;
    this.lastRes = res;
    return res;
  }

  /** Whether it may carry a request at `now`: not closed, and not idle for longer than the instance allows. */
  usableAt(now: number): boolean {
    return !this.dead && now < this.usableUntil;
  }

  /** Pooled with an idle limit from the instance's hint. */
  get expires(): boolean {
    return this.usableUntil !== Infinity;
  }

  destroy(): void {
    this.owner = undefined;
    if (!this.dead) {
      this.dead = true;
      removeIdle(this.backend, this);
    }
    this.sock.destroy();
  }

  close(): void {
    this.destroy();
  }
}

/**
 * Closes `b`'s pooled connections idle past their instance's hint, wherever they are in the pool (takeUpstream
 * only sees the top). Returns whether any left still has such a limit, i.e. whether `b` needs another look.
 */
function pruneIdle(b: Backend, now: number): boolean {
  const idle = b.fastIdle as Upstream[];
  let expiring = false;
  for (let i = idle.length - 1; i >= 0; i--) {
    const u = idle[i]!;
    if (!u.usableAt(now)) u.destroy();
    else expiring ||= u.expires;
  }
  return expiring && !b.closed;
}

function removeIdle(b: Backend, u: Upstream): void {
  const idle = b.fastIdle;
  const i = idle.lastIndexOf(u);
  if (i >= 0) idle.splice(i, 1);
}

/**
 * The most recently parked connection to `b` still usable at `now` (those idle too long are closed on the way;
 * older ones below it are closed by the sweep, pruneIdle), else a new one.
 * `fresh`: always a new connection.
 */
function takeUpstream(b: Backend, now: number, fresh: boolean): Upstream {
  const idle = b.fastIdle as Upstream[];
  while (!fresh && idle.length > 0) {
    const u = idle.pop()!;
    if (u.usableAt(now)) return u;
    u.destroy();
  }
  return new Upstream(b);
}

/** The fast path's side of the gateway: its client connections, for the idle sweep and for close. */
export interface FastPath {
  /** Stops taking requests: idle connections close now, busy ones after their response, all after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

export interface FastPathOptions {
  holder: TableHolder;
  settings: ProxySettings;
  /** Request targets the fast path leaves to node:http (the admin prefix, ACME challenges). */
  reserved(target: string): boolean;
  /**
   * A request head not complete this many ms after its first byte is refused (408), as node:http's
   * `headersTimeout` (an absolute deadline, not an idle timer: a client trickling bytes does not extend it). 0: none.
   */
  headersTimeoutMs: number;
  /**
   * Largest request or response head, in bytes, as node:http's `maxHeaderSize` (the server's option, else
   * `http.maxHeaderSize`). Buffered pipelined bytes beyond 4 times this are not read until the response is done.
   */
  maxHeaderSize: number;
}

/**
 * Takes over `server`'s connection handling: connections start on the fast path and move to the server's own
 * connection listener (node:http) when a request needs it.
 */
export function installFastPath(server: Server, opts: FastPathOptions): FastPath {
  const listeners = server.listeners('connection') as ((s: Socket) => void)[];
  const httpListener = listeners[0]!;
  server.removeListener('connection', httpListener);
  const conns = new Set<ClientConn>();
  const deadlines = new ResponseDeadlines(opts.settings.responseTimeoutMs);
  let closing = false;
  const ctx: FastContext = {
    opts,
    deadlines,
    conns,
    fallback: (socket) => httpListener.call(server, socket),
    closing: () => closing,
    expiring: new Set(),
  };
  server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    conns.add(new ClientConn(socket, ctx));
  });
  const every = opts.headersTimeoutMs > 0 ? Math.min(SWEEP_MS, Math.max(10, opts.headersTimeoutMs / 4)) : SWEEP_MS;
  let pruneAt = 0;
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const c of conns) c.tick(every, now);
    if (now >= pruneAt && ctx.expiring.size > 0) {
      pruneAt = now + SWEEP_MS;
      const at = opts.settings.now();
      for (const b of ctx.expiring) if (!pruneIdle(b, at)) ctx.expiring.delete(b);
    }
  }, every);
  sweep.unref();
  return {
    close(graceMs) {
      closing = true;
      clearInterval(sweep);
      for (const c of conns) c.shutdown();
      if (conns.size === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          for (const c of conns) c.socket.destroy();
        }, graceMs);
        ctx.onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}

interface FastContext {
  opts: FastPathOptions;
  deadlines: ResponseDeadlines;
  conns: Set<ClientConn>;
  fallback(socket: Socket): void;
  closing(): boolean;
  onEmpty?: () => void;
  /** Instances with pooled connections that expire (an idle limit from a Keep-Alive hint), for the sweep. */
  expiring: Set<Backend>;
}

class ClientConn {
  /**
   * Bytes received and not yet served are store[start, end). The store grows by doubling, so a head trickling in
   * byte by byte costs linear time; when nothing is pending, a received chunk is held as is (no copy).
   */
  private store: Buffer | undefined;
  private start = 0;
  private end = 0;
  private owned = false;
  /** store[.., scanned) was searched for the head's end. */
  private scanned = 0;
  /** When the first byte of the request head being waited for arrived. */
  private headSince: number | undefined;
  exchange: FastExchange | undefined;
  /** Close once the current exchange is done. */
  closeAfter = false;
  private active = true;
  private idleMs = 0;
  private gone = false;
  readonly remoteAddress: string;

  constructor(
    readonly socket: Socket,
    private readonly ctx: FastContext,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private readonly onData = (d: Buffer): void => {
    this.active = true;
    this.append(d);
    if (this.exchange === undefined) this.next();
    else if (this.end - this.start > 4 * this.ctx.opts.maxHeaderSize) this.socket.pause();
  };

  private append(d: Buffer): void {
    const pending = this.end - this.start;
    if (this.store === undefined || pending === 0) {
      this.store = d;
      this.start = 0;
      this.end = d.length;
      this.owned = false;
      this.scanned = 0;
      if (this.exchange === undefined) this.headSince = performance.now();
      return;
    }
    if (!this.owned || this.end + d.length > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * (pending + d.length), 4096));
      this.store.copy(grown, 0, this.start, this.end);
      this.scanned = Math.max(0, this.scanned - this.start);
      this.store = grown;
      this.start = 0;
      this.end = pending;
      this.owned = true;
    }
    d.copy(this.store, this.end);
    this.end += d.length;
  }

  private clear(): void {
    this.store = undefined;
    this.start = this.end = this.scanned = 0;
    this.headSince = undefined;
  }

  /** The client half-closed: as node:http (without httpAllowHalfOpen), a request in flight is abandoned. */
  private readonly onEnd = (): void => {
    if (this.exchange === undefined) this.socket.end();
    else this.socket.destroy();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    if (this.gone) return;
    this.gone = true;
    this.exchange?.onClientGone();
    this.exchange = undefined;
    this.forget();
  };

  private forget(): void {
    this.ctx.conns.delete(this);
    if (this.ctx.conns.size === 0) this.ctx.onEmpty?.();
  }

  /**
   * Serves buffered requests while whole heads are there. Iterative: an exchange answered synchronously (a 503
   * with no instance) calls done() from inside, and a long pipeline of those must not grow the stack.
   */
  next(): void {
    if (this.serving) {
      this.again = true;
      return;
    }
    this.serving = true;
    do {
      this.again = false;
      this.serveOne();
    } while (this.again && this.exchange === undefined && !this.gone);
    this.serving = false;
  }

  private serving = false;
  private again = false;

  private serveOne(): void {
    if (this.closeAfter) {
      this.socket.end();
      return;
    }
    if (this.start === this.end) return;
    if (this.socket.writableNeedDrain) {
      // The client is not reading its responses: serve no more (and read no more) until it does, or a client
      // pipelining requests it never reads would have their answers pile up in memory.
      this.waitDrain();
      return;
    }
    const buf = this.store!.subarray(0, this.end);
    const limit = this.ctx.opts.maxHeaderSize;
    // Only the bytes not searched yet (and the 3 before them, where a CRLFCRLF may start).
    const from = Math.max(this.start, this.scanned - 3);
    const end = buf.indexOf(CRLF2, from);
    // A head ending in bare LFs is refused now (it would never see its CRLFCRLF, or be misread behind it).
    if (buf.subarray(0, end < 0 ? this.end : end).indexOf(LF2, from) >= 0) {
      this.refuse(BAD_REQUEST);
      return;
    }
    if (end < 0) {
      this.scanned = this.end;
      this.headSince ??= performance.now();
      if (this.end - this.start > limit) this.refuse(HEAD_TOO_LARGE);
      return;
    }
    if (end + 4 - this.start > limit) {
      this.refuse(HEAD_TOO_LARGE);
      return;
    }
    const text = buf.toString('latin1', this.start, end);
    const table = this.ctx.opts.holder.table;
    // A keep-alive client usually repeats its head (same target, same headers): the same bytes under the same
    // table give the same plan, so parsing, matching and rewriting are done once for the run of them.
    let plan = text === this.lastHead && table.generation === this.lastGeneration ? this.lastPlan : undefined;
    if (plan === undefined) {
      const head = parseRequestHead(text);
      if (head === 'bad') {
        this.refuse(BAD_REQUEST);
        return;
      }
      const route = head === 'fallback' ? undefined : this.servable(head);
      if (head === 'fallback' || route === undefined) {
        this.fallBack();
        return;
      }
      plan = requestPlan(head, route, this.remoteAddress);
      // Small heads only: an idle keep-alive connection should not pin two copies of a 16 KiB head.
      if (text.length <= CACHED_HEAD_MAX) {
        this.lastHead = text;
        this.lastGeneration = table.generation;
        this.lastPlan = plan;
      } else this.forgetPlan();
    }
    this.headSince = undefined;
    this.start = end + 4;
    this.scanned = this.start;
    if (this.start === this.end) this.clear();
    if (plan.close) this.closeAfter = true;
    this.exchange = new FastExchange(this, plan, this.ctx);
    this.exchange.attempt();
  }

  /** The last head served here, the generation of the table it was matched in, and its plan (see serveOne). */
  private lastHead = '';
  private lastGeneration = 0;
  private lastPlan: RequestPlan | undefined;

  private forgetPlan(): void {
    this.lastHead = '';
    this.lastGeneration = 0;
    this.lastPlan = undefined;
  }

  /** The route for `head` when the fast path can serve it. */
  private servable(head: RequestHead): LiveRoute | undefined {
    if (this.ctx.opts.reserved(head.target)) return undefined;
    const route = this.ctx.opts.holder.table.match(head.host, head.target);
    if (route === undefined || route.guard !== undefined || route.spec.proto === 'https') return undefined;
    if (route.spec.headers !== undefined && route.spec.headers.length > 0) return undefined;
    return route;
  }

  /** Hands the connection, with what it has sent so far, to node:http for good. */
  private fallBack(): void {
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('error', this.onError);
    s.removeListener('close', this.onClose);
    this.gone = true;
    this.forget();
    if (this.start < this.end) s.unshift(this.store!.subarray(this.start, this.end));
    this.clear();
    this.ctx.fallback(s);
  }

  private refuse(text: string): void {
    this.clear();
    this.socket.removeListener('data', this.onData);
    this.socket.end(text);
  }

  private draining = false;

  private waitDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.socket.pause();
    this.socket.once('drain', () => {
      this.draining = false;
      this.active = true;
      this.socket.resume();
      if (this.exchange === undefined) this.next();
    });
  }

  /** The exchange is done and the response fully written (or queued). */
  done(): void {
    this.exchange = undefined;
    if (this.socket.isPaused() && !this.draining) this.socket.resume();
    this.next();
  }

  /**
   * Writes a gateway error page for the current exchange. A HEAD answer keeps the Content-Length a GET would
   * get but has no body (RFC 9110 9.3.2): the client reads none, and body bytes would be taken as the next response.
   */
  sendError(status: number, reason: ErrorReason, route: string, detail: string, method: string): void {
    const { head, body } = errorPageText(status, reason, route, detail);
    let text = `HTTP/1.1 ${status} ${head.title}\r\n`;
    for (const [k, v] of Object.entries(head.headers)) text += `${k}: ${v}\r\n`;
    text += dateHeaderLine();
    text += this.closeAfter ? 'Connection: close\r\n' : KEEP_ALIVE_HEADERS;
    this.socket.write(method === 'HEAD' ? text + '\r\n' : text + '\r\n' + body);
  }

  /** Called by the sweep every `everyMs`. */
  tick(everyMs: number, now: number): void {
    if (this.exchange !== undefined) {
      this.active = false;
      this.idleMs = 0;
      return;
    }
    const limit = this.ctx.opts.headersTimeoutMs;
    if (this.headSince !== undefined && this.start < this.end) {
      if (limit > 0 && now - this.headSince >= limit) this.refuse(REQUEST_TIMEOUT);
      return;
    }
    if (this.active) {
      this.active = false;
      this.idleMs = 0;
      return;
    }
    // Idle for a whole sweep: the cached plan (and the route it holds) is let go; a busy connection keeps it.
    if (this.idleMs === 0) this.forgetPlan();
    this.idleMs += everyMs;
    if (this.start === this.end && this.idleMs >= KEEP_ALIVE_MS) this.socket.destroy();
  }

  shutdown(): void {
    if (this.exchange === undefined) this.socket.destroy();
    else this.closeAfter = true;
  }
}

/** A request head as served: its route and the head sent to the instance. Shared by repeats of the same head. */
interface RequestPlan {
  readonly method: string;
  readonly close: boolean;
  readonly route: LiveRoute;
  /** The head for the instance, with its final CRLFCRLF. */
  readonly text: string;
}

/** Rewrites a request head for the instance: forwarded headers, upstream Host, strip / add-prefix. */
function requestPlan(head: RequestHead, route: LiveRoute, remoteAddress: string): RequestPlan {
  const facts: ClientFacts = { remoteAddress, upgrade: false, body: false, tls: false };
  const headers = forwardRequestHeaders(head.raw, facts);
  const spec = route.spec;
  if (spec.upstreamHost !== undefined) setHeader(headers, 'host', spec.upstreamHost);
  const stripped = stripPrefix(head.target, spec.strip);
  const path = spec.addPrefix ? spec.addPrefix + stripped : stripped;
  let text = `${head.method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return { method: head.method, close: head.close, route, text: text + '\r\n' };
}

class FastExchange {
  private readonly tried: Backend[] = [];
  private readonly startedAt = performance.now();
  private readonly headText: string;
  private readonly method: string;
  private readonly route: LiveRoute;
  private backend: Backend | undefined;
  private up: Upstream | undefined;
  private rbuf: Buffer | undefined;
  private res: ResponseHead | undefined;
  private remaining = 0;
  private chunked: ChunkedReader | undefined;
  private gotBytes = false;
  private finished = false;
  private timedOut = false;
  /** The one resend after a pooled connection closed unanswered was used. */
  private staleRetried = false;
  private lastError = '';
  deadline = 0;

  constructor(
    private readonly client: ClientConn,
    plan: RequestPlan,
    private readonly ctx: FastContext,
  ) {
    this.route = plan.route;
    this.route.metrics.requests++;
    this.method = plan.method;
    this.headText = plan.text;
  }

  /**
   * Sends the request to an instance not tried yet. `stale`: this is the resend after `stale`'s pooled connection
   * closed unanswered: over a new connection (another instance's pooled ones may be as stale), to another
   * instance, or to `stale` again when there is none.
   */
  attempt(stale?: Backend): void {
    const settings = this.ctx.opts.settings;
    const now = settings.now();
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
    const up = takeUpstream(b, now, fresh);
    up.owner = this;
    this.up = up;
    up.sock.write(this.headText, 'latin1');
    this.ctx.deadlines.arm(this);
  }

  onUpstreamData(d: Buffer): void {
    if (this.finished) return;
    this.gotBytes = true;
    if (this.res === undefined) {
      const buf = this.rbuf === undefined ? d : Buffer.concat([this.rbuf, d]);
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        if (buf.length > this.ctx.opts.maxHeaderSize) this.badResponse('response head too large');
        else this.rbuf = this.rbuf === undefined ? Buffer.from(buf) : buf; // d is READ_BUFFER: copied
        return;
      }
      this.rbuf = undefined;
      const res = this.up!.responseHead(buf.toString('latin1', 0, end), this.method, this.client.closeAfter);
      if (res === undefined) {
        this.badResponse('invalid response head');
        return;
      }
      if (res.status < 200) {
        // Interim responses (100, 103) are not passed on; 101 was not asked for.
        if (res.status === 101) this.badResponse('unexpected 101');
        else if (end + 4 < buf.length) this.onUpstreamData(buf.subarray(end + 4));
        return;
      }
      this.res = res;
      this.ctx.deadlines.disarm(this);
      this.backend!.succeeded();
      this.route.metrics.response(res.status, (performance.now() - this.startedAt) / 1000);
      if (res.framing === 'close') this.client.closeAfter = true;
      this.remaining = res.length;
      if (res.framing === 'chunked') this.chunked = new ChunkedReader();
      const sock = this.client.socket;
      sock.cork();
      sock.write(res.text, 'latin1');
      const start = end + 4;
      // Head and the body bytes of this chunk leave in one writev.
      if (res.framing === 'none' || (res.framing === 'length' && res.length === 0)) {
        sock.uncork();
        this.complete(start < buf.length);
        return;
      }
      this.body(buf, start);
      sock.uncork();
      return;
    }
    this.body(d, 0);
  }

  private body(d: Buffer, start: number): void {
    const res = this.res!;
    let end: number;
    if (res.framing === 'length') {
      const avail = d.length - start;
      if (avail <= this.remaining) {
        this.remaining -= avail;
        end = this.remaining === 0 ? d.length : -1;
      } else {
        end = start + this.remaining;
        this.remaining = 0;
      }
    } else if (res.framing === 'chunked') {
      end = this.chunked!.feed(d, start);
      if (end === -2) {
        this.route.metrics.error('upstream_reset');
        this.abort();
        return;
      }
    } else end = -1;
    const part = end < 0 ? (start === 0 ? d : d.subarray(start)) : d.subarray(start, end);
    // A copy: part is in READ_BUFFER, which the next read reuses, and the socket may queue what it is given.
    const ok = part.length === 0 || this.client.socket.write(Buffer.from(part));
    if (end >= 0) {
      this.complete(end < d.length);
      return;
    }
    if (!ok) {
      const up = this.up!;
      up.sock.pause();
      this.client.socket.once('drain', () => up.sock.resume());
    }
  }

  /** The whole response is through; `extra`: the instance sent more than the response. */
  private complete(extra: boolean): void {
    const up = this.up!;
    const res = this.res!;
    this.finish();
    if (!extra && !res.close) {
      up.park(res.idleLimitMs, this.ctx.opts.settings.now());
      if (res.idleLimitMs) this.ctx.expiring.add(up.backend);
    } else up.destroy();
    this.client.done();
  }

  onUpstreamGone(up: Upstream, err: NodeJS.ErrnoException | undefined): void {
    if (up !== this.up || this.finished) return;
    this.ctx.deadlines.disarm(this);
    const b = this.backend!;
    this.release();
    this.up = undefined;
    if (this.res !== undefined) {
      if (this.res.framing === 'close' && err === undefined) {
        this.finish();
        this.client.done();
        return;
      }
      // Cut mid-body. A close-delimited body cut by an error must not end with a FIN either, which would tell
      // the client it has all of it: reset the connection.
      this.route.metrics.error('upstream_reset');
      this.finish();
      this.client.socket.resetAndDestroy();
      return;
    }
    const what = err === undefined ? 'connection closed before a response' : `${err.code ?? ''} ${err.message}`.trim();
    this.lastError = `${b.host}:${b.port}: ${what}`;
    if (this.timedOut) {
      this.finish();
      this.route.metrics.error('upstream_timeout');
      this.client.sendError(
        504,
        'upstream_timeout',
        this.route.name,
        `instance ${b.instance.ID} at ${this.lastError}`,
        this.method,
      );
      this.client.done();
      return;
    }
    const connectFailed = err?.syscall === 'connect';
    if (connectFailed && b.failed()) {
      this.route.metrics.ejections++;
      this.ctx.opts.settings.logger.warn('instance ejected after consecutive connect failures', {
        route: this.route.name,
        instance: b.instance.ID,
        address: `${b.host}:${b.port}`,
        until: b.ejectedUntil,
      });
    }
    const next = afterFailedAttempt({
      safeToResend: isIdempotent(this.method) && !this.gotBytes,
      reused: up.reused,
      connectFailed,
      // The fast path sends no request body, so a refused connection sent nothing.
      notSent: connectFailed,
      staleRetried: this.staleRetried,
      tried: this.tried.length,
      maxAttempts: this.ctx.opts.settings.maxAttempts,
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

  private badResponse(why: string): void {
    const b = this.backend!;
    this.lastError = `${b.host}:${b.port}: ${why}`;
    this.ctx.deadlines.disarm(this);
    this.up?.destroy();
    this.up = undefined;
    this.release();
    this.fail();
  }

  /** Called by ResponseDeadlines when the instance has not answered in time. */
  expire(): void {
    if (this.res !== undefined || this.finished || this.up === undefined) return;
    this.timedOut = true;
    const up = this.up;
    this.onUpstreamGone(up, new Error(`no response within ${this.ctx.opts.settings.responseTimeoutMs} ms`));
    up.destroy();
  }

  private fail(): void {
    this.finish();
    const metrics = this.route.metrics;
    const seconds = (performance.now() - this.startedAt) / 1000;
    if (this.tried.length === 0) {
      metrics.error('no_instance');
      metrics.response(503, seconds);
      const why = unavailableReason(this.route, this.ctx.opts.settings.now());
      this.client.sendError(503, 'no_instance', this.route.name, why, this.method);
    } else {
      metrics.error('upstream_failed');
      metrics.response(502, seconds);
      const detail = `all ${this.tried.length} attempt(s) failed; last: ${this.lastError}`;
      this.client.sendError(502, 'upstream_failed', this.route.name, detail, this.method);
    }
    this.client.done();
  }

  /** Cuts both sides: the response cannot be completed. */
  private abort(): void {
    this.up?.destroy();
    this.finish();
    this.client.socket.destroy();
  }

  onClientGone(): void {
    if (this.finished) return;
    this.route.metrics.error('client_abort');
    this.up?.destroy();
    this.finish();
  }

  private finish(): void {
    this.finished = true;
    this.ctx.deadlines.disarm(this);
    this.release();
  }

  private release(): void {
    if (this.backend !== undefined) {
      this.backend.release();
      this.backend = undefined;
    }
  }
}
