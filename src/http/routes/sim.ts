/**
 * `PUT /v1/operator/sim`: Drover's "what if" (server/sim.ts). The body is a SimRequest whose `Jobs` are API job
 * objects as `PUT /v1/jobs` takes them; the answer is a SimResult. The live state is only read (ACL: a management token).
 */
import { badRequest, type Problem } from '../../errors/index.js';
import type { Job, SimRequest } from '../../structs/index.js';
import type { Router } from '../router.js';
import type { ServerRouteOptions } from '../types.js';
import { decodeJob } from './jobs.js';

const LIST_FIELDS = ['AddNodes', 'RemoveNodes', 'DrainNodes', 'FailDatacenters', 'Jobs', 'Scale'] as const;

/** The body's JSON shape (lists are lists, Jobs decode as jobs); the server checks the values. */
export function decodeSimRequest(raw: unknown, namespace: string | null): SimRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw badRequest('request body must be a simulation object: {"AddNodes": [...], "MaxCount": {...}, ...}');
  const body = raw as Record<string, unknown>;
  const problems: Problem[] = [];
  for (const f of LIST_FIELDS) {
    const v = body[f];
    if (v != null && !Array.isArray(v)) problems.push({ path: f, message: 'must be a list' });
  }
  for (const f of ['AddNodes', 'Scale'] as const)
    (Array.isArray(body[f]) ? (body[f] as unknown[]) : []).forEach((v, i) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        problems.push({ path: `${f}[${i}]`, message: 'must be an object' });
    });
  const mc = body.MaxCount;
  if (mc != null && (typeof mc !== 'object' || Array.isArray(mc)))
    problems.push({ path: 'MaxCount', message: 'must be an object {"JobID": ..., "Group": ...}' });
  if (problems.length > 0)
    throw badRequest(`invalid simulation: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  const jobs: Job[] = [];
  (Array.isArray(body.Jobs) ? (body.Jobs as unknown[]) : []).forEach((j, i) => {
    try {
      jobs.push(decodeJob(j));
    } catch (e) {
      throw badRequest(`invalid simulation: Jobs[${i}]: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return {
    ...(body as SimRequest),
    Namespace: typeof body.Namespace === 'string' && body.Namespace ? body.Namespace : (namespace ?? 'default'),
    Jobs: jobs,
  };
}

export function simRoutes(r: Router, { server }: ServerRouteOptions): void {
  r.write('/v1/operator/sim', async (c) => {
    if (server.simulate === undefined) throw badRequest('this server cannot run simulations');
    const req = decodeSimRequest(await c.json(), c.query.get('namespace'));
    return server.simulate(req, c.signal);
  });
}
