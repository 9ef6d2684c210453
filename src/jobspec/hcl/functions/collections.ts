/** Collection functions of Nomad's HCL2 library: lists, sets, maps and their type-aware results. */
import { convert } from '../convert.js';
import {
  FunctionError,
  arg,
  argInt,
  argMapping,
  argSeq,
  argString,
  fn,
  type FunctionTable,
} from '../function-types.js';
import {
  T,
  type Type,
  type Value,
  bool,
  commonType,
  dedupe,
  list,
  map,
  num,
  sortedKeys,
  str,
  tuple,
  typeOf,
  valuesEqual,
} from '../values.js';

/** A list when the items share a type (converting primitives to it), else a tuple. */
function listOrTuple(items: Value[]): Value {
  const common = commonType(items.map(typeOf));
  if (!common) return tuple(items);
  const conv = items.map((x) => convert(x, common));
  return conv.every((r) => r.ok)
    ? list(
        conv.map((r) => (r as { value: Value }).value),
        common,
      )
    : tuple(items);
}

function sameKind(v: Value, items: Value[]): Value {
  if (v.kind === 'tuple') return tuple(items);
  if (v.kind === 'set') return { kind: 'set', elem: v.elem, items: dedupe(items) };
  return list(items, v.kind === 'list' ? v.elem : undefined);
}

function setOf(args: Value[]): Value[][] {
  return args.map((_, i) => dedupe(argSeq(args, i)));
}

function set(items: Value[]): Value {
  return { kind: 'set', elem: commonType(items.map(typeOf)) ?? T.dynamic, items: dedupe(items) };
}

function flatten(items: Value[], out: Value[], depth: number): void {
  if (depth > 100) throw new FunctionError('nesting too deep to flatten', 0);
  for (const x of items) {
    if (x.kind === 'list' || x.kind === 'tuple' || x.kind === 'set') flatten(x.items, out, depth + 1);
    else out.push(x);
  }
}

function mappingResult(entries: Map<string, Value>): Value {
  const types = [...entries.values()].map(typeOf);
  const first = types[0];
  const uniform = first !== undefined && types.every((t) => JSON.stringify(t) === JSON.stringify(first));
  return uniform || entries.size === 0 ? map(entries) : { kind: 'object', attrs: entries };
}

export const collectionFunctions: FunctionTable = {
  chunklist: fn(['list', 'size'], (a) => {
    const items = argSeq(a, 0);
    const size = argInt(a, 1);
    if (size < 0) throw new FunctionError('the size argument must be positive', 1);
    if (size === 0) return list([sameKind(arg(a, 0), items)]);
    const out: Value[] = [];
    for (let i = 0; i < items.length; i += size) out.push(sameKind(arg(a, 0), items.slice(i, i + size)));
    return list(out);
  }),
  coalesce: fn(
    ['...vals'],
    (a) => {
      const common = commonType(a.filter((x) => x.kind !== 'null').map(typeOf));
      for (const x of a) {
        if (x.kind === 'null' || (x.kind === 'string' && x.value === '')) continue;
        const r = common ? convert(x, common) : { ok: true as const, value: x };
        return r.ok ? r.value : x;
      }
      throw new FunctionError('no non-null, non-empty-string arguments');
    },
    { allowNull: true },
  ),
  coalescelist: fn(['...vals'], (a) => {
    for (let i = 0; i < a.length; i++) if (argSeq(a, i).length > 0) return arg(a, i);
    return a[a.length - 1] ?? tuple([]);
  }),
  compact: fn(['list'], (a) =>
    list(
      argSeq(a, 0)
        .filter((x) => x.kind !== 'null' && !(x.kind === 'string' && x.value === ''))
        .map((x) => str(argString([x], 0))),
      T.string,
    ),
  ),
  concat: fn(['...seqs'], (a) => {
    const items: Value[] = [];
    a.forEach((_, i) => items.push(...argSeq(a, i)));
    const allLists = a.every((x) => x.kind === 'list');
    return allLists ? listOrTuple(items) : tuple(items);
  }),
  contains: fn(['list', 'value'], (a) =>
    bool(
      argSeq(a, 0).some((x) => valuesEqual(x, arg(a, 1)) || (x.kind !== arg(a, 1).kind && looseEqual(x, arg(a, 1)))),
    ),
  ),
  distinct: fn(['list'], (a) => list(dedupe(argSeq(a, 0)))),
  element: fn(['list', 'index'], (a) => {
    const items = argSeq(a, 0);
    const i = argInt(a, 1);
    if (items.length === 0) throw new FunctionError('cannot use element function with an empty list', 0);
    if (i < 0) throw new FunctionError('cannot use element function with a negative index', 1);
    return items[i % items.length]!;
  }),
  flatten: fn(['list'], (a) => {
    const out: Value[] = [];
    flatten(argSeq(a, 0), out, 0);
    return arg(a, 0).kind === 'list' ? listOrTuple(out) : tuple(out);
  }),
  index: fn(['list', 'value'], (a) => {
    const i = argSeq(a, 0).findIndex((x) => valuesEqual(x, arg(a, 1)) || looseEqual(x, arg(a, 1)));
    if (i < 0) throw new FunctionError('item not found');
    return num(i);
  }),
  keys: fn(['inputMap'], (a) => list(sortedKeys(argMapping(a, 0)).map(str), T.string)),
  values: fn(['mapping'], (a) => {
    const m = argMapping(a, 0);
    const vs = sortedKeys(m).map((k) => m.get(k)!);
    return arg(a, 0).kind === 'map' ? list(vs, (a[0] as { elem: Type }).elem) : tuple(vs);
  }),
  length: fn(['value'], (a) => {
    const v = arg(a, 0);
    if (v.kind === 'string') return num(Array.from(v.value).length);
    if (v.kind === 'list' || v.kind === 'set' || v.kind === 'tuple') return num(v.items.length);
    if (v.kind === 'map') return num(v.entries.size);
    if (v.kind === 'object') return num(v.attrs.size);
    throw new FunctionError('argument must be a string, a collection type, or a structural type', 0);
  }),
  lookup: fn(
    ['inputMap', 'key', 'default'],
    (a) => {
      const m = argMapping(a, 0);
      const v = m.get(argString(a, 1));
      if (v !== undefined) return v;
      if (a.length > 2) return arg(a, 2);
      throw new FunctionError(`lookup failed to find key ${JSON.stringify(argString(a, 1))}`);
    },
    { minArgs: 2 },
  ),
  merge: fn(
    ['...maps'],
    (a) => {
      const out = new Map<string, Value>();
      a.forEach((x, i) => {
        if (x.kind === 'null') return;
        for (const [k, v] of argMapping(a, i)) out.set(k, v);
      });
      const allMaps = a.every((x) => x.kind === 'map' || x.kind === 'null');
      return allMaps ? mappingResult(out) : { kind: 'object', attrs: out };
    },
    { allowNull: true },
  ),
  range: fn(['...params'], (a) => {
    const ns = a.map((x) => Number((convert(x, T.number) as { value: { value: number } }).value?.value));
    if (a.length < 1 || a.length > 3 || ns.some((n) => !Number.isFinite(n)))
      throw new FunctionError('must have one, two, or three number arguments');
    const [n0 = 0, n1 = 0, n2] = ns;
    const [start, limit, step] = a.length === 1 ? [0, n0, 1] : [n0, n1, n2 ?? (n0 > n1 ? -1 : 1)];
    if (step === 0) throw new FunctionError('step must not be zero');
    if ((step > 0 && start > limit) || (step < 0 && start < limit))
      throw new FunctionError('step has the wrong sign for the given start and limit');
    const out: Value[] = [];
    for (let x = start; step > 0 ? x < limit : x > limit; x += step) {
      // Terraform's limit: a mistake here would otherwise allocate without bound.
      if (out.length >= 1024)
        throw new FunctionError(
          'more than 1024 values were generated; either decrease the difference between start and end or use a smaller step',
        );
      out.push(num(x));
    }
    return list(out, T.number);
  }),
  reverse: fn(['list'], (a) => sameKind(arg(a, 0), [...argSeq(a, 0)].reverse())),
  setintersection: fn(['first_set', '...other_sets'], (a) => {
    const [first, ...rest] = setOf(a);
    return set(first!.filter((x) => rest.every((s) => s.some((y) => valuesEqual(x, y)))));
  }),
  setunion: fn(['first_set', '...other_sets'], (a) => set(setOf(a).flat())),
  setsubtract: fn(['a', 'b'], (a) => {
    const [x, y] = setOf(a);
    return set(x!.filter((v) => !y!.some((w) => valuesEqual(v, w))));
  }),
  setproduct: fn(['...sets'], (a) => {
    if (a.length < 2) throw new FunctionError('at least two arguments are required');
    let acc: Value[][] = [[]];
    for (const s of a.map((_, i) => argSeq(a, i))) {
      acc = acc.flatMap((prefix) => s.map((x) => [...prefix, x]));
      if (acc.length > 100_000) throw new FunctionError('the product has too many elements');
    }
    return list(acc.map((items) => tuple(items)));
  }),
  slice: fn(['list', 'start_index', 'end_index'], (a) => {
    const items = argSeq(a, 0);
    const s = argInt(a, 1);
    const e = argInt(a, 2);
    if (s < 0) throw new FunctionError('start index must not be less than zero', 1);
    if (e > items.length) throw new FunctionError('end index must not be greater than the length of the list', 2);
    if (s > e) throw new FunctionError('start index must not be greater than end index', 1);
    return sameKind(arg(a, 0), items.slice(s, e));
  }),
  sort: fn(['list'], (a) =>
    list(
      argSeq(a, 0)
        .map((x) => argString([x], 0))
        .sort()
        .map(str),
      T.string,
    ),
  ),
  transpose: fn(['values'], (a) => {
    const out = new Map<string, Value[]>();
    for (const [k, v] of argMapping(a, 0)) {
      for (const x of argSeq([v], 0)) {
        const key = argString([x], 0);
        out.set(key, [...(out.get(key) ?? []), str(k)]);
      }
    }
    return map(new Map([...out].map(([k, vs]) => [k, list(vs, T.string)])), T.list(T.string));
  }),
  zipmap: fn(['keys', 'values'], (a) => {
    const ks = argSeq(a, 0);
    const vs = argSeq(a, 1);
    if (ks.length !== vs.length)
      throw new FunctionError(`number of keys (${ks.length}) does not match number of values (${vs.length})`);
    const m = new Map<string, Value>();
    ks.forEach((k, i) => m.set(argString([k], 0), vs[i]!));
    return arg(a, 1).kind === 'tuple' ? { kind: 'object', attrs: m } : mappingResult(m);
  }),
};

/** `contains(["1"], 1)`: cty unifies the list element type with the value first, so "1" == 1 here. */
function looseEqual(x: Value, y: Value): boolean {
  if (x.kind === y.kind) return false;
  const r = convert(y, typeOf(x));
  return r.ok && valuesEqual(x, r.value);
}
