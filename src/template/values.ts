/**
 * How JavaScript values play Go's values inside templates.
 *
 * - string, boolean, number (an integral number is Go's int, any other is float64), null (nil), undefined (Go's
 *   "invalid value": what a missing map key yields, printed as `<no value>`).
 * - Arrays are slices. Plain objects and Maps are maps (ranged in sorted key order).
 * - A struct is an object marked with `goStruct()` or a class instance: unknown fields are errors, and functions on
 *   its prototype are methods (`.Keys`, or `String()` used when printing, as Go's fmt.Stringer).
 */

const STRUCT = Symbol.for('drover.template.struct');
const MAP = Symbol.for('drover.template.map');
const ZERO = Symbol.for('drover.template.zero');

// Markers live in WeakMaps, not on the objects: defining symbol properties per object is slow on hot paths.
const structNames = new WeakMap<object, string>();
const mapZeros = new WeakMap<object, unknown>();

/** Marks `obj` as a Go struct named `typeName`: unknown fields become errors instead of `<no value>`. */
export function goStruct<T extends object>(obj: T, typeName: string): T {
  structNames.set(obj, typeName);
  return obj;
}

/**
 * Marks an object (usually a class instance with methods) as a Go map: ranging yields its own keys sorted, and
 * `zero` is what `index` returns for a missing key (Go returns the element type's zero value, e.g. "" for
 * map[string]string).
 */
export function goMap<T extends object>(obj: T, zero: unknown = null): T {
  mapZeros.set(obj, zero);
  return obj;
}

/**
 * A Go struct type for data built on hot paths: subclasses name their Go type once, on the prototype.
 * `static { markStructClass(this, 'name') }` or call it after the class.
 */
export function markStructClass(cls: { prototype: object }, typeName: string): void {
  Object.defineProperty(cls.prototype, STRUCT, { value: typeName, enumerable: false });
}

/** A map[string]string: missing keys index to "". */
export class StringMap {
  constructor(entries?: Record<string, string> | null) {
    if (entries) Object.assign(this, entries);
  }
}
Object.defineProperty(StringMap.prototype, MAP, { value: true, enumerable: false });
Object.defineProperty(StringMap.prototype, ZERO, { value: '', enumerable: false });

export function mapZero(obj: object): unknown {
  if (mapZeros.has(obj)) return mapZeros.get(obj);
  return (obj as Record<symbol, unknown>)[ZERO];
}

export type Kind = 'invalid' | 'nil' | 'bool' | 'int' | 'float' | 'string' | 'slice' | 'map' | 'struct' | 'func';

export function kindOf(v: unknown): Kind {
  if (v === undefined) return 'invalid';
  if (v === null) return 'nil';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    case 'bigint':
      return 'int';
    case 'string':
      return 'string';
    case 'function':
      return 'func';
    case 'object':
      if (Array.isArray(v)) return 'slice';
      if (v instanceof Map) return 'map';
      return isStruct(v) ? 'struct' : 'map';
    default:
      return 'invalid';
  }
}

export function isStruct(v: object): boolean {
  if (structNames.has(v) || (v as Record<symbol, unknown>)[STRUCT] !== undefined) return true;
  if (mapZeros.has(v) || (v as Record<symbol, unknown>)[MAP]) return false;
  const proto = Object.getPrototypeOf(v);
  return proto !== null && proto !== Object.prototype;
}

/** Go's type name for messages like `can't evaluate field X in type T` and `%T`. */
export function typeName(v: unknown): string {
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return '<nil>';
    case 'bool':
      return 'bool';
    case 'int':
      return 'int';
    case 'float':
      return 'float64';
    case 'string':
      return 'string';
    case 'func':
      return 'func';
    case 'slice':
      return '[]interface {}';
    case 'map':
      return 'map[string]interface {}';
    case 'struct': {
      const named = structNames.get(v as object) ?? (v as Record<symbol, unknown>)[STRUCT];
      if (typeof named === 'string') return named;
      return (v as object).constructor?.name ?? 'struct';
    }
  }
}

/** Go's truth: false, 0, "", nil, and empty slices and maps are false; structs are always true. */
export function truth(v: unknown): boolean {
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return false;
    case 'bool':
      return v as boolean;
    case 'int':
    case 'float':
      return (v as number) !== 0;
    case 'string':
      return (v as string).length > 0;
    case 'slice':
      return (v as unknown[]).length > 0;
    case 'map':
      return mapSize(v as object) > 0;
    default:
      return true;
  }
}

export function mapSize(m: object): number {
  if (m instanceof Map) return m.size;
  return Object.keys(m).length;
}

/** Map keys in Go's range order: numbers numerically, strings lexically (by code unit, like Go's byte order). */
export function sortedKeys(m: object): string[] {
  const keys = m instanceof Map ? [...m.keys()].map(String) : Object.keys(m);
  return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function mapGet(m: object, key: string): unknown {
  if (m instanceof Map) return m.get(key);
  return Object.prototype.hasOwnProperty.call(m, key) ? (m as Record<string, unknown>)[key] : undefined;
}

export function mapHas(m: object, key: string): boolean {
  if (m instanceof Map) return m.has(key);
  return Object.prototype.hasOwnProperty.call(m, key);
}

/** A method on a class instance (found on its prototype chain, never Object's or Array's own). */
export function findMethod(v: unknown, name: string): ((...args: unknown[]) => unknown) | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Map) return undefined;
  let proto = Object.getPrototypeOf(v);
  while (proto && proto !== Object.prototype) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (d && typeof d.value === 'function' && name !== 'constructor') return d.value as (...args: unknown[]) => unknown;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

/** Thrown for Go's comparison errors; the executor reports it as `error calling eq: ...`. */
export const errBadComparisonType = 'invalid type for comparison';
export const errBadComparison = 'incompatible types for comparison';
export const errNoComparison = 'missing argument for comparison';

type BasicKind = 'bool' | 'int' | 'float' | 'string' | 'other';
function basicKind(v: unknown): BasicKind {
  const k = kindOf(v);
  return k === 'bool' || k === 'int' || k === 'float' || k === 'string' ? k : 'other';
}

/** Go's `eq arg1 arg2...`: true if arg1 equals any of the others; mixed basic kinds are an error. */
export function goEq(a: unknown, ...rest: unknown[]): boolean {
  if (rest.length === 0) throw new Error(errNoComparison);
  const k1 = basicKind(a);
  for (const b of rest) {
    const k2 = basicKind(b);
    let same = false;
    if (k1 !== k2) {
      // A nil or missing operand compares unequal to anything; other mixed kinds are Go errors.
      if (!isNil(a) && !isNil(b)) throw new Error(errBadComparison);
    } else if (k1 === 'other') {
      if (isNil(a) || isNil(b)) same = isNil(a) === isNil(b);
      else if (Array.isArray(a) || Array.isArray(b))
        throw new Error(`non-comparable type ${typeName(Array.isArray(a) ? a : b)}`);
      else if (kindOf(a) === 'map' || kindOf(b) === 'map') throw new Error(`non-comparable type ${typeName(a)}`);
      else same = a === b;
    } else same = a === b;
    if (same) return true;
  }
  return false;
}

function isNil(v: unknown): boolean {
  return v === null || v === undefined;
}

/** Go's `lt`: ints, floats and strings of one kind; anything else is an error. */
export function goLt(a: unknown, b: unknown): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === 'other' || k1 === 'bool' || k2 === 'other' || k2 === 'bool') throw new Error(errBadComparisonType);
  if (k1 !== k2) throw new Error(errBadComparison);
  return (a as number | string) < (b as number | string);
}
