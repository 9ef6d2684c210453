/**
 * HCL2 job file → Job. Order of work: parse, resolve variables and locals, then decode the one
 * `job` block through the schema tables; every problem from every stage is collected and thrown
 * together as one JobParse error.
 *
 *   source ─parseHCL─▶ Body ─variables/locals─▶ scope ─decode(job)─▶ Job
 *                         └──────── problems (file:line:column, block path) ─────────▶ DroverError
 */
import { dirname } from 'node:path';
import { jobParseError, jobValidationError } from '../errors/index.js';
import type { Job } from '../structs/index.js';
import {
  evaluate,
  expandDynamic,
  fromJS,
  makeEvalContext,
  parseHCL,
  toJS,
  withBlockVars,
  type Block,
  type Body,
  type EvalContext,
  type Expression,
} from './hcl/index.js';
import { addDiagnostics, decodeBlock, problemAt, type DecodeCtx } from './decode-body.js';
import { HANDLERS } from './decode-job.js';
import { resolveLocals, resolveVariables, type EvalIn, type VariableInputs } from './variables.js';
import { checkPortLabels } from './port-labels.js';
import { canonicalizeJob } from './canonicalize.js';
import { validateJob } from './validate.js';
import { locateProblems } from './locate.js';

export interface ParseHCLOptions extends VariableInputs {
  filename?: string;
  baseDir?: string;
  /** Allow file(), fileexists() and friends. Off for the HTTP API. */
  allowFS?: boolean;
  /**
   * Also run `validateJob` on the job with defaults filled, and report its problems at their file
   * positions (DroverError 'JobValidation'). For `job validate` / `job run`; Nomad's parse endpoint
   * does not validate, so the HTTP parse route leaves this off.
   */
  validate?: boolean;
}

export interface ParseHCLResult {
  job: Job;
  warnings: string[];
}

const TOP_LEVEL = new Set(['job', 'variable', 'variables', 'locals']);

/** Parses a Nomad HCL2 job file. Throws DroverError('JobParse') listing every problem. */
export function parseJobHCL(src: string, opts: ParseHCLOptions = {}): ParseHCLResult {
  const filename = opts.filename ?? 'job.nomad.hcl';
  const { body, diagnostics } = parseHCL(src, filename);
  const ctx: DecodeCtx = {
    evaluate: () => ({ value: null, diagnostics: [] }),
    problems: [],
    warnings: [],
    custom: HANDLERS,
  };
  addDiagnostics(ctx, diagnostics, '');
  if (ctx.problems.length) throw jobParseError(ctx.problems);

  const root = makeEvalContext({
    unknownRootsVerbatim: true,
    functions: {
      allowFS: opts.allowFS ?? false,
      baseDir: opts.baseDir ?? (opts.filename ? dirname(opts.filename) : '.'),
    },
  });
  const evalIn: EvalIn = (expr, roots) => plain(expr, { variables: roots, parent: root });
  const vars = resolveVariables(body, opts, ctx, evalIn);
  const locals = resolveLocals(body, ctx, (expr, known) => evalIn(expr, { var: fromJS(vars), local: fromJS(known) }));
  const scope: EvalContext = { variables: { var: fromJS(vars), local: fromJS(locals) }, parent: root };
  ctx.evaluate = (expr, block) => plain(expr, block ? withBlockVars(scope, block) : scope);

  let jobBlock = findJobBlock(body, ctx);
  let job: Record<string, unknown> = {};
  if (jobBlock) {
    const expanded = expandDynamic({ ...jobBlock.body }, scope);
    addDiagnostics(ctx, expanded.diagnostics, `job ${JSON.stringify(jobBlock.labels[0] ?? '')}`);
    jobBlock = { ...jobBlock, body: expanded.body };
    job = decodeBlock('job', jobBlock, ctx, '');
    checkPortLabels(job, jobBlock, ctx);
  }
  if (ctx.problems.length) throw jobParseError(ctx.problems);
  if (opts.validate) {
    const problems = validateJob(canonicalizeJob(job as unknown as Job));
    if (problems.length) throw jobValidationError(locateProblems(job, problems));
  }
  return { job: job as unknown as Job, warnings: ctx.warnings };
}

/** Evaluates with the HCL module and hands the decoder plain JSON values. */
function plain(
  expr: Expression,
  c: EvalContext,
): { value: unknown; diagnostics: ReturnType<typeof evaluate>['diagnostics'] } {
  const r = evaluate(expr, c);
  return { value: toJS(r.value), diagnostics: r.diagnostics };
}

function findJobBlock(body: Body, ctx: DecodeCtx): Block | null {
  let job: Block | null = null;
  for (const item of body.items) {
    if (item.kind === 'attribute') {
      problemAt(
        ctx,
        item.nameRange,
        `Unsupported argument: an argument named "${item.name}" is not expected at the top level of a job file`,
        '',
      );
      continue;
    }
    if (!TOP_LEVEL.has(item.type)) {
      problemAt(
        ctx,
        item.typeRange,
        `Unsupported block type: blocks of type "${item.type}" are not expected here (expected job, variable, variables or locals)`,
        '',
      );
      continue;
    }
    if (item.type !== 'job') continue;
    if (item.labels.length !== 1) {
      problemAt(
        ctx,
        item.typeRange,
        `Missing name for job: a job block takes exactly one label, its ID (job "example" { ... })`,
        '',
      );
      continue;
    }
    if (job) {
      problemAt(
        ctx,
        item.typeRange,
        `Duplicate job block: a job file holds exactly one job; the first was at line ${job.typeRange.start.line}`,
        '',
      );
      continue;
    }
    job = item;
  }
  if (!job && ctx.problems.length === 0)
    ctx.problems.push({
      message: 'No job found: the file has no job block',
      file: body.range.filename,
      line: 1,
      column: 1,
    });
  return job;
}
