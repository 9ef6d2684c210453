import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import {
  conformanceFiles,
  conformancePath,
  HAS_CONFORMANCE_DATA,
  readConformanceJson,
} from '../testing/conformance-data.js';
import { describeConformance } from '../testing/describe-conformance.js';
import { canonicalizeJob, parseJobHCL } from './index.js';
import { zeroEqualDiff } from './testing/index.js';

const dir = conformancePath('e2e-jobs');
const files = conformanceFiles('e2e-jobs', /\.(nomad|hcl)$/);
const varsFor: Record<string, string> = { 'jobsubmissions__xyz.hcl': 'X="baz"\nY=50\nZ=true\n' };

describeConformance('Nomad e2e job files', () => {
  it('has the 24 files the suite promises', () => {
    expect(files.length).toBe(24);
  });
  for (const f of files) {
    const base = f.replace(/\.(nomad|hcl)$/, '');
    it(`parses ${f} into the job Nomad built, with and without defaults`, () => {
      const { job } = parseJobHCL(readFileSync(`${dir}/${f}`, 'utf8'), {
        filename: f,
        varFileContent: varsFor[f] ?? '',
      });
      const parsed = JSON.parse(readFileSync(`${dir}/observed/${base}.parse.json`, 'utf8'));
      const canonical = JSON.parse(readFileSync(`${dir}/observed/${base}.canonical.json`, 'utf8'));
      expect(zeroEqualDiff(parsed, job, '')).toEqual([]);
      expect(zeroEqualDiff(canonical, canonicalizeJob(job), '')).toEqual([]);
    });
  }
});

describeConformance('Nomad jobspec fixtures with defaults', () => {
  const jdir = conformancePath('jobspec');
  const index = HAS_CONFORMANCE_DATA
    ? readConformanceJson<{ cases: { name: string; hcl: string; parse?: { variables?: string } }[] }>(
        'jobspec',
        'index.json',
      )
    : { cases: [] };
  for (const c of index.cases) {
    it(`canonicalizes ${c.name} to what Nomad's API client produced`, () => {
      const { job } = parseJobHCL(readFileSync(`${jdir}/${c.hcl}`, 'utf8'), {
        filename: c.hcl,
        varFileContent: c.parse?.variables ?? '',
      });
      const canonical = JSON.parse(readFileSync(`${jdir}/observed/${c.name}.canonical.json`, 'utf8'));
      expect(zeroEqualDiff(canonical, canonicalizeJob(job), '')).toEqual([]);
    });
  }
});
