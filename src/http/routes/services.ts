/** Nomad's native service catalog: `GET /v1/services`, `GET /v1/service/:name?tag=`, `DELETE /v1/service/:name/:id`. */
import type { Router } from '../router.js';
import { indexed, JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import type { HttpApiOptions } from '../types.js';

export function serviceRoutes(r: Router, opts: HttpApiOptions): void {
  const server = opts.server!;
  r.get('/v1/services', async (c) => indexed(await server.serviceList(queryOptions(c.query, c.signal))));
  r.get('/v1/service/:name', async (c) => {
    const q = queryOptions(c.query, c.signal);
    return indexed(await server.serviceGet(q.namespace ?? 'default', c.params.name!, { ...q, tag: c.query.get('tag') ?? undefined }));
  });
  r.on('DELETE', '/v1/service/:name/:id', async (c) => {
    const index = await server.serviceDelete(c.query.get('namespace') || 'default', c.params.name!, c.params.id!);
    return new JsonReply(null, index);
  });
}
