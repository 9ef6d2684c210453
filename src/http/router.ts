/**
 * A small method + path router for the HTTP API. Patterns use `:name` for one segment and `*name`
 * for the rest of the path (Nomad IDs may contain slashes only in variables paths).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Identity } from '../acl/index.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** Reads and JSON-parses the body (size-limited); throws BadRequest / BodyTooLarge. */
  json<T = unknown>(): Promise<T>;
  /** Reads the raw body as text (size-limited). */
  text(): Promise<string>;
  /** Reads the raw body as bytes (size-limited): a KV value may be any bytes. */
  bytes(): Promise<Buffer>;
  /**
   * X-Nomad-KnownLeader / X-Nomad-LastContact for an answer the handler writes itself (HANDLED); undefined on an
   * agent that does not report them (http/server.ts adds them to every other answer).
   */
  leaderMeta?: () => Record<string, string>;
  /** Who sent the request, when ACLs are enabled (set before the handler runs; see http/acl-rules.ts). */
  identity?: Identity;
}

export type Handler = (ctx: RequestContext) => Promise<unknown> | unknown;

interface Route {
  method: string;
  /** The pattern as registered, e.g. `/v1/job/:id`: what the ACL rule table is keyed by. */
  pattern: string;
  segments: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  on(methods: string | string[], pattern: string, handler: Handler): this {
    for (const m of Array.isArray(methods) ? methods : [methods]) {
      this.routes.push({ method: m, pattern, segments: pattern.split('/').filter(Boolean), handler });
    }
    return this;
  }

  get(p: string, h: Handler) {
    return this.on('GET', p, h);
  }

  /** Every route as method and pattern (`/v1/job/:id`), in registration order: for the API fuzz suite and the ACL rule table test. */
  list(): { method: string; pattern: string }[] {
    return this.routes.map((r) => ({ method: r.method, pattern: '/' + r.segments.join('/') }));
  }

  /** Nomad accepts PUT and POST for writes. */
  write(p: string, h: Handler) {
    return this.on(['PUT', 'POST'], p, h);
  }

  /**
   * Finds the route for a request. Returns `methodNotAllowed` when the path exists with other methods,
   * so the API can answer 405 rather than 404.
   */
  match(
    method: string,
    path: string,
  ):
    | { handler: Handler; params: Record<string, string>; method: string; pattern: string }
    | 'methodNotAllowed'
    | undefined {
    const parts = path.split('/').filter(Boolean);
    // Most paths have nothing to decode.
    if (path.includes('%')) for (let i = 0; i < parts.length; i++) parts[i] = safeDecode(parts[i]!);
    let pathMatched = false;
    for (const r of this.routes) {
      const params = matchSegments(r.segments, parts);
      if (!params) continue;
      pathMatched = true;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET'))
        return { handler: r.handler, params, method: r.method, pattern: r.pattern };
    }
    return pathMatched ? 'methodNotAllowed' : undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  // Most routes fail on the segment count or a literal segment: check those before building params,
  // since every request walks the whole route table.
  const star = pattern[pattern.length - 1]?.startsWith('*') ?? false;
  if (star ? parts.length < pattern.length : parts.length !== pattern.length) return null;
  // Indexed loops (no entries() iterator) on this hot path; i < pattern.length <= parts.length (or a `*`).
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p[0] !== ':' && p[0] !== '*' && p !== parts[i]) return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p[0] === '*') {
      params[p.slice(1)] = parts.slice(i).join('/');
      return params;
    }
    if (p[0] === ':') params[p.slice(1)] = parts[i]!;
  }
  return params;
}
