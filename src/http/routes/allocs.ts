/** Allocation endpoints: `/v1/allocations`, `/v1/allocation/:id`. */
import type { Router } from '../router.js';
import { indexed } from '../reply.js';
import { queryOptions } from '../query.js';
import type { HttpApiOptions } from '../types.js';

export function allocRoutes(r: Router, opts: HttpApiOptions): void {
  const server = opts.server!;
  r.get('/v1/allocations', async (c) => indexed(await server.allocList(queryOptions(c.query, c.signal))));
  r.get('/v1/allocation/:id', async (c) => indexed(await server.allocGet(c.params.id!, queryOptions(c.query, c.signal))));
}
