import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConformanceData, CONFORMANCE_ENV, conformanceDirFrom, REPO_ROOT } from './conformance-data.js';

describe('the conformance data check', () => {
  const work = mkdtempSync(join(tmpdir(), 'drover-health-kit-conformance-'));
  const present = join(work, 'nomad');
  mkdirSync(join(present, 'jobspec'), { recursive: true });
  writeFileSync(join(present, 'jobspec', 'index.json'), '{"cases":[]}');
  const absent = join(work, 'nowhere');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('looks beside the clone unless the environment variable points elsewhere', () => {
    expect(conformanceDirFrom({})).toBe(join(REPO_ROOT, '..', 'shared', 'conformance', 'nomad'));
    expect(conformanceDirFrom({ [CONFORMANCE_ENV]: present })).toBe(present);
  });

  it('is quiet when the data is there, under CI or not', () => {
    expect(checkConformanceData({ [CONFORMANCE_ENV]: present })).toEqual({ ok: true });
    expect(checkConformanceData({ [CONFORMANCE_ENV]: present, CI: 'true' })).toEqual({ ok: true });
  });

  it('returns one message saying where it looked and how to get the data when it is missing', () => {
    const r = checkConformanceData({ [CONFORMANCE_ENV]: absent });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toContain(absent);
    expect(r.message).toContain('SKIPPED');
    expect(r.message).toContain(CONFORMANCE_ENV);
    expect(r.message).toContain('../shared/conformance/nomad');
  });

  it('fails under CI=true when the data is missing, so a pipeline never passes by skipping', () => {
    expect(() => checkConformanceData({ [CONFORMANCE_ENV]: absent, CI: 'true' })).toThrow(/conformance data is not at/);
  });

  it('takes a directory without the jobspec index for missing data', () => {
    mkdirSync(join(work, 'empty'));
    expect(checkConformanceData({ [CONFORMANCE_ENV]: join(work, 'empty') }).ok).toBe(false);
  });
});
