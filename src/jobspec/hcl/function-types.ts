/** The shape of an HCL function and the helpers implementations use to read their arguments. */
import type { Diagnostic, Expression, Range } from './ast.js';
import { convert } from './convert.js';
import { T, type Type, type Value, elements, friendlyTypeName, typeOf } from './values.js';

/** Thrown by a function implementation; `argIndex` points the diagnostic at that argument. */
export class FunctionError extends Error {
  readonly argIndex: number | undefined;
  constructor(message: string, argIndex?: number) {
    super(message);
    this.argIndex = argIndex;
  }
}

export interface CallInfo {
  name: string;
  range: Range;
  /** The argument expressions as written (`convert` reads its type argument from here). */
  exprs: Expression[];
}

export interface EagerFunction {
  lazy?: false;
  /** Parameter names, used in messages; `maxArgs` Infinity makes the last one variadic. */
  params: string[];
  minArgs: number;
  maxArgs: number;
  /** Receive unknown arguments instead of returning unknown for them. */
  allowUnknown?: boolean;
  /** Receive null arguments instead of rejecting them. */
  allowNull?: boolean;
  call(args: Value[], info: CallInfo): Value;
}

/** `can` and `try`: arguments are evaluated by the function, so their errors can be caught. */
export interface LazyFunction {
  lazy: true;
  params: string[];
  minArgs: number;
  maxArgs: number;
  call(args: Array<() => { value: Value; diagnostics: Diagnostic[] }>, info: CallInfo): Value;
}

export type HclFunction = EagerFunction | LazyFunction;
export type FunctionTable = Record<string, HclFunction>;

export function fn(
  params: string[],
  call: EagerFunction['call'],
  opts: Partial<Omit<EagerFunction, 'call' | 'params'>> = {},
): EagerFunction {
  const variadic = params[params.length - 1]?.startsWith('...') ?? false;
  return {
    params: params.map((p) => p.replace(/^\.\.\./, '')),
    minArgs: opts.minArgs ?? (variadic ? params.length - 1 : params.length),
    maxArgs: opts.maxArgs ?? (variadic ? Infinity : params.length),
    allowUnknown: opts.allowUnknown,
    allowNull: opts.allowNull,
    call,
  };
}

/** Argument i; the evaluator checks arity first, so a missing one is reported as a function error, not a crash. */
export function arg(args: Value[], i: number): Value {
  const v = args[i];
  if (v === undefined) throw new FunctionError(`missing argument ${i + 1}`, i);
  return v;
}

function as(v: Value, t: Type, i: number): Value {
  const r = convert(v, t);
  if (!r.ok) throw new FunctionError(r.error, i);
  return r.value;
}

export function argString(args: Value[], i: number): string {
  const v = as(arg(args, i), T.string, i);
  if (v.kind !== 'string') throw new FunctionError('string required', i);
  return v.value;
}

export function argNumber(args: Value[], i: number): number {
  const v = as(arg(args, i), T.number, i);
  if (v.kind !== 'number') throw new FunctionError('number required', i);
  return v.value;
}

export function argInt(args: Value[], i: number): number {
  const n = argNumber(args, i);
  if (!Number.isInteger(n)) throw new FunctionError('whole number required', i);
  return n;
}

export function argBool(args: Value[], i: number): boolean {
  const v = as(arg(args, i), T.bool, i);
  if (v.kind !== 'bool') throw new FunctionError('bool required', i);
  return v.value;
}

/** Items of a list, set or tuple. */
export function argSeq(args: Value[], i: number): Value[] {
  const v = arg(args, i);
  if (v.kind === 'list' || v.kind === 'set' || v.kind === 'tuple') return v.items;
  throw new FunctionError(`list, set or tuple required, not ${friendlyTypeName(typeOf(v))}`, i);
}

/** Entries of a map or object. */
export function argMapping(args: Value[], i: number): Map<string, Value> {
  const v = arg(args, i);
  if (v.kind === 'map') return v.entries;
  if (v.kind === 'object') return v.attrs;
  throw new FunctionError(`map or object required, not ${friendlyTypeName(typeOf(v))}`, i);
}

export function argStringList(args: Value[], i: number): string[] {
  return argSeq(args, i).map((x) => {
    const r = convert(x, T.string);
    if (!r.ok || r.value.kind !== 'string') throw new FunctionError('list of string required', i);
    return r.value.value;
  });
}

export { elements };
