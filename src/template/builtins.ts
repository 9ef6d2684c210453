/** Go text/template's predefined functions, with Go's semantics and error texts. */
import { printValue, sprint, sprintf, sprintln } from './fmt.js';
import { goEq, goLt, kindOf, mapGet, mapHas, mapSize, mapZero, truth as truthy, typeName } from './values.js';

export type TemplateFunc = (...args: any[]) => unknown;

/** A function with its accepted argument count (Go checks this from the Go signature). */
export interface FuncSpec {
  fn: TemplateFunc;
  minArgs?: number;
  maxArgs?: number;
  /** `and` / `or`: arguments are evaluated lazily, left to right, stopping at the deciding one. */
  shortCircuit?: 'and' | 'or';
}

export type FuncMap = Record<string, TemplateFunc | FuncSpec>;

export function arity(minArgs: number, maxArgs: number, fn: TemplateFunc): FuncSpec {
  return { fn, minArgs, maxArgs };
}

export function toSpec(f: TemplateFunc | FuncSpec): FuncSpec {
  return typeof f === 'function' ? { fn: f } : f;
}

const V = Infinity;

function toInt(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new Error(`cannot ${what} with type ${typeName(v)}`);
}

export function index(item: unknown, ...indexes: unknown[]): unknown {
  let v = item;
  if (v === undefined || v === null) throw new Error('index of untyped nil');
  for (const ix of indexes) {
    if (v === undefined || v === null) throw new Error('index of nil pointer');
    const k = kindOf(v);
    if (k === 'slice' || k === 'string') {
      const i = toInt(ix, 'index slice/array');
      const len = k === 'string' ? Buffer.byteLength(v as string) : (v as unknown[]).length;
      if (i < 0 || i >= len) throw new Error(`index out of range: ${i}`);
      v = k === 'string' ? Buffer.from(v as string)[i] : (v as unknown[])[i];
    } else if (k === 'map') {
      const m = v as object;
      if (ix === null || ix === undefined) throw new Error('value is nil; should be of type string');
      const key = String(ix);
      v = mapHas(m, key) ? mapGet(m, key) : (mapZero(m) ?? null);
    } else throw new Error(`can't index item of type ${typeName(v)}`);
  }
  return v;
}

export function slice(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined || item === null) throw new Error('slice of untyped nil');
  if (indexes.length > 3) throw new Error(`too many slice indexes: ${indexes.length}`);
  const k = kindOf(item);
  if (k !== 'string' && k !== 'slice') throw new Error(`can't slice item of type ${typeName(item)}`);
  if (k === 'string' && indexes.length === 3) throw new Error('cannot 3-index slice a string');
  const len = k === 'string' ? (item as string).length : (item as unknown[]).length;
  const ix = indexes.map((i) => toInt(i, 'slice'));
  for (const i of ix) if (i < 0 || i > len) throw new Error(`index out of range: ${i}`);
  const lo = ix[0] ?? 0;
  const hi = ix[1] ?? len;
  if (lo > hi) throw new Error(`invalid slice index: ${lo} > ${hi}`);
  const max = ix[2];
  if (max !== undefined && hi > max) throw new Error(`invalid slice index: ${hi} > ${max}`);
  return (item as string | unknown[]).slice(lo, hi);
}

export function goLen(item: unknown): number {
  switch (kindOf(item)) {
    case 'string':
      return Buffer.byteLength(item as string);
    case 'slice':
      return (item as unknown[]).length;
    case 'map':
      return mapSize(item as object);
    case 'nil':
    case 'invalid':
      throw new Error('len of nil pointer');
    default:
      throw new Error(`len of type ${typeName(item)}`);
  }
}

function evalArgs(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args);
}

const HTML_ESC: Record<string, string> = {
  '"': '&#34;',
  "'": '&#39;',
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '\0': '\uFFFD',
};
export function htmlEscape(s: string): string {
  return s.replace(/["'&<>\0]/g, (c) => HTML_ESC[c] ?? c);
}

export function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '\\':
        out += '\\\\';
        continue;
      case "'":
        out += "\\'";
        continue;
      case '"':
        out += '\\"';
        continue;
      case '<':
      case '>':
      case '&':
      case '=':
        out += '\\u' + cp.toString(16).toUpperCase().padStart(4, '0');
        continue;
    }
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp === 0x2028 || cp === 0x2029)
      out += '\\u' + cp.toString(16).toUpperCase().padStart(4, '0');
    else out += ch;
  }
  return out;
}

/** url.QueryEscape: space becomes `+`, unreserved characters stay, everything else is %XX. */
export function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function call(fn: unknown, ...args: unknown[]): unknown {
  if (fn === null || fn === undefined) throw new Error('call of nil');
  if (typeof fn !== 'function') throw new Error(`non-function of type ${typeName(fn)}`);
  return (fn as TemplateFunc)(...args);
}

/** and/or are evaluated lazily by the executor; these bodies handle the non-lazy path (e.g. `call`). */
function and(...args: unknown[]): unknown {
  for (const a of args.slice(0, -1)) if (!truthy(a)) return a;
  return args[args.length - 1];
}
function or(...args: unknown[]): unknown {
  for (const a of args.slice(0, -1)) if (truthy(a)) return a;
  return args[args.length - 1];
}

export const builtinFuncs: Record<string, FuncSpec> = {
  and: { fn: and, minArgs: 1, maxArgs: V, shortCircuit: 'and' },
  or: { fn: or, minArgs: 1, maxArgs: V, shortCircuit: 'or' },
  not: arity(1, 1, (a: unknown) => !truthy(a)),
  eq: arity(1, V, (a: unknown, ...rest: unknown[]) => goEq(a, ...rest)),
  ne: arity(2, 2, (a: unknown, b: unknown) => !goEq(a, b)),
  lt: arity(2, 2, (a: unknown, b: unknown) => goLt(a, b)),
  le: arity(2, 2, (a: unknown, b: unknown) => goLt(a, b) || goEq(a, b)),
  gt: arity(2, 2, (a: unknown, b: unknown) => !goLt(a, b) && !goEq(a, b)),
  ge: arity(2, 2, (a: unknown, b: unknown) => !goLt(a, b)),
  len: arity(1, 1, goLen),
  index: arity(1, V, index),
  slice: arity(1, V, slice),
  print: arity(0, V, (...a: unknown[]) => sprint(a)),
  printf: arity(1, V, (f: unknown, ...a: unknown[]) => {
    if (typeof f !== 'string') throw new Error(`wrong type for value; expected string; got ${typeName(f)}`);
    return sprintf(f, a);
  }),
  println: arity(0, V, (...a: unknown[]) => sprintln(a)),
  html: arity(0, V, (...a: unknown[]) => htmlEscape(evalArgs(a))),
  js: arity(0, V, (...a: unknown[]) => jsEscape(evalArgs(a))),
  urlquery: arity(0, V, (...a: unknown[]) => queryEscape(evalArgs(a))),
  call: arity(1, V, call),
};

export { printValue };
