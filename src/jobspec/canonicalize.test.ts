import { describe, expect, it } from 'vitest';
import { conformanceFiles, readConformanceJson } from '../testing/conformance-data.js';
import { canonicalizeJob } from './canonicalize.js';
import { zeroEqualDiff } from './testing/match.js';
import type { Job } from '../structs/index.js';

const roots = ['jobspec/observed', 'e2e-jobs/observed'];

function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = stripNulls(x);
    return out;
  }
  return v;
}

describe('canonicalizeJob', () => {
  for (const root of roots) {
    for (const f of conformanceFiles(root, /\.parse\.json$/)) {
      const base = f.replace(/\.parse\.json$/, '');
      it(`fills the defaults Nomad filled for ${base}`, () => {
        const parsed = stripNulls(readConformanceJson(root, f)) as Job;
        const want = readConformanceJson(root, `${base}.canonical.json`);
        const got = canonicalizeJob(parsed);
        expect(zeroEqualDiff(want, got, '')).toEqual([]);
        expect(zeroEqualDiff(got, canonicalizeJob(got), '')).toEqual([]);
      });
    }
  }

  it('returns a new object and leaves its input untouched', () => {
    const job = { ID: 'a', TaskGroups: [] } as unknown as Job;
    const out = canonicalizeJob(job);
    expect(out).not.toBe(job);
    expect(job.Region).toBeUndefined();
    expect(out.Region).toBe('global');
  });
});
