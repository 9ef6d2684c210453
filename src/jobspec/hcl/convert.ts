/**
 * Type conversion as HCL does it for attribute decoding, operators and `variable { type = ... }`:
 * string <-> number <-> bool for primitives, tuple -> list/set, object -> map, and back where shapes fit.
 */
import type { Diagnostic, Expression } from './ast.js';
import {
  T,
  type Type,
  type Value,
  commonType,
  dedupe,
  formatNumber,
  friendlyTypeName,
  nullOf,
  num,
  str,
  typeOf,
} from './values.js';

export type ConvertResult = { ok: true; value: Value } | { ok: false; error: string };

const NUMBER_RE = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** Converts `v` to type `t`, or says what was required (e.g. "map of string required"). */
export function convert(v: Value, t: Type): ConvertResult {
  try {
    return { ok: true, value: conv(v, t, '') };
  } catch (e) {
    if (e instanceof ConvertError) return { ok: false, error: e.message };
    throw e;
  }
}

class ConvertError extends Error {}

function fail(path: string, msg: string): never {
  throw new ConvertError(path ? `${path}: ${msg}` : msg);
}

function conv(v: Value, t: Type, path: string): Value {
  if (t.kind === 'dynamic') return v;
  if (v.kind === 'unknown') return v.verbatim ? v : { kind: 'unknown', type: t };
  if (v.kind === 'null') return nullOf(t);
  switch (t.kind) {
    case 'string':
      if (v.kind === 'string') return v;
      if (v.kind === 'number') return str(formatNumber(v.value));
      if (v.kind === 'bool') return str(v.value ? 'true' : 'false');
      return fail(path, 'string required');
    case 'number':
      if (v.kind === 'number') return v;
      if (v.kind === 'string' && NUMBER_RE.test(v.value)) return num(Number(v.value));
      return fail(
        path,
        v.kind === 'string' ? `a number is required, but "${v.value}" is not a number` : 'number required',
      );
    case 'bool':
      if (v.kind === 'bool') return v;
      if (v.kind === 'string' && (v.value === 'true' || v.value === 'false'))
        return { kind: 'bool', value: v.value === 'true' };
      return fail(
        path,
        v.kind === 'string' ? `a bool is required, but "${v.value}" is not "true" or "false"` : 'bool required',
      );
    case 'list':
    case 'set':
      return toListOrSet(v, t.kind, t.elem, path);
    case 'map':
      return toMap(v, t.elem, path);
    case 'object':
      return toObject(v, t, path);
    case 'tuple': {
      if (v.kind !== 'tuple' && v.kind !== 'list' && v.kind !== 'set') return fail(path, `tuple required`);
      if (v.items.length !== t.elems.length) return fail(path, `tuple required with ${t.elems.length} elements`);
      return { kind: 'tuple', items: v.items.map((x, i) => conv(x, t.elems[i]!, `${path}[${i}]`)) };
    }
  }
}

function toListOrSet(v: Value, kind: 'list' | 'set', elem: Type, path: string): Value {
  if (v.kind !== 'tuple' && v.kind !== 'list' && v.kind !== 'set')
    return fail(path, `${friendlyTypeName({ kind, elem })} required`);
  let target = elem;
  if (elem.kind === 'dynamic') {
    const common = commonType(v.items.map(typeOf));
    if (common === undefined && v.items.length > 0) return fail(path, `all ${kind} elements must have the same type`);
    target = common ?? T.dynamic;
  }
  const items = v.items.map((x, i) => conv(x, target, `${path}[${i}]`));
  return { kind, elem: target, items: kind === 'set' ? dedupe(items) : items };
}

function toMap(v: Value, elem: Type, path: string): Value {
  if (v.kind !== 'map' && v.kind !== 'object') return fail(path, `${friendlyTypeName(T.map(elem))} required`);
  const src = v.kind === 'map' ? v.entries : v.attrs;
  let target = elem;
  if (elem.kind === 'dynamic') {
    const common = commonType([...src.values()].map(typeOf));
    if (common === undefined && src.size > 0) return fail(path, 'all map elements must have the same type');
    target = common ?? T.dynamic;
  }
  const entries = new Map<string, Value>();
  for (const [k, x] of src) entries.set(k, conv(x, target, `${path}[${JSON.stringify(k)}]`));
  return { kind: 'map', elem: target, entries };
}

function toObject(v: Value, t: Extract<Type, { kind: 'object' }>, path: string): Value {
  if (v.kind !== 'map' && v.kind !== 'object') return fail(path, 'object required');
  const src = v.kind === 'map' ? v.entries : v.attrs;
  const attrs = new Map<string, Value>();
  for (const [k, at] of Object.entries(t.attrs)) {
    const x = src.get(k);
    if (x === undefined) {
      if (t.optional?.includes(k)) attrs.set(k, nullOf(at));
      else fail(path, `attribute "${k}" is required`);
    } else {
      attrs.set(k, conv(x, at, path ? `${path}.${k}` : `attribute "${k}"`));
    }
  }
  return { kind: 'object', attrs };
}

/**
 * Reads a type expression (`string`, `list(string)`, `map(object({a = number}))`, `object({x = optional(string)})`,
 * `tuple([string, number])`, `any`) as written in a `variable` block's `type`.
 */
export function parseTypeExpr(e: Expression): { type: Type; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const bad = (ex: Expression, detail: string): Type => {
    diagnostics.push({ severity: 'error', summary: 'Invalid type specification', detail, range: ex.range });
    return T.dynamic;
  };
  const read = (ex: Expression, optionalOk: boolean): { type: Type; optional: boolean } => {
    if (ex.type === 'scopeTraversal' && ex.traversal.length === 0) {
      switch (ex.root) {
        case 'string':
        case 'number':
        case 'bool':
          return { type: { kind: ex.root }, optional: false };
        case 'any':
          return { type: T.dynamic, optional: false };
        case 'list':
        case 'set':
        case 'map':
          return { type: { kind: ex.root, elem: T.dynamic }, optional: false };
      }
      return { type: bad(ex, `The keyword "${ex.root}" is not a valid type specification.`), optional: false };
    }
    if (ex.type !== 'functionCall')
      return {
        type: bad(
          ex,
          'A type specification is either a primitive type keyword (bool, number, string) or a complex type constructor call, like list(string).',
        ),
        optional: false,
      };
    const arg = ex.args[0];
    if (ex.name === 'optional') {
      if (!optionalOk || !arg)
        return { type: bad(ex, 'Optional attribute modifier is only for object attributes.'), optional: false };
      return { type: read(arg, false).type, optional: true };
    }
    if (!arg) return { type: bad(ex, `The ${ex.name} type constructor requires one argument.`), optional: false };
    switch (ex.name) {
      case 'list':
      case 'set':
      case 'map':
        return { type: { kind: ex.name, elem: read(arg, false).type }, optional: false };
      case 'tuple':
        if (arg.type !== 'tuple')
          return { type: bad(arg, 'The tuple type constructor requires a list of element types.'), optional: false };
        return { type: T.tuple(arg.items.map((x) => read(x, false).type)), optional: false };
      case 'object': {
        if (arg.type !== 'object')
          return {
            type: bad(arg, 'The object type constructor requires an object of attribute types.'),
            optional: false,
          };
        const attrs: Record<string, Type> = {};
        const optional: string[] = [];
        for (const item of arg.items) {
          const k =
            item.key.type === 'literal'
              ? String(item.key.value)
              : item.key.type === 'template' && item.key.parts.length === 1 && item.key.parts[0]!.type === 'text'
                ? item.key.parts[0]!.value
                : null;
          if (k === null) {
            bad(item.key, 'Object type attribute names must be literal names.');
            continue;
          }
          const r = read(item.value, true);
          attrs[k] = r.type;
          if (r.optional) optional.push(k);
        }
        return { type: T.object(attrs, optional), optional: false };
      }
    }
    return { type: bad(ex, `Keyword "${ex.name}" is not a valid type constructor.`), optional: false };
  };
  return { type: read(e, false).type, diagnostics };
}
