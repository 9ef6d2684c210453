/**
 * Input variables and locals. Values come, lowest precedence first, from: the declaration's
 * default, NOMAD_VAR_x / DROVER_VAR_x environment variables, var files (HCL) and the API's
 * Variables text, then -var flags. Nomad's rules for undeclared names: a -var for an undeclared
 * variable is an error; a var file entry is a warning; an environment variable is ignored.
 */
import {
  T,
  convert,
  fromJS,
  parseHCL,
  parseTypeExpr,
  toJS,
  typeName,
  type Block,
  type Body,
  type Diagnostic,
  type Expression,
  type Type,
  type Value,
} from './hcl/index.js';
import { problemAt, addDiagnostics, type DecodeCtx } from './decode-body.js';

type Plain = unknown;

/** Evaluates an expression with the given root variables (and Nomad's functions) to a plain value. */
export type EvalIn = (expr: Expression, roots: Record<string, Value>) => { value: unknown; diagnostics: Diagnostic[] };

export interface VariableInputs {
  variables?: Record<string, string>;
  varFiles?: { name: string; content: string }[];
  varFileContent?: string;
  env?: Record<string, string>;
}

interface Decl {
  name: string;
  block: Block | null;
  type: Type;
  default?: Plain;
  validations: Block[];
}

/** Converts a plain value to a declared type with HCL's rules (`"5"` → 5 for `number`, ...). */
function conformTo(v: Plain, t: Type): { ok: true; value: Plain } | { ok: false; error: string } {
  if (v === null) return { ok: true, value: null };
  const c = convert(fromJS(v), t);
  return c.ok ? { ok: true, value: toJS(c.value) } : c;
}

/** Parses `name = value` lines of a var file (HCL syntax) into plain values. */
function readVarFile(
  name: string,
  content: string,
  ctx: DecodeCtx,
  evalIn: EvalIn,
): Map<string, { value: Plain; block: string }> {
  const out = new Map<string, { value: Plain; block: string }>();
  const { body, diagnostics } = parseHCL(content, name);
  addDiagnostics(ctx, diagnostics, '');
  for (const item of body.items) {
    if (item.kind === 'block') {
      problemAt(
        ctx,
        item.typeRange,
        `Unexpected "${item.type}" block: a variables file holds only name = value assignments`,
        '',
      );
      continue;
    }
    const r = evalIn(item.expr, {});
    addDiagnostics(ctx, r.diagnostics, '');
    if (!r.diagnostics.length) out.set(item.name, { value: r.value, block: name });
  }
  return out;
}

function cliValue(raw: string, t: Type, name: string, ctx: DecodeCtx, evalIn: EvalIn): Plain | undefined {
  // Primitive types take the text as is (conversion happens later); collections are read as HCL.
  if (t.kind === 'string' || t.kind === 'dynamic' || t.kind === 'number' || t.kind === 'bool') return raw;
  const src = `v = ${raw}\n`;
  const { body, diagnostics } = parseHCL(src, `<value for var.${name}>`);
  const attr = body.items[0];
  if (diagnostics.length || !attr || attr.kind !== 'attribute') {
    ctx.problems.push({
      message: `Invalid value for variable "${name}": expected ${typeName(t)} in HCL syntax, got ${JSON.stringify(raw)}`,
    });
    return undefined;
  }
  return evalIn(attr.expr, {}).value;
}

function collectDecls(top: Body, ctx: DecodeCtx, evalIn: EvalIn): Map<string, Decl> {
  const decls = new Map<string, Decl>();
  const plain = (e: Expression) => evalIn(e, {});
  for (const item of top.items) {
    if (item.kind !== 'block') continue;
    if (item.type === 'variables') {
      for (const a of item.body.items) {
        if (a.kind !== 'attribute') continue;
        const r = plain(a.expr);
        addDiagnostics(ctx, r.diagnostics, 'variables');
        decls.set(a.name, { name: a.name, block: null, type: T.dynamic, default: r.value, validations: [] });
      }
    } else if (item.type === 'variable') {
      const name = item.labels[0] ?? '';
      const d: Decl = { name, block: item, type: T.dynamic, validations: [] };
      for (const a of item.body.items) {
        if (a.kind === 'block') {
          if (a.type === 'validation') d.validations.push(a);
          else
            problemAt(
              ctx,
              a.typeRange,
              `Unsupported block type: blocks of type "${a.type}" are not expected in a variable`,
              `variable "${name}"`,
            );
        } else if (a.name === 'type') {
          const pt = parseTypeExpr(a.expr);
          addDiagnostics(ctx, pt.diagnostics, `variable "${name}"`);
          d.type = pt.type;
        } else if (a.name === 'default') {
          const r = plain(a.expr);
          addDiagnostics(ctx, r.diagnostics, `variable "${name}"`);
          d.default = r.value;
        } else if (!['description', 'sensitive', 'nullable'].includes(a.name)) {
          problemAt(
            ctx,
            a.nameRange,
            `Unsupported argument: an argument named "${a.name}" is not expected in a variable`,
            `variable "${name}"`,
          );
        }
      }
      if (decls.has(name)) problemAt(ctx, item.labelRanges[0], `Duplicate variable "${name}"`, '');
      decls.set(name, d);
    }
  }
  return decls;
}

/** Resolves every declared variable to its value; reports unset and invalid ones. */
export function resolveVariables(
  top: Body,
  inputs: VariableInputs,
  ctx: DecodeCtx,
  evalIn: EvalIn,
): Record<string, Plain> {
  const decls = collectDecls(top, ctx, evalIn);
  const given = new Map<string, Plain>();
  const typeOf = (n: string): Type => decls.get(n)?.type ?? T.dynamic;
  for (const [k, v] of Object.entries(inputs.env ?? {})) {
    const name = /^(?:NOMAD|DROVER)_VAR_(.+)$/.exec(k)?.[1];
    if (name !== undefined && decls.has(name)) given.set(name, cliValue(v, typeOf(name), name, ctx, evalIn));
  }
  const files = [...(inputs.varFiles ?? [])];
  if (inputs.varFileContent) files.push({ name: 'variables', content: inputs.varFileContent });
  for (const f of files) {
    for (const [k, v] of readVarFile(f.name, f.content, ctx, evalIn)) {
      if (!decls.has(k))
        ctx.warnings.push(
          `${f.name}: Undefined variable: a "${k}" variable was assigned a value, but no variable of that name was declared`,
        );
      else given.set(k, v.value);
    }
  }
  for (const [k, v] of Object.entries(inputs.variables ?? {})) {
    if (!decls.has(k))
      ctx.problems.push({
        message: `Undefined -var variable: a "${k}" variable was passed in, but no variable of that name was declared`,
      });
    else given.set(k, cliValue(v, typeOf(k), k, ctx, evalIn));
  }
  const values: Record<string, Plain> = {};
  for (const d of decls.values()) {
    const v = given.has(d.name) ? given.get(d.name) : d.default;
    const where = `variable "${d.name}"`;
    if (v === undefined) {
      problemAt(
        ctx,
        d.block?.labelRanges[0],
        `Unset variable "${d.name}": a used variable must be set or have a default value`,
        where,
      );
      // Null keeps later references from reporting the same problem again.
      values[d.name] = null;
      continue;
    }
    const c = conformTo(v, d.type);
    if (!c.ok) {
      problemAt(
        ctx,
        d.block?.labelRanges[0],
        `Invalid value for variable "${d.name}": ${c.error} (the variable's type is ${typeName(d.type)})`,
        where,
      );
      values[d.name] = null;
      continue;
    }
    values[d.name] = c.value;
  }
  for (const d of decls.values())
    if (values[d.name] !== null && values[d.name] !== undefined) validate(d, values, ctx, evalIn);
  return values;
}

function validate(d: Decl, values: Record<string, Plain>, ctx: DecodeCtx, evalIn: EvalIn): void {
  const where = `variable "${d.name}"`;
  for (const vb of d.validations) {
    let cond: Expression | null = null;
    let msg: Expression | null = null;
    for (const a of vb.body.items) {
      if (a.kind === 'attribute' && a.name === 'condition') cond = a.expr;
      else if (a.kind === 'attribute' && a.name === 'error_message') msg = a.expr;
    }
    const scope = { var: fromJS(values) };
    const m = msg ? evalIn(msg, scope).value : '';
    if (typeof m !== 'string' || m.trim() === '') {
      problemAt(
        ctx,
        msg?.range ?? vb.typeRange,
        'Invalid validation error message: the validation error message must be a non-empty string',
        where,
      );
      continue;
    }
    if (!cond) continue;
    const r = evalIn(cond, scope);
    addDiagnostics(ctx, r.diagnostics, where);
    if (r.value === false) problemAt(ctx, cond.range, `Invalid value for variable: ${m}`, where);
  }
}

/** Evaluates `locals` blocks, in whatever order their references allow. */
export function resolveLocals(
  top: Body,
  ctx: DecodeCtx,
  evalWith: (expr: Expression, known: Record<string, Plain>) => { value: unknown; diagnostics: Diagnostic[] },
): Record<string, Plain> {
  const pending = top.items.flatMap((b) => (b.kind === 'block' && b.type === 'locals' ? b.body.items : []));
  const locals: Record<string, Plain> = {};
  let left = pending.filter((a) => a.kind === 'attribute');
  for (let pass = 0; left.length && pass <= pending.length; pass++) {
    const next: typeof left = [];
    for (const a of left) {
      if (a.kind !== 'attribute') continue;
      const r = evalWith(a.expr, locals);
      if (r.diagnostics.length) next.push(a);
      else locals[a.name] = r.value;
    }
    if (next.length === left.length) {
      for (const a of next)
        if (a.kind === 'attribute') addDiagnostics(ctx, evalWith(a.expr, locals).diagnostics, 'locals');
      break;
    }
    left = next;
  }
  return locals;
}
