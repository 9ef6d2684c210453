/** Node endpoints: `/v1/nodes`, `/v1/node/:id[/allocations]`. */
import type { Router } from '../router.js';
import { indexed, JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import type { ServerRouteOptions } from '../types.js';

export function nodeRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/nodes', async (c) => indexed(await server.nodeList(queryOptions(c.query, c))));
  r.get('/v1/node/:id', async (c) => {
    const res = await server.nodeGet(c.params.id!, queryOptions(c.query, c));
    // The API never shows a node's secret.
    const { SecretID: _secret, ...node } = res.value;
    return new JsonReply(node, res.index);
  });
  r.get('/v1/node/:id/allocations', async (c) => indexed(await server.nodeAllocations(c.params.id!, queryOptions(c.query, c))));
}
