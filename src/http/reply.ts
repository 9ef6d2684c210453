/** Helpers for answering requests: JSON with Nomad's index headers, and errors mapped from codes. */
import type { ServerResponse } from 'node:http';
import { DroverError, ErrorCodes, formatProblem, isDroverError } from '../errors/index.js';

/** A handler result that carries the state index for `X-Nomad-Index`. */
export class JsonReply {
  constructor(
    readonly body: unknown,
    readonly index?: number,
    readonly status = 200,
  ) {}
}

/** Returned by handlers that wrote the response themselves (streams). */
export const HANDLED = Symbol('handled');

export function indexed<T>(r: { value: T; index: number }): JsonReply {
  return new JsonReply(r.value, r.index);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, index?: number): void {
  const text = JSON.stringify(body ?? null);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  };
  if (index !== undefined) {
    headers['X-Nomad-Index'] = index;
    headers['X-Nomad-KnownLeader'] = 'true';
    headers['X-Nomad-LastContact'] = 0;
  }
  res.writeHead(status, headers);
  res.end(text);
}

/**
 * Errors are answered as Nomad does, with a plain-text body and the status code, so curl users read the
 * message as is. The stable code travels in `X-Drover-Error-Code` for the CLI and UI to branch on, and
 * validation problems (with file:line:column) in `X-Drover-Problems` as JSON when they fit a header.
 */
export function sendError(res: ServerResponse, err: unknown): void {
  const e = isDroverError(err) ? err : new DroverError('Internal', err instanceof Error ? err.message : String(err));
  const status = ErrorCodes[e.code] ?? 500;
  const body = e.problems.length > 0 && !e.message.includes(formatProblem(e.problems[0]!)) ? `${e.message}\n${e.problems.map(formatProblem).join('\n')}` : e.message;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Drover-Error-Code': e.code,
  };
  const problems = JSON.stringify(e.problems);
  if (e.problems.length > 0 && problems.length < 6000) headers['X-Drover-Problems'] = encodeURIComponent(problems);
  res.writeHead(status, headers);
  res.end(body);
}
