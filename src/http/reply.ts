/** Helpers for answering requests: JSON with Nomad's index headers, and errors mapped from codes. */
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import { DroverError, ErrorCodes, formatProblem, isDroverError } from '../errors/index.js';

/** A handler result that carries the state index for `X-Nomad-Index`. */
export class JsonReply {
  constructor(
    readonly body: unknown,
    readonly index?: number,
    readonly status = 200,
    /** Extra headers (`X-Nomad-NextToken`). */
    readonly headers?: Record<string, string>,
  ) {}
}

/** Returned by handlers that wrote the response themselves (streams). */
export const HANDLED = Symbol('handled');

export function indexed<T>(r: { value: T; index: number }): JsonReply {
  return new JsonReply(r.value, r.index);
}

/**
 * The UTF-8 JSON of each frozen list element, kept as long as the element lives. Read endpoints answer lists
 * of frozen stubs built once per stored row version (an allocation's stub is rebuilt only when the
 * allocation changes), so a list polled again and again is mostly copied from bytes already encoded; a frozen
 * object cannot change, and what it references are state-store rows, which are never changed in place.
 */
const elementJson = new WeakMap<object, Buffer>();

/** Arrays with at least this many elements go through the element cache; shorter ones are not worth it. */
const ELEMENT_CACHE_MIN = 8;
const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/**
 * The response body as UTF-8 bytes. Bytes rather than a string: the length header and the socket write then
 * share one encoding (a large joined string was scanned for its byte length, then encoded again to be sent).
 */
export function encodeJson(body: unknown): Buffer {
  // A frozen list (a read endpoint's answer shared by every request at the same state index) is encoded once.
  if (Array.isArray(body) && Object.isFrozen(body)) {
    let bytes = elementJson.get(body);
    if (bytes === undefined) elementJson.set(body, (bytes = encodeList(body)));
    return bytes;
  }
  return encodeList(body);
}

function encodeList(body: unknown): Buffer {
  if (!Array.isArray(body) || body.length < ELEMENT_CACHE_MIN || !Object.isFrozen(body[0]))
    return Buffer.from(JSON.stringify(body ?? null));
  const parts: Buffer[] = [OPEN];
  for (let i = 0; i < body.length; i++) {
    if (i > 0) parts.push(COMMA);
    const el: unknown = body[i];
    if (el !== null && typeof el === 'object' && Object.isFrozen(el)) {
      let bytes = elementJson.get(el);
      if (bytes === undefined) elementJson.set(el, (bytes = Buffer.from(JSON.stringify(el))));
      parts.push(bytes);
    } else {
      parts.push(Buffer.from(JSON.stringify(el === undefined ? null : el) ?? 'null'));
    }
  }
  parts.push(CLOSE);
  return Buffer.concat(parts);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  index?: number,
  extra?: Record<string, string>,
): void {
  // A small answer that is not a list of cached elements (a register's reply, one job, one allocation): its JSON
  // is sent as text, with its header block, in one socket write.
  if (!Array.isArray(body) || (body.length < ELEMENT_CACHE_MIN && !Object.isFrozen(body))) {
    const text = JSON.stringify(body ?? null);
    if (text.length <= SMALL_BODY_MAX && sendSmall(res, status, text, index, extra)) return;
    const bytes = Buffer.from(text);
    res.writeHead(status, jsonHeaders(bytes, index, extra));
    res.end(bytes);
    return;
  }
  const bytes = encodeJson(body);
  if (Array.isArray(body) && Object.isFrozen(body) && sendPrepared(res, status, bytes, index, extra)) return;
  res.writeHead(status, jsonHeaders(bytes, index, extra));
  res.end(bytes);
}

/** Answers up to this many characters go through `sendSmall`. */
const SMALL_BODY_MAX = 16 * 1024;

/**
 * Writes a small JSON answer as node:http's writeHead and end(body) would, but in one socket write of one string
 * and without the headers object: node:http's end(body) queues the header block and the body as two writes of
 * the corked socket, i.e. a writev per answer, after validating each header of an object built per answer. The
 * header block is built here as the string writeHead would make (`sendPrepared` has the rules) and the body
 * appended to it, so end() sends both at once. False (nothing written) when the ordinary path must answer.
 */
/** Headers `sendSmall` leaves to the ordinary path when a caller passes them (lower case). */
const OWN_HEADERS = new Set([
  'content-type',
  'content-length',
  'x-nomad-index',
  'connection',
  'date',
  'keep-alive',
  'transfer-encoding',
  'trailer',
  'expect',
  'upgrade',
]);

function sendSmall(
  res: ServerResponse,
  status: number,
  text: string,
  index: number | undefined,
  extra: Record<string, string> | undefined,
): boolean {
  const raw = res as unknown as RawResponse;
  if (status < 200 || status > 599 || status === 204 || status === 304 || !rawHeaderAllowed(res, raw)) return false;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
  let knownLeader = false;
  let lastContact = false;
  if (extra !== undefined)
    for (const name in extra) {
      // Headers this function writes itself keep the position of `extra`'s key in the ordinary path: leave them to it.
      // So do headers with framing or connection meaning, in any letter case (writeHead honours those).
      if (OWN_HEADERS.has(name.toLowerCase())) return false;
      const value = extra[name]!;
      validateHeaderName(name);
      validateHeaderValue(name, value);
      head += `${name}: ${value}\r\n`;
      if (name === 'X-Nomad-KnownLeader') knownLeader = true;
      else if (name === LAST_CONTACT) lastContact = true;
    }
  const length = Buffer.byteLength(text);
  head += `Content-Type: application/json\r\nContent-Length: ${length}\r\n`;
  if (index !== undefined) {
    head += `X-Nomad-Index: ${index}\r\n`;
    if (!knownLeader) head += 'X-Nomad-KnownLeader: true\r\n';
    if (!lastContact) head += `${LAST_CONTACT}: 0\r\n`;
  }
  // The header block is written as latin1: a body that is not ASCII goes as the latin1 string of its UTF-8 bytes.
  const body = length === text.length ? text : Buffer.from(text, 'utf8').toString('latin1');
  res.statusCode = status;
  res.statusMessage = STATUS_CODES[status] ?? 'unknown';
  raw._header = `${head}Date: ${httpDate()}\r\nConnection: keep-alive\r\n${keepAliveHeader(raw)}\r\n${body}`;
  res.end();
  return true;
}

/**
 * Whether node:http would write, for this response, the header block `sendPrepared` and `sendSmall` build: an
 * HTTP/1.1 keep-alive connection, a response with a body (not a HEAD) and no header set yet.
 */
function rawHeaderAllowed(res: ServerResponse, raw: RawResponse): boolean {
  return !(
    raw._header ||
    !res.shouldKeepAlive ||
    raw.maxRequestsOnConnectionReached ||
    raw._removedConnection ||
    raw._hasBody === false ||
    raw.chunkedEncoding ||
    raw.useChunkedEncodingByDefault !== true ||
    !res.sendDate ||
    res.getHeaderNames().length > 0
  );
}

/** node:http's Keep-Alive header line (empty when it writes none). */
function keepAliveHeader(raw: RawResponse): string {
  return raw._keepAliveTimeout && raw._defaultKeepAlive
    ? `Keep-Alive: timeout=${Math.floor(raw._keepAliveTimeout / 1000)}${
        ~~(raw._maxRequestsPerSocket ?? 0) > 0 ? `, max=${raw._maxRequestsPerSocket}` : ''
      }\r\n`
    : '';
}

/** The headers of a JSON answer: `extra`, the content's type and length, and Nomad's query meta. */
function jsonHeaders(
  bytes: Buffer,
  index: number | undefined,
  extra: Record<string, string> | undefined,
): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    ...extra,
    'Content-Type': 'application/json',
    'Content-Length': bytes.length,
  };
  if (index !== undefined) {
    headers['X-Nomad-Index'] = index;
    // A standby answering from its replica passes these in `extra` (http/server.ts): how current the read is.
    headers['X-Nomad-KnownLeader'] ??= 'true';
    headers['X-Nomad-LastContact'] ??= 0;
  }
  return headers;
}

/**
 * A whole response (status line, headers and body) prepared once per shared body, status, headers and second,
 * as a latin1 string of its bytes: the waiters one commit wakes (thousands of blocking queries of one list at
 * one index) are answered with the same bytes, so each answer is one socket write of a string built once,
 * rather than node:http's writeHead (per-header validation, the header string built again) plus a two-chunk
 * write. Kept beside the body's bytes (encodeJson's cache of a frozen list), so it lives as long as they do.
 */
interface Prepared {
  key: string;
  /** The status line and every header but `X-Nomad-LastContact`, up to that header's value. */
  head: string;
  /** After that value: the rest of the header block and the body. */
  tail: string;
}
const prepared = new WeakMap<Buffer, Prepared>();
const LAST_CONTACT = 'X-Nomad-LastContact';

/** Bodies larger than this are sent the ordinary way: the prepared copy would double their memory. */
const PREPARED_MAX_BYTES = 1 << 20;

/** The response field the header block is kept in until it is written (node:http's own, not public). */
interface RawResponse {
  _header: string | null;
  _removedConnection?: boolean;
  _keepAliveTimeout?: number;
  _defaultKeepAlive?: boolean;
  _maxRequestsPerSocket?: number;
  maxRequestsOnConnectionReached?: boolean;
  useChunkedEncodingByDefault?: boolean;
  chunkedEncoding?: boolean;
  _hasBody?: boolean;
}

/** node:http's Date header: the current second, formatted once per second. */
let dateSecond = -1;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/**
 * Writes a prepared response when node:http would write the same bytes for it: a keep-alive HTTP/1.1 GET whose
 * response has no header set yet. Sets what writeHead would (the status, the header block in `_header`, so
 * `headersSent` holds and the connection stays open for the next request), then `end()` sends it as one write
 * and runs node:http's own teardown. Returns false (nothing written) when the ordinary path must answer.
 */
function sendPrepared(
  res: ServerResponse,
  status: number,
  bytes: Buffer,
  index: number | undefined,
  extra: Record<string, string> | undefined,
): boolean {
  const raw = res as unknown as RawResponse;
  if (bytes.length > PREPARED_MAX_BYTES || res.req?.method !== 'GET' || !rawHeaderAllowed(res, raw)) return false;
  const date = httpDate();
  const keepAlive = keepAliveHeader(raw);
  // X-Nomad-LastContact (a standby's milliseconds since it heard from the leader) changes from one answer to
  // the next: it is the one value written per answer, between the prepared head and tail.
  const contact = extra?.[LAST_CONTACT] ?? (index !== undefined ? '0' : undefined);
  if (contact !== undefined && !/^\d{1,15}$/.test(contact)) return false;
  let key = `${status} ${index} ${date} ${keepAlive} ${contact !== undefined}`;
  if (extra) for (const k in extra) if (k !== LAST_CONTACT) key += `\n${k}: ${extra[k]}`;
  let entry = prepared.get(bytes);
  if (entry?.key !== key) {
    // The headers sendJson's writeHead would write, then what node:http adds (LastContact moved to the end).
    const headers = jsonHeaders(bytes, index, extra);
    delete headers[LAST_CONTACT];
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    for (const name in headers) {
      const value = String(headers[name]);
      validateHeaderName(name);
      validateHeaderValue(name, value);
      head += `${name}: ${value}\r\n`;
    }
    const rest = `Date: ${date}\r\nConnection: keep-alive\r\n${keepAlive}\r\n${bytes.toString('latin1')}`;
    entry =
      contact === undefined
        ? { key, head: head + rest, tail: '' }
        : { key, head: `${head}${LAST_CONTACT}: `, tail: `\r\n${rest}` };
    prepared.set(bytes, entry);
  }
  res.statusCode = status;
  res.statusMessage = STATUS_CODES[status] ?? 'unknown';
  raw._header = contact === undefined ? entry.head : entry.head + contact + entry.tail;
  res.end();
  return true;
}

/**
 * Errors are answered as Nomad does, with a plain-text body and the status code, so curl users read the
 * message as is. The stable code travels in `X-Drover-Error-Code` for the CLI and UI to branch on, and
 * validation problems (with file:line:column) in `X-Drover-Problems` as JSON when they fit a header. `extra`: a
 * standby's X-Nomad-KnownLeader / X-Nomad-LastContact (http/server.ts), as its other answers carry.
 */
export function sendError(res: ServerResponse, err: unknown, extra?: Record<string, string>): void {
  const e = isDroverError(err) ? err : new DroverError('Internal', err instanceof Error ? err.message : String(err));
  const status = ErrorCodes[e.code] ?? 500;
  const first = e.problems[0];
  const body =
    first !== undefined && !e.message.includes(formatProblem(first))
      ? `${e.message}\n${e.problems.map(formatProblem).join('\n')}`
      : e.message;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = {
    ...extra,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Drover-Error-Code': e.code,
  };
  const problems = JSON.stringify(e.problems);
  if (e.problems.length > 0 && problems.length < 6000) headers['X-Drover-Problems'] = encodeURIComponent(problems);
  res.writeHead(status, headers);
  res.end(body);
}
