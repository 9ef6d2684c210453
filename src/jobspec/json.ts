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
  if (typeWords[t]) return typeWords[t]!;
  if (t.startsWith('[')) return `a list of ${describe(t.slice(1, -1))}`;
  if (t.startsWith('{')) return `an object of ${describe(t.slice(1, -1))}`;
  return `an object (${t})`;
}

function check(v: unknown, t: ShapeType, path: string, out: Problem[]): void {
  if (v === null || v === undefined || t === '*') return;
  const bad = (): void => {
    out.push({ path: path || '(root)', message: `expected ${describe(t)}, got ${Array.isArray(v) ? 'a list' : typeof v}` });
  };
  if (t === 's' || t === 'n' || t === 'b') {
    const want = t === 's' ? 'string' : t === 'n' ? 'number' : 'boolean';
    if (typeof v !== want) bad();
    return;
  }
  if (t.startsWith('[')) {
    if (!Array.isArray(v)) return bad();
    v.forEach((x, i) => check(x, t.slice(1, -1), `${path}[${i}]`, out));
    return;
  }
  if (typeof v !== 'object' || Array.isArray(v)) return bad();
  if (t.startsWith('{')) {
    for (const [k, x] of Object.entries(v)) check(x, t.slice(1, -1), path ? `${path}.${k}` : k, out);
    return;
  }
  const shape = SHAPES[t]!;
  for (const [k, x] of Object.entries(v)) {
    const p = path ? `${path}.${k}` : k;
    const ft = shape[k];
    if (ft === undefined) out.push({ path: p, message: `unknown key "${k}" in ${t === 'Job' ? 'the job' : describe(t)}` });
    else check(x, ft, p, out);
  }
}

/** Checks a parsed JSON job against Nomad's API shape; returns every problem found. */
export function checkJobShape(job: unknown): Problem[] {
  const out: Problem[] = [];
  check(job, 'Job', '', out);
  return out;
}

/** Parses a JSON job. Throws DroverError('JobParse') with every problem. */
export function parseJobJSON(text: string | object, filename = 'job.json'): Job {
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
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw jobParseError([{ message: 'expected a JSON object holding a job', file: filename }]);
  const envelope = doc as Record<string, unknown>;
  const keys = Object.keys(envelope);
  const job = 'Job' in envelope && keys.every((k) => ['Job', 'EnforceIndex', 'JobModifyIndex', 'PolicyOverride', 'PreserveCounts', 'Submission'].includes(k))
    ? envelope.Job
    : doc;
  const problems = checkJobShape(job);
  if (problems.length) throw jobParseError(problems.map((p) => ({ ...p, file: filename })));
  return structuredClone(job) as Job;
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}
