/**
 * Nomad's native service catalog: `GET /v1/services`, `GET /v1/service/:name?tag=&choose=&health=`,
 * `DELETE /v1/service/:name/:id`. Every instance is answered by default, as Nomad (Prometheus' nomad_sd_configs
 * and other Nomad tools expect that); `?health=passing` is Drover's filter for readers that want only the
 * instances DNS, the gateway and templates serve. docs/api.md is the reference.
 */
import { badRequest } from '../../errors/index.js';
import type { Router } from '../router.js';
import { indexed, JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import type { ServerRouteOptions } from '../types.js';

/** `?health=`: absent or `any` keeps every instance; `passing` keeps passing ones. */
export function healthParam(q: URLSearchParams): 'passing' | 'any' {
  const v = q.get('health');
  if (v === null || v === '' || v === 'any') return 'any';
  if (v === 'passing') return 'passing';
  throw badRequest(`invalid health "${v}": expected passing or any`);
}

/** Nomad's `?choose=n|key`. */
export function chooseParam(q: URLSearchParams): { n: number; key: string } | undefined {
  const v = q.get('choose');
  if (v === null || v === '') return undefined;
  const m = /^(\d+)\|(.+)$/.exec(v);
  if (!m) throw badRequest(`invalid choose "${v}": expected <number>|<key>`);
  return { n: Number(m[1]), key: m[2]! };
}

export function serviceRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/services', async (c) => indexed(await server.services.list(queryOptions(c.query, c))));
  r.get('/v1/service/:name', async (c) => {
    const q = queryOptions(c.query, c);
    const filter = { tag: c.query.get('tag') || undefined, health: healthParam(c.query), choose: chooseParam(c.query) };
    return indexed(await server.services.get(q.namespace ?? 'default', c.params.name!, { ...q, ...filter }));
  });
  r.on('DELETE', '/v1/service/:name/:id', async (c) => {
    const index = await server.services.delete(c.query.get('namespace') || 'default', c.params.name!, c.params.id!);
    return new JsonReply(null, index);
  });
}
