/**
 * HCL values with their types, after cty: Nomad's behaviour depends on the difference between a number
 * and a string, a list and a tuple, a map and an object, null and unknown.
 *
 * Maps and objects keep a JS `Map`; whenever order is observable (for expressions, keys(), jsonencode)
 * keys are taken in lexical order, as cty does.
 */

export type Type =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'bool' }
  /** `any`: the type is decided by the value. */
  | { kind: 'dynamic' }
  | { kind: 'list'; elem: Type }
  | { kind: 'set'; elem: Type }
  | { kind: 'map'; elem: Type }
  | { kind: 'object'; attrs: Record<string, Type>; optional?: string[] }
  | { kind: 'tuple'; elems: Type[] };

export type Value =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null'; type: Type }
  /** Not known yet; `verbatim` marks a reference to a root the caller left for the client to interpolate. */
  | { kind: 'unknown'; type: Type; verbatim?: boolean; raw?: string }
  | { kind: 'list'; elem: Type; items: Value[] }
  | { kind: 'set'; elem: Type; items: Value[] }
  | { kind: 'tuple'; items: Value[] }
  | { kind: 'map'; elem: Type; entries: Map<string, Value> }
  | { kind: 'object'; attrs: Map<string, Value> };

export const T = {
  string: { kind: 'string' } as Type,
  number: { kind: 'number' } as Type,
  bool: { kind: 'bool' } as Type,
  dynamic: { kind: 'dynamic' } as Type,
  list: (elem: Type): Type => ({ kind: 'list', elem }),
  set: (elem: Type): Type => ({ kind: 'set', elem }),
  map: (elem: Type): Type => ({ kind: 'map', elem }),
  object: (attrs: Record<string, Type>, optional?: string[]): Type =>
    optional?.length ? { kind: 'object', attrs, optional } : { kind: 'object', attrs },
  tuple: (elems: Type[]): Type => ({ kind: 'tuple', elems }),
};

export const NULL: Value = { kind: 'null', type: T.dynamic };
export const TRUE: Value = { kind: 'bool', value: true };
export const FALSE: Value = { kind: 'bool', value: false };

export const str = (value: string): Value => ({ kind: 'string', value });
export const num = (value: number): Value => ({ kind: 'number', value });
export const bool = (value: boolean): Value => (value ? TRUE : FALSE);
export const tuple = (items: Value[]): Value => ({ kind: 'tuple', items });
export const object = (attrs: Map<string, Value> | Record<string, Value>): Value => ({
  kind: 'object',
  attrs: attrs instanceof Map ? attrs : new Map(Object.entries(attrs)),
});
export const list = (items: Value[], elem?: Type): Value => ({
  kind: 'list',
  elem: elem ?? commonType(items.map(typeOf)) ?? T.dynamic,
  items,
});
export const map = (entries: Map<string, Value> | Record<string, Value>, elem?: Type): Value => {
  const m = entries instanceof Map ? entries : new Map(Object.entries(entries));
  return { kind: 'map', elem: elem ?? commonType([...m.values()].map(typeOf)) ?? T.dynamic, entries: m };
};
export const unknown = (type: Type = T.dynamic): Value => ({ kind: 'unknown', type });
/** A reference to a root the caller does not define, kept as its `${...}` source text. */
export const verbatim = (raw: string): Value => ({ kind: 'unknown', type: T.dynamic, verbatim: true, raw });
export const isVerbatim = (v: Value): boolean => v.kind === 'unknown' && v.verbatim === true;
export const nullOf = (type: Type): Value => ({ kind: 'null', type });

export function typeOf(v: Value): Type {
  switch (v.kind) {
    case 'string':
    case 'number':
    case 'bool':
      return { kind: v.kind };
    case 'null':
    case 'unknown':
      return v.type;
    case 'list':
    case 'set':
    case 'map':
      return { kind: v.kind, elem: v.elem };
    case 'tuple':
      return { kind: 'tuple', elems: v.items.map(typeOf) };
    case 'object': {
      const attrs: Record<string, Type> = {};
      for (const [k, a] of v.attrs) attrs[k] = typeOf(a);
      return { kind: 'object', attrs };
    }
  }
}

export function typeEquals(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'list':
    case 'set':
    case 'map':
      return typeEquals(a.elem, (b as typeof a).elem);
    case 'tuple': {
      const be = (b as typeof a).elems;
      return (
        a.elems.length === be.length &&
        a.elems.every((t, i) => {
          const u = be[i];
          return u !== undefined && typeEquals(t, u);
        })
      );
    }
    case 'object': {
      const ba = (b as typeof a).attrs;
      const ak = Object.keys(a.attrs);
      return (
        ak.length === Object.keys(ba).length &&
        Object.entries(a.attrs).every(([k, t]) => {
          const u = ba[k];
          return u !== undefined && typeEquals(t, u);
        })
      );
    }
    default:
      return true;
  }
}

/**
 * The one type every given type converts to, as cty's unify: equal types stay; primitives unify to
 * string when mixed; collections of the same kind unify their elements. Undefined if there is none.
 */
export function commonType(types: Type[]): Type | undefined {
  const known = types.filter((t) => t.kind !== 'dynamic');
  const [first] = known;
  if (first === undefined) return types.length ? T.dynamic : undefined;
  if (known.every((t) => typeEquals(t, first))) return first;
  if (known.every((t) => t.kind === 'string' || t.kind === 'number' || t.kind === 'bool')) {
    if (known.some((t) => t.kind === 'string')) return T.string;
    return undefined;
  }
  const kinds = new Set(known.map((t) => t.kind));
  if (kinds.size === 1 && (first.kind === 'list' || first.kind === 'set' || first.kind === 'map')) {
    const elem = commonType(known.map((t) => (t as { elem: Type }).elem));
    return elem ? { kind: first.kind, elem } : undefined;
  }
  if ([...kinds].every((k) => k === 'object' || k === 'map')) {
    const elem = commonType(
      known.flatMap((t) => (t.kind === 'object' ? Object.values(t.attrs) : [(t as { elem: Type }).elem])),
    );
    return elem ? T.map(elem) : undefined;
  }
  if ([...kinds].every((k) => k === 'tuple' || k === 'list')) {
    const elem = commonType(known.flatMap((t) => (t.kind === 'tuple' ? t.elems : [(t as { elem: Type }).elem])));
    return elem ? T.list(elem) : undefined;
  }
  return undefined;
}

export function typeName(t: Type): string {
  switch (t.kind) {
    case 'dynamic':
      return 'any';
    case 'list':
    case 'set':
    case 'map':
      return `${t.kind}(${typeName(t.elem)})`;
    case 'tuple':
      return `tuple([${t.elems.map(typeName).join(', ')}])`;
    case 'object':
      return `object({${Object.entries(t.attrs)
        .map(([k, a]) => `${k}=${typeName(a)}`)
        .join(', ')}})`;
    default:
      return t.kind;
  }
}

/** How HCL names a value's type in messages ("string", "list of string", "object"...). */
export function friendlyTypeName(t: Type): string {
  switch (t.kind) {
    case 'dynamic':
      return 'dynamic';
    case 'list':
    case 'set':
    case 'map':
      return t.elem.kind === 'dynamic' ? t.kind : `${t.kind} of ${friendlyTypeName(t.elem)}`;
    default:
      return t.kind;
  }
}

export function isKnown(v: Value): boolean {
  switch (v.kind) {
    case 'unknown':
      return false;
    case 'list':
    case 'set':
    case 'tuple':
      return v.items.every(isKnown);
    case 'map':
      return [...v.entries.values()].every(isKnown);
    case 'object':
      return [...v.attrs.values()].every(isKnown);
    default:
      return true;
  }
}

/** Elements of a list, set or tuple; entries of a map or object in key order. Null for other kinds. */
export function elements(v: Value): Array<[Value, Value]> | null {
  switch (v.kind) {
    case 'list':
    case 'set':
    case 'tuple':
      return v.items.map((item, i) => [num(i), item]);
    case 'map':
    case 'object': {
      const m = v.kind === 'map' ? v.entries : v.attrs;
      return sortedKeys(m).map((k) => [str(k), m.get(k)!]);
    }
    default:
      return null;
  }
}

export function sortedKeys(m: Map<string, Value>): string[] {
  return [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Number to string as cty prints it: integers without exponent or trailing zeros. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  const s = String(n);
  if (!s.includes('e')) return s;
  // Expand exponent form (1e-7) the way Go's big.Float 'f' format would.
  return n.toFixed(20).replace(/0+$/, '').replace(/\.$/, '');
}

/** Deep equality with HCL's `==` rules: values of different types are not equal (numbers by value). */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a.kind === 'null' || b.kind === 'null') return a.kind === b.kind;
  switch (a.kind) {
    case 'string':
    case 'number':
    case 'bool':
      return b.kind === a.kind && b.value === a.value;
    case 'list':
    case 'set':
    case 'tuple': {
      if (b.kind !== a.kind || b.items.length !== a.items.length) return false;
      if (a.kind === 'set') return a.items.every((x) => (b as typeof a).items.some((y) => valuesEqual(x, y)));
      const bItems = (b as typeof a).items;
      return a.items.every((x, i) => {
        const y = bItems[i];
        return y !== undefined && valuesEqual(x, y);
      });
    }
    case 'map':
    case 'object': {
      if (b.kind !== a.kind) return false;
      const am = a.kind === 'map' ? a.entries : a.attrs;
      const bm = b.kind === 'map' ? b.entries : (b as { attrs: Map<string, Value> }).attrs;
      if (am.size !== bm.size) return false;
      for (const [k, v] of am) {
        const w = bm.get(k);
        if (!w || !valuesEqual(v, w)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Removes duplicates (by `valuesEqual`), keeping first occurrences: what a set holds. */
export function dedupe(items: Value[]): Value[] {
  const out: Value[] = [];
  for (const v of items) if (!out.some((o) => valuesEqual(o, v))) out.push(v);
  return out;
}

/** To plain JSON-like JS: strings, numbers, booleans, null, arrays, objects (keys in order). */
export function toJS(v: Value): unknown {
  switch (v.kind) {
    case 'string':
    case 'number':
    case 'bool':
      return v.value;
    case 'null':
    case 'unknown':
      return null;
    case 'list':
    case 'set':
    case 'tuple':
      return v.items.map(toJS);
    case 'map':
    case 'object': {
      const m = v.kind === 'map' ? v.entries : v.attrs;
      const out: Record<string, unknown> = {};
      for (const k of sortedKeys(m)) out[k] = toJS(m.get(k)!);
      return out;
    }
  }
}

/** From plain JS: arrays become tuples and objects become objects, as `jsondecode` does. */
export function fromJS(x: unknown): Value {
  if (x === null || x === undefined) return NULL;
  if (typeof x === 'string') return str(x);
  if (typeof x === 'number') return num(x);
  if (typeof x === 'boolean') return bool(x);
  if (Array.isArray(x)) return tuple(x.map(fromJS));
  if (typeof x === 'object') {
    const m = new Map<string, Value>();
    for (const [k, v] of Object.entries(x as Record<string, unknown>)) m.set(k, fromJS(v));
    return { kind: 'object', attrs: m };
  }
  return str(String(x));
}
