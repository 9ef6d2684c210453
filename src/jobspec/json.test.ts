import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { conformancePath, readConformanceJson } from '../testing/conformance-data.js';
import { itConformance } from '../testing/describe-conformance.js';
import { isDroverError } from '../errors/index.js';
import { canonicalizeJob, parseJobHCL, parseJobJSON } from './index.js';
import { SHAPES } from './json-shape.js';

const observed = [conformancePath('jobspec', 'observed'), conformancePath('e2e-jobs', 'observed')];

function problemsOf(fn: () => unknown): { path?: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    if (isDroverError(e, 'JobParse')) return e.problems;
    throw e;
  }
  return [];
}

describe('parseJobJSON', () => {
  itConformance('accepts every job Nomad itself produced, with and without defaults', () => {
    for (const dir of observed) {
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
        const text = readFileSync(`${dir}/${f}`, 'utf8');
        expect(
          problemsOf(() => parseJobJSON(text, f)),
          f,
        ).toEqual([]);
      }
    }
  });

  it('accepts the register envelope and the bare job alike', () => {
    const bare = { ID: 'web', TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't', Driver: 'docker' }] }] };
    expect(parseJobJSON(JSON.stringify({ Job: bare }))).toEqual(bare);
    expect(parseJobJSON(bare)).toEqual(bare);
  });

  it('names an unknown key with its path', () => {
    const job = {
      ID: 'web',
      TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't', Driver: 'docker', Resources: { CPUs: 100 } }] }],
    };
    expect(problemsOf(() => parseJobJSON(job))).toEqual([
      {
        path: 'TaskGroups[0].Tasks[0].Resources.CPUs',
        message: expect.stringContaining('unknown key "CPUs"'),
        file: 'job.json',
      },
    ]);
  });

  it('reports every wrong type in one run', () => {
    const job = {
      ID: 'web',
      Priority: '50',
      TaskGroups: [{ Name: 'g', Count: 'three', Tasks: [{ Name: 't', Env: { A: 1 } }] }],
    };
    const paths = problemsOf(() => parseJobJSON(job)).map((p) => p.path);
    expect(paths).toEqual(['Priority', 'TaskGroups[0].Count', 'TaskGroups[0].Tasks[0].Env.A']);
  });

  it('gives the line and column of malformed JSON', () => {
    const [p] = problemsOf(() => parseJobJSON('{\n  "ID": "web",\n  oops\n}', 'bad.json'));
    expect(p).toMatchObject({ file: 'bad.json', line: 3 });
  });

  itConformance('round-trips what the HCL decoder and canonicalizeJob produce', () => {
    const dir = conformancePath('e2e-jobs');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.nomad'))) {
      const { job } = parseJobHCL(readFileSync(`${dir}/${f}`, 'utf8'), { filename: f });
      expect(
        problemsOf(() => parseJobJSON(JSON.stringify(job))),
        f,
      ).toEqual([]);
      expect(
        problemsOf(() => parseJobJSON(JSON.stringify(canonicalizeJob(job)))),
        f,
      ).toEqual([]);
    }
  });

  itConformance("only lists keys that Nomad's API types have", () => {
    const api = readConformanceJson<Record<string, { fields: { json: string }[] | null }>>(
      'api-shapes',
      'api-types.head.json',
    );
    const known = new Set(Object.values(api).flatMap((t) => (t.fields ?? []).map((f) => f.json)));
    // Removed from Nomad 1.10 but still in older job files (see the basic fixture).
    for (const k of ['ConsulToken', 'VaultToken', 'Vault']) known.add(k);
    const unknown = Object.values(SHAPES)
      .flatMap((s) => Object.keys(s))
      .filter((k) => !known.has(k));
    expect(unknown).toEqual([]);
  });
});
