/**
 * Feasibility: may this group run on this node at all (ignoring room)? Checks run in Nomad's order
 * and record the reason of the first failure in the metric. Results of checks that depend only on
 * the node's computed class are cached per class for the whole evaluation; constraints on unique
 * attributes "escape" the cache and are checked per node.
 *
 *   node ─► job constraints ─► drivers ─► group/task constraints ─► host volumes ─► distinct_hosts
 *        (class-cached unless escaped)  (class-cached unless escaped)   (per node)   ─► distinct_property
 */
import type { AllocMetric, Node } from '../../structs/index.js';
import { checkConstraint, constraintString, resolveInterpolation as resolveValue } from './constraint.js';
import type { GroupSpec } from './group-spec.js';
import { filterNode } from './metrics.js';
import { nodeClassOf } from './node-class.js';
import type { JobTracker } from './usage.js';

export const FilterMissingDrivers = 'missing drivers';
export const FilterMissingHostVolumes = 'missing compatible host volumes';
export const FilterClassIneligible = 'computed class ineligible';

/** Class eligibility for one evaluation: job-level and per-group results by computed class. */
export class EvalEligibility {
  readonly job = new Map<string, boolean>();
  readonly groups = new Map<string, Map<string, boolean>>();
  escaped = false;

  group(name: string): Map<string, boolean> {
    let m = this.groups.get(name);
    if (!m) this.groups.set(name, (m = new Map()));
    return m;
  }

  /** The blocked eval's ClassEligibility: a class is eligible unless a job or group check failed on it. */
  classEligibility(): Record<string, boolean> {
    const out: Record<string, boolean> = {};
    for (const [c, ok] of this.job) out[c] = ok;
    for (const m of this.groups.values()) {
      for (const [c, ok] of m) out[c] = (out[c] ?? true) && ok;
    }
    return out;
  }
}

export function driverHealthy(node: Node, name: string): boolean {
  const d = node.Drivers?.[name];
  if (d) return d.Detected && d.Healthy;
  const legacy = node.Attributes[`driver.${name}`];
  return legacy !== undefined && legacy !== '0' && legacy !== 'false';
}

function checkJobLevel(spec: GroupSpec, node: Node, m: AllocMetric): boolean {
  for (const c of spec.jobConstraints) {
    if (!checkConstraint(c, node)) {
      filterNode(m, node, constraintString(c));
      return false;
    }
  }
  return true;
}

function checkGroupLevel(spec: GroupSpec, node: Node, m: AllocMetric): boolean {
  for (const d of spec.drivers) {
    if (!driverHealthy(node, d)) {
      filterNode(m, node, FilterMissingDrivers);
      return false;
    }
  }
  for (const c of spec.groupConstraints) {
    if (!checkConstraint(c, node)) {
      filterNode(m, node, constraintString(c));
      return false;
    }
  }
  return true;
}

/** Checks that depend only on the node (and are cacheable by class unless escaped). */
export function checkNodeStatic(spec: GroupSpec, node: Node, m: AllocMetric, elig: EvalEligibility): boolean {
  const cls = nodeClassOf(node);
  if (spec.jobEscaped || spec.groupEscaped) elig.escaped = true;
  if (spec.jobEscaped) {
    if (!checkJobLevel(spec, node, m)) return false;
  } else {
    const known = elig.job.get(cls);
    if (known === false) return classIneligible(node, m);
    if (known === undefined) {
      const ok = checkJobLevel(spec, node, m);
      elig.job.set(cls, ok);
      if (!ok) return false;
    }
  }
  if (spec.groupEscaped) {
    if (!checkGroupLevel(spec, node, m)) return false;
  } else {
    const cache = elig.group(spec.tg.Name);
    const known = cache.get(cls);
    if (known === false) return classIneligible(node, m);
    if (known === undefined) {
      const ok = checkGroupLevel(spec, node, m);
      cache.set(cls, ok);
      if (!ok) return false;
    }
  }
  return spec.hostVolumes.length === 0 || hasHostVolumes(spec, node, m);
}

function classIneligible(node: Node, m: AllocMetric): false {
  filterNode(m, node, FilterClassIneligible);
  return false;
}

function hasHostVolumes(spec: GroupSpec, node: Node, m: AllocMetric): boolean {
  const hv = node.HostVolumes ?? {};
  for (const v of spec.hostVolumes) {
    if (!hv[v]) {
      filterNode(m, node, FilterMissingHostVolumes);
      return false;
    }
  }
  return true;
}

/** Checks that depend on what the plan already placed: distinct_hosts and distinct_property. */
export function checkNodeDistinct(spec: GroupSpec, node: Node, m: AllocMetric, jobs: JobTracker): boolean {
  if (spec.distinctHostsJob && jobs.onNode(node.ID) > 0) {
    filterNode(m, node, 'distinct_hosts');
    return false;
  }
  if (spec.distinctHostsGroup && jobs.onNodeInGroup(node.ID, spec.tg.Name) > 0) {
    filterNode(m, node, 'distinct_hosts');
    return false;
  }
  for (const p of spec.distinctProperties) {
    const counts = jobs.valueCounts(p.groupScoped ? spec.tg.Name : '', p.attribute);
    const v = resolveValue(p.attribute, node);
    if (v === undefined || (counts.get(v) ?? 0) >= p.limit) {
      filterNode(m, node, p.key);
      return false;
    }
  }
  return true;
}

/** Full feasibility for one node (used for single-node checks: system jobs, in-place updates). */
export function nodeFeasible(
  spec: GroupSpec,
  node: Node,
  m: AllocMetric,
  elig: EvalEligibility,
  jobs: JobTracker,
): boolean {
  return checkNodeStatic(spec, node, m, elig) && checkNodeDistinct(spec, node, m, jobs);
}
