/**
 * Nomad API JSON jobs (`{"Job": {...}}` or the bare job) → Job. The document is checked against
 * json-shape.ts first, so a misspelt key or a string where a number belongs is reported with its
 * path (`TaskGroups[0].Tasks[0].Resources.CPU`) instead of being dropped silently.
 */
import { jobParseError, type Problem } from '../errors/index.js';
import type { Job } from '../structs/index.js';
import { SHAPES, type ShapeType } from './json-shape.js';

const typeWords: Record<string, string> = { s: 'a string', n: 'a number', b: 'a bool' };

function describe(t: ShapeType): string {
  const words = typeWords[t];
  if (words) return words;
  if (t.startsWith('[')) return `a list of ${describe(t.slice(1, -1))}`;
  if (t.startsWith('{')) return `an object of ${describe(t.slice(1, -1))}`;
  return `an object (${t})`;
}

/**
 * Where a value is, as a chain built while walking and spelt out only for a problem: every register walks
 * the whole job, and building each key's path string up front was most of this check's time.
 */
interface Where {
  up: Where | undefined;
  key: string | number;
}

function pathText(w: Where | undefined): string {
  let out = '';
  for (let at = w; at !== undefined; at = at.up) {
    out =
      typeof at.key === 'number' ? `[${at.key}]${out}` : at.up === undefined ? `${at.key}${out}` : `.${at.key}${out}`;
  }
  return out;
}

/** `[x]` and `{x}` → `x`, memoised: the same few dozen type codes are unwrapped for every element. */
const innerTypes = new Map<ShapeType, ShapeType>();
function inner(t: ShapeType): ShapeType {
  let i = innerTypes.get(t);
  if (i === undefined) innerTypes.set(t, (i = t.slice(1, -1)));
  return i;
}

function check(v: unknown, t: ShapeType, where: Where | undefined, out: Problem[]): void {
  if (v === null || v === undefined || t === '*') return;
  const bad = (): void => {
    out.push({
      path: pathText(where) || '(root)',
      message: `expected ${describe(t)}, got ${Array.isArray(v) ? 'a list' : typeof v}`,
    });
  };
  if (t === 's' || t === 'n' || t === 'b') {
    const want = t === 's' ? 'string' : t === 'n' ? 'number' : 'boolean';
    if (typeof v !== want) bad();
    return;
  }
  const open = t.charCodeAt(0);
  if (open === 91 /* [ */) {
    if (!Array.isArray(v)) return bad();
    const it = inner(t);
    for (let i = 0; i < v.length; i++) {
      // A null member is no value at all: Nomad's decoder leaves a nil pointer that its validation refuses.
      if (v[i] === null)
        out.push({ path: pathText({ up: where, key: i }), message: `expected ${describe(it)}, got null` });
      else check(v[i], it, { up: where, key: i }, out);
    }
    return;
  }
  if (typeof v !== 'object' || Array.isArray(v)) return bad();
  const o = v as Record<string, unknown>;
  if (open === 123 /* { */) {
    const it = inner(t);
    for (const k of Object.keys(o)) check(o[k], it, { up: where, key: k }, out);
    return;
  }
  const shape = SHAPES[t]!;
  for (const k of Object.keys(o)) {
    // Own keys only: `__proto__` (or `constructor`) must not resolve to Object.prototype's members.
    const ft = Object.hasOwn(shape, k) ? shape[k] : undefined;
    if (ft === undefined)
      out.push({
        path: pathText({ up: where, key: k }),
        message: `unknown key "${k}" in ${t === 'Job' ? 'the job' : describe(t)}`,
      });
    else check(o[k], ft, { up: where, key: k }, out);
  }
}

/** Checks a parsed JSON job against Nomad's API shape; returns every problem found. */
export function checkJobShape(job: unknown): Problem[] {
  const out: Problem[] = [];
  check(job, 'Job', undefined, out);
  return out;
}

/**
 * Parses a JSON job. Throws DroverError('JobParse') with every problem. The job returned is a copy, unless
 * `owned` says the caller hands over a document nobody else holds (an API request's freshly parsed body),
 * which is then used as is.
 */
export function parseJobJSON(text: string | object, filename = 'job.json', opts: { owned?: boolean } = {}): Job {
  let doc: unknown = text;
  if (typeof text === 'string') {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      const m = /position (\d+)/.exec(String(e));
      const pos = m ? lineCol(text, Number(m[1])) : { line: 1, column: 1 };
      throw jobParseError([{ message: `invalid JSON: ${(e as Error).message}`, file: filename, ...pos }]);
    }
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw jobParseError([{ message: 'expected a JSON object holding a job', file: filename }]);
  const envelope = doc as Record<string, unknown>;
  const keys = Object.keys(envelope);
  const job =
    'Job' in envelope &&
    keys.every((k) =>
      ['Job', 'EnforceIndex', 'JobModifyIndex', 'PolicyOverride', 'PreserveCounts', 'Submission'].includes(k),
    )
      ? envelope.Job
      : doc;
  const problems = checkJobShape(job);
  if (problems.length) throw jobParseError(problems.map((p) => ({ ...p, file: filename })));
  return (typeof text === 'string' || opts.owned === true ? job : structuredClone(job)) as Job;
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}
