/**
 * Evaluates HCL expressions to typed values. Errors become diagnostics and an unknown value, so one bad
 * reference does not cascade into more messages.
 *
 * Unknown roots: with `unknownRootsVerbatim`, a reference to a root the context does not define
 * (`node.unique.name`, `NOMAD_PORT_http`, `env["X"]`) evaluates to a *verbatim* unknown. Anything computed
 * from it stays verbatim; a template renders the interpolation's own source text (`${node.unique.name}`),
 * and `evaluate` turns a remaining verbatim value into the string `${<source>}`. That is what Nomad does, so
 * the client can interpolate these at run time.
 */
import type { Diagnostic, Expression, ForExpr, Range, TemplatePart, Traverser } from './ast.js';
import { convert } from './convert.js';
import { FunctionError, type CallInfo, type FunctionTable } from './function-types.js';
import {
  NULL,
  T,
  type Value,
  bool,
  commonType,
  elements,
  friendlyTypeName,
  isVerbatim,
  list,
  num,
  str,
  tuple,
  typeOf,
  unknown,
  valuesEqual,
  verbatim,
} from './values.js';

export interface EvalContext {
  /** Root names in scope: `var`, `local`, `jobspec`, iterators... */
  variables: Record<string, Value>;
  /** Defaults to the parent's; the standard library comes from `standardFunctions`. */
  functions?: FunctionTable;
  /** Keep references to undefined roots as their source text instead of reporting "Unknown variable". */
  unknownRootsVerbatim?: boolean;
  parent?: EvalContext;
}

export interface EvalResult {
  value: Value;
  diagnostics: Diagnostic[];
}

/** A child scope: `vars` shadow the parent's; functions and options are inherited. */
export function childContext(parent: EvalContext, vars: Record<string, Value>): EvalContext {
  return { variables: vars, parent };
}

function lookupVar(ctx: EvalContext, name: string): Value | undefined {
  for (let c: EvalContext | undefined = ctx; c; c = c.parent) {
    if (Object.prototype.hasOwnProperty.call(c.variables, name)) return c.variables[name];
  }
  return undefined;
}

function lookupFunctions(ctx: EvalContext): FunctionTable | undefined {
  for (let c: EvalContext | undefined = ctx; c; c = c.parent) if (c.functions) return c.functions;
  return undefined;
}

function verbatimOption(ctx: EvalContext): boolean {
  for (let c: EvalContext | undefined = ctx; c; c = c.parent)
    if (c.unknownRootsVerbatim !== undefined) return c.unknownRootsVerbatim;
  return false;
}

/**
 * Evaluates one expression. Never throws. With `unknownRootsVerbatim`, verbatim references left in the
 * result (also inside lists and objects) become `${...}` strings.
 */
export function evaluate(expr: Expression, ctx: EvalContext): EvalResult {
  const ev = new Evaluator();
  let value = ev.eval(expr, ctx);
  if (verbatimOption(ctx)) value = resolveVerbatim(value);
  return { value, diagnostics: ev.diags };
}

/** Replaces verbatim unknowns by their `${...}` text, deeply. */
export function resolveVerbatim(v: Value): Value {
  switch (v.kind) {
    case 'unknown':
      return v.verbatim ? str(v.raw ?? '') : v;
    case 'list':
    case 'set':
    case 'tuple':
      return v.items.some(needsResolve) ? { ...v, items: v.items.map(resolveVerbatim) } : v;
    case 'map':
      return [...v.entries.values()].some(needsResolve)
        ? { ...v, entries: new Map([...v.entries].map(([k, x]) => [k, resolveVerbatim(x)])) }
        : v;
    case 'object':
      return [...v.attrs.values()].some(needsResolve)
        ? { ...v, attrs: new Map([...v.attrs].map(([k, x]) => [k, resolveVerbatim(x)])) }
        : v;
    default:
      return v;
  }
}

function needsResolve(v: Value): boolean {
  if (v.kind === 'unknown') return v.verbatim === true;
  if (v.kind === 'list' || v.kind === 'set' || v.kind === 'tuple') return v.items.some(needsResolve);
  if (v.kind === 'map') return [...v.entries.values()].some(needsResolve);
  if (v.kind === 'object') return [...v.attrs.values()].some(needsResolve);
  return false;
}

/** `${<source of e>}`: what a whole expression built on a verbatim reference turns into. */
function verbatimFor(e: Expression): Value {
  return verbatim('${' + (e.raw ?? '') + '}');
}

class Evaluator {
  readonly diags: Diagnostic[] = [];
  error(summary: string, detail: string, range: Range): Value {
    this.diags.push({ severity: 'error', summary, detail, range });
    return unknown();
  }

  /** Recursion follows the source nesting, which the parser caps at MAX_DEPTH. */
  eval(e: Expression, ctx: EvalContext): Value {
    switch (e.type) {
      case 'literal':
        if (e.value === null) return NULL;
        if (typeof e.value === 'string') return str(e.value);
        if (typeof e.value === 'number') return num(e.value);
        return bool(e.value);
      case 'template':
        return this.template(e.parts, ctx);
      case 'templateWrap': {
        const v = this.eval(e.wrapped, ctx);
        return isVerbatim(v) ? verbatim(e.wrapRaw ?? '${' + (e.wrapped.raw ?? '') + '}') : v;
      }
      case 'heredoc':
        return this.template(e.template.parts, ctx);
      case 'parens':
        return this.eval(e.inner, ctx);
      case 'scopeTraversal':
        return this.scopeTraversal(e, ctx);
      case 'relativeTraversal': {
        const src = this.eval(e.source, ctx);
        if (isVerbatim(src)) return verbatimFor(e);
        return this.traverse(src, e.traversal);
      }
      case 'index': {
        const coll = this.eval(e.collection, ctx);
        const key = this.eval(e.key, ctx);
        if (isVerbatim(coll) || isVerbatim(key)) return verbatimFor(e);
        return this.index(coll, key, e.range);
      }
      case 'splat':
        return this.splat(e, ctx);
      case 'functionCall':
        return this.call(e, ctx);
      case 'conditional':
        return this.conditional(e, ctx);
      case 'binaryOp':
        return this.binary(e, ctx);
      case 'unaryOp':
        return this.unary(e, ctx);
      case 'tuple':
        return tuple(e.items.map((x) => this.eval(x, ctx)));
      case 'object':
        return this.objectCons(e, ctx);
      case 'for':
        return this.forExpr(e, ctx);
    }
  }

  private scopeTraversal(e: Extract<Expression, { type: 'scopeTraversal' }>, ctx: EvalContext): Value {
    const root = lookupVar(ctx, e.root);
    if (root === undefined) {
      if (verbatimOption(ctx)) return verbatimFor(e);
      return this.error('Unknown variable', `There is no variable named "${e.root}".`, e.range);
    }
    return this.traverse(root, e.traversal);
  }

  traverse(v: Value, steps: Traverser[]): Value {
    let cur = v;
    for (const s of steps) {
      if (cur.kind === 'unknown') return cur;
      if (s.type === 'attr') cur = this.getAttr(cur, s.name, s.range);
      else if (s.type === 'index') cur = this.index(cur, typeof s.key === 'number' ? num(s.key) : str(s.key), s.range);
      else
        cur =
          cur.kind === 'list' || cur.kind === 'tuple' || cur.kind === 'set'
            ? cur
            : tuple(cur.kind === 'null' ? [] : [cur]);
    }
    return cur;
  }

  private getAttr(v: Value, name: string, range: Range): Value {
    switch (v.kind) {
      case 'object': {
        const a = v.attrs.get(name);
        return (
          a ?? this.error('Unsupported attribute', `This object does not have an attribute named "${name}".`, range)
        );
      }
      case 'map': {
        const a = v.entries.get(name);
        return (
          a ?? this.error('Missing map element', `This map does not have an element with the key "${name}".`, range)
        );
      }
      case 'null':
        return this.error(
          'Attempt to get attribute from null value',
          'This value is null, so it does not have any attributes.',
          range,
        );
      case 'list':
      case 'tuple':
      case 'set':
        return this.error(
          'Unsupported attribute',
          `This value does not have any attributes; it is a ${friendlyTypeName(typeOf(v))}.`,
          range,
        );
      default:
        return this.error(
          'Unsupported attribute',
          `Can't access attributes on a primitive-typed value (${v.kind}).`,
          range,
        );
    }
  }

  index(coll: Value, key: Value, range: Range): Value {
    if (coll.kind === 'unknown' || key.kind === 'unknown') return unknown();
    if (key.kind === 'null') return this.error('Invalid index', "Can't use a null value as an indexing key.", range);
    switch (coll.kind) {
      case 'list':
      case 'tuple': {
        const k = convert(key, T.number);
        if (!k.ok || k.value.kind !== 'number' || !Number.isInteger(k.value.value)) {
          return this.error(
            'Invalid index',
            'The given key does not identify an element in this collection value: a whole number is required.',
            range,
          );
        }
        const item = coll.items[k.value.value];
        return (
          item ??
          this.error(
            'Invalid index',
            `The given key does not identify an element in this collection value: index ${k.value.value} is out of range for ${coll.items.length} elements.`,
            range,
          )
        );
      }
      case 'map':
      case 'object': {
        const k = convert(key, T.string);
        if (!k.ok || k.value.kind !== 'string')
          return this.error(
            'Invalid index',
            'The given key does not identify an element in this collection value: a string key is required.',
            range,
          );
        const m = coll.kind === 'map' ? coll.entries : coll.attrs;
        const item = m.get(k.value.value);
        if (item) return item;
        return coll.kind === 'map'
          ? this.error(
              'Invalid index',
              `The given key does not identify an element in this collection value: this map does not have an element with the key "${k.value.value}".`,
              range,
            )
          : this.error(
              'Unsupported attribute',
              `This object does not have an attribute named "${k.value.value}".`,
              range,
            );
      }
      case 'set':
        return this.error(
          'Invalid index',
          "Elements of a set are identified only by their value and don't have any separate index or key to select with, so it's only possible to perform operations across all elements of the set.",
          range,
        );
      case 'null':
        return this.error('Attempt to index null value', 'This value is null, so it does not have any indices.', range);
      default:
        return this.error('Invalid index', `This value does not have any indices; it is a ${coll.kind}.`, range);
    }
  }

  private splat(e: Extract<Expression, { type: 'splat' }>, ctx: EvalContext): Value {
    const src = this.eval(e.source, ctx);
    if (isVerbatim(src)) return verbatimFor(e);
    if (src.kind === 'unknown') return unknown();
    if (src.kind === 'null') return tuple([]);
    if (src.kind === 'list' || src.kind === 'set' || src.kind === 'tuple') {
      const out = src.items.map((x) => this.traverse(x, e.each));
      return src.kind === 'tuple' ? tuple(out) : list(out);
    }
    return tuple([this.traverse(src, e.each)]);
  }

  private template(parts: TemplatePart[], ctx: EvalContext): Value {
    const out: string[] = [];
    const ok = this.renderParts(parts, ctx, out);
    if (!ok) return unknown(T.string);
    return str(out.join(''));
  }

  /** Appends rendered parts to `out`; false when the result is unknown. */
  private renderParts(parts: TemplatePart[], ctx: EvalContext, out: string[]): boolean {
    let known = true;
    for (const p of parts) {
      switch (p.type) {
        case 'text':
          out.push(p.value);
          break;
        case 'interp': {
          const v = this.eval(p.expr, ctx);
          if (v.kind === 'unknown' && v.verbatim) out.push(p.raw ?? v.raw ?? '');
          else if (v.kind === 'unknown') known = false;
          else {
            const s = this.interpString(v, p.range);
            if (s === null) known = false;
            else out.push(s);
          }
          break;
        }
        case 'if': {
          const c = this.eval(p.cond, ctx);
          const b = this.toBool(c, p.cond.range, 'Invalid template directive', 'condition');
          if (b === null) known = false;
          else if (b) known = this.renderParts(p.then, ctx, out) && known;
          else if (p.else) known = this.renderParts(p.else, ctx, out) && known;
          break;
        }
        case 'for': {
          const coll = this.eval(p.coll, ctx);
          const els = this.iterable(coll, p.coll.range);
          if (!els) {
            known = false;
            break;
          }
          for (const [k, v] of els) {
            const vars: Record<string, Value> = { [p.valueVar]: v };
            if (p.keyVar) vars[p.keyVar] = k;
            known = this.renderParts(p.body, childContext(ctx, vars), out) && known;
          }
          break;
        }
      }
    }
    return known;
  }

  private interpString(v: Value, range: Range): string | null {
    if (v.kind === 'null') {
      this.error(
        'Invalid template interpolation value',
        'The expression result is null. Cannot include a null value in a string template.',
        range,
      );
      return null;
    }
    const r = convert(v, T.string);
    if (!r.ok || r.value.kind !== 'string') {
      this.error(
        'Invalid template interpolation value',
        `Cannot include the given value in a string template: string required, not ${friendlyTypeName(typeOf(v))}.`,
        range,
      );
      return null;
    }
    return r.value.value;
  }

  /** A bool, or null (with a diagnostic unless the value was unknown). */
  private toBool(v: Value, range: Range, summary: string, what: string): boolean | null {
    if (v.kind === 'unknown') return null;
    if (v.kind === 'null') {
      this.error(summary, `The ${what} value is null. Conditions must either be true or false.`, range);
      return null;
    }
    const r = convert(v, T.bool);
    if (!r.ok || r.value.kind !== 'bool') {
      this.error(summary, `The ${what} must be a bool, not ${friendlyTypeName(typeOf(v))}.`, range);
      return null;
    }
    return r.value.value;
  }

  /** Key/value pairs to iterate, or null (with a diagnostic unless unknown). */
  private iterable(v: Value, range: Range): Array<[Value, Value]> | null {
    if (v.kind === 'unknown') return null;
    if (v.kind === 'null') {
      this.error(
        'Iteration over null value',
        'A null value cannot be used as the collection in a for expression.',
        range,
      );
      return null;
    }
    const els = elements(v);
    if (!els)
      this.error(
        'Iteration over non-iterable value',
        `A value of type ${friendlyTypeName(typeOf(v))} cannot be used as the collection in a for expression.`,
        range,
      );
    return els;
  }

  private conditional(e: Extract<Expression, { type: 'conditional' }>, ctx: EvalContext): Value {
    const c = this.eval(e.cond, ctx);
    if (isVerbatim(c)) return verbatimFor(e);
    const b = this.toBool(c, e.cond.range, 'Incorrect condition type', 'condition');
    if (b === null) return unknown();
    const chosen = this.eval(b ? e.then : e.else, ctx);
    // HCL unifies both results' types; the other branch is evaluated only for its type, silently.
    const probe = new Evaluator();
    const other = probe.eval(b ? e.else : e.then, ctx);
    if (probe.diags.length > 0 || chosen.kind === 'unknown' || other.kind === 'null' || chosen.kind === 'null')
      return chosen;
    const common = commonType([typeOf(chosen), typeOf(other)]);
    if (!common || common.kind !== 'string' || chosen.kind === 'string') return chosen;
    const r = convert(chosen, common);
    return r.ok ? r.value : chosen;
  }

  private binary(e: Extract<Expression, { type: 'binaryOp' }>, ctx: EvalContext): Value {
    const l = this.eval(e.left, ctx);
    const r = this.eval(e.right, ctx);
    if (isVerbatim(l) || isVerbatim(r)) return verbatimFor(e);
    if (l.kind === 'unknown' || r.kind === 'unknown') return unknown();
    switch (e.op) {
      case '==':
        return bool(valuesEqual(l, r));
      case '!=':
        return bool(!valuesEqual(l, r));
      case '&&':
      case '||': {
        const a = this.toBool(l, e.left.range, 'Invalid operand', 'left operand');
        const b = this.toBool(r, e.right.range, 'Invalid operand', 'right operand');
        if (a === null || b === null) return unknown(T.bool);
        return bool(e.op === '&&' ? a && b : a || b);
      }
    }
    const a = this.operandNumber(l, e.left.range, 'left');
    const b = this.operandNumber(r, e.right.range, 'right');
    if (a === null || b === null) return unknown();
    switch (e.op) {
      case '<':
        return bool(a < b);
      case '<=':
        return bool(a <= b);
      case '>':
        return bool(a > b);
      case '>=':
        return bool(a >= b);
      case '+':
        return num(a + b);
      case '-':
        return num(a - b);
      case '*':
        return num(a * b);
      case '/':
        if (b === 0) return this.error('Invalid operand', 'Division by zero.', e.range);
        return num(a / b);
      case '%':
        if (b === 0) return this.error('Invalid operand', 'Modulo by zero.', e.range);
        return num(a % b);
    }
  }

  private operandNumber(v: Value, range: Range, side: string): number | null {
    const r = convert(v, T.number);
    if (r.ok && r.value.kind === 'number') return r.value.value;
    this.error(
      'Invalid operand',
      `Unsuitable value for ${side} operand: ${r.ok ? 'number required' : r.error}.`,
      range,
    );
    return null;
  }

  private unary(e: Extract<Expression, { type: 'unaryOp' }>, ctx: EvalContext): Value {
    const v = this.eval(e.operand, ctx);
    if (isVerbatim(v)) return verbatimFor(e);
    if (v.kind === 'unknown') return unknown();
    if (e.op === '!') {
      const b = this.toBool(v, e.operand.range, 'Invalid operand', 'operand');
      return b === null ? unknown(T.bool) : bool(!b);
    }
    const n = this.operandNumber(v, e.operand.range, 'the');
    return n === null ? unknown(T.number) : num(-n);
  }

  private objectKey(k: Value, range: Range): string | null {
    if (k.kind === 'null') {
      this.error('Invalid object key', 'Key expression in object constructor must not be null.', range);
      return null;
    }
    const s = convert(k, T.string);
    if (!s.ok || s.value.kind !== 'string') {
      if (k.kind !== 'unknown')
        this.error(
          'Invalid object key',
          `Key expression in object constructor must be a string, not ${friendlyTypeName(typeOf(k))}.`,
          range,
        );
      return null;
    }
    return s.value.value;
  }

  private objectCons(e: Extract<Expression, { type: 'object' }>, ctx: EvalContext): Value {
    const attrs = new Map<string, Value>();
    let known = true;
    for (const item of e.items) {
      const kv = this.eval(item.key, ctx);
      const v = this.eval(item.value, ctx);
      const k = isVerbatim(kv) ? (kv.kind === 'unknown' ? (kv.raw ?? '') : '') : this.objectKey(kv, item.key.range);
      if (k === null) known = false;
      else attrs.set(k, v);
    }
    return known ? { kind: 'object', attrs } : unknown();
  }

  private forExpr(e: ForExpr, ctx: EvalContext): Value {
    const coll = this.eval(e.collection, ctx);
    if (isVerbatim(coll)) return verbatimFor(e);
    const els = this.iterable(coll, e.collection.range);
    if (!els) return unknown();
    const items: Value[] = [];
    const attrs = new Map<string, Value>();
    const groups = new Map<string, Value[]>();
    for (const [k, v] of els) {
      const vars: Record<string, Value> = { [e.valueVar]: v };
      if (e.keyVar) vars[e.keyVar] = k;
      const inner = childContext(ctx, vars);
      if (e.condExpr) {
        const c = this.toBool(
          this.eval(e.condExpr, inner),
          e.condExpr.range,
          'Invalid for expression condition',
          'condition',
        );
        if (c === null) return unknown();
        if (!c) continue;
      }
      const value = this.eval(e.valueExpr, inner);
      if (!e.keyExpr) {
        items.push(value);
        continue;
      }
      const key = this.objectKey(this.eval(e.keyExpr, inner), e.keyExpr.range);
      if (key === null) return unknown();
      if (e.group) {
        const g = groups.get(key);
        if (g) g.push(value);
        else groups.set(key, [value]);
      } else if (attrs.has(key)) {
        return this.error(
          'Duplicate object key',
          `Two different items produced the key "${key}" in this 'for' expression. If duplicates are expected, use the ellipsis (...) after the value expression to enable grouping by key.`,
          e.keyExpr.range,
        );
      } else {
        attrs.set(key, value);
      }
    }
    if (!e.keyExpr) return tuple(items);
    if (e.group) for (const [k, g] of groups) attrs.set(k, tuple(g));
    return { kind: 'object', attrs };
  }

  private call(e: Extract<Expression, { type: 'functionCall' }>, ctx: EvalContext): Value {
    const f = lookupFunctions(ctx)?.[e.name];
    if (!f) return this.error('Call to unknown function', `There is no function named "${e.name}".`, e.nameRange);
    const info: CallInfo = { name: e.name, range: e.range, exprs: e.args };
    if (f.lazy) {
      if (e.args.length < f.minArgs || e.args.length > f.maxArgs) return this.arity(e, f.minArgs, f.maxArgs);
      const thunks = e.args.map((a) => () => {
        const sub = new Evaluator();
        return { value: sub.eval(a, ctx), diagnostics: sub.diags };
      });
      return this.invoke(() => f.call(thunks, info), e, f.params);
    }
    let args = e.args.map((a) => this.eval(a, ctx));
    if (args.some(isVerbatim)) return verbatimFor(e);
    const last = args[args.length - 1];
    if (e.expandFinal && last !== undefined) {
      if (last.kind === 'unknown') return unknown();
      if (last.kind !== 'list' && last.kind !== 'tuple' && last.kind !== 'set') {
        return this.error(
          'Invalid expanding argument value',
          'The expanding argument (indicated by ...) must be of a tuple, list, or set type.',
          e.args[e.args.length - 1]!.range,
        );
      }
      args = [...args.slice(0, -1), ...last.items];
    }
    if (args.length < f.minArgs || args.length > f.maxArgs) return this.arity(e, f.minArgs, f.maxArgs);
    for (const [i, a] of args.entries()) {
      const pname = f.params[Math.min(i, f.params.length - 1)] ?? 'arg';
      const range = e.args[Math.min(i, e.args.length - 1)]?.range ?? e.range;
      if (a.kind === 'null' && !f.allowNull)
        return this.error(
          'Invalid function argument',
          `Invalid value for "${pname}" parameter: argument must not be null.`,
          range,
        );
      if (a.kind === 'unknown' && !f.allowUnknown) return unknown();
    }
    return this.invoke(() => f.call(args, info), e, f.params);
  }

  private arity(e: Extract<Expression, { type: 'functionCall' }>, min: number, max: number): Value {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    return this.error(
      e.args.length < min ? 'Not enough function arguments' : 'Too many function arguments',
      `Function "${e.name}" expects ${want} argument(s), but ${e.args.length} were given.`,
      e.range,
    );
  }

  private invoke(run: () => Value, e: Extract<Expression, { type: 'functionCall' }>, params: string[]): Value {
    try {
      return run();
    } catch (err) {
      if (err instanceof FunctionError) {
        if (err.argIndex !== undefined && e.args.length > 0) {
          const f = params[Math.min(err.argIndex, params.length - 1)] ?? `argument ${err.argIndex + 1}`;
          const range = e.args[Math.min(err.argIndex, e.args.length - 1)]!.range;
          return this.error('Invalid function argument', `Invalid value for "${f}" parameter: ${err.message}.`, range);
        }
        return this.error('Error in function call', `Call to function "${e.name}" failed: ${err.message}.`, e.range);
      }
      return this.error(
        'Error in function call',
        `Call to function "${e.name}" failed: ${err instanceof Error ? err.message : String(err)}.`,
        e.range,
      );
    }
  }
}
