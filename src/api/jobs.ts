/** Job endpoints: `/v1/jobs`, `/v1/job/:id/...`. */
import type {
  AllocListStub,
  Deployment,
  Evaluation,
  Job,
  JobListStub,
  JobSubmission,
  JobSummary,
} from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';
import type {
  EvalCreatedResponse,
  JobDeregisterResult,
  JobDispatchResponse,
  JobPlanResult,
  JobRegisterResult,
  JobScaleStatusResponse,
  JobsParseRequest,
  JobVersionsResponse,
} from './types.js';

export interface RegisterOptions extends WriteOptions {
  /** `job run -check-index`: register only if the job's JobModifyIndex is `jobModifyIndex` (0: must not exist). */
  enforceIndex?: boolean;
  jobModifyIndex?: number;
  /** The job file as written, kept by the server for `job inspect` and history. */
  submission?: JobSubmission;
  policyOverride?: boolean;
  preserveCounts?: boolean;
}

const jobPath = (id: string, rest = '') => `/v1/job/${encodeURIComponent(id)}${rest}`;

export class JobsAPI {
  constructor(private readonly http: HttpTransport) {}

  list(q: QueryOptions = {}): Promise<QueryResponse<JobListStub[]>> {
    return this.http.query<JobListStub[]>('/v1/jobs', q);
  }

  register(job: Job, opts: RegisterOptions = {}): Promise<JobRegisterResult> {
    const body: Record<string, unknown> = { Job: job };
    if (opts.enforceIndex) {
      body.EnforceIndex = true;
      body.JobModifyIndex = opts.jobModifyIndex ?? 0;
    }
    if (opts.submission) body.Submission = opts.submission;
    if (opts.policyOverride) body.PolicyOverride = true;
    if (opts.preserveCounts) body.PreserveCounts = true;
    return this.http.write<JobRegisterResult>('POST', '/v1/jobs', body, opts);
  }

  /** Server-side parse of an HCL job file; `Canonicalize` fills Nomad's defaults. */
  parse(req: JobsParseRequest, opts: WriteOptions = {}): Promise<Job> {
    return this.http.write<Job>('POST', '/v1/jobs/parse', req, opts);
  }

  get(id: string, q: QueryOptions = {}): Promise<QueryResponse<Job>> {
    return this.http.query<Job>(jobPath(id), q);
  }

  /** Every kept version, newest first; `diffs` asks for the diff between each version and the one before. */
  async versions(id: string, q: QueryOptions & { diffs?: boolean } = {}): Promise<QueryResponse<JobVersionsResponse>> {
    const params = { ...q.params, diffs: q.diffs ? true : undefined };
    const r = await this.http.query<JobVersionsResponse | Job[]>(jobPath(id, '/versions'), { ...q, params });
    // Tolerates a server that answers the bare list.
    const value = Array.isArray(r.value) ? { Versions: r.value, Diffs: null } : r.value;
    return { ...r, value };
  }

  /** A dry run of `register`: the diff against the current version and what the scheduler would do. */
  plan(job: Job, diff = true, opts: WriteOptions & { policyOverride?: boolean } = {}): Promise<JobPlanResult> {
    return this.http.write<JobPlanResult>(
      'POST',
      jobPath(job.ID, '/plan'),
      { Job: job, Diff: diff, PolicyOverride: opts.policyOverride ?? false },
      opts,
    );
  }

  allocations(id: string, q: QueryOptions & { all?: boolean } = {}): Promise<QueryResponse<AllocListStub[]>> {
    return this.http.query<AllocListStub[]>(jobPath(id, '/allocations'), {
      ...q,
      params: { ...q.params, all: q.all ? true : undefined },
    });
  }

  evaluations(id: string, q: QueryOptions = {}): Promise<QueryResponse<Evaluation[]>> {
    return this.http.query<Evaluation[]>(jobPath(id, '/evaluations'), q);
  }

  deployments(id: string, q: QueryOptions = {}): Promise<QueryResponse<Deployment[]>> {
    return this.http.query<Deployment[]>(jobPath(id, '/deployments'), q);
  }

  /** The most recent deployment, or null when the job never had one. */
  latestDeployment(id: string, q: QueryOptions = {}): Promise<QueryResponse<Deployment | null>> {
    return this.http.query<Deployment | null>(jobPath(id, '/deployment'), q);
  }

  summary(id: string, q: QueryOptions = {}): Promise<QueryResponse<JobSummary>> {
    return this.http.query<JobSummary>(jobPath(id, '/summary'), q);
  }

  deregister(id: string, opts: WriteOptions & { purge?: boolean } = {}): Promise<JobDeregisterResult> {
    return this.http.write<JobDeregisterResult>('DELETE', jobPath(id), undefined, {
      ...opts,
      params: { ...opts.params, purge: opts.purge ? true : undefined },
    });
  }

  /** Creates a new evaluation of the job without changing it. */
  evaluate(id: string, opts: WriteOptions & { forceReschedule?: boolean } = {}): Promise<EvalCreatedResponse> {
    return this.http.write<EvalCreatedResponse>(
      'POST',
      jobPath(id, '/evaluate'),
      { JobID: id, EvalOptions: { ForceReschedule: opts.forceReschedule ?? false } },
      opts,
    );
  }

  scale(
    id: string,
    group: string,
    count: number,
    opts: WriteOptions & { message?: string; policyOverride?: boolean } = {},
  ): Promise<EvalCreatedResponse> {
    return this.http.write<EvalCreatedResponse>(
      'POST',
      jobPath(id, '/scale'),
      {
        Count: count,
        Target: { Job: id, Group: group },
        Message: opts.message ?? '',
        PolicyOverride: opts.policyOverride ?? false,
      },
      opts,
    );
  }

  /** Desired and running counts per group, with the group's recent scaling events (newest first). */
  scaleStatus(id: string, q: QueryOptions = {}): Promise<QueryResponse<JobScaleStatusResponse>> {
    return this.http.query<JobScaleStatusResponse>(jobPath(id, '/scale'), q);
  }

  dispatch(
    id: string,
    payload: Uint8Array | null,
    meta: Record<string, string>,
    opts: WriteOptions & { idempotencyToken?: string } = {},
  ): Promise<JobDispatchResponse> {
    const body: Record<string, unknown> = {
      JobID: id,
      Meta: meta,
      Payload: payload ? Buffer.from(payload).toString('base64') : null,
    };
    if (opts.idempotencyToken) body.IdempotencyToken = opts.idempotencyToken;
    return this.http.write<JobDispatchResponse>('POST', jobPath(id, '/dispatch'), body, opts);
  }

  periodicForce(id: string, opts: WriteOptions = {}): Promise<EvalCreatedResponse> {
    return this.http.write<EvalCreatedResponse>('POST', jobPath(id, '/periodic/force'), {}, opts);
  }

  revert(
    id: string,
    version: number,
    opts: WriteOptions & { enforcePriorVersion?: number } = {},
  ): Promise<EvalCreatedResponse> {
    const body: Record<string, unknown> = { JobID: id, JobVersion: version };
    if (opts.enforcePriorVersion !== undefined) body.EnforcePriorVersion = opts.enforcePriorVersion;
    return this.http.write<EvalCreatedResponse>('POST', jobPath(id, '/revert'), body, opts);
  }
}
