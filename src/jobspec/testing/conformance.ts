/**
 * Nomad's jobspec conformance cases (../shared/conformance/nomad/jobspec/, core and extra) run
 * against any parse function: the unit test calls the decoder directly, the e2e test goes through
 * `PUT /v1/jobs/parse`. Match modes are described in that folder's README.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepEqual, getPath, zeroEqualDiff } from './match.js';
import { conformancePath } from '../../testing/conformance-data.js';

export interface ConformanceParseRequest {
  JobHCL: string;
  Variables: string;
  Canonicalize: boolean;
  /** The CLI's `-var` form of the same variables. */
  ArgVars?: Record<string, string>;
  /** The `NOMAD_VAR_*` form of the same variables. */
  Envs?: Record<string, string>;
}

export type ConformanceParse = (req: ConformanceParseRequest) => Promise<{ status: number; body: unknown }>;

export interface ConformanceCaseResult {
  name: string;
  group: 'core' | 'extra';
  match: string;
  ok: boolean;
  reasons: string[];
}

export interface ConformanceReport {
  core: { passed: number; total: number };
  extra: { passed: number; total: number };
  results: ConformanceCaseResult[];
  /** Exactly `jobspec conformance: core N/28, extra M/86`. */
  summary: string;
}

interface Assertion {
  path: string;
  op: 'eq' | 'null' | 'len';
  value?: unknown;
}
interface CaseDef {
  name: string;
  hcl: string;
  match: 'exact' | 'subset' | 'error' | 'noerror';
  expected?: string;
  expectError?: string;
  assertions?: Assertion[];
  vars?: string;
  parse?: { variables?: string; argVars?: string[]; envs?: string[] };
}

/** The default location of the cases: the jobspec directory of the conformance data. */
export const DEFAULT_CONFORMANCE_ROOT = conformancePath('jobspec');

function pairs(list: string[] | undefined): Record<string, string> | undefined {
  if (!list) return undefined;
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function errorText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body && typeof body === 'object') {
    const o = body as Record<string, unknown>;
    if (typeof o.message === 'string') return o.message + ' ' + JSON.stringify(o);
    if (typeof o.error === 'string') return o.error + ' ' + JSON.stringify(o);
  }
  return JSON.stringify(body);
}

async function runCase(
  dir: string,
  c: CaseDef,
  group: 'core' | 'extra',
  parse: ConformanceParse,
): Promise<ConformanceCaseResult> {
  const reasons: string[] = [];
  const req: ConformanceParseRequest = {
    JobHCL: readFileSync(join(dir, c.hcl), 'utf8'),
    Variables: c.parse?.variables ?? '',
    Canonicalize: false,
  };
  const argVars = pairs(c.parse?.argVars);
  const envs = pairs(c.parse?.envs);
  if (argVars) req.ArgVars = argVars;
  if (envs) req.Envs = envs;
  let res: { status: number; body: unknown };
  try {
    res = await parse(req);
  } catch (e) {
    return { name: c.name, group, match: c.match, ok: false, reasons: [`parse function threw: ${String(e)}`] };
  }
  if (c.match === 'error') {
    if (res.status !== 400) reasons.push(`expected HTTP 400, got ${res.status}`);
    else if (c.expectError && !errorText(res.body).includes(c.expectError))
      reasons.push(`error does not mention ${JSON.stringify(c.expectError)}: ${errorText(res.body).slice(0, 300)}`);
  } else if (res.status !== 200) {
    reasons.push(`expected HTTP 200, got ${res.status}: ${errorText(res.body).slice(0, 500)}`);
  } else if (c.match === 'exact') {
    const want = JSON.parse(readFileSync(join(dir, c.expected!), 'utf8'));
    reasons.push(...zeroEqualDiff(want, res.body, ''));
  } else if (c.match === 'subset') {
    for (const a of c.assertions ?? []) {
      const got = getPath(res.body, a.path);
      if (a.op === 'null' && got !== undefined && got !== null)
        reasons.push(`${a.path}: expected null, got ${JSON.stringify(got)}`);
      if (a.op === 'len' && (!Array.isArray(got) || got.length !== a.value))
        reasons.push(`${a.path}: expected length ${String(a.value)}, got ${JSON.stringify(got)}`);
      if (a.op === 'eq' && !deepEqual(got, a.value))
        reasons.push(`${a.path}: expected ${JSON.stringify(a.value)}, got ${JSON.stringify(got)}`);
    }
  }
  return { name: c.name, group, match: c.match, ok: reasons.length === 0, reasons };
}

/** Runs every core and extra case through `parse`, one at a time. */
export async function runJobspecConformance(
  parse: ConformanceParse,
  root = DEFAULT_CONFORMANCE_ROOT,
): Promise<ConformanceReport> {
  const results: ConformanceCaseResult[] = [];
  for (const [group, dir] of [
    ['core', root],
    ['extra', join(root, 'extra')],
  ] as const) {
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { cases: CaseDef[] };
    for (const c of index.cases) results.push(await runCase(dir, c, group, parse));
  }
  const count = (g: string) => ({
    passed: results.filter((r) => r.group === g && r.ok).length,
    total: results.filter((r) => r.group === g).length,
  });
  const core = count('core');
  const extra = count('extra');
  return {
    core,
    extra,
    results,
    summary: `jobspec conformance: core ${core.passed}/${core.total}, extra ${extra.passed}/${extra.total}`,
  };
}
