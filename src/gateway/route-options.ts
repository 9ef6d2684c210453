/**
 * The options a route tag may carry after its target (`urlprefix-/api strip=/api weight=0.2 auth=ops`): one
 * table that the parser, the error messages and docs/gateway.md share. Fabio's names and meanings where Fabio has
 * the option (strip, prefix as Fabio's path prepending, proto, tlsskipverify, host, allow, deny, auth, weight);
 * Drover's own for what Fabio configures globally (redirect=https, rate, maxbody, header, lb).
 *
 * An option that is not in the table, or has a bad value, makes the whole route invalid rather than served
 * without it: a mistyped `auht=ops` must not publish a service that was meant to be behind a password.
 */
import { BlockList, isIP } from 'node:net';
import type { RouteSpec } from './types.js';

export interface RouteOptionDoc {
  /** `name=VALUE` as written in a tag. */
  syntax: string;
  /** What it does, one sentence. */
  meaning: string;
}

type Setter = (spec: RouteSpec, value: string) => string | undefined;

interface OptionDef extends RouteOptionDoc {
  set: Setter;
}

/** The largest maxbody=: 16 GiB, well inside what HAProxy prints as an integer. */
export const MAX_BODY_LIMIT = 16 * 1024 ** 3;
const PATH = /^\/[A-Za-z0-9/._~%!*+,=:@-]*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** Header values a tag can carry: no whitespace (tags split on it), no quotes or control characters. */
const HEADER_VALUE = /^[\x21\x23-\x7e]+$/;

const OPTIONS: Record<string, OptionDef> = {
  strip: {
    syntax: 'strip=/path',
    meaning: 'removes /path from the front of the request path before forwarding',
    set: (s, v) => (PATH.test(v) ? void (s.strip = v) : 'expects a path starting with "/"'),
  },
  prefix: {
    syntax: 'prefix=/path',
    meaning: 'adds /path in front of the (stripped) request path before forwarding',
    set: (s, v) => (PATH.test(v) ? void (s.addPrefix = v.replace(/\/+$/, '')) : 'expects a path starting with "/"'),
  },
  lb: {
    syntax: 'lb=round_robin|least_conn',
    meaning: "balancing over the route's instances (default: the gateway's lb setting)",
    set: (s, v) => (v === 'round_robin' || v === 'least_conn' ? void (s.lb = v) : 'expects round_robin or least_conn'),
  },
  weight: {
    syntax: 'weight=0.2',
    meaning: "this service's share of the route's requests (0 < w <= 1); services without a weight share what is left",
    set: (s, v) => {
      const w = Number(v);
      if (!/^(0?\.\d+|1(\.0*)?|0)$/.test(v) || !(w > 0 && w <= 1)) return 'expects a number above 0 and at most 1';
      s.weight = w;
      return undefined;
    },
  },
  proto: {
    syntax: 'proto=http|https|tcp|tcp+sni',
    meaning:
      "https: TLS to the instances; tcp: a TCP listener on the tag's port; tcp+sni: TLS passed through by SNI host",
    set: (s, v) =>
      v === 'http' || v === 'https' || v === 'tcp' || v === 'tcp+sni'
        ? void (s.proto = v)
        : 'expects http, https, tcp or tcp+sni',
  },
  tlsskipverify: {
    syntax: 'tlsskipverify=true',
    meaning: "with proto=https, accepts the instances' certificates without verifying them",
    set: (s, v) => (v === 'true' || v === 'false' ? void (s.tlsSkipVerify = v === 'true') : 'expects true or false'),
  },
  host: {
    syntax: 'host=NAME',
    meaning: 'sends Host: NAME to the instances instead of the client\'s Host (Fabio\'s host=; "dst" is not supported)',
    set: (s, v) =>
      /^[A-Za-z0-9.-]+(:\d+)?$/.test(v) && v !== 'dst' ? void (s.upstreamHost = v) : 'expects a host name',
  },
  redirect: {
    syntax: 'redirect=https',
    meaning: 'answers plain-HTTP requests with 301 to the same URL on https',
    set: (s, v) => (v === 'https' ? void (s.redirectHttps = true) : 'only redirect=https is supported'),
  },
  auth: {
    syntax: 'auth=NAME',
    meaning: 'basic auth with the users and SHA-512 crypt hashes of Variable gateway/auth/NAME (401 without)',
    set: (s, v) => (/^[A-Za-z0-9_-]{1,64}$/.test(v) ? void (s.auth = v) : 'expects a name of letters, digits, _ or -'),
  },
  allow: {
    syntax: 'allow=CIDR,CIDR',
    meaning: 'only clients inside these networks reach the route (403 otherwise); Fabio\'s "ip:" prefix is accepted',
    set: (s, v) => cidrs(v, (list) => (s.allow = list)),
  },
  deny: {
    syntax: 'deny=CIDR,CIDR',
    meaning: 'clients inside these networks are refused (403)',
    set: (s, v) => cidrs(v, (list) => (s.deny = list)),
  },
  rate: {
    syntax: 'rate=N',
    meaning: 'at most N requests per second per client address; more get 429',
    set: (s, v) => (/^[1-9]\d{0,6}$/.test(v) ? void (s.rate = Number(v)) : 'expects a whole number of requests/s'),
  },
  maxbody: {
    syntax: 'maxbody=SIZE',
    meaning: 'request bodies larger than SIZE (bytes, or with k, m, g; at most 16g) get 413',
    set: (s, v) => {
      const n = parseSize(v);
      if (n === undefined) return 'expects a size such as 1048576, 512k or 10m';
      if (n > MAX_BODY_LIMIT) return 'expects a size of at most 16g';
      s.maxBody = n;
      return undefined;
    },
  },
  header: {
    syntax: 'header=Name:Value',
    meaning: 'sets a response header, e.g. header=Strict-Transport-Security:max-age=31536000 (repeatable)',
    set: (s, v) => {
      const colon = v.indexOf(':');
      const name = v.slice(0, colon);
      const value = v.slice(colon + 1);
      if (colon <= 0 || !HEADER_NAME.test(name) || !HEADER_VALUE.test(value))
        return 'expects Name:Value with no spaces or quotes';
      s.headers = [...(s.headers ?? []), [name, value]];
      return undefined;
    },
  },
};

/** Every option, for the docs and for error messages. */
export function routeOptionDocs(): RouteOptionDoc[] {
  return Object.values(OPTIONS).map(({ syntax, meaning }) => ({ syntax, meaning }));
}

const KNOWN = Object.keys(OPTIONS).join(', ');

/**
 * Applies one `name=value` option to `spec`; returns why it was refused, or undefined. `tlsskipverify` without a
 * value means true, as in Fabio.
 */
export function applyRouteOption(spec: RouteSpec, opt: string): string | undefined {
  const eq = opt.indexOf('=');
  const name = eq < 0 ? opt : opt.slice(0, eq);
  const value = eq < 0 ? (name === 'tlsskipverify' ? 'true' : '') : opt.slice(eq + 1);
  const def = Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : undefined;
  if (def === undefined) return `unknown option "${name}" (known: ${KNOWN})`;
  const why = def.set(spec, value);
  return why === undefined ? undefined : `option "${opt}" ${why}`;
}

/** Checks that only make sense across options (after all of them were read). */
export function checkRouteOptions(spec: RouteSpec): string | undefined {
  const tcp = spec.proto === 'tcp' || spec.proto === 'tcp+sni';
  if (tcp) {
    if (spec.listenPort === undefined) return `proto=${spec.proto} needs a port in the target, e.g. urlprefix-:5432`;
    if (spec.proto === 'tcp+sni' && spec.host === '')
      return 'proto=tcp+sni needs a host, e.g. urlprefix-db.example.com:5433';
    const httpOnly = (
      ['strip', 'addPrefix', 'redirectHttps', 'auth', 'rate', 'maxBody', 'headers', 'upstreamHost', 'weight'] as const
    ).filter((k) => spec[k] !== undefined && spec[k] !== '');
    if (httpOnly.length > 0) return `proto=${spec.proto} routes cannot take HTTP options (${httpOnly.join(', ')})`;
  } else if (spec.listenPort !== undefined) {
    return 'a target without a path is a TCP route: add proto=tcp, or a path for an HTTP route';
  }
  if (spec.tlsSkipVerify === true && spec.proto !== 'https') return 'tlsskipverify=true needs proto=https';
  return undefined;
}

function cidrs(value: string, set: (list: string[]) => void): string | undefined {
  const list = value.split(',').map((c) => c.replace(/^ip:/, ''));
  for (const c of list) if (parseCidr(c) === undefined) return `has "${c}", not an address or CIDR such as 10.0.0.0/8`;
  set(list);
  return undefined;
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128). */
export function parseCidr(c: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = c.indexOf('/');
  const address = slash < 0 ? c : c.slice(0, slash);
  // A zone ID (fe80::1%eth0) is not a network either plane can match, and `%` breaks HAProxy's syntax.
  const v = address.includes('%') ? 0 : isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const prefix = slash < 0 ? max : Number(c.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (slash >= 0 && !/^\d+$/.test(c.slice(slash + 1))))
    return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** A BlockList of CIDRs; IPv4 entries also match their IPv4-mapped IPv6 form (a dual-stack socket's address). */
export function cidrList(list: readonly string[]): BlockList {
  const bl = new BlockList();
  for (const c of list) {
    const p = parseCidr(c);
    if (p === undefined) continue;
    bl.addSubnet(p.address, p.prefix, p.family);
  }
  return bl;
}

/** Whether `address` (as Node reports a socket's remote address) is in `list`. */
export function inCidrs(list: BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return list.check(mapped[1]!, 'ipv4');
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

function parseSize(v: string): number | undefined {
  const m = /^(\d{1,12})([kmg]?)b?$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}
