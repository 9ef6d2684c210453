/**
 * Server endpoints for remote client agents (the HTTP form of `ServerRPC` in structs/rpc.ts):
 *   PUT /v1/internal/client/register  {Node}                 → {HeartbeatTTL (ns), Index}
 *   PUT /v1/internal/client/status    {NodeID, Status}       → {HeartbeatTTL (ns), Index}
 *   GET /v1/internal/client/allocs/:nodeID?index=&wait=      → {Allocs, Index}   (blocking)
 *   PUT /v1/internal/client/allocs    {Allocs: AllocClientUpdate[]}
 *   PUT /v1/internal/client/services  {NodeID, Upsert: ServiceRegistration[], Delete: string[]}
 *   GET /v1/internal/client/mesh/:nodeID?namespace=&service=  → MeshSidecarMaterial (a sidecar the node runs)
 *
 * Every call carries the node's SecretID in `X-Drover-Node-Secret` (or, as Nomad's clients send it, in
 * `X-Nomad-Token`); the server refuses with 403 any request that is not the node's own (node-identity.ts).
 */
import { badRequest, formatProblem } from '../../errors/index.js';
import { checkNodeShape } from '../../jobspec/index.js';
import type { AllocClientUpdate } from '../../structs/index.js';
import type { Node, ServiceRegistration } from '../../structs/index.js';
import type { RequestContext, Router } from '../router.js';
import { JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import type { ServerRouteOptions } from '../types.js';

/** The node secret a client presents: its own header, or X-Nomad-Token as Nomad's clients send it. */
function nodeSecret(c: RequestContext): string | undefined {
  const h = c.req.headers['x-drover-node-secret'] ?? c.req.headers['x-nomad-token'];
  return typeof h === 'string' && h !== '' ? h : undefined;
}

export function internalRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.write('/v1/internal/client/register', async (c) => {
    const body = await c.json<{ Node?: Node }>();
    if (!body.Node || typeof body.Node.ID !== 'string') throw badRequest('"Node" with an "ID" is required');
    const problems = checkNodeShape(body.Node);
    if (problems.length > 0) throw badRequest(`invalid node: ${problems.map(formatProblem).join('; ')}`, problems);
    server.authorizeNodeRequest({ kind: 'register', secret: nodeSecret(c), node: body.Node });
    const res = await server.nodeRegister(body.Node);
    return ttlReply(res);
  });
  r.write('/v1/internal/client/status', async (c) => {
    const body = await c.json<{ NodeID?: string; Status?: string }>();
    if (!body.NodeID || !body.Status) throw badRequest('"NodeID" and "Status" are required');
    server.authorizeNodeRequest({ kind: 'status', secret: nodeSecret(c), nodeID: body.NodeID });
    const res = await server.nodeUpdateStatus(body.NodeID, body.Status);
    return ttlReply(res);
  });
  r.get('/v1/internal/client/allocs/:nodeID', async (c) => {
    const q = queryOptions(c.query, c);
    server.authorizeNodeRequest({ kind: 'allocs-read', secret: nodeSecret(c), nodeID: c.params.nodeID! });
    const res = await server.getClientAllocs(c.params.nodeID!, q.minIndex ?? 0, q.waitMs ?? 0, c.signal);
    return new JsonReply({ Allocs: res.allocs, Index: res.index }, res.index);
  });
  r.write('/v1/internal/client/allocs', async (c) => {
    const body = await c.json<{ NodeID?: string; Allocs?: AllocClientUpdate[] }>();
    if (!Array.isArray(body.Allocs)) throw badRequest('"Allocs" must be a list');
    body.Allocs.forEach((a: unknown, i) => {
      if (a === null || typeof a !== 'object' || Array.isArray(a) || typeof (a as { ID?: unknown }).ID !== 'string')
        throw badRequest(`Allocs[${i}] must be an allocation update with an "ID"`);
    });
    if (typeof body.NodeID !== 'string' || body.NodeID === '') throw badRequest('"NodeID" is required');
    server.authorizeNodeRequest({
      kind: 'allocs-write',
      secret: nodeSecret(c),
      nodeID: body.NodeID,
      updates: body.Allocs,
    });
    await server.updateAllocs(body.Allocs);
    return {};
  });
  r.get('/v1/internal/client/mesh/:nodeID', async (c) => {
    const namespace = c.query.get('namespace') || 'default';
    const service = c.query.get('service') ?? '';
    if (!service) throw badRequest('"service" is required');
    server.authorizeNodeRequest({ kind: 'mesh', secret: nodeSecret(c), nodeID: c.params.nodeID!, namespace, service });
    if (!server.meshSidecarMaterial) throw badRequest('this server has no service mesh');
    return server.meshSidecarMaterial(namespace, service);
  });
  r.write('/v1/internal/client/services', async (c) => {
    const body = await c.json<{ NodeID?: string; Upsert?: ServiceRegistration[]; Delete?: string[] }>();
    if (typeof body.NodeID !== 'string' || body.NodeID === '') throw badRequest('"NodeID" is required');
    if (
      body.Upsert != null &&
      (!Array.isArray(body.Upsert) || body.Upsert.some((u) => u === null || typeof u !== 'object' || Array.isArray(u)))
    ) {
      throw badRequest('"Upsert" must be a list of service registrations');
    }
    if (body.Delete != null && (!Array.isArray(body.Delete) || body.Delete.some((d) => typeof d !== 'string')))
      throw badRequest('"Delete" must be a list of IDs');
    server.authorizeNodeRequest({
      kind: 'services',
      secret: nodeSecret(c),
      nodeID: body.NodeID,
      upsert: body.Upsert ?? [],
      delete: body.Delete ?? [],
    });
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
