/** Helpers for answering requests: JSON with Nomad's index headers, and errors mapped from codes. */
import type { ServerResponse } from 'node:http';
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
  res.writeHead(status, headers);
  res.end(bytes);
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
