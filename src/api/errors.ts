/**
 * Errors the API client raises. An `ApiError` is a `DroverError`, so callers branch on `code` the same way
 * everywhere (`isDroverError(e, 'JobNotFound')`); `status` is the HTTP status the server answered (0 when the
 * request never got an answer).
 *
 * The server may answer errors several ways, and all are accepted:
 *   - Nomad's plain text body (`job not found`), with Drover's stable code in the `X-Drover-Error-Code`
 *     header and the validation problems as URI-encoded JSON in `X-Drover-Problems`;
 *   - a JSON body: `{"error": {"code": "JobNotFound", "message": "...", "problems": [...]}}`.
 * With neither header nor JSON code, the code is derived from the status, so `404` is still a `NotFound`.
 */
import { DroverError, ErrorCodes, type ErrorCode, type Problem } from '../errors/index.js';

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'BadRequest',
  403: 'PermissionDenied',
  404: 'NotFound',
  409: 'Conflict',
  413: 'BodyTooLarge',
  499: 'Aborted',
  503: 'Unavailable',
  504: 'Timeout',
};

export class ApiError extends DroverError {
  /** The HTTP status, or 0 when the server could not be reached. */
  readonly httpStatus: number;
  /** The method and URL that failed, for messages. */
  readonly url: string;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { httpStatus: number; url: string; problems?: Problem[]; cause?: unknown },
  ) {
    super(code, message, {
      problems: opts.problems,
      cause: opts.cause,
      details: { url: opts.url, status: opts.httpStatus },
    });
    this.name = 'ApiError';
    this.httpStatus = opts.httpStatus;
    this.url = opts.url;
  }

  override get status(): number {
    return this.httpStatus;
  }
}

export function isApiError(e: unknown, code?: ErrorCode): e is ApiError {
  return e instanceof ApiError && (code === undefined || e.code === code);
}

/** True for "not found" of any kind (`NotFound`, `JobNotFound`, ...), which is how 404 answers look. */
export function isNotFound(e: unknown): boolean {
  return e instanceof DroverError && (e.status === 404 || e.code.endsWith('NotFound'));
}

function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, v);
}

function codeForStatus(status: number): ErrorCode {
  return STATUS_CODES[status] ?? (status >= 500 ? 'Internal' : 'BadRequest');
}

/** Reads whichever error shape the server sent: Drover's JSON envelope, a bare JSON object, or plain text. */
export function errorFromResponse(
  status: number,
  url: string,
  body: string,
  headers?: { get(name: string): string | null },
): ApiError {
  const text = body.trim();
  const headerCode = headers?.get('x-drover-error-code');
  let code: ErrorCode = isErrorCode(headerCode) ? headerCode : codeForStatus(status);
  let message = text || `Unexpected response code: ${status}`;
  let problems: Problem[] | undefined = problemsFromHeader(headers?.get('x-drover-problems') ?? null);
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const inner = (typeof parsed.error === 'object' && parsed.error !== null ? parsed.error : parsed) as Record<
        string,
        unknown
      >;
      const c = inner.code ?? inner.Code;
      const m = inner.message ?? inner.Message ?? (typeof parsed.error === 'string' ? parsed.error : undefined);
      if (isErrorCode(c)) code = c;
      if (typeof m === 'string' && m !== '') message = m;
      problems = toProblems(inner.problems ?? inner.Problems) ?? problems;
    } catch {
      // Not JSON after all: keep the text as the message.
    }
  }
  return new ApiError(code, message, { httpStatus: status, url, problems });
}

function toProblems(p: unknown): Problem[] | undefined {
  if (!Array.isArray(p)) return undefined;
  return p.filter(
    (x): x is Problem => typeof x === 'object' && x !== null && typeof (x as Problem).message === 'string',
  );
}

function problemsFromHeader(h: string | null): Problem[] | undefined {
  if (!h) return undefined;
  try {
    return toProblems(JSON.parse(decodeURIComponent(h)));
  } catch {
    return undefined;
  }
}

/** The deepest `code`/`address`/`port` in an error's cause chain (undici wraps socket errors in `fetch failed`). */
function socketCause(e: unknown): { code?: string; address?: string; port?: number; message: string } | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 6 && cur != null; depth++) {
    const c = cur as {
      code?: unknown;
      address?: unknown;
      port?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown;
    };
    if (typeof c.code === 'string' && c.code.startsWith('E')) {
      return {
        code: c.code,
        address: typeof c.address === 'string' ? c.address : undefined,
        port: typeof c.port === 'number' ? c.port : undefined,
        message: String(c.message ?? c.code),
      };
    }
    // Happy-eyeballs failures arrive as an AggregateError with one error per address tried.
    if (Array.isArray(c.errors) && c.errors.length > 0) cur = c.errors[0];
    else cur = c.cause;
  }
  return undefined;
}

/** `fetch failed` says nothing; the innermost cause ("bad port", "getaddrinfo ENOTFOUND x") does. */
function deepestMessage(e: unknown): string {
  let msg = e instanceof Error ? e.message : String(e);
  let cur: unknown = e instanceof Error ? e.cause : undefined;
  for (let depth = 0; depth < 6 && cur instanceof Error; depth++) {
    if (cur.message) msg = cur.message;
    cur = cur.cause;
  }
  return msg;
}

/** An error for a request that never got an answer: refused, reset, DNS failure, timeout. */
export function connectionError(url: string, address: string, e: unknown): ApiError {
  const s = socketCause(e);
  let detail: string;
  if (s?.code === 'ECONNREFUSED') {
    const target = s.address ? `${s.address}:${s.port ?? ''}` : address;
    detail = `connect ECONNREFUSED ${target}; is the agent running at ${address}?`;
  } else if (s) {
    detail = `${s.code}: ${s.message}`;
  } else {
    detail = deepestMessage(e);
  }
  return new ApiError('Unavailable', `Error querying ${url}: ${detail}`, { httpStatus: 0, url, cause: e });
}
