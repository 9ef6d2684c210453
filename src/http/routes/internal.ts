/**
 * Server endpoints for remote client agents (the HTTP form of `ServerRPC` in structs/rpc.ts):
 *   PUT /v1/internal/client/register  {Node}                 → {HeartbeatTTL (ns), Index}
 *   PUT /v1/internal/client/status    {NodeID, Status}       → {HeartbeatTTL (ns), Index}
 *   GET /v1/internal/client/allocs/:nodeID?index=&wait=      → {Allocs, Index}   (blocking)
 *   PUT /v1/internal/client/allocs    {Allocs: AllocClientUpdate[]}
 *   PUT /v1/internal/client/services  {Upsert: ServiceRegistration[], Delete: string[]}
 */
import { badRequest, formatProblem } from '../../errors/index.js';
import { checkNodeShape } from '../../jobspec/index.js';
import type { AllocClientUpdate } from '../../structs/index.js';
import type { Node, ServiceRegistration } from '../../structs/index.js';
import type { Router } from '../router.js';
import { JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import type { ServerRouteOptions } from '../types.js';

export function internalRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.write('/v1/internal/client/register', async (c) => {
    const body = await c.json<{ Node?: Node }>();
    if (!body.Node || typeof body.Node.ID !== 'string') throw badRequest('"Node" with an "ID" is required');
    const problems = checkNodeShape(body.Node);
    if (problems.length > 0) throw badRequest(`invalid node: ${problems.map(formatProblem).join('; ')}`, problems);
    const res = await server.nodeRegister(body.Node);
    return ttlReply(res);
  });
  r.write('/v1/internal/client/status', async (c) => {
    const body = await c.json<{ NodeID?: string; Status?: string }>();
    if (!body.NodeID || !body.Status) throw badRequest('"NodeID" and "Status" are required');
    const res = await server.nodeUpdateStatus(body.NodeID, body.Status);
    return ttlReply(res);
  });
  r.get('/v1/internal/client/allocs/:nodeID', async (c) => {
    const q = queryOptions(c.query, c);
    const res = await server.getClientAllocs(c.params.nodeID!, q.minIndex ?? 0, q.waitMs ?? 0, c.signal);
    return new JsonReply({ Allocs: res.allocs, Index: res.index }, res.index);
  });
  r.write('/v1/internal/client/allocs', async (c) => {
    const body = await c.json<{ Allocs?: AllocClientUpdate[] }>();
    if (!Array.isArray(body.Allocs)) throw badRequest('"Allocs" must be a list');
    body.Allocs.forEach((a: unknown, i) => {
      if (a === null || typeof a !== 'object' || Array.isArray(a) || typeof (a as { ID?: unknown }).ID !== 'string') throw badRequest(`Allocs[${i}] must be an allocation update with an "ID"`);
    });
    await server.updateAllocs(body.Allocs);
    return {};
  });
  r.write('/v1/internal/client/services', async (c) => {
    const body = await c.json<{ Upsert?: ServiceRegistration[]; Delete?: string[] }>();
    if (body.Upsert != null && (!Array.isArray(body.Upsert) || body.Upsert.some((u) => u === null || typeof u !== 'object' || Array.isArray(u)))) {
      throw badRequest('"Upsert" must be a list of service registrations');
    }
    if (body.Delete != null && (!Array.isArray(body.Delete) || body.Delete.some((d) => typeof d !== 'string'))) throw badRequest('"Delete" must be a list of IDs');
    if (body.Upsert?.length) await server.upsertServiceRegistrations?.(body.Upsert);
    if (body.Delete?.length) await server.deleteServiceRegistrations?.(body.Delete);
    return {};
  });
}

/**
 * Nanoseconds under Nomad's name, as HttpServerRPC reads it (durations are nanoseconds in every body); a
 * client that got no number here would heartbeat in a tight loop.
 */
function ttlReply(res: { heartbeatTTLms: number; index: number }): JsonReply {
  return new JsonReply({ HeartbeatTTL: Math.round(res.heartbeatTTLms * 1e6), Index: res.index }, res.index);
}
