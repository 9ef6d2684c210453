/**
 * Header rewriting on the hot path. Works on Node's flat `rawHeaders` arrays (name, value, name, value...) so no
 * header object is built per request; names are compared by length first, lower-cased only when they might match.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1) that a proxy must not forward, by lower-case name. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);
const HOP_LENGTHS = new Set([...HOP_BY_HOP].map((h) => h.length));

export interface ClientFacts {
  remoteAddress: string;
  /** True for WebSocket and other upgrades: Connection and Upgrade are kept. */
  upgrade: boolean;
  /** Set by `forwardRequestHeaders`: the request has a body (Content-Length > 0 or Transfer-Encoding). */
  body: boolean;
  /** The client came over TLS: X-Forwarded-Proto is https. */
  tls?: boolean;
}

/**
 * The request headers to send to an instance: hop-by-hop headers removed (and any named by Connection), and
 * X-Forwarded-For appended to, X-Forwarded-Proto / X-Forwarded-Host / X-Real-IP set when the client did not.
 * The client's values are kept when present, as Fabio does: the gateway may sit behind another proxy.
 */
export function forwardRequestHeaders(raw: readonly string[], facts: ClientFacts): string[] {
  const out: string[] = [];
  let xff: string | undefined;
  let host: string | undefined;
  let hasProto = false;
  let hasXHost = false;
  let hasRealIp = false;
  let extraHop: Set<string> | undefined;
  // Raw headers come in name, value pairs, so raw[i + 1] exists for every even i below raw.length.
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const len = name.length;
    if (HOP_LENGTHS.has(len) || len === 4 || len === 9 || len === 14 || len === 15 || len === 16 || len === 17) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') facts.body ||= value !== '0';
      else if (lower === 'transfer-encoding') facts.body = true;
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') extraHop = connectionTokens(value, extraHop);
        if (facts.upgrade && (lower === 'connection' || lower === 'upgrade')) out.push(name, value);
        continue;
      }
      if (lower === 'x-forwarded-for') {
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      if (lower === 'host') host = value;
      else if (lower === 'x-forwarded-proto') hasProto = true;
      else if (lower === 'x-forwarded-host') hasXHost = true;
      else if (lower === 'x-real-ip') hasRealIp = true;
    }
    out.push(name, value);
  }
  if (extraHop !== undefined) removeNamed(out, extraHop);
  const addr = facts.remoteAddress;
  out.push('X-Forwarded-For', xff === undefined ? addr : `${xff}, ${addr}`);
  if (!hasProto) out.push('X-Forwarded-Proto', facts.tls === true ? 'https' : 'http');
  if (!hasXHost && host !== undefined) out.push('X-Forwarded-Host', host);
  if (!hasRealIp) out.push('X-Real-IP', addr);
  return out;
}

/**
 * Response headers to pass back: Connection and Keep-Alive are the gateway's business with its own client, and
 * headers the instance named in Connection are hop-by-hop too.
 */
export function forwardResponseHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  let extraHop: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10) {
      const lower = name.toLowerCase();
      if (lower === 'connection') {
        extraHop = connectionTokens(raw[i + 1]!, extraHop);
        continue;
      }
      if (lower === 'keep-alive') continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (extraHop !== undefined) removeNamed(out, extraHop);
  return out;
}

/**
 * Header names listed in Connection are hop-by-hop too, besides the usual close/keep-alive/upgrade tokens; except
 * those the gateway vouches for or frames with: `Connection: host, x-forwarded-for` must not drop the instance's
 * view of who asked (nor Content-Length or Transfer-Encoding a message's framing).
 */
export function connectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive' || token === 'upgrade') continue;
    if (PROTECTED.has(token) || token.startsWith('x-forwarded-')) continue;
    (into ??= new Set()).add(token);
  }
  return into;
}

const PROTECTED = new Set(['host', 'x-real-ip', 'content-length', 'transfer-encoding']);

export function removeNamed(headers: string[], names: Set<string>): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (names.has(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}
