/** Evaluation endpoints: `/v1/evaluations`, `/v1/evaluation/:id[/allocations]`. */
import type { Router } from '../router.js';
import { indexed } from '../reply.js';
import { queryOptions } from '../query.js';
import { listParams, listReply } from '../list.js';
import type { ServerRouteOptions } from '../types.js';

export function evalRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/evaluations', async (c) => {
    const lp = listParams(c.query);
    return listReply(lp, await server.evals.list(queryOptions(c.query, c)));
  });
  r.get('/v1/evaluation/:id', async (c) => indexed(await server.evals.get(c.params.id!, queryOptions(c.query, c))));
  r.get('/v1/evaluation/:id/allocations', async (c) =>
    indexed(await server.evals.allocations(c.params.id!, queryOptions(c.query, c))),
  );
}
