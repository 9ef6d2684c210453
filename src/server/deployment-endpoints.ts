/**
 * Deployment endpoints with Nomad's semantics: list, read, allocations, promote, pause / resume, fail,
 * plus job revert and the version diffs that `job history -p` shows.
 */
import {
  allocListStub,
  DeploymentStatusPaused,
  DeploymentStatusRunning,
  EvalTriggerDeploymentWatcher,
  EvalTriggerJobRegister,
  type Deployment,
  type Evaluation,
  type Job,
} from '../structs/index.js';
import { upsertEvals, type WriteTxn } from '../state/index.js';
import { badRequest, checkIndexMismatch, DroverError, deploymentNotFound, jobNotFound } from '../errors/index.js';
import type { JobDiff, JobRegisterResult, JobVersionsResult } from '../structs/index.js';
import type { DeploymentUpdateResult, QueryOptions } from './types.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';
import { blockingQuery } from './read-endpoints.js';
import { jobDiff } from './job-diff.js';
import { canariesHealthy, DeploymentDescription, failInTxn, promoteInTxn, revertJob } from './deployment-watcher.js';

export interface JobRevertOptions {
  /** Revert only if the job's current version is this one (Nomad's EnforcePriorVersion). */
  enforcePriorVersion?: number;
}

function nsMatches(q: QueryOptions | undefined, ns: string): boolean {
  const want = q?.namespace ?? 'default';
  return want === '*' || want === ns;
}

export function deploymentList(ctx: ServerContext, q: QueryOptions) {
  return blockingQuery(ctx, ['deployments'], q, (s) =>
    [...s.deployments()]
      .filter((d) => nsMatches(q, d.Namespace) && (q.prefix == null || d.ID.startsWith(q.prefix)))
      .sort((a, b) => b.CreateIndex - a.CreateIndex),
  );
}

export function deploymentGet(ctx: ServerContext, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['deployments'], q, (s) => {
    const d = s.deploymentByID(id);
    if (d == null) throw deploymentNotFound(id);
    return d;
  });
}

export function deploymentAllocations(ctx: ServerContext, id: string, q?: QueryOptions) {
  return blockingQuery(ctx, ['allocs', 'deployments'], q, (s) => {
    if (s.deploymentByID(id) == null) throw deploymentNotFound(id);
    return s.allocsByDeployment(id).map(allocListStub);
  });
}

function activeDeployment(txn: WriteTxn, id: string, verb: string): Deployment {
  const d = txn.deploymentByID(id);
  if (d == null) throw deploymentNotFound(id);
  if (d.Status !== DeploymentStatusRunning && d.Status !== DeploymentStatusPaused) {
    throw new DroverError('DeploymentTerminal', `can't ${verb} terminal deployment`, {
      details: { id, status: d.Status },
    });
  }
  return d;
}

function deploymentEval(ctx: ServerContext, txn: WriteTxn, d: Deployment): Evaluation[] {
  const job = txn.jobByID(d.Namespace, d.JobID);
  if (job == null || job.Stop) return [];
  return upsertEvals(txn, [newEval(ctx, job, EvalTriggerDeploymentWatcher, { DeploymentID: d.ID })], nowNs(ctx));
}

async function update(
  ctx: ServerContext,
  fn: (txn: WriteTxn) => { evals: Evaluation[]; revertedTo?: number; deploymentID: string },
): Promise<DeploymentUpdateResult> {
  const { result, index } = await ctx.store.write(fn);
  for (const ev of result.evals) routeEval(ctx, ev);
  const ev = result.evals[0];
  return {
    EvalID: ev?.ID ?? '',
    EvalCreateIndex: ev?.CreateIndex ?? 0,
    DeploymentModifyIndex: index,
    RevertedJobVersion: result.revertedTo ?? null,
    Index: index,
  };
}

/** Promotes the canaries of `groups` (every group when `all`); every canary promoted must be healthy. */
export function deploymentPromote(
  ctx: ServerContext,
  id: string,
  all: boolean,
  groups: string[] | null,
): Promise<DeploymentUpdateResult> {
  return update(ctx, (txn) => {
    const d = activeDeployment(txn, id, 'promote');
    if (d.Status === DeploymentStatusPaused)
      throw badRequest(`can't promote paused deployment "${id}": resume it first`);
    const canaryGroups = Object.entries(d.TaskGroups)
      .filter(([, s]) => s.DesiredCanaries > 0)
      .map(([n]) => n);
    if (canaryGroups.length === 0) throw badRequest(`deployment "${id}" has no canaries to promote`);
    const want = all || groups == null || groups.length === 0 ? canaryGroups : groups;
    for (const g of want) {
      const s = d.TaskGroups[g];
      if (s == null) throw badRequest(`deployment "${id}" has no task group "${g}"`);
      if (s.DesiredCanaries === 0) throw badRequest(`task group "${g}" has no canaries to promote`);
      if (!canariesHealthy(txn, d, g)) {
        const healthy = (s.PlacedCanaries ?? []).filter(
          (a) => txn.allocByID(a)?.DeploymentStatus?.Healthy === true,
        ).length;
        throw badRequest(`Task group "${g}" has ${healthy}/${s.DesiredCanaries} healthy allocations`);
      }
    }
    const promoted = promoteInTxn(ctx, txn, d, want);
    return { evals: deploymentEval(ctx, txn, promoted), deploymentID: id };
  });
}

/** Pauses (no new placements) or resumes a deployment. */
export function deploymentPause(ctx: ServerContext, id: string, pause: boolean): Promise<DeploymentUpdateResult> {
  return update(ctx, (txn) => {
    const d = activeDeployment(txn, id, pause ? 'pause' : 'resume');
    const needsPromotion = Object.values(d.TaskGroups).some(
      (s) => s.DesiredCanaries > 0 && !s.Promoted && !s.AutoPromote,
    );
    const next: Deployment = {
      ...d,
      Status: pause ? DeploymentStatusPaused : DeploymentStatusRunning,
      StatusDescription: pause
        ? DeploymentDescription.Paused
        : needsPromotion
          ? DeploymentDescription.RunningNeedsPromotion
          : DeploymentDescription.Running,
      ModifyIndex: txn.writeIndex,
      ModifyTime: nowNs(ctx),
    };
    txn.put('deployments', next);
    return { evals: pause ? [] : deploymentEval(ctx, txn, next), deploymentID: id };
  });
}

/** Marks a deployment failed by the operator; auto_revert applies as for an unhealthy allocation. */
export function deploymentFail(ctx: ServerContext, id: string): Promise<DeploymentUpdateResult> {
  return update(ctx, (txn) => {
    const d = activeDeployment(txn, id, 'fail');
    return { ...failInTxn(ctx, txn, d, DeploymentDescription.FailedByUser, { allowRevert: true }), deploymentID: id };
  });
}

/** Registers version `version` of the job again, as a new version (Nomad's job revert). */
export async function jobRevert(
  ctx: ServerContext,
  ns: string,
  jobID: string,
  version: number,
  opts: JobRevertOptions = {},
): Promise<JobRegisterResult> {
  const { result, index } = await ctx.store.write((txn) => {
    const cur = txn.jobByID(ns, jobID);
    if (cur == null) throw jobNotFound(ns, jobID);
    if (opts.enforcePriorVersion != null && (cur.Version ?? 0) !== opts.enforcePriorVersion) {
      throw checkIndexMismatch(opts.enforcePriorVersion, cur.Version ?? 0);
    }
    if ((cur.Version ?? 0) === version) throw badRequest(`can't revert to current version ${version}`);
    const target = txn.jobVersion(ns, jobID, version);
    if (target == null) throw badRequest(`job "${jobID}" has no version ${version}`);
    const { job } = revertJob(ctx, txn, cur, target);
    const [ev] = upsertEvals(txn, [newEval(ctx, job, EvalTriggerJobRegister)], nowNs(ctx));
    return { job, ev: ev! };
  });
  routeEval(ctx, result.ev);
  return {
    EvalID: result.ev.ID,
    EvalCreateIndex: result.ev.CreateIndex,
    JobModifyIndex: result.job.JobModifyIndex ?? index,
    Warnings: '',
    Index: index,
  };
}

export function jobVersionHistory(ctx: ServerContext, ns: string, id: string, diffs: boolean, q?: QueryOptions) {
  return blockingQuery(ctx, ['job_versions'], q, (s): JobVersionsResult => {
    const versions = s.jobVersions(ns, id);
    if (versions.length === 0) throw jobNotFound(ns, id);
    return { Versions: versions, Diffs: diffs ? versionDiffs(versions) : null };
  });
}

/** Diffs[i] compares versions[i] with versions[i + 1] (the version before it), as Nomad's `?diffs=true`. */
export function versionDiffs(versions: Job[]): JobDiff[] {
  const out: JobDiff[] = [];
  for (const [i, newer] of versions.entries()) {
    const older = versions[i + 1];
    if (older !== undefined) out.push(jobDiff(older, newer, false));
  }
  return out;
}
