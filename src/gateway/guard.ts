/**
 * A route's protection on the Node plane, checked before a request is forwarded, in the order the HAProxy plane
 * renders the same rules:
 *
 *   deny / allow CIDR --refused--> 403
 *   redirect=https (plain HTTP) --> 301 to https://host[:port]/path
 *   rate=N per client address --over--> 429
 *   auth=NAME basic auth --no or wrong credentials--> 401 with WWW-Authenticate
 *   maxbody=SIZE: Content-Length over it --> 413; a chunked body is cut once it passes SIZE
 *
 * Each check is built once per routing table, so a request pays only for the options its route has.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { sha512Crypt, verifySha512Crypt } from '../lib/sha-crypt.js';
import { sendErrorPage } from './pages.js';
import { cidrList, inCidrs } from './route-options.js';
import type { AuthSource, RouteSpec } from './types.js';

export interface GuardSettings {
  auth?: AuthSource;
  httpsPort?: number;
  now: () => number;
}

/** Answers the request itself (and returns false) when the route refuses it; true lets it through. */
export type Guard = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The checks for one route, or undefined when it has none. */
export function buildGuard(name: string, spec: RouteSpec, settings: GuardSettings): Guard | undefined {
  const checks: Guard[] = [];
  const deny = spec.deny ? cidrList(spec.deny) : undefined;
  const allow = spec.allow ? cidrList(spec.allow) : undefined;
  if (deny || allow)
    checks.push((req, res) => {
      const addr = req.socket.remoteAddress ?? '';
      if ((deny && inCidrs(deny, addr)) || (allow && !inCidrs(allow, addr))) {
        sendErrorPage(res, 403, 'forbidden', name, `client ${addr} is not allowed on this route (allow=/deny=)`);
        return false;
      }
      return true;
    });
  if (spec.redirectHttps) checks.push(redirectCheck(settings.httpsPort));
  if (spec.rate !== undefined) checks.push(rateCheck(name, spec.rate, settings.now));
  if (spec.auth !== undefined) checks.push(authCheck(name, spec.auth, settings.auth, settings.now));
  if (spec.maxBody !== undefined) checks.push(bodyCheck(name, spec.maxBody));
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (req, res) => checks.every((c) => c(req, res));
}

function redirectCheck(httpsPort: number | undefined): Guard {
  return (req, res) => {
    if ((req.socket as Partial<TLSSocket>).encrypted === true) return true;
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const port = httpsPort === undefined || httpsPort === 443 ? '' : `:${httpsPort}`;
    res.writeHead(301, { location: `https://${host}${port}${req.url ?? '/'}`, 'content-length': 0 });
    res.end();
    return false;
  };
}

/** Longest password checked; a SHA-512 crypt costs time quadratic in its length. */
export const MAX_PASSWORD_BYTES = 256;
/** Failed password checks allowed per client address per second, and for all clients together. */
export const AUTH_FAILURES_PER_ADDRESS = 5;
export const AUTH_HASHES_PER_SECOND = 20;
const MAX_ADDRESSES = 100_000;

/**
 * Fixed one-second windows per client address. The table is bounded: when full, expired windows are swept (at most
 * once a second) and, if it is still full, the oldest windows are dropped, so a new address never copies it.
 */
export class Windows {
  private readonly table = new Map<string, { start: number; count: number }>();
  private lastSweep = -Infinity;

  constructor(
    private readonly now: () => number,
    private readonly max = MAX_ADDRESSES,
  ) {}

  /** The current window's count for `key`, before this call's `add`. */
  count(key: string): number {
    const w = this.table.get(key);
    return w === undefined || this.now() - w.start >= 1000 ? 0 : w.count;
  }

  /** Counts one event for `key` and returns the window's count including it. */
  add(key: string): number {
    const t = this.now();
    let w = this.table.get(key);
    if (w === undefined || t - w.start >= 1000) {
      if (w !== undefined) this.table.delete(key);
      if (this.table.size >= this.max) this.evict(t);
      w = { start: t, count: 0 };
      this.table.set(key, w);
    }
    return ++w.count;
  }

  get size(): number {
    return this.table.size;
  }

  private evict(t: number): void {
    if (t - this.lastSweep >= 1000) {
      this.lastSweep = t;
      for (const [k, v] of this.table) if (t - v.start >= 1000) this.table.delete(k);
    }
    // Insertion order is window start order: the first entries are the oldest.
    for (const k of this.table.keys()) {
      if (this.table.size < this.max) break;
      this.table.delete(k);
    }
  }
}

function rateCheck(name: string, perSecond: number, now: () => number): Guard {
  const windows = new Windows(now);
  return (req, res) => {
    const addr = req.socket.remoteAddress ?? '';
    if (windows.add(addr) <= perSecond) return true;
    sendErrorPage(res, 429, 'rate_limited', name, `more than ${perSecond} requests/s from ${addr} (rate=)`, {
      'retry-after': '1',
    });
    return false;
  };
}

let dummy: string | undefined;
/** A hash no password matches in practice, checked for unknown users so they take as long as known ones. */
function dummyHash(): string {
  dummy ??= sha512Crypt(randomBytes(16).toString('hex'), 'droverdummysalt');
  return dummy;
}

function authCheck(name: string, authName: string, source: AuthSource | undefined, now: () => number): Guard {
  // Verified credentials: a SHA-512 crypt check costs milliseconds, far too much for every request of a client.
  const good = new Map<string, string>();
  // Hashing is synchronous, so failures are throttled per client and in total to keep the event loop free.
  const failures = new Windows(now);
  const hashes = new Windows(now, 1);
  return (req, res) => {
    const users = source?.users(authName);
    const header = req.headers.authorization;
    if (users !== undefined && header !== undefined && /^basic /i.test(header)) {
      const cached = good.get(header);
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon > 0 ? decoded.slice(0, colon) : undefined;
      const hash = user === undefined ? undefined : users.get(user);
      if (hash !== undefined && cached === hash) return true;
      const password = decoded.slice(colon + 1);
      const addr = req.socket.remoteAddress ?? '';
      if (failures.count(addr) >= AUTH_FAILURES_PER_ADDRESS || hashes.count('') >= AUTH_HASHES_PER_SECOND) {
        sendErrorPage(res, 429, 'rate_limited', name, 'too many failed logins, try again in a second (auth=)', {
          'retry-after': '1',
        });
        return false;
      }
      if (user !== undefined && Buffer.byteLength(password) <= MAX_PASSWORD_BYTES) {
        hashes.add('');
        // An unknown user is checked against a dummy hash: the answer takes as long as for a known one.
        if (verifySha512Crypt(password, hash ?? dummyHash()) && hash !== undefined) {
          if (good.size >= 1000) good.clear();
          good.set(header, hash);
          return true;
        }
      }
      failures.add(addr);
    }
    const why =
      users === undefined
        ? `no users: Variable gateway/auth/${authName} does not exist`
        : 'a user name and password are required (auth=)';
    sendErrorPage(res, 401, 'unauthorized', name, why, { 'www-authenticate': `Basic realm="${authName}"` });
    return false;
  };
}

function bodyCheck(name: string, max: number): Guard {
  return (req, res) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > max) {
      // Node reads and drops the unread body after the answer, keeping the connection usable.
      sendErrorPage(res, 413, 'body_too_large', name, `request body of ${declared} bytes is over ${max} (maxbody=)`);
      return false;
    }
    if (req.headers['transfer-encoding'] !== undefined) {
      let seen = 0;
      req.on('data', (d: Buffer) => {
        seen += d.length;
        if (seen > max) req.destroy(new Error(`request body over ${max} bytes (maxbody=)`));
      });
    }
    return true;
  };
}
