/**
 * Deployment endpoints: `/v1/deployments`, `/v1/deployment/:id`, `/v1/deployment/allocations/:id`,
 * `/v1/deployment/{promote,pause,fail}/:id`, and `/v1/job/:id/revert`, with Nomad's bodies.
 */
import { badRequest } from '../../errors/index.js';
import type { Router } from '../router.js';
import { indexed, JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import { listParams, listReply } from '../list.js';
import type { ServerRouteOptions } from '../types.js';

interface PromoteBody {
  DeploymentID?: string;
  All?: boolean;
  Groups?: string[] | null;
}
interface PauseBody {
  DeploymentID?: string;
  Pause?: boolean;
}
interface RevertBody {
  JobID?: string;
  JobVersion?: number;
  EnforcePriorVersion?: number | null;
}

/** A body's DeploymentID, when given, must name the deployment of the path. */
function checkID(pathID: string, bodyID: string | undefined): void {
  if (bodyID && bodyID !== pathID)
    throw badRequest(`deployment ID "${bodyID}" does not match the request path "${pathID}"`);
}

const written = <T extends { Index: number }>(res: T) =>
  new JsonReply({ ...res, KnownLeader: true, LastContact: 0 }, res.Index);

export function deploymentRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/deployments', async (c) => {
    const lp = listParams(c.query);
    return listReply(lp, await server.deployments.list(queryOptions(c.query, c)));
  });
  r.get('/v1/deployment/allocations/:id', async (c) =>
    indexed(await server.deployments.allocations(c.params.id!, queryOptions(c.query, c))),
  );
  r.write('/v1/deployment/promote/:id', async (c) => {
    const body = await c.json<PromoteBody>();
    checkID(c.params.id!, body.DeploymentID);
    return written(await server.deployments.promote(c.params.id!, body.All === true, body.Groups ?? null));
  });
  r.write('/v1/deployment/pause/:id', async (c) => {
    const body = await c.json<PauseBody>();
    checkID(c.params.id!, body.DeploymentID);
    return written(await server.deployments.pause(c.params.id!, body.Pause === true));
  });
  r.write('/v1/deployment/fail/:id', async (c) => {
    // Nomad's CLI sends a body, curl users often do not: both are fine.
    const raw = (await c.text()).trim();
    checkID(c.params.id!, raw ? (await c.json<{ DeploymentID?: string }>()).DeploymentID : undefined);
    return written(await server.deployments.fail(c.params.id!));
  });
  r.get('/v1/deployment/:id', async (c) =>
    indexed(await server.deployments.get(c.params.id!, queryOptions(c.query, c))),
  );
  r.write('/v1/job/:id/revert', async (c) => {
    const body = await c.json<RevertBody>();
    if (body.JobID && body.JobID !== c.params.id)
      throw badRequest(`job ID "${body.JobID}" does not match the request path "${c.params.id}"`);
    if (typeof body.JobVersion !== 'number' || !Number.isInteger(body.JobVersion) || body.JobVersion < 0)
      throw badRequest('"JobVersion" must be a non-negative integer');
    const res = await server.jobs.revert(
      c.query.get('namespace') ?? 'default',
      c.params.id!,
      body.JobVersion,
      body.EnforcePriorVersion ?? undefined,
    );
    return written(res);
  });
}
