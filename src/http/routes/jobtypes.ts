/**
 * Job operations and node drain: `/v1/job/:id/dispatch`, `/v1/job/:id/periodic/force`,
 * `/v1/job/:id/scale` (GET status, POST scale), `/v1/node/:id/drain`, `/v1/node/:id/eligibility`.
 */
import { badRequest } from '../../errors/index.js';
import type { JobDispatchRequest, JobScaleRequest, NodeDrainRequest } from '../../server/types.js';
import type { Router } from '../router.js';
import { indexed, JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import type { ServerRouteOptions } from '../types.js';

const meta = { KnownLeader: true, LastContact: 0 };

export function jobTypeRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  const ns = (q: URLSearchParams) => q.get('namespace') ?? 'default';

  r.write('/v1/job/:id/dispatch', async (c) => {
    const body = await c.json<JobDispatchRequest>();
    const res = await server.jobs.dispatch(ns(c.query), c.params.id!, body ?? {});
    return new JsonReply({ ...res, ...meta }, res.Index);
  });

  r.write('/v1/job/:id/periodic/force', async (c) => {
    const res = await server.jobs.periodicForce(ns(c.query), c.params.id!);
    return new JsonReply(
      { EvalID: res.EvalID, EvalCreateIndex: res.EvalCreateIndex, Index: res.Index, ...meta },
      res.Index,
    );
  });

  r.get('/v1/job/:id/scale', async (c) =>
    indexed(await server.jobs.scaleStatus(ns(c.query), c.params.id!, queryOptions(c.query, c))),
  );
  r.write('/v1/job/:id/scale', async (c) => {
    const body = await c.json<JobScaleRequest>();
    if (body == null || typeof body !== 'object') throw badRequest('scaling request body must be a JSON object');
    if (body.Count != null && typeof body.Count !== 'number') throw badRequest('Count must be a number');
    // Nomad's API client sends Target.Job too; a mismatch would scale the wrong job.
    const targetJob = body.Target?.Job;
    if (targetJob && targetJob !== c.params.id)
      throw badRequest(`Target.Job "${targetJob}" does not match the request path "${c.params.id}"`);
    const res = await server.jobs.scale(ns(c.query), c.params.id!, body);
    return new JsonReply({ ...res, ...meta }, res.Index);
  });

  r.write('/v1/node/:id/drain', async (c) => {
    const body = await c.json<NodeDrainRequest>();
    const res = await server.nodes.updateDrain(server.resolvePrefix('node', c.params.id!), body ?? {});
    return new JsonReply({ ...res, ...meta }, res.Index);
  });

  r.write('/v1/node/:id/eligibility', async (c) => {
    const body = await c.json<{ Eligibility?: string }>();
    const res = await server.nodes.updateEligibility(
      server.resolvePrefix('node', c.params.id!),
      body?.Eligibility ?? '',
    );
    return new JsonReply({ ...res, ...meta }, res.Index);
  });
}
