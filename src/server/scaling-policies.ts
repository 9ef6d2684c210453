/**
 * `GET /v1/scaling/policies` and `GET /v1/scaling/policy/:id`: the groups' `scaling` blocks as Nomad's
 * ScalingPolicy objects. Nomad copies each block into a policies table at register, with a random ID kept across
 * job versions; Drover derives them from the stored jobs instead, with an ID hashed from the target (namespace,
 * job, group, type), so it is equally stable across versions and needs no second copy to keep in step. The
 * policy's indexes are its job's (CreateIndex, JobModifyIndex).
 *
 * Task-level `scaling "cpu" / "mem"` blocks (vertical, Enterprise in Nomad) are listed with type
 * `vertical_cpu` / `vertical_mem` and never acted on.
 */
import { createHash } from 'node:crypto';
import type { Job, ScalingPolicy, ScalingPolicyListStub, TaskGroup } from '../structs/index.js';
import { scalingPolicyNotFound } from '../errors/index.js';
import type { StateView } from '../state/index.js';
import type { ServerContext } from './context.js';
import { blockingQuery } from './read-endpoints.js';
import type { QueryOptions, QueryResult, ScalingPolicyQuery } from './types.js';

export const ScalingPolicyTypeHorizontal = 'horizontal';

/** A UUID-shaped ID that depends only on the policy's target and type. */
export function scalingPolicyID(target: Record<string, string>, type: string): string {
  const key = [type, target.Namespace, target.Job, target.Group, target.Task ?? ''].join('\u0000');
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function complete(job: Job, p: ScalingPolicy, target: Record<string, string>, type: string): ScalingPolicy {
  return {
    ...p,
    ID: scalingPolicyID(target, type),
    Namespace: job.Namespace,
    Type: type,
    Target: target,
    Enabled: p.Enabled ?? true,
    Policy: p.Policy ?? null,
    CreateIndex: job.CreateIndex ?? 0,
    ModifyIndex: job.JobModifyIndex ?? job.ModifyIndex ?? 0,
  };
}

/** The group's horizontal policy with its ID and target filled, or undefined when the group has none. */
export function groupScalingPolicy(job: Job, tg: TaskGroup): ScalingPolicy | undefined {
  if (tg.Scaling == null) return undefined;
  const target = { Namespace: job.Namespace, Job: job.ID, Group: tg.Name };
  return complete(job, tg.Scaling, target, tg.Scaling.Type || ScalingPolicyTypeHorizontal);
}

/** Every scaling policy of a job: one per group with a `scaling` block, then the tasks' vertical ones. */
export function jobScalingPolicies(job: Job): ScalingPolicy[] {
  const out: ScalingPolicy[] = [];
  for (const tg of job.TaskGroups) {
    const g = groupScalingPolicy(job, tg);
    if (g) out.push(g);
    for (const t of tg.Tasks)
      for (const p of t.ScalingPolicies ?? []) {
        const target = { Namespace: job.Namespace, Job: job.ID, Group: tg.Name, Task: t.Name };
        out.push(complete(job, p, target, p.Type || 'vertical'));
      }
  }
  return out;
}

export function toListStub(p: ScalingPolicy): ScalingPolicyListStub {
  return {
    ID: p.ID ?? '',
    Enabled: p.Enabled ?? true,
    Type: p.Type ?? ScalingPolicyTypeHorizontal,
    Target: p.Target ?? {},
    CreateIndex: p.CreateIndex ?? 0,
    ModifyIndex: p.ModifyIndex ?? 0,
  };
}

function nsMatches(want: string | undefined, ns: string): boolean {
  return (want ?? 'default') === '*' || (want ?? 'default') === ns;
}

/** Policies visible to the query, ordered by ID as Nomad's table iterates them. */
export function listScalingPolicies(view: StateView, q: ScalingPolicyQuery): ScalingPolicyListStub[] {
  const out: ScalingPolicyListStub[] = [];
  for (const job of view.jobs()) {
    if (!nsMatches(q.namespace, job.Namespace)) continue;
    if (q.job && job.ID !== q.job) continue;
    for (const p of jobScalingPolicies(job)) {
      if (q.type && !(p.Type ?? '').startsWith(q.type)) continue;
      if (q.prefix && !(p.ID ?? '').startsWith(q.prefix)) continue;
      out.push(toListStub(p));
    }
  }
  return out.sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
}

/** One policy by ID, in the query's namespace (`*`: any), so the ACL check on that namespace covers it. */
export function findScalingPolicy(view: StateView, id: string, namespace?: string): ScalingPolicy | undefined {
  for (const job of view.jobs()) {
    if (!nsMatches(namespace, job.Namespace)) continue;
    for (const p of jobScalingPolicies(job)) if (p.ID === id) return p;
  }
  return undefined;
}

export function scalingPolicyList(
  ctx: ServerContext,
  q: ScalingPolicyQuery,
): Promise<QueryResult<ScalingPolicyListStub[]>> {
  return blockingQuery(ctx, ['jobs'], q, (snap) => listScalingPolicies(snap, q));
}

export function scalingPolicyGet(
  ctx: ServerContext,
  id: string,
  q: QueryOptions = {},
): Promise<QueryResult<ScalingPolicy>> {
  return blockingQuery(ctx, ['jobs'], q, (snap) => {
    const p = findScalingPolicy(snap, id, q.namespace);
    if (!p) throw scalingPolicyNotFound(id);
    return p;
  });
}
