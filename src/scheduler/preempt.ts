/**
 * Preemption: when a higher-priority allocation does not fit on a node, evict lower-priority
 * allocations (at least 10 priority points below) until it does. Lowest priority first, then the
 * largest, so few allocations are evicted.
 */
import type { Allocation, Job, Node } from '../structs/index.js';
import type { GroupSpec } from './feasible/group-spec.js';
import { allocUsage } from './feasible/resources.js';
import { exhaustedDimension } from './feasible/select.js';
import type { UsageTracker } from './feasible/usage.js';

export const PreemptionPriorityDelta = 10;

/** The allocations to evict so `spec` fits on `node`, or null when no such set exists. Leaves `usage` unchanged. */
export function findPreemptions(spec: GroupSpec, node: Node, job: Job, usage: UsageTracker): Allocation[] | null {
  const candidates = usage
    .liveAllocs(node)
    .filter((a) => a.JobID !== job.ID && (a.Job?.Priority ?? 50) <= job.Priority - PreemptionPriorityDelta)
    .sort((a, b) => {
      const dp = (a.Job?.Priority ?? 50) - (b.Job?.Priority ?? 50);
      if (dp !== 0) return dp;
      const ua = allocUsage(a);
      const ub = allocUsage(b);
      return ub.cpu + ub.memoryMB - (ua.cpu + ua.memoryMB);
    });
  const chosen: Allocation[] = [];
  const u = usage.get(node);
  for (const a of candidates) {
    usage.remove(a);
    chosen.push(a);
    if (exhaustedDimension(spec, node, u) === null) break;
  }
  const fits = exhaustedDimension(spec, node, u) === null;
  for (const a of chosen) usage.unremove(a);
  return fits && chosen.length > 0 ? chosen : null;
}
