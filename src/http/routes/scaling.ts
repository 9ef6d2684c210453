/**
 * Scaling policies: `GET /v1/scaling/policies` (`?job=`, `?type=`, `?prefix=`, `?namespace=`, blocking) and
 * `GET /v1/scaling/policy/:id`, in Nomad's shapes (server/scaling-policies.ts derives them from the jobs).
 */
import type { Router } from '../router.js';
import { indexed } from '../reply.js';
import { queryOptions } from '../query.js';
import type { ServerRouteOptions } from '../types.js';

export function scalingRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/scaling/policies', async (c) => {
    const q = queryOptions(c.query, c);
    const job = c.query.get('job') || undefined;
    const type = c.query.get('type') || undefined;
    const prefix = c.query.get('prefix') || undefined;
    return indexed(await server.jobs.scalingPolicies({ ...q, job, type, prefix }));
  });
  r.get('/v1/scaling/policy/:id', async (c) =>
    indexed(await server.jobs.scalingPolicy(c.params.id!, queryOptions(c.query, c))),
  );
}
