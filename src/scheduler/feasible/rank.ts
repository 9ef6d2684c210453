/**
 * Ranking: the score components Nomad adds to a feasible node, each in [-1, 1], averaged into a
 * final score. Bin-pack is always present; the others are added only when they say something
 * (a collision, a penalty node, a matched affinity, a non-zero spread boost).
 */
import type { Affinity, Node, Spread } from '../../structs/index.js';
import { checkConstraint, resolveInterpolation } from './constraint.js';
import type { GroupSpec } from './group-spec.js';
import type { JobTracker } from './usage.js';

/** Job anti-affinity: −(collisions+1)/count when the node already holds allocs of the group. */
export function jobAntiAffinityScore(collisions: number, desiredCount: number): number {
  if (collisions <= 0 || desiredCount <= 0) return 0;
  return -(collisions + 1) / desiredCount;
}

/**
 * Job anti-affinity when bin-packing: −collisions/count. Nomad's −(collisions+1)/count charges the first
 * collision double, and near an empty node the bin-pack score rises by only ≈ 1.28 × (the instance's share of
 * the node) per instance, so with Nomad's form a job of a few hundred small instances never puts a second one
 * on a node. With this form a job packs when its whole demand exceeds ≈ 0.8 of a node (count × share > 1/1.28)
 * and still puts one instance per node below that: small jobs keep their spread over failure domains.
 */
export function jobAntiAffinityPackScore(collisions: number, desiredCount: number): number {
  if (collisions <= 0 || desiredCount <= 0) return 0;
  return -collisions / desiredCount;
}

/** Node affinity: weights of matched affinities over the total absolute weight. */
export function nodeAffinityScore(affinities: readonly Affinity[], node: Node): number {
  let total = 0;
  let sum = 0;
  for (const a of affinities) {
    total += Math.abs(a.Weight);
    if (checkConstraint({ LTarget: a.LTarget, RTarget: a.RTarget, Operand: a.Operand }, node)) sum += a.Weight;
  }
  return total === 0 ? 0 : sum / total;
}

interface SpreadInfo {
  attribute: string;
  /** weight / sum of all spread weights */
  relWeight: number;
  /** value → desired count; null for an even spread (no targets). */
  desired: Map<string, number> | null;
  /** Desired count for values not named by a target (what the targets leave of 100 %). */
  implicit: number | null;
}

/** Spread scoring for one group, precomputed from its spread blocks and count. */
export class SpreadScorer {
  private readonly infos: SpreadInfo[] = [];

  constructor(
    spreads: readonly Spread[],
    private readonly group: string,
    count: number,
  ) {
    let sumWeights = 0;
    for (const s of spreads) sumWeights += s.Weight;
    for (const s of spreads) {
      const targets = s.SpreadTarget ?? [];
      let desired: Map<string, number> | null = null;
      let implicit: number | null = null;
      if (targets.length > 0) {
        desired = new Map();
        let sum = 0;
        for (const t of targets) {
          const d = (t.Percent / 100) * count;
          desired.set(t.Value, d);
          sum += d;
        }
        if (sum < count) implicit = count - sum;
      }
      this.infos.push({
        attribute: s.Attribute,
        relWeight: sumWeights > 0 ? s.Weight / sumWeights : 0,
        desired,
        implicit,
      });
    }
  }

  get empty(): boolean {
    return this.infos.length === 0;
  }

  /** The summed boost of every spread block for placing one more alloc on `node`. */
  score(node: Node, jobs: JobTracker): number {
    let total = 0;
    for (const info of this.infos) {
      const counts = jobs.valueCounts(this.group, info.attribute);
      if (info.desired === null) {
        total += evenSpreadBoost(counts, resolveInterpolation(info.attribute, node));
        continue;
      }
      const value = resolveInterpolation(info.attribute, node);
      if (value === undefined) {
        total -= 1;
        continue;
      }
      const desired = info.desired.get(value) ?? info.implicit;
      if (desired === null || desired === undefined || desired <= 0) {
        total -= 1;
        continue;
      }
      const used = (counts.get(value) ?? 0) + 1;
      total += ((desired - used) / desired) * info.relWeight;
    }
    return total;
  }
}

/**
 * Even spread (no targets): favour values that are behind the least-used value, penalise values at
 * the minimum when everything is level.
 */
export function evenSpreadBoost(counts: Map<string, number>, value: string | undefined): number {
  if (counts.size === 0) return 0;
  if (value === undefined) return -1;
  let min = Infinity;
  let max = -Infinity;
  for (const c of counts.values()) {
    if (c < min) min = c;
    if (c > max) max = c;
  }
  const current = counts.get(value) ?? 0;
  if (current !== min) return min === 0 ? -1 : (min - current) / min;
  if (min === max) return -1;
  if (min === 0) return 1;
  return (max - current) / min;
}

export function hasAffinityOrSpread(spec: GroupSpec): boolean {
  return spec.affinities.length > 0 || spec.spreads.length > 0;
}
