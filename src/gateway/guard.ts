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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { verifySha512Crypt } from '../lib/sha-crypt.js';
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
  if (spec.auth !== undefined) checks.push(authCheck(name, spec.auth, settings.auth));
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

/** Fixed one-second windows per client address; the table is swept when it grows. */
function rateCheck(name: string, perSecond: number, now: () => number): Guard {
  let windows = new Map<string, { start: number; count: number }>();
  return (req, res) => {
    const addr = req.socket.remoteAddress ?? '';
    const t = now();
    let w = windows.get(addr);
    if (w === undefined || t - w.start >= 1000) {
      if (windows.size >= 100_000) windows = new Map([...windows].filter(([, v]) => t - v.start < 1000));
      w = { start: t, count: 0 };
      windows.set(addr, w);
    }
    if (++w.count <= perSecond) return true;
    sendErrorPage(res, 429, 'rate_limited', name, `more than ${perSecond} requests/s from ${addr} (rate=)`, {
      'retry-after': '1',
    });
    return false;
  };
}

function authCheck(name: string, authName: string, source: AuthSource | undefined): Guard {
  // Verified credentials: a SHA-512 crypt check costs milliseconds, far too much for every request of a client.
  const good = new Map<string, string>();
  return (req, res) => {
    const users = source?.users(authName);
    const header = req.headers.authorization;
    if (users !== undefined && header !== undefined && /^basic /i.test(header)) {
      const cached = good.get(header);
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const hash = colon > 0 ? users.get(decoded.slice(0, colon)) : undefined;
      if (hash !== undefined) {
        if (cached === hash) return true;
        if (verifySha512Crypt(decoded.slice(colon + 1), hash)) {
          if (good.size >= 1000) good.clear();
          good.set(header, hash);
          return true;
        }
      }
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
