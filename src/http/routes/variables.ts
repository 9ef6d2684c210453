/**
 * Nomad Variables: `GET /v1/vars?prefix=`, `GET|PUT|DELETE /v1/var/:path` (`?cas=N` on writes). A check-and-set
 * conflict answers 409 with the current variable as the body, as Nomad does, so `var put -check-index` can show it.
 */
import { badRequest, DroverError, formatProblem, permissionDenied, type Problem } from '../../errors/index.js';
import { checkVariableItems } from '../../jobspec/index.js';
import { parseCas } from '../../discovery/index.js';
import type { Variable } from '../../structs/index.js';
import type { RequestContext, Router } from '../router.js';
import { indexed, JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import { listParams, listReply } from '../list.js';
import type { ServerRouteOptions } from '../types.js';

const casParam = (q: URLSearchParams) => parseCas(q.get('cas'));

export function variableRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/vars', async (c) => {
    const lp = listParams(c.query);
    return listReply(lp, await server.vars.list(queryOptions(c.query, c)), (v) => v.Path);
  });
  r.get('/v1/var/*path', async (c) => {
    const q = queryOptions(c.query, c);
    const res = await server.vars.get(q.namespace ?? 'default', c.params.path!, q);
    // The index travels with the 404 too, so a blocking query can wait for the variable to appear.
    if (res.value === null) {
      c.res.setHeader('X-Nomad-Index', res.index);
      throw new DroverError('VariableNotFound', 'variable not found');
    }
    return indexed(res);
  });
  r.write('/v1/var/*path', async (c) => {
    const body = await c.json<Partial<Variable>>();
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw badRequest('request body must be a variable: {"Items": {...}}');
    const path = c.params.path!;
    if (body.Path && body.Path !== path)
      throw badRequest(`variable path "${body.Path}" does not match the request path "${path}"`);
    const problems: Problem[] = [];
    checkVariableItems(body.Items, problems);
    if (problems.length > 0) throw badRequest(`invalid variable: ${problems.map(formatProblem).join('; ')}`, problems);
    const namespace = c.query.get('namespace') || body.Namespace || 'default';
    if (c.identity && !c.identity.acl.allowVariableOperation(namespace, path, 'write')) throw permissionDenied();
    const res = await server.vars.put(
      { Namespace: namespace, Path: path, Items: body.Items ?? {} },
      { cas: casParam(c.query) },
    );
    return res.ok
      ? new JsonReply(res.variable, res.index)
      : new JsonReply(conflictFor(c, res.conflict), res.index, 409);
  });
  r.on('DELETE', '/v1/var/*path', async (c) => {
    const namespace = c.query.get('namespace') || 'default';
    const res = await server.vars.delete(namespace, c.params.path!, { cas: casParam(c.query) });
    return res.ok ? new JsonReply(null, res.index) : new JsonReply(conflictFor(c, res.conflict), res.index, 409);
  });
}

/**
 * A check-and-set conflict answers the current variable, as Nomad does; its Items only to a token that may
 * read the path, so a write- or destroy-only token learns the index but not the secret.
 */
function conflictFor<T extends { Namespace?: string; Path?: string; Items?: unknown } | null | undefined>(
  c: RequestContext,
  conflict: T,
): T {
  if (!c.identity || !conflict) return conflict;
  const ok = c.identity.acl.allowVariableOperation(conflict.Namespace ?? 'default', conflict.Path ?? '', 'read');
  return ok ? conflict : ({ ...conflict, Items: undefined } as T);
}
