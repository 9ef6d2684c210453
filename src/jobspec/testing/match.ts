/**
 * The conformance suite's comparison rules (see ../shared/conformance/nomad/jobspec/README): Go's
 * JSON leaves zero values in or out depending on `omitempty`, so "absent", null, false, 0, "" and
 * all-zero objects count as the same thing.
 */

export function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as object).every(isZero);
  return false;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Differences between `want` and `got` under the zero-equivalence rule, as `path: reason` lines. */
export function zeroEqualDiff(want: unknown, got: unknown, path: string): string[] {
  if (isZero(want) && isZero(got)) return [];
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return [`${path}: expected an array of ${want.length}, got ${short(got)}`];
    if (got.length !== want.length) return [`${path}: expected ${want.length} items, got ${got.length}`];
    return want.flatMap((w, i) => zeroEqualDiff(w, got[i], `${path}[${i}]`));
  }
  if (isObj(want)) {
    if (!isObj(got)) return [`${path}: expected an object, got ${short(got)}`];
    const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
    return [...keys].flatMap((k) => zeroEqualDiff(want[k], got[k], path ? `${path}.${k}` : k));
  }
  if (want === got) return [];
  return [`${path}: expected ${short(want)}, got ${short(got)}`];
}

function short(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 200 ? s.slice(0, 200) + '…' : s;
}

/** Resolves `TaskGroups[0].Tasks[1].Env` or `Config.args` against a value. */
export function getPath(root: unknown, path: string): unknown {
  let cur: unknown = root;
  const re = /([^.[\]]+)|\[(\d+)\]|\["([^"]*)"\]/g;
  for (const m of path.matchAll(re)) {
    if (cur === null || cur === undefined) return undefined;
    const key = m[1] ?? m[3] ?? Number(m[2]);
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

/** Plain deep equality, numbers by value; used by `eq` assertions. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}
