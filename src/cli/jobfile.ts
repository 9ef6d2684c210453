/**
 * Reading job files on the user's machine, before anything is sent: `job run`, `job plan` and `job validate`
 * parse and validate locally with the jobspec module (pure code, no server), so a bad file is refused with
 * every problem and its file:line:column, and nothing is registered.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { jobValidationError, type Problem } from '../errors/index.js';
import type { Job, JobSubmission } from '../structs/index.js';
import { UsageError } from './command.js';

/** The part of the jobspec module the CLI uses (src/jobspec/index.ts). */
export interface JobspecModule {
  parseJobHCL(
    src: string,
    opts: {
      filename?: string;
      variables?: Record<string, string>;
      varFiles?: { name: string; content: string }[];
      env?: Record<string, string>;
      baseDir?: string;
      allowFS?: boolean;
      /** Also validate, reporting problems at their file positions. */
      validate?: boolean;
    },
  ): { job: Job; warnings: string[] };
  parseJobJSON(text: string | object, filename?: string): Job;
  canonicalizeJob(job: Job): Job;
  validateJob(job: Job): Problem[];
}

export interface JobFileOptions {
  /** `-var k=v`, already split. */
  vars: Record<string, string>;
  /** `-var-file` paths. */
  varFiles: string[];
  /** For `NOMAD_VAR_x` / `DROVER_VAR_x`. */
  env: Record<string, string | undefined>;
}

export interface LoadedJob {
  job: Job;
  /** Parser warnings (deprecated forms, unused variables). */
  warnings: string[];
  /** The file as written, sent with the job so `job inspect` and history can show it. */
  submission: JobSubmission;
}

export interface JobFileLoader {
  /** Parses and validates; throws DroverError('JobParse' | 'JobValidation') carrying every problem. */
  load(path: string, opts: JobFileOptions): Promise<LoadedJob>;
}

/** Splits `-var` values: `name=value` (the value may contain `=`). */
export function parseVarFlags(flags: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const f of flags) {
    const i = f.indexOf('=');
    if (i <= 0) throw new UsageError(`Error parsing -var "${f}": expected the form name=value`);
    vars[f.slice(0, i)] = f.slice(i + 1);
  }
  return vars;
}

/** JSON when the name says so or the text is a JSON object; HCL2 otherwise. */
export function looksLikeJSON(path: string, text: string): boolean {
  if (extname(path).toLowerCase() === '.json') return true;
  const t = text.trimStart();
  if (!t.startsWith('{')) return false;
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
}

function definedEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

// Loaded on first use: commands that never read job files do not pay for the HCL parser.
let jobspecPromise: Promise<JobspecModule> | undefined;
export function loadJobspec(): Promise<JobspecModule> {
  jobspecPromise ??= import('../jobspec/index.js');
  return jobspecPromise;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `Error reading ${what} "${path}": ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
}

export function createJobFileLoader(
  jobspec: () => Promise<JobspecModule> = loadJobspec,
  read: (p: string, what: string) => Promise<string> = readText,
): JobFileLoader {
  return {
    async load(path, opts) {
      const spec = await jobspec();
      const text = await read(path, 'job file');
      const varFiles = await Promise.all(
        opts.varFiles.map(async (f) => ({ name: f, content: await read(f, 'variables file') })),
      );
      let job: Job;
      let warnings: string[] = [];
      let format: string;
      if (looksLikeJSON(path, text)) {
        format = 'json';
        job = spec.parseJobJSON(text, path);
        // Validate as the server will: on the job with Nomad's defaults filled in.
        const problems = spec.validateJob(spec.canonicalizeJob(job));
        if (problems.length > 0) {
          throw jobValidationError(
            problems.map((p) => (p.file === undefined && p.line === undefined ? { ...p, file: basename(path) } : p)),
          );
        }
      } else {
        format = 'hcl2';
        const r = spec.parseJobHCL(text, {
          filename: path,
          variables: opts.vars,
          varFiles,
          env: definedEnv(opts.env),
          baseDir: dirname(resolve(path)),
          allowFS: true,
          // The parser validates the job with defaults filled, and reports problems at their positions.
          validate: true,
        });
        job = r.job;
        warnings = r.warnings;
      }
      const submission: JobSubmission = { Source: text, Format: format };
      if (Object.keys(opts.vars).length > 0) submission.VariableFlags = opts.vars;
      if (varFiles.length > 0) submission.Variables = varFiles.map((v) => v.content).join('\n');
      return { job, warnings, submission };
    },
  };
}
