/**
 * Version constraints for the `version` operator (go-version rules, as Nomad uses) and the `semver`
 * operator (strict SemVer 2.0 ordering). Both accept comma-separated clauses such as `>= 1.0, < 1.4`.
 *
 * The two differ only on prereleases and on `~>`:
 *  - version: a prerelease never satisfies a clause on a final release, and only satisfies a
 *    prerelease clause with the same X.Y.Z; `~>` is pessimistic ("same prefix, at least this").
 *  - semver: prereleases order as SemVer says (1.7.0-rc.1 > 1.7.0-dev); `~>` never matches.
 * Build metadata (`+ent`) is ignored by both.
 */

export interface ParsedVersion {
  segments: number[];
  /** How many segments were written (`1.0` → 2), for `~>`. */
  specified: number;
  pre: string;
}

const versionRe = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseVersion(raw: string): ParsedVersion | null {
  const m = versionRe.exec(raw.trim());
  if (!m) return null;
  const parts = m[1]!.split('.').map(Number);
  const specified = parts.length;
  while (parts.length < 3) parts.push(0);
  return { segments: parts, specified, pre: m[2] ?? '' };
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Math.sign(Number(a) - Number(b));
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePre(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return 1;
  if (b === '') return -1;
  const ap = a.split('.');
  const bp = b.split('.');
  const n = Math.min(ap.length, bp.length);
  for (let i = 0; i < n; i++) {
    const c = compareIdentifiers(ap[i]!, bp[i]!);
    if (c !== 0) return c;
  }
  return Math.sign(ap.length - bp.length);
}

export function compareVersions(a: ParsedVersion, b: ParsedVersion): number {
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const d = (a.segments[i] ?? 0) - (b.segments[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return comparePre(a.pre, b.pre);
}

function sameRelease(a: ParsedVersion, b: ParsedVersion): boolean {
  for (let i = 0; i < 3; i++) if ((a.segments[i] ?? 0) !== (b.segments[i] ?? 0)) return false;
  return true;
}

interface Clause {
  op: string;
  v: ParsedVersion;
}

const clauseRe = /^\s*(~>|>=|<=|!=|=|>|<)?\s*(\S+)\s*$/;

function parseClauses(spec: string): Clause[] | null {
  const out: Clause[] = [];
  for (const part of spec.split(',')) {
    const m = clauseRe.exec(part);
    if (!m) return null;
    const v = parseVersion(m[2]!);
    if (!v) return null;
    out.push({ op: m[1] ?? '=', v });
  }
  return out;
}

const clauseCache = new Map<string, Clause[] | null>();
function clausesFor(spec: string): Clause[] | null {
  let c = clauseCache.get(spec);
  if (c === undefined) {
    c = parseClauses(spec);
    if (clauseCache.size > 10_000) clauseCache.clear();
    clauseCache.set(spec, c);
  }
  return c;
}

function orderOk(op: string, cmp: number): boolean {
  switch (op) {
    case '=':
      return cmp === 0;
    case '!=':
      return cmp !== 0;
    case '>':
      return cmp > 0;
    case '<':
      return cmp < 0;
    case '>=':
      return cmp >= 0;
    case '<=':
      return cmp <= 0;
    default:
      return false;
  }
}

/** go-version's rule: prereleases only meet clauses on prereleases of the same release. */
function prereleaseAllowed(v: ParsedVersion, c: ParsedVersion): boolean {
  if (v.pre !== '' && c.pre === '') return false;
  if (v.pre !== '' && c.pre !== '') return sameRelease(v, c);
  return true;
}

function checkGoClause(v: ParsedVersion, c: Clause): boolean {
  const cmp = compareVersions(v, c.v);
  if (c.op === '=' || c.op === '!=') return orderOk(c.op, cmp);
  if (!prereleaseAllowed(v, c.v)) return false;
  if (c.op === '~>') {
    if (cmp < 0) return false;
    for (let i = 0; i < c.v.specified - 1; i++) if (v.segments[i] !== c.v.segments[i]) return false;
    return true;
  }
  return orderOk(c.op, cmp);
}

/** The `version` operator. */
export function checkVersionMatch(value: string, spec: string): boolean {
  const v = parseVersion(value);
  const clauses = clausesFor(spec);
  if (!v || !clauses) return false;
  return clauses.every((c) => checkGoClause(v, c));
}

/** The `semver` operator. */
export function checkSemverMatch(value: string, spec: string): boolean {
  const v = parseVersion(value);
  const clauses = clausesFor(spec);
  if (!v || !clauses) return false;
  return clauses.every((c) => c.op !== '~>' && orderOk(c.op, compareVersions(v, c.v)));
}
