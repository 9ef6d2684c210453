/**
 * Every Nomad job file in the shared conformance data parses without syntax diagnostics, except the cases
 * the index marks as meant to fail (most of those fail later, in the decoder). Read as data, never copied.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { expect, it } from 'vitest';
import { CONFORMANCE_DIR, HAS_CONFORMANCE_DATA } from '../../testing/conformance-data.js';
import { describeConformance } from '../../testing/describe-conformance.js';
import type { Attribute, Block } from './ast.js';
import { evaluate } from './evaluator.js';
import { formatDiagnostic, makeEvalContext } from './index.js';
import { parseHCL } from './parser.js';
import { object, toJS } from './values.js';
import { fixtureFiles } from './testing/fixtures.js';

interface Case {
  name: string;
  hcl: string;
  match: string;
  assertions?: Array<{ path: string; op: string; value: unknown }>;
}

function cases(dir: string): Array<Case & { dir: string }> {
  return (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { cases: Case[] }).cases.map((c) => ({
    ...c,
    dir,
  }));
}

const jobspecDir = join(CONFORMANCE_DIR, 'jobspec');
const allCases = HAS_CONFORMANCE_DATA ? [...cases(jobspecDir), ...cases(join(jobspecDir, 'extra'))] : [];
const mustFail = new Set(allCases.filter((c) => c.match === 'error').map((c) => basename(c.hcl)));
/** The must-fail cases whose problem is syntax, so the parser itself must report it. */
const syntaxFailures = ['hcl2-error-invalid-body.hcl', 'hcl2-error-env-block-expression.hcl'];

describeConformance('conformance job files', () => {
  const files = fixtureFiles();

  it('finds the fixture files', () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it('parses every job file that is not meant to fail without diagnostics', () => {
    const problems: string[] = [];
    for (const f of files) {
      if (mustFail.has(basename(f))) continue;
      const r = parseHCL(readFileSync(f, 'utf8'), f);
      problems.push(...r.diagnostics.map(formatDiagnostic));
    }
    expect(problems).toEqual([]);
  });

  it('reports the syntax errors of the must-fail files that are broken at syntax level', () => {
    for (const name of syntaxFailures) {
      const f = files.find((x) => basename(x) === name)!;
      const r = parseHCL(readFileSync(f, 'utf8'), f);
      expect(r.diagnostics.length, name).toBeGreaterThan(0);
      expect(r.diagnostics[0]?.range!.filename).toBe(f);
    }
  });

  it('keeps undefined roots verbatim exactly as Nomad does for the undefined-variables cases', () => {
    const ctx = makeEvalContext({ variables: { var: object({}), local: object({}) }, unknownRootsVerbatim: true });
    const checked = allCases.filter((c) => c.name.startsWith('hcl2-undefined-variables'));
    expect(checked.length).toBeGreaterThanOrEqual(7);
    for (const c of checked) {
      const path = join(c.dir, c.hcl);
      const r = parseHCL(readFileSync(path, 'utf8'), path);
      const job = r.body.items[0] as Block;
      const region = job.body.items.find((i): i is Attribute => i.kind === 'attribute' && i.name === 'region')!;
      const v = evaluate(region.expr, ctx);
      expect(v.diagnostics, c.name).toEqual([]);
      const want = c.assertions!.find((a) => a.path === 'Region')!.value;
      expect(toJS(v.value), c.name).toBe(want);
    }
  });

  it('parses a typical job file in well under a millisecond after warm-up', () => {
    const text = readFileSync(join(jobspecDir, 'basic.hcl'), 'utf8');
    for (let i = 0; i < 200; i++) parseHCL(text, 'basic.hcl');
    const n = 500;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) parseHCL(text, 'basic.hcl');
    const perParse = (performance.now() - t0) / n;
    // basic.hcl is one of the largest fixtures (~10 KB); generous bound so a loaded CI box does not flake.
    expect(perParse).toBeLessThan(5);
  });
});
