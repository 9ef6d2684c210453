/** Job endpoints: `/v1/jobs`, `/v1/jobs/parse`, `/v1/job/:id[/...]`, `/v1/validate/job`. */
import { badRequest, formatProblem, isDroverError, permissionDenied } from '../../errors/index.js';
import { canonicalizeJob, parseJobHCL, parseJobJSON } from '../../jobspec/index.js';
import type { Job } from '../../structs/index.js';
import { admittedNamespace } from '../../server/index.js';
import type { RequestContext, Router } from '../router.js';
import { allocStubShape, shapeAllocStubs } from '../alloc-stubs.js';
import { indexed, JsonReply } from '../reply.js';
import { boolParam, queryOptions } from '../query.js';
import { listParams, listReply } from '../list.js';
import type { ServerRouteOptions } from '../types.js';
import { forwardJSONToRegion, MULTIREGION_HEADER, REGION_FORWARDED_HEADER, regionServer } from '../forward.js';
import { requestSecret } from '../acl-rules.js';

interface RegisterBody {
  Job?: unknown;
  EnforceIndex?: boolean;
  JobModifyIndex?: number;
  Submission?: { Source: string; Format: string; VariableFlags?: Record<string, string> } | null;
  Diff?: boolean;
}

/**
 * Decodes an API job body into a Job: its JSON shape only (types, field paths). Defaults, validation and
 * warnings are the server's job admission (server/admission.ts), which every caller of the server gets.
 */
export function decodeJob(raw: unknown): Job {
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw badRequest('request body has no "Job" object: expected {"Job": {...}}');
  }
  // The body was parsed for this request alone: decoded in place, and handed over to the server (`handOver`).
  return parseJobJSON(raw, 'job.json', { owned: true });
}

export function jobRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  const ns = (q: URLSearchParams) => q.get('namespace') ?? 'default';

  /** The body may name another namespace than the query the ACL rule checked: the token must be allowed there too. */
  const maySubmit = (c: RequestContext, job: Job) => {
    if (
      c.identity &&
      !c.identity.acl.allowNamespaceOperation(
        admittedNamespace(job, c.query.get('namespace') ?? undefined),
        'submit-job',
      )
    )
      throw permissionDenied();
  };

  /**
   * A job whose `Region` is another region is that region's business: the body goes there as it came (Nomad
   * sets the request's region from the job's). Undefined when the job belongs here.
   */
  const toItsRegion = async (c: RequestContext, job: Job, body: RegisterBody): Promise<JsonReply | undefined> => {
    const here = opts.region ?? 'global';
    if (!job.Region || job.Region === here) return undefined;
    const target = regionServer(opts, job.Region, c.req.headers[REGION_FORWARDED_HEADER]);
    return forwardJSONToRegion(c.req, target, body, c.signal, opts.regions?.fetch);
  };

  const register = async (c: RequestContext, body: RegisterBody, q: URLSearchParams, pathID?: string) => {
    const job = decodeJob(body.Job);
    maySubmit(c, job);
    if (pathID !== undefined && job.ID !== pathID)
      throw badRequest(`job ID "${job.ID}" does not match the request path "${pathID}"`);
    // A multiregion job submitted by a user is rolled out from here; one sent by a rollout is this region's part.
    if (job.Multiregion && c.req.headers[MULTIREGION_HEADER] === undefined) {
      if (!opts.multiregion) throw badRequest('the "multiregion" block needs a server agent');
      return opts.multiregion.start(job, {
        namespace: q.get('namespace') ?? undefined,
        token: requestSecret(c),
        body: body as Record<string, unknown>,
      });
    }
    const elsewhere = await toItsRegion(c, job, body);
    if (elsewhere) return elsewhere;
    const res = await server.jobs.register(job, {
      namespace: q.get('namespace') ?? undefined,
      handOver: true,
      enforceIndex: body.EnforceIndex ? (body.JobModifyIndex ?? 0) : undefined,
      submission: body.Submission ?? undefined,
    });
    return new JsonReply({ ...res, KnownLeader: true, LastContact: 0 }, res.Index);
  };

  r.get('/v1/jobs', async (c) => {
    const lp = listParams(c.query);
    return listReply(lp, await server.jobs.list(queryOptions(c.query, c)));
  });
  r.write('/v1/jobs', async (c) => register(c, await c.json<RegisterBody>(), c.query));

  r.write('/v1/jobs/parse', async (c) => {
    const body = await c.json<{ JobHCL?: string; Variables?: string; Canonicalize?: boolean; HCLv1?: boolean }>();
    if (typeof body.JobHCL !== 'string' || body.JobHCL === '')
      throw badRequest('"JobHCL" is required: the job file text');
    if (body.HCLv1) throw badRequest('HCLv1 job files are not supported; HCL2 parses 0.8-style files too');
    const { job } = parseJobHCL(body.JobHCL, {
      filename: 'input.hcl',
      varFileContent: body.Variables ?? '',
      allowFS: false,
    });
    return body.Canonicalize ? canonicalizeJob(job) : job;
  });

  r.write('/v1/validate/job', async (c) => {
    const body = await c.json<RegisterBody>();
    // Nomad: 400 "Job must be specified" for a body without a job, not a validation answer.
    if (body === null || typeof body !== 'object' || body.Job == null) throw badRequest('Job must be specified');
    try {
      const { warnings } = await server.jobs.validate(decodeJob(body.Job), { handOver: true });
      return { DriverConfigValidated: true, ValidationErrors: null, Error: '', Warnings: warnings.join('\n') };
    } catch (e) {
      if (!isDroverError(e) || e.status !== 400) throw e;
      const errs = e.problems.length ? e.problems.map(formatProblem) : [e.message];
      return { DriverConfigValidated: false, ValidationErrors: errs, Error: errs.join('\n'), Warnings: '' };
    }
  });

  r.get('/v1/job/:id', async (c) =>
    indexed(await server.jobs.get(ns(c.query), c.params.id!, queryOptions(c.query, c))),
  );
  r.write('/v1/job/:id', async (c) => register(c, await c.json<RegisterBody>(), c.query, c.params.id));
  r.on('DELETE', '/v1/job/:id', async (c) => {
    const res = await server.jobs.deregister(ns(c.query), c.params.id!, boolParam(c.query, 'purge'));
    return new JsonReply({ ...res, KnownLeader: true, LastContact: 0 }, res.Index);
  });

  r.write('/v1/job/:id/plan', async (c) => {
    const body = await c.json<RegisterBody>();
    const job = decodeJob(body.Job);
    if (job.ID !== c.params.id) throw badRequest(`job ID "${job.ID}" does not match the request path "${c.params.id}"`);
    maySubmit(c, job);
    const elsewhere = job.Multiregion ? undefined : await toItsRegion(c, job, body);
    if (elsewhere) return elsewhere;
    const res = await server.jobs.plan(job, body.Diff ?? false, {
      namespace: c.query.get('namespace') ?? undefined,
      handOver: true,
    });
    return new JsonReply(res, res.Index);
  });

  r.get('/v1/job/:id/allocations', async (c) => {
    const shape = allocStubShape(c.query);
    const lp = listParams(c.query);
    const res = await server.jobs.allocations(
      ns(c.query),
      c.params.id!,
      boolParam(c.query, 'all'),
      queryOptions(c.query, c),
    );
    return listReply(lp, { value: shapeAllocStubs(res.value, shape), index: res.index });
  });
  r.get('/v1/job/:id/evaluations', async (c) => {
    const lp = listParams(c.query);
    return listReply(lp, await server.jobs.evaluations(ns(c.query), c.params.id!, queryOptions(c.query, c)));
  });
  r.get('/v1/job/:id/summary', async (c) =>
    indexed(await server.jobs.summary(ns(c.query), c.params.id!, queryOptions(c.query, c))),
  );
  r.get('/v1/job/:id/deployments', async (c) =>
    indexed(await server.jobs.deployments(ns(c.query), c.params.id!, queryOptions(c.query, c))),
  );
  r.get('/v1/job/:id/deployment', async (c) => {
    const res = await server.jobs.deployments(ns(c.query), c.params.id!, queryOptions(c.query, c));
    return new JsonReply(res.value[0] ?? null, res.index);
  });
  r.get('/v1/job/:id/versions', async (c) => {
    const res = await server.jobs.versionHistory(
      ns(c.query),
      c.params.id!,
      boolParam(c.query, 'diffs'),
      queryOptions(c.query, c),
    );
    return new JsonReply({ ...res.value, Index: res.index, KnownLeader: true, LastContact: 0 }, res.index);
  });
}
