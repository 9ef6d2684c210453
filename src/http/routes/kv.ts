/**
 * The Consul-compatible KV API, answered as Consul answers it so that `curl`, consul-template and Consul client
 * libraries work unchanged against a Drover agent:
 *
 *   GET    /v1/kv/<key>                 [{LockIndex, Key, Flags, Value (base64|null), CreateIndex, ModifyIndex}] | 404
 *   GET    /v1/kv/<key>?raw             the value's bytes | 404
 *   GET    /v1/kv/<prefix>?recurse      every entry under the prefix | 404 when none
 *   GET    /v1/kv/<prefix>?keys[&separator=/]   ["key", ...] | 404 when none
 *   PUT    /v1/kv/<key>[?flags=N][&cas=N]       body = the value (≤ 512 KiB) → true | false (cas failed)
 *   DELETE /v1/kv/<key>[?recurse][&cas=N]       → true | false (cas failed)
 *
 * Reads block with `?index=&wait=`; every answer carries the index in X-Consul-Index and X-Nomad-Index. A 404 has
 * an empty body, as Consul's, and still carries the index so a caller can block until the key appears.
 */
import { DroverError } from '../../errors/index.js';
import { kvKeys, kvValue, MAX_KV_VALUE_BYTES, parseCas, parseKvFlags } from '../../discovery/index.js';
import type { RequestContext, Router } from '../router.js';
import { HANDLED, JsonReply } from '../reply.js';
import { boolParam, queryOptions } from '../query.js';
import type { ServerRouteOptions } from '../types.js';
import { keyOf } from '../kv-key.js';

/** The index, and on a standby how current it is (written here: these answers bypass http/server.ts's reply). */
function indexHeaders(c: RequestContext, index: number): void {
  c.res.setHeader('X-Consul-Index', String(index));
  c.res.setHeader('X-Nomad-Index', String(index));
  for (const [name, value] of Object.entries(c.leaderMeta?.() ?? {})) c.res.setHeader(name, value);
}

function notFound(c: RequestContext, index: number): typeof HANDLED {
  indexHeaders(c, index);
  c.res.statusCode = 404;
  c.res.setHeader('Content-Length', '0');
  c.res.end();
  return HANDLED;
}

function reply(body: unknown, index: number): JsonReply {
  return new JsonReply(body, index, 200, { 'X-Consul-Index': String(index) });
}

export function kvRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  const read = async (c: RequestContext) => {
    const q = queryOptions(c.query, c);
    const key = keyOf(c);
    const keys = boolParam(c.query, 'keys');
    if (keys || boolParam(c.query, 'recurse')) {
      const res = await server.kv.list(key, q);
      if (res.value.length === 0) return notFound(c, res.index);
      if (!keys) return reply(res.value, res.index);
      return reply(kvKeys(res.value, key, c.query.get('separator') ?? ''), res.index);
    }
    const res = await server.kv.get(key, q);
    if (res.value === null) return notFound(c, res.index);
    if (!boolParam(c.query, 'raw')) return reply([res.value], res.index);
    const bytes = kvValue(res.value);
    indexHeaders(c, res.index);
    c.res.statusCode = 200;
    // Consul answers raw values as text/plain, never sniffed as HTML by a browser.
    c.res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    c.res.setHeader('X-Content-Type-Options', 'nosniff');
    c.res.setHeader('Content-Length', String(bytes.length));
    c.res.end(bytes);
    return HANDLED;
  };
  r.get('/v1/kv', read);
  r.get('/v1/kv/*key', read);
  const write = async (c: RequestContext) => {
    const declared = Number(c.req.headers['content-length'] ?? -1);
    if (declared > MAX_KV_VALUE_BYTES) throw valueTooLarge(declared);
    const flags = parseKvFlags(c.query.get('flags'));
    const cas = parseCas(c.query.get('cas'));
    if (c.query.has('acquire') || c.query.has('release'))
      throw new DroverError('BadRequest', 'acquire and release need sessions, which Drover does not have');
    const value = await c.bytes();
    if (value.length > MAX_KV_VALUE_BYTES) throw valueTooLarge(value.length);
    const res = await server.kv.put({ Key: keyOf(c), value, flags, cas });
    return reply(res.ok, res.index);
  };
  // `PUT /v1/kv/` names no key: answered 400 "missing key name" (as Consul), not 405.
  r.write('/v1/kv', write);
  r.write('/v1/kv/*key', write);
  const del = async (c: RequestContext) => {
    const res = await server.kv.delete(keyOf(c), {
      recurse: boolParam(c.query, 'recurse'),
      cas: parseCas(c.query.get('cas')),
    });
    return reply(res.ok, res.index);
  };
  r.on('DELETE', '/v1/kv', del);
  r.on('DELETE', '/v1/kv/*key', del);
}

function valueTooLarge(bytes: number): DroverError {
  return new DroverError(
    'BodyTooLarge',
    `Request body(${bytes} bytes) too large, max size: ${MAX_KV_VALUE_BYTES} bytes: a KV value is at most 512 KiB, as in Consul`,
  );
}
