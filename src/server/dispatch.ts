/**
 * `POST /v1/job/:id/dispatch`: a child of a parameterized job, `<parent>/dispatch-<unix>-<8 hex>`, with
 * the dispatch's payload and meta, scheduled like any job. The parent is never scheduled itself.
 */
import { randomBytes } from 'node:crypto';
import { EvalTriggerJobRegister, JobStatusDead, type Job, type ParameterizedJobConfig } from '../structs/index.js';
import { refreshJobStatus, upsertEvals, upsertJob } from '../state/index.js';
import { badRequest, jobNotFound } from '../errors/index.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';
import { childJobs, childSpec } from './periodic.js';
import type { JobDispatchRequest, JobDispatchResult } from './types.js';

/** Nomad's limit on a dispatch payload, before compression. */
export const DISPATCH_PAYLOAD_LIMIT = 16 * 1024;

/** Every reason the dispatch request does not fit the parent's parameterized block; empty when it fits. */
export function dispatchProblems(
  cfg: ParameterizedJobConfig,
  payload: Buffer | null,
  meta: Record<string, string>,
): string[] {
  const problems: string[] = [];
  const mode = cfg.Payload || 'optional';
  const has = payload != null && payload.length > 0;
  if (mode === 'required' && !has) problems.push('payload is required by the parameterized job but none was given');
  if (mode === 'forbidden' && has) problems.push('payload is forbidden by the parameterized job');
  if (has && payload.length > DISPATCH_PAYLOAD_LIMIT)
    problems.push(`payload is ${payload.length} bytes: more than the ${DISPATCH_PAYLOAD_LIMIT}-byte limit`);
  const required = cfg.MetaRequired ?? [];
  const allowed = new Set([...required, ...(cfg.MetaOptional ?? [])]);
  const missing = required.filter((k) => !(k in meta));
  if (missing.length > 0) problems.push(`dispatch is missing required meta keys: ${missing.join(', ')}`);
  const unknown = Object.keys(meta).filter((k) => !allowed.has(k));
  if (unknown.length > 0) problems.push(`dispatch has meta keys the job does not allow: ${unknown.sort().join(', ')}`);
  return problems;
}

function decodePayload(p: string | null | undefined): Buffer | null {
  if (p == null || p === '') return null;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p.replace(/\s/g, ''))) throw badRequest('Payload must be base64 encoded');
  return Buffer.from(p, 'base64');
}

export function dispatchedJobID(parentID: string, nowMs: number, hex = randomBytes(4).toString('hex')): string {
  return `${parentID}/dispatch-${Math.floor(nowMs / 1000)}-${hex}`;
}

export async function jobDispatch(
  ctx: ServerContext,
  namespace: string,
  parentID: string,
  req: JobDispatchRequest,
): Promise<JobDispatchResult> {
  const snap = ctx.store.snapshot();
  const parent = snap.jobByID(namespace, parentID);
  if (parent == null) throw jobNotFound(namespace, parentID);
  if (parent.ParameterizedJob == null || parent.Dispatched)
    throw badRequest(`job "${parentID}" is not a parameterized job`);
  if (parent.Stop) throw badRequest(`job "${parentID}" is stopped: it cannot be dispatched`);
  const payload = decodePayload(req.Payload);
  const meta = req.Meta ?? {};
  for (const [k, v] of Object.entries(meta))
    if (typeof v !== 'string') throw badRequest(`meta value of "${k}" must be a string`);
  const problems = dispatchProblems(parent.ParameterizedJob, payload, meta);
  if (problems.length > 0)
    throw badRequest(
      problems.join('; '),
      problems.map((message) => ({ message })),
    );

  const token = req.IdempotencyToken ?? '';
  if (token !== '') {
    // The same token again returns the earlier dispatch while it is live, as Nomad does.
    const prev = childJobs(snap, namespace, parentID).find(
      (c) => c.DispatchIdempotencyToken === token && c.Status !== JobStatusDead,
    );
    if (prev)
      return {
        DispatchedJobID: prev.ID,
        EvalID: '',
        EvalCreateIndex: 0,
        JobCreateIndex: prev.CreateIndex ?? 0,
        Index: snap.index(),
      };
  }
  const spec = childSpec(parent);
  const id = dispatchedJobID(parentID, ctx.clock.now());
  const child: Job = {
    ...spec,
    ID: id,
    Name: id,
    ParentID: parentID,
    Dispatched: true,
    DispatchIdempotencyToken: token,
    Payload: payload ? payload.toString('base64') : null,
    Meta: { ...(parent.Meta ?? {}), ...meta },
    Stop: false,
  };
  const { result, index } = await ctx.store.write((txn) => {
    const stored = upsertJob(txn, child, { nowNs: nowNs(ctx), trackedVersions: ctx.jobTrackedVersions }).job;
    const [ev] = upsertEvals(txn, [newEval(ctx, stored, EvalTriggerJobRegister)], nowNs(ctx));
    refreshJobStatus(txn, namespace, id);
    return { job: stored, ev: ev! };
  });
  routeEval(ctx, result.ev);
  return {
    DispatchedJobID: id,
    EvalID: result.ev.ID,
    EvalCreateIndex: result.ev.CreateIndex,
    JobCreateIndex: result.job.CreateIndex ?? index,
    Index: index,
  };
}
