import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalizeJob, parseJobHCL } from './index.js';
import { zeroEqualDiff } from './testing/index.js';

const dir = '../shared/conformance/nomad/e2e-jobs';
const files = readdirSync(dir).filter((f) => /\.(nomad|hcl)$/.test(f));
const varsFor: Record<string, string> = { 'jobsubmissions__xyz.hcl': 'X="baz"\nY=50\nZ=true\n' };

describe('Nomad e2e job files', () => {
  it('has the 24 files the suite promises', () => {
    expect(files.length).toBe(24);
  });
  for (const f of files) {
    const base = f.replace(/\.(nomad|hcl)$/, '');
    it(`parses ${f} into the job Nomad built, with and without defaults`, () => {
      const { job } = parseJobHCL(readFileSync(`${dir}/${f}`, 'utf8'), { filename: f, varFileContent: varsFor[f] ?? '' });
      const parsed = JSON.parse(readFileSync(`${dir}/observed/${base}.parse.json`, 'utf8'));
      const canonical = JSON.parse(readFileSync(`${dir}/observed/${base}.canonical.json`, 'utf8'));
      expect(zeroEqualDiff(parsed, job, '')).toEqual([]);
      expect(zeroEqualDiff(canonical, canonicalizeJob(job), '')).toEqual([]);
    });
  }
});

describe('Nomad jobspec fixtures with defaults', () => {
  const jdir = '../shared/conformance/nomad/jobspec';
  const index = JSON.parse(readFileSync(`${jdir}/index.json`, 'utf8')) as { cases: { name: string; hcl: string; parse?: { variables?: string } }[] };
  for (const c of index.cases) {
    it(`canonicalizes ${c.name} to what Nomad's API client produced`, () => {
      const { job } = parseJobHCL(readFileSync(`${jdir}/${c.hcl}`, 'utf8'), { filename: c.hcl, varFileContent: c.parse?.variables ?? '' });
      const canonical = JSON.parse(readFileSync(`${jdir}/observed/${c.name}.canonical.json`, 'utf8'));
      expect(zeroEqualDiff(canonical, canonicalizeJob(job), '')).toEqual([]);
    });
  }
});
