import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDroverError, type Problem } from '../errors/index.js';
import type { Job } from '../structs/index.js';
import { createJobFileLoader, looksLikeJSON, parseVarFlags, type JobspecModule } from './jobfile.js';
import { job } from './testing/fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A jobspec stand-in that records how it was called and returns `job()`, with `problems` from validation. */
function fakeJobspec(problems: Problem[] = []) {
  const calls: { fn: string; args: unknown[] }[] = [];
  const mod: JobspecModule = {
    parseJobHCL: (src, opts) => {
      calls.push({ fn: 'hcl', args: [src, opts] });
      return { job: job(), warnings: ['variable "unused" is declared but not used'] };
    },
    parseJobJSON: (text, filename) => {
      calls.push({ fn: 'json', args: [text, filename] });
      return job();
    },
    canonicalizeJob: (j: Job) => ({ ...j, canonical: true }) as Job,
    validateJob: (j: Job) => {
      calls.push({ fn: 'validate', args: [j] });
      return problems;
    },
  };
  return { mod, calls };
}

describe('job file loading', () => {
  it('parses HCL with -var, -var-file and NOMAD_VAR_ env, asking the parser to validate with positions', async () => {
    const file = join(dir, 'web.nomad.hcl');
    const vars = join(dir, 'prod.vars.hcl');
    await writeFile(file, 'job "web" {}');
    await writeFile(vars, 'image = "v2"');
    const { mod, calls } = fakeJobspec();
    const loaded = await createJobFileLoader(async () => mod).load(file, {
      vars: { count: '3' },
      varFiles: [vars],
      env: { NOMAD_VAR_x: '1', UNSET: undefined },
    });
    const [, opts] = calls[0]!.args as [string, Record<string, unknown>];
    expect(calls[0]?.fn).toBe('hcl');
    expect(opts).toMatchObject({
      filename: file,
      variables: { count: '3' },
      varFiles: [{ name: vars, content: 'image = "v2"' }],
      env: { NOMAD_VAR_x: '1' },
      baseDir: dir,
      allowFS: true,
      validate: true,
    });
    expect(loaded.warnings).toEqual(['variable "unused" is declared but not used']);
    expect(loaded.submission).toEqual({
      Source: 'job "web" {}',
      Format: 'hcl2',
      VariableFlags: { count: '3' },
      Variables: 'image = "v2"',
    });
  });

  it('reads JSON jobs with the JSON decoder and validates the canonical job', async () => {
    const file = join(dir, 'web.json');
    await writeFile(file, '{"Job": {"ID": "web"}}');
    const { mod, calls } = fakeJobspec();
    const loaded = await createJobFileLoader(async () => mod).load(file, { vars: {}, varFiles: [], env: {} });
    expect(calls.map((c) => c.fn)).toEqual(['json', 'validate']);
    expect((calls[1]?.args[0] as Record<string, unknown>).canonical).toBe(true);
    expect(loaded.submission.Format).toBe('json');
  });

  it('fails a JSON job with every validation problem, naming the file when the problem has no position', async () => {
    const file = join(dir, 'web.json');
    await writeFile(file, '{"Job": {"ID": "web"}}');
    const { mod } = fakeJobspec([
      { message: 'count must be >= 0', path: 'TaskGroups[0].Count' },
      { message: 'missing driver', file: 'web.hcl', line: 4, column: 3 },
    ]);
    const e = await createJobFileLoader(async () => mod)
      .load(file, { vars: {}, varFiles: [], env: {} })
      .catch((x: unknown) => x);
    expect(isDroverError(e, 'JobValidation')).toBe(true);
    expect((e as { problems: Problem[] }).problems).toEqual([
      { message: 'count must be >= 0', path: 'TaskGroups[0].Count', file: 'web.json' },
      { message: 'missing driver', file: 'web.hcl', line: 4, column: 3 },
    ]);
  });

  it('says which file is missing', async () => {
    const { mod } = fakeJobspec();
    const e = await createJobFileLoader(async () => mod)
      .load(join(dir, 'nope.hcl'), { vars: {}, varFiles: [], env: {} })
      .catch((x: unknown) => x as Error);
    expect((e as Error).message).toBe(`Error reading job file "${join(dir, 'nope.hcl')}": no such file`);
  });
});

describe('helpers', () => {
  it('splits -var flags at the first equals sign and refuses a flag without one', () => {
    expect(parseVarFlags(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseVarFlags(['novalue'])).toThrow('expected the form name=value');
  });

  it('recognises JSON by extension or by content', () => {
    expect(looksLikeJSON('job.json', 'anything')).toBe(true);
    expect(looksLikeJSON('job.hcl', '  {"Job": {}}')).toBe(true);
    expect(looksLikeJSON('job.hcl', 'job "x" {}')).toBe(false);
    expect(looksLikeJSON('job.hcl', '{ not json')).toBe(false);
  });
});
