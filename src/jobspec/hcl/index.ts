/**
 * HCL2 for Nomad job files: a native parser that keeps positions and block order, a typed evaluator, and
 * Nomad's function library.
 *
 * Typical use by the jobspec decoder:
 *
 * ```ts
 * const { body, diagnostics } = parseHCL(text, 'job.nomad');          // never throws
 * const ctx = makeEvalContext({
 *   variables: { var: object(vars), local: object(locals) },
 *   unknownRootsVerbatim: true,                                       // `${node.unique.name}` stays as text
 *   functions: { baseDir: dirname(path), allowFS: true },
 * });
 * const expanded = expandDynamic(body, ctx);                          // dynamic blocks -> blocks
 * // for each attribute of a block `b`:
 * const { value, diagnostics } = evaluate(attr.expr, withBlockVars(ctx, b));
 * const asString = convert(value, T.string);                          // HCL's attribute conversion
 * ```
 *
 * Dynamic blocks: `expandDynamic` returns a new Body where each `dynamic "x"` block is replaced, in place,
 * by the generated `x` blocks. Every generated block, and every block nested inside one, has
 * `ctxExtras` (the iterator variable, e.g. `{ x: object({ key, value }) }`, merged with those of enclosing
 * dynamic blocks). Evaluate a block's attributes with `withBlockVars(ctx, block)`.
 *
 * Unknown roots: with `unknownRootsVerbatim: true`, a reference to a root that is not in the context's
 * variables (`node`, `attr`, `meta`, `env`, `NOMAD_PORT_http`...) does not fail: a template renders the
 * interpolation's exact source text (`"foo-${node.unique.name}"` stays as is), and a bare expression like
 * `region = meta.rack` evaluates to the string `${meta.rack}`. This is Nomad's behaviour; the client
 * interpolates these at run time.
 *
 * Diagnostics carry file:line:column ranges; `formatDiagnostic` renders one as HCL does.
 */
import type { Problem } from '../../errors/index.js';
import type { Diagnostic } from './ast.js';
import { type EvalContext } from './evaluator.js';
import type { FunctionTable } from './function-types.js';
import { standardFunctions, type FunctionOptions } from './functions/index.js';
import type { Value } from './values.js';

export type * from './ast.js';
export { parseHCL } from './parser.js';
export { staticString as literalString } from './expr-parser.js';
export { MAX_DEPTH } from './token-stream.js';
export { evaluate, childContext, resolveVerbatim, type EvalContext, type EvalResult } from './evaluator.js';
export { convert, parseTypeExpr, type ConvertResult } from './convert.js';
export { expandDynamic, withBlockVars } from './dynamic.js';
export {
  FunctionError,
  type CallInfo,
  type EagerFunction,
  type LazyFunction,
  type HclFunction,
  type FunctionTable,
} from './function-types.js';
export { standardFunctions, goFormat, jsonEncode, formatDate, type FunctionOptions } from './functions/index.js';
export {
  T,
  NULL,
  TRUE,
  FALSE,
  str,
  num,
  bool,
  tuple,
  object,
  list,
  map,
  unknown,
  verbatim,
  isVerbatim,
  nullOf,
  typeOf,
  typeEquals,
  typeName,
  friendlyTypeName,
  commonType,
  isKnown,
  elements,
  sortedKeys,
  formatNumber,
  valuesEqual,
  toJS,
  fromJS,
  type Type,
  type Value,
} from './values.js';

/** Builds a root context with Nomad's function library. */
export function makeEvalContext(opts: {
  variables?: Record<string, Value>;
  unknownRootsVerbatim?: boolean;
  /** Options for the standard library, or a complete table to use instead. */
  functions?: FunctionOptions | FunctionTable;
}): EvalContext {
  const f = opts.functions;
  const isTable = f !== undefined && Object.values(f).some((x) => typeof x === 'object' && x !== null && 'call' in x);
  return {
    variables: opts.variables ?? {},
    unknownRootsVerbatim: opts.unknownRootsVerbatim ?? false,
    functions: isTable ? (f as FunctionTable) : standardFunctions((f as FunctionOptions | undefined) ?? {}),
  };
}

/** `file.hcl:3,5-12: Summary; Detail`, the way HCL prints diagnostics. */
export function formatDiagnostic(d: Diagnostic): string {
  const r = d.range;
  let where = '';
  if (r) {
    const end = r.end.line === r.start.line ? `${r.end.column}` : `${r.end.line},${r.end.column}`;
    where = `${r.filename}:${r.start.line},${r.start.column}-${end}: `;
  }
  return `${where}${d.summary}${d.detail ? `; ${d.detail}` : ''}`;
}

/** True when any diagnostic is an error. */
export function hasErrors(diags: Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/**
 * A diagnostic as the project's `Problem` (file, 1-based line and column), for `jobParseError`.
 * `block` is the block path the caller knows, e.g. `job "web" > group "api"`.
 */
export function diagnosticToProblem(d: Diagnostic, block?: string): Problem {
  const p: Problem = { message: d.detail ? `${d.summary}: ${d.detail}` : d.summary };
  if (d.range) {
    p.file = d.range.filename;
    p.line = d.range.start.line;
    p.column = d.range.start.column;
  }
  if (block) p.block = block;
  return p;
}
