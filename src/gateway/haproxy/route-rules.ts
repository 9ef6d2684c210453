/**
 * The HAProxy lines for a route's tag options, in the order the Node plane checks them (src/gateway/guard.ts):
 * allow/deny (403), redirect=https (301), rate (429), auth (401), maxbody (413), then the rewrites (strip,
 * prefix, host) and the response headers. Refusals use `http-request return` with the same body and
 * X-Drover-Gateway-Error header as the Node plane's pages. TCP routes get their frontends here too.
 */
import { serviceShares } from '../split.js';
import type { AuthSource, GatewayInstance, RouteSpec } from '../types.js';

/** What a route contributes to the configuration. */
export interface RuleRoute {
  name: string;
  spec: RouteSpec;
  backend: string;
  weights?: ReadonlyMap<string, number>;
  slots: (GatewayInstance | undefined)[];
}

/** A refusal with the gateway's error page. */
function refuse(status: number, title: string, reason: string, route: string, detail: string, cond: string, hdrs = '') {
  const body = `${status} ${title}\nroute: ${route}\nreason: ${reason}\n${detail}\n(Drover gateway)\n`;
  return `  http-request return status ${status} content-type "text/plain; charset=utf-8" string ${quote(body)} hdr x-drover-gateway-error ${reason}${hdrs} ${cond}`;
}

/** The request rules and response headers of an HTTP route's backend, before its rewrites. */
export function guardLines(r: RuleRoute, httpsPort: number | undefined): string[] {
  const s = r.spec;
  const out: string[] = [];
  const forbidden = (cond: string) =>
    refuse(403, 'Forbidden', 'forbidden', r.name, 'the client is not allowed on this route (allow=/deny=)', cond);
  if (s.deny) out.push(forbidden(`if { src ${s.deny.join(' ')} }`));
  if (s.allow) out.push(forbidden(`if !{ src ${s.allow.join(' ')} }`));
  if (s.redirectHttps) {
    const port = httpsPort === undefined || httpsPort === 443 ? '' : `:${httpsPort}`;
    out.push(
      `  http-request redirect location https://%[req.hdr(host),field(1,:)]${port}%[capture.req.uri] code 301 unless { ssl_fc }`,
    );
  }
  if (s.rate !== undefined) {
    out.push(
      '  stick-table type ipv6 size 100k expire 10s store http_req_rate(1s)',
      '  http-request track-sc0 src',
      refuse(
        429,
        'Too Many Requests',
        'rate_limited',
        r.name,
        `more than ${s.rate} requests/s from this client (rate=)`,
        `if { sc_http_req_rate(0) gt ${s.rate} }`,
        ' hdr retry-after 1',
      ),
    );
  }
  if (s.auth !== undefined)
    out.push(
      refuse(
        401,
        'Unauthorized',
        'unauthorized',
        r.name,
        'a user name and password are required (auth=)',
        `unless { http_auth(${userlistName(s.auth)}) }`,
        ` hdr www-authenticate ${quote(`Basic realm="${s.auth}"`)}`,
      ),
    );
  if (s.maxBody !== undefined)
    out.push(
      refuse(
        413,
        'Content Too Large',
        'body_too_large',
        r.name,
        `request body over ${s.maxBody} bytes (maxbody=)`,
        `if { req.hdr_val(content-length) gt ${s.maxBody} }`,
      ),
    );
  return out;
}

/** Rewrites after strip=: prefix=, host=; and the response headers. */
export function rewriteLines(spec: RouteSpec): string[] {
  const out: string[] = [];
  if (spec.addPrefix) out.push(`  http-request set-path ${spec.addPrefix.replace(/%/g, '%%')}%[path]`);
  if (spec.upstreamHost) out.push(`  http-request set-header Host ${spec.upstreamHost}`);
  for (const [n, v] of spec.headers ?? []) out.push(`  http-response set-header ${n} ${quote(v.replace(/%/g, '%%'))}`);
  return out;
}

/** Extra `server` words: upstream TLS and the split weight of the instance's service. */
export function serverWords(r: RuleRoute, inst: GatewayInstance | undefined): string {
  let words = '';
  if (r.spec.proto === 'https')
    words += r.spec.tlsSkipVerify ? ' ssl verify none' : ' ssl verify required ca-file @system-ca';
  if (inst !== undefined && r.weights !== undefined && r.weights.size > 0) {
    const live = r.slots.filter((i): i is GatewayInstance => i !== undefined);
    const share = serviceShares(live, r.weights).get(inst.ServiceName) ?? 0;
    const n = live.filter((i) => i.ServiceName === inst.ServiceName).length;
    // HAProxy weights are 0..256; 0 takes no traffic, as a share of 0 should.
    words += ` weight ${share === 0 ? 0 : Math.max(1, Math.round((share * 256) / n))}`;
  }
  return words;
}

/** The frontends of TCP routes: one per port, by SNI host for tcp+sni. */
export function tcpFrontends(routes: readonly RuleRoute[], host: string): string[] {
  const byPort = new Map<number, RuleRoute[]>();
  for (const r of routes) {
    if (r.spec.listenPort === undefined) continue;
    byPort.set(r.spec.listenPort, [...(byPort.get(r.spec.listenPort) ?? []), r]);
  }
  const out: string[] = [];
  for (const [port, list] of byPort) {
    out.push(`frontend tcp_${port}`, '  mode tcp', `  bind ${host}:${port}`);
    if (list[0]!.spec.proto === 'tcp+sni') {
      out.push('  tcp-request inspect-delay 5s', '  tcp-request content accept if { req.ssl_hello_type 1 }');
      for (const r of list) out.push(`  use_backend ${r.backend} if { req.ssl_sni -i ${r.spec.host} }`);
    } else out.push(`  default_backend ${list[0]!.backend}`);
    out.push('');
  }
  return out;
}

/** The head of a TCP route's backend: mode and allow/deny. */
export function tcpBackendLines(spec: RouteSpec): string[] {
  const out = ['  mode tcp', '  no option http-keep-alive', '  retry-on none'];
  if (spec.deny) out.push(`  tcp-request content reject if { src ${spec.deny.join(' ')} }`);
  if (spec.allow) out.push(`  tcp-request content reject if !{ src ${spec.allow.join(' ')} }`);
  return out;
}

/** One userlist per auth name the routes use, with the users of its Variable now. */
export function userlists(routes: readonly RuleRoute[], auth: AuthSource | undefined): string[] {
  const names = [...new Set(routes.flatMap((r) => (r.spec.auth === undefined ? [] : [r.spec.auth])))].sort();
  const out: string[] = [];
  for (const name of names) {
    out.push(`userlist ${userlistName(name)}`);
    for (const [user, hash] of auth?.users(name) ?? []) {
      // Names and hashes come from a Variable: only what a userlist line can hold safely is written.
      if (/^[A-Za-z0-9._@-]{1,64}$/.test(user) && /^\$6\$[A-Za-z0-9./$=]+$/.test(hash))
        out.push(`  user ${user} password ${hash}`);
    }
    out.push('');
  }
  return out;
}

export function userlistName(auth: string): string {
  return `auth_${auth}`;
}

/** A double-quoted HAProxy string with \n escapes. */
export function quote(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}
