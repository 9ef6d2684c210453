/**
 * A group's `scaling { policy { ... } }` block, read into what the autoscaler acts on. Nomad keeps the policy as
 * an opaque map (the autoscaler, a separate program, reads it); Drover stores it unchanged too and reads it here,
 * both when a job is admitted (so a typo is refused at register, naming the field) and on every evaluation.
 *
 * The map arrives in two shapes: decoded from HCL, every block is a list of objects keyed by its labels
 * (`check: [{ cpu: [{ source, strategy: [{ "target-value": [{ target }] }] }] }]`), and from JSON a user may
 * write the same or plain objects. Both are accepted.
 */
import type { Problem } from '../errors/index.js';
import { readGoDuration } from '../lib/duration.js';
import { parseApmQuery, parseGatewayQuery } from './autoscaler-sources.js';

/** Metric values the autoscaler keeps per check, so the largest within_bounds_trigger. */
export const HISTORY = 10;

/** Nomad's default within_bounds_trigger for the threshold strategy. */
const DEFAULT_WITHIN_BOUNDS_TRIGGER = 5;

export const DEFAULT_EVALUATION_INTERVAL_MS = 10_000;
/** Nomad autoscaler's default cooldown (5 minutes). */
export const DEFAULT_COOLDOWN_MS = 5 * 60_000;
/** Nomad's target-value default: a metric within 1% of the target is on target. */
export const DEFAULT_TARGET_THRESHOLD = 0.01;

export type StrategySpec =
  | { kind: 'target-value'; target: number; threshold: number }
  | {
      kind: 'threshold';
      lowerBound?: number;
      upperBound?: number;
      delta?: number;
      percentage?: number;
      value?: number;
      withinBoundsTrigger: number;
    }
  | { kind: 'pass-through' };

export interface CheckSpec {
  name: string;
  source: string;
  query: string;
  strategy: StrategySpec;
  /** `ignore`: a failing check is left out of the decision; `fail`: the whole evaluation stops. */
  onError: 'ignore' | 'fail';
}

export interface PolicySpec {
  evaluationIntervalMs: number;
  cooldownMs: number;
  checks: CheckSpec[];
}

export const KNOWN_SOURCES = ['nomad-apm', 'drover-gateway', 'prometheus'] as const;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** An HCL block value is a list of objects; JSON may give one object. */
function blockBodies(v: unknown): Obj[] {
  if (Array.isArray(v)) return v.filter(isObj);
  return isObj(v) ? [v] : [];
}

/** Labelled blocks (`check "name" { }`, `strategy "kind" { }`): [label, body] pairs. */
function labelled(v: unknown): Array<[string, Obj]> {
  const out: Array<[string, Obj]> = [];
  for (const wrapper of blockBodies(v))
    for (const [label, body] of Object.entries(wrapper)) {
      const bodies = blockBodies(body);
      out.push([label, bodies[0] ?? {}]);
    }
  return out;
}

class Reader {
  readonly problems: Problem[] = [];
  /** `base` is the policy's path; every `path` below starts with `.` (or is '' for the policy itself). */
  constructor(private readonly base: string) {}

  problem(path: string, message: string): void {
    this.problems.push({ path: `${this.base}${path}`, message });
  }

  durationMs(obj: Obj, key: string, path: string, dflt: number): number {
    const v = obj[key];
    if (v == null) return dflt;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v / 1e6;
    if (typeof v !== 'string') {
      this.problem(`${path}.${key}`, `${key} must be a duration such as "10s", got ${JSON.stringify(v)}`);
      return dflt;
    }
    const d = readGoDuration(v, { allowNegative: false });
    if (!d.ok) {
      this.problem(`${path}.${key}`, `${key}: ${d.error}`);
      return dflt;
    }
    return d.ns / 1e6;
  }

  number(obj: Obj, key: string, path: string): number | undefined {
    const v = obj[key];
    if (v == null) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.problem(`${path}.${key}`, `${key} must be a number, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return n;
  }

  string(obj: Obj, key: string, path: string): string | undefined {
    const v = obj[key];
    if (v == null) return undefined;
    if (typeof v !== 'string') {
      this.problem(`${path}.${key}`, `${key} must be a string, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }
}

function readStrategy(r: Reader, body: Obj, path: string): StrategySpec | undefined {
  const strategies = labelled(body.strategy);
  if (strategies.length !== 1) {
    r.problem(
      `${path}.strategy`,
      strategies.length === 0
        ? 'a check needs one strategy block: "target-value", "threshold" or "pass-through"'
        : `a check has exactly one strategy block, got ${strategies.length}`,
    );
    return undefined;
  }
  const [kind, s] = strategies[0]!;
  const sp = `${path}.strategy[${JSON.stringify(kind)}]`;
  switch (kind) {
    case 'target-value': {
      const target = r.number(s, 'target', sp);
      if (target === undefined) {
        if (s.target == null) r.problem(`${sp}.target`, 'the target-value strategy needs a target');
        return undefined;
      }
      const threshold = r.number(s, 'threshold', sp) ?? DEFAULT_TARGET_THRESHOLD;
      if (threshold < 0) r.problem(`${sp}.threshold`, `threshold must not be negative, got ${threshold}`);
      return { kind, target, threshold };
    }
    case 'threshold': {
      const out: StrategySpec = {
        kind,
        lowerBound: r.number(s, 'lower_bound', sp),
        upperBound: r.number(s, 'upper_bound', sp),
        delta: r.number(s, 'delta', sp),
        percentage: r.number(s, 'percentage', sp),
        value: r.number(s, 'value', sp),
        withinBoundsTrigger: r.number(s, 'within_bounds_trigger', sp) ?? DEFAULT_WITHIN_BOUNDS_TRIGGER,
      };
      const t = out.withinBoundsTrigger;
      if (!Number.isInteger(t) || t < 1 || t > HISTORY)
        r.problem(
          `${sp}.within_bounds_trigger`,
          `within_bounds_trigger must be an integer from 1 to ${HISTORY}, got ${t}`,
        );
      if (out.lowerBound === undefined && out.upperBound === undefined)
        r.problem(sp, 'the threshold strategy needs lower_bound, upper_bound or both');
      if (out.lowerBound !== undefined && out.upperBound !== undefined && out.lowerBound > out.upperBound)
        r.problem(sp, `lower_bound (${out.lowerBound}) is greater than upper_bound (${out.upperBound})`);
      const actions = [out.delta, out.percentage, out.value].filter((x) => x !== undefined).length;
      if (actions !== 1) r.problem(sp, 'the threshold strategy needs exactly one of delta, percentage or value');
      return out;
    }
    case 'pass-through':
      return { kind };
    default:
      r.problem(sp, `unknown strategy "${kind}": Drover has "target-value", "threshold" and "pass-through"`);
      return undefined;
  }
}

function readCheck(r: Reader, name: string, body: Obj, path: string): CheckSpec | undefined {
  const source = r.string(body, 'source', path) ?? 'nomad-apm';
  if (!(KNOWN_SOURCES as readonly string[]).includes(source))
    r.problem(`${path}.source`, `unknown source "${source}": Drover has ${KNOWN_SOURCES.join(', ')}`);
  const query = r.string(body, 'query', path);
  if (!query) r.problem(`${path}.query`, 'a check needs a query');
  else if (source === 'nomad-apm' && !parseApmQuery(query))
    r.problem(`${path}.query`, `nomad-apm query "${query}" is not <avg|min|max|sum>_<cpu|memory>, e.g. "avg_cpu"`);
  else if (source === 'drover-gateway' && !parseGatewayQuery(query))
    r.problem(
      `${path}.query`,
      `drover-gateway query "${query}" is not <request_rate|request_rate_per_instance|latency_avg_ms>:<route>, e.g. "request_rate:/web"`,
    );
  const onError = r.string(body, 'on_error', path) ?? 'ignore';
  if (onError !== 'ignore' && onError !== 'fail')
    r.problem(`${path}.on_error`, `on_error must be "ignore" or "fail", got "${onError}"`);
  const strategy = readStrategy(r, body, path);
  if (!strategy || !query) return undefined;
  return { name, source, query, strategy, onError: onError === 'fail' ? 'fail' : 'ignore' };
}

/**
 * Reads a scaling block's `Policy` map. `path` names the policy in problems (`TaskGroups[0].Scaling.Policy`).
 * A policy with no checks is valid (a user may scale by hand within min/max); it is simply never evaluated.
 */
export function parsePolicy(policy: unknown, path: string): { spec: PolicySpec; problems: Problem[] } {
  const r = new Reader(path);
  const p = isObj(policy) ? policy : {};
  if (policy != null && !isObj(policy)) r.problem('', 'policy must be a block');
  const spec: PolicySpec = {
    evaluationIntervalMs: r.durationMs(p, 'evaluation_interval', '', DEFAULT_EVALUATION_INTERVAL_MS),
    cooldownMs: r.durationMs(p, 'cooldown', '', DEFAULT_COOLDOWN_MS),
    checks: [],
  };
  if (spec.evaluationIntervalMs <= 0) r.problem('.evaluation_interval', 'evaluation_interval must be positive');
  const seen = new Set<string>();
  for (const [name, body] of labelled(p.check)) {
    const cp = `.check[${JSON.stringify(name)}]`;
    if (seen.has(name)) r.problem(cp, `duplicate check "${name}"`);
    seen.add(name);
    const c = readCheck(r, name, body, cp);
    if (c) spec.checks.push(c);
  }
  return { spec, problems: r.problems };
}
