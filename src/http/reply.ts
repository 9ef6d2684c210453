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
  const bytes = encodeJson(body);
  if (Array.isArray(body) && Object.isFrozen(body) && sendPrepared(res, status, bytes, index, extra)) return;
  res.writeHead(status, jsonHeaders(bytes, index, extra));
  res.end(bytes);
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
  if (
    bytes.length > PREPARED_MAX_BYTES ||
    res.req?.method !== 'GET' ||
    raw._header ||
    !res.shouldKeepAlive ||
    raw.maxRequestsOnConnectionReached ||
    raw._removedConnection ||
    raw._hasBody === false ||
    raw.chunkedEncoding ||
    raw.useChunkedEncodingByDefault !== true ||
    !res.sendDate ||
    res.getHeaderNames().length > 0
  )
    return false;
  const date = httpDate();
  const keepAlive =
    raw._keepAliveTimeout && raw._defaultKeepAlive
      ? `Keep-Alive: timeout=${Math.floor(raw._keepAliveTimeout / 1000)}${
          ~~(raw._maxRequestsPerSocket ?? 0) > 0 ? `, max=${raw._maxRequestsPerSocket}` : ''
        }\r\n`
      : '';
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
