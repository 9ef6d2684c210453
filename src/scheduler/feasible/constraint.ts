/**
 * Constraint evaluation: resolving `${...}` targets against a node and applying Nomad's operators.
 * Everything here is pure and never throws; an unparsable value simply does not match.
 */
import { nodeVariable, type Constraint, type Node } from '../../structs/index.js';
import { regexMatches } from '../../lib/regex.js';
import { checkSemverMatch, checkVersionMatch } from './version.js';

export const ConstraintDistinctHosts = 'distinct_hosts';
export const ConstraintDistinctProperty = 'distinct_property';

/** Nomad's string form of a constraint, used as the ConstraintFiltered key: `${attr.kernel.name} = linux`. */
export function constraintString(c: Constraint): string {
  return `${c.LTarget} ${c.Operand} ${c.RTarget}`.trim();
}

/**
 * Resolves a target against a node. Literals resolve to themselves; `${attr.x}`, `${meta.x}` and the
 * `${node.*}` variables resolve from the node; anything else (or a missing key) is "not found".
 */
export function resolveTarget(target: string, node: Node): { value: string; found: boolean } {
  if (!target.startsWith('${')) return { value: target, found: true };
  const v = resolveInterpolation(target, node);
  return v === undefined ? { value: '', found: false } : { value: v, found: true };
}

/** Like resolveTarget but returns undefined when not found; cheaper in hot loops. */
export function resolveInterpolation(target: string, node: Node): string | undefined {
  if (!target.startsWith('${')) return target;
  if (!target.endsWith('}')) return undefined;
  const key = target.slice(2, -1);
  return key === 'node.region' ? node.Attributes['nomad.region'] : nodeVariable(key, node);
}

/** True when the constraint depends on something unique to one node, so it cannot be cached per class. */
export function targetEscapesClass(target: string): boolean {
  return target.startsWith('${') && (target.includes('unique.') || target === '${node.unique.id}');
}

export function constraintEscapesClass(c: Constraint): boolean {
  return targetEscapesClass(c.LTarget) || targetEscapesClass(c.RTarget);
}

function splitSet(s: string): string[] {
  return s.split(',').map((x) => x.trim());
}

/** Numeric when both sides parse as numbers (as Nomad does), lexical otherwise. */
function checkOrder(op: string, l: string, r: string): boolean {
  const ln = Number(l);
  const rn = Number(r);
  let cmp: number;
  if (l.trim() !== '' && r.trim() !== '' && Number.isFinite(ln) && Number.isFinite(rn)) cmp = ln - rn;
  else cmp = l < r ? -1 : l > r ? 1 : 0;
  switch (op) {
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
    default:
      return false;
  }
}

/**
 * Applies one operator to resolved values. `lFound`/`rFound` say whether each side resolved.
 * distinct_hosts and distinct_property are not value checks and always pass here.
 */
export function checkConstraintValues(op: string, l: string, lFound: boolean, r: string, rFound: boolean): boolean {
  switch (op) {
    case ConstraintDistinctHosts:
    case ConstraintDistinctProperty:
      return true;
    case 'is_set':
      return lFound;
    case 'is_not_set':
      return !lFound;
    case '=':
    case '==':
    case 'is':
      return lFound && rFound && l === r;
    case '!=':
    case 'not':
      if (!lFound && !rFound) return false;
      if (!lFound || !rFound) return true;
      return l !== r;
  }
  if (!lFound || !rFound) return false;
  switch (op) {
    case '<':
    case '<=':
    case '>':
    case '>=':
      return checkOrder(op, l, r);
    case 'version':
      return checkVersionMatch(l, r);
    case 'semver':
      return checkSemverMatch(l, r);
    case 'regexp':
      // RE2 (linear time): a user's pattern runs against every node on the scheduler's thread.
      return regexMatches(r, l);
    case 'set_contains':
    case 'set_contains_all': {
      const have = new Set(splitSet(l));
      return splitSet(r).every((x) => have.has(x));
    }
    case 'set_contains_any': {
      const have = new Set(splitSet(l));
      return splitSet(r).some((x) => have.has(x));
    }
    default:
      return false;
  }
}

/** Does the node meet the constraint? (distinct_* are checked elsewhere, against placements.) */
export function checkConstraint(c: Constraint, node: Node): boolean {
  const l = resolveInterpolation(c.LTarget, node);
  const r = resolveInterpolation(c.RTarget, node);
  return checkConstraintValues(c.Operand, l ?? '', l !== undefined, r ?? '', r !== undefined);
}

/** Datacenter patterns allow `*` globs (`dc*`). */
export function datacenterMatches(patterns: readonly string[], dc: string): boolean {
  for (const p of patterns) {
    if (p === dc || p === '*') return true;
    if (p.includes('*') && globMatches(p, dc)) return true;
  }
  return false;
}

/**
 * `*` matches any run of characters. Iterative with one backtrack point, so O(pattern × name) at worst; a
 * RegExp built from the glob backtracks polynomially in the number of stars.
 */
export function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === name[n]) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
