/** Allocation endpoints: `/v1/allocations`, `/v1/allocation/:id`, `/v1/allocation/:id/stop`. */
import type { Router } from '../router.js';
import { allocStubShape, shapeAllocStubs } from '../alloc-stubs.js';
import { indexed, JsonReply } from '../reply.js';
import { boolParam, queryOptions } from '../query.js';
import { listParams, listReply } from '../list.js';
import type { ServerRouteOptions } from '../types.js';

export function allocRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/allocations', async (c) => {
    const shape = allocStubShape(c.query);
    const lp = listParams(c.query);
    const res = await server.allocs.list(queryOptions(c.query, c));
    return listReply(lp, { value: shapeAllocStubs(res.value, shape), index: res.index });
  });
  r.get('/v1/allocation/:id', async (c) => indexed(await server.allocs.get(c.params.id!, queryOptions(c.query, c))));
  // Nomad's Alloc.Stop: the scheduler replaces the allocation (no body; `no_shutdown_delay` in the query).
  r.write('/v1/allocation/:id/stop', async (c) => {
    const id = server.resolvePrefix('alloc', c.params.id!);
    const res = await server.allocs.stop(id, { noShutdownDelay: boolParam(c.query, 'no_shutdown_delay') });
    return new JsonReply(res, res.Index);
  });
}
