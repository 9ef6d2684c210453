/**
 * consul-template's helper functions: strings, lists, JSON, parsing, regexps, hashing, math, and the scratchpad.
 * Argument order is consul-template's, designed for pipelines: the piped value comes last
 * (`{{ .Tags | join "," }}`, `{{ 5 | subtract 2 }}`).
 */
import { createHash, createHmac } from 'node:crypto';
import { compileGoRegexp, type GoRegexp } from '../lib/regex.js';
import { arity, type FuncMap } from './builtins.js';
import { formatGoTime, RFC3339 } from './golayout.js';
import { findMethod, goEq, goMap, goStruct, kindOf, mapGet, sortedKeys, typeName } from './values.js';

const V = Infinity;

function str(v: unknown, fn: string): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  const s = findMethod(v, 'String');
  if (s) return String(s.call(v));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`${fn}: expected string, got ${typeName(v)}`);
}

function list(v: unknown, fn: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (v === undefined || v === null) return [];
  throw new Error(`${fn}: expected a list, got ${typeName(v)}`);
}

/** Go's json.Marshal: maps with sorted keys, HTML characters escaped, no trailing newline. */
export function goJSON(v: unknown, indent = ''): string {
  const text = JSON.stringify(toPlain(v), null, indent || undefined) ?? 'null';
  return text.replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function toPlain(v: unknown): unknown {
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
    case 'func':
      return null;
    case 'slice':
      return (v as unknown[]).map(toPlain);
    case 'map': {
      const m = v as object;
      const out: Record<string, unknown> = {};
      for (const k of sortedKeys(m)) out[k] = toPlain(mapGet(m, k));
      return out;
    }
    case 'struct': {
      const out: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(v as object)) out[k] = toPlain(val);
      return out;
    }
    default:
      return v;
  }
}

function parseGoBool(s: string): boolean {
  if (s === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`);
}

function parseGoInt(s: string, unsigned: boolean): number {
  if (s === '') return 0;
  const fn = unsigned ? 'ParseUint' : 'ParseInt';
  if (!(unsigned ? /^\+?[0-9]+$/ : /^[+-]?[0-9]+$/).test(s))
    throw new Error(`strconv.${fn}: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`strconv.${fn}: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

function parseGoFloat(s: string): number {
  if (s === '') return 0;
  const t = s.replace(/_/g, '');
  if (!/^[+-]?(inf|infinity|nan|[0-9]*\.?[0-9]*([eE][+-]?[0-9]+)?)$/i.test(t) || !/[0-9]|inf|nan/i.test(t)) {
    throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: invalid syntax`);
  }
  if (/nan/i.test(t)) return NaN;
  if (/inf/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  return parseFloat(t);
}

/** A template's pattern in Go's RE2 syntax, matched in linear time; a bad pattern fails the template. */
function goRegexp(re: string): GoRegexp {
  try {
    return compileGoRegexp(re);
  } catch (e) {
    throw new Error((e as Error).message, { cause: e });
  }
}

function inList(haystack: unknown, needle: unknown): boolean {
  if (typeof haystack === 'string') return haystack.includes(str(needle, 'in'));
  if (Array.isArray(haystack)) {
    return haystack.some((e) => {
      try {
        return goEq(e, needle);
      } catch {
        return false;
      }
    });
  }
  if (haystack === undefined || haystack === null) return false;
  throw new Error(`in: cannot search in type ${typeName(haystack)}`);
}

type Num = { v: number; float: boolean };
function num(v: unknown, fn: string): Num {
  if (typeof v === 'number') return { v, float: !Number.isInteger(v) };
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) {
    const n = Number(v);
    return { v: n, float: !Number.isInteger(n) };
  }
  throw new Error(`${fn}: unknown type for ${JSON.stringify(v)} (${typeName(v)})`);
}

/** consul-template math: `op b a` computes `a op b`, so `{{ 10 | divide 2 }}` is 5; ints stay ints. */
function math(fn: string, op: (a: number, b: number, float: boolean) => number) {
  return arity(2, 2, (bRaw: unknown, aRaw: unknown) => {
    const a = num(aRaw, fn);
    const b = num(bRaw, fn);
    return op(a.v, b.v, a.float || b.float);
  });
}

/** byKey: groups tree pairs by their top-level directory, the Key stripped of it. */
function byKey(pairs: unknown): unknown {
  const out = goMap({} as Record<string, Record<string, unknown>>);
  for (const p of list(pairs, 'byKey') as Array<{ Key: string; Value: string; Path?: string }>) {
    const parts = p.Key.split('/');
    const top = parts.shift()!;
    const rest = parts.join('/');
    if (rest === '') continue;
    const group = (out[top] ??= goMap({}));
    group[rest] = goStruct({ ...p, Key: rest }, '*dependency.KeyPair');
  }
  return out;
}

function byTag(services: unknown): unknown {
  const out: Record<string, unknown[]> = {};
  for (const s of list(services, 'byTag') as Array<{ Tags?: string[] }>) {
    for (const t of s.Tags ?? []) (out[t] ??= []).push(s);
  }
  return out;
}

function explodeEntries(entries: Array<[string, unknown]>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    const parts = key.replace(/^\/+|\/+$/g, '').split('/');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      const cur = node[part];
      if (cur === undefined || typeof cur !== 'object' || cur === null) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    const leaf = parts[parts.length - 1];
    if (leaf !== undefined && leaf !== '') node[leaf] = value;
  }
  return root;
}

/** strings.Title: upper-cases the first letter of each word. */
function toTitle(s: string): string {
  return s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase());
}

function trimCutset(s: string, cutset: string, left: boolean, right: boolean): string {
  const set = new Set([...cutset]);
  const chars = [...s];
  let a = 0;
  let b = chars.length;
  if (left) while (a < b && set.has(chars[a]!)) a++;
  if (right) while (b > a && set.has(chars[b - 1]!)) b--;
  return chars.slice(a, b).join('');
}

function loop(...args: unknown[]): number[] {
  const ints = args.map((a) => {
    const n = typeof a === 'string' ? parseGoInt(a, false) : a;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new Error(`loop: expected integers, got ${typeName(a)}`);
    return n;
  });
  const [first = 0, second] = ints;
  const [from, to] = second === undefined ? [0, first] : [first, second];
  if (to - from > 1_000_000) throw new Error('loop: too many iterations');
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

/** A template's scratchpad: per render, never shared between templates. */
export class Scratch {
  private readonly values = new Map<string, unknown>();
  Key(k: string): boolean {
    return this.values.has(k);
  }
  Get(k: string): unknown {
    return this.values.has(k) ? this.values.get(k) : null;
  }
  Set(k: string, v: unknown): string {
    this.values.set(k, v);
    return '';
  }
  SetX(k: string, v: unknown): string {
    if (!this.values.has(k)) this.values.set(k, v);
    return '';
  }
  MapSet(k: string, mk: string, v: unknown): string {
    const m = (this.values.get(k) as Record<string, unknown> | undefined) ?? {};
    m[mk] = v;
    this.values.set(k, m);
    return '';
  }
  MapSetX(k: string, mk: string, v: unknown): string {
    const m = (this.values.get(k) as Record<string, unknown> | undefined) ?? {};
    if (!(mk in m)) m[mk] = v;
    this.values.set(k, m);
    return '';
  }
  MapValues(k: string): unknown[] {
    const m = (this.values.get(k) as Record<string, unknown> | undefined) ?? {};
    return Object.keys(m)
      .sort()
      .map((x) => m[x]);
  }
}

/**
 * The helper functions; `now` is the injected clock for `timestamp`, `scratch` gives the current render's
 * scratchpad.
 */
export function helperFuncs(now: () => Date, scratch: () => Scratch = () => new Scratch()): FuncMap {
  return {
    toJSON: arity(1, 1, (v: unknown) => goJSON(v)),
    toJSONPretty: arity(1, 1, (v: unknown) => goJSON(v, '  ')),
    parseJSON: arity(1, 1, (s: unknown) => {
      const t = str(s, 'parseJSON');
      if (t === '') return {};
      try {
        return JSON.parse(t) as unknown;
      } catch (e) {
        throw new Error(`parseJSON: ${(e as Error).message}`, { cause: e });
      }
    }),
    parseBool: arity(1, 1, (s: unknown) => parseGoBool(str(s, 'parseBool'))),
    parseInt: arity(1, 1, (s: unknown) => parseGoInt(str(s, 'parseInt'), false)),
    parseUint: arity(1, 1, (s: unknown) => parseGoInt(str(s, 'parseUint'), true)),
    parseFloat: arity(1, 1, (s: unknown) => parseGoFloat(str(s, 'parseFloat'))),
    split: arity(2, 2, (sep: unknown, s: unknown) => {
      const t = str(s, 'split').trim();
      return t === '' ? [] : t.split(str(sep, 'split'));
    }),
    join: arity(2, 2, (sep: unknown, l: unknown) =>
      list(l, 'join')
        .map((e) => str(e, 'join'))
        .join(str(sep, 'join')),
    ),
    replaceAll: arity(3, 3, (from: unknown, to: unknown, s: unknown) =>
      str(s, 'replaceAll').split(str(from, 'replaceAll')).join(str(to, 'replaceAll')),
    ),
    regexReplaceAll: arity(3, 3, (re: unknown, repl: unknown, s: unknown) =>
      goRegexp(str(re, 'regexReplaceAll')).replaceAll(str(s, 'regexReplaceAll'), str(repl, 'regexReplaceAll')),
    ),
    regexMatch: arity(2, 2, (re: unknown, s: unknown) => goRegexp(str(re, 'regexMatch')).test(str(s, 'regexMatch'))),
    toLower: arity(1, 1, (s: unknown) => str(s, 'toLower').toLowerCase()),
    toUpper: arity(1, 1, (s: unknown) => str(s, 'toUpper').toUpperCase()),
    toTitle: arity(1, 1, (s: unknown) => toTitle(str(s, 'toTitle'))),
    trimSpace: arity(1, 1, (s: unknown) => str(s, 'trimSpace').replace(/^[\s\u0085]+|[\s\u0085]+$/g, '')),
    trim: arity(2, 2, (s: unknown, cutset: unknown) => trimCutset(str(s, 'trim'), str(cutset, 'trim'), true, true)),
    trimPrefix: arity(2, 2, (prefix: unknown, s: unknown) => {
      const t = str(s, 'trimPrefix');
      const p = str(prefix, 'trimPrefix');
      return p !== '' && t.startsWith(p) ? t.slice(p.length) : t;
    }),
    trimSuffix: arity(2, 2, (suffix: unknown, s: unknown) => {
      const t = str(s, 'trimSuffix');
      const p = str(suffix, 'trimSuffix');
      return p !== '' && t.endsWith(p) ? t.slice(0, t.length - p.length) : t;
    }),
    timestamp: arity(0, 1, (layout?: unknown) => {
      const d = now();
      if (layout === undefined) return formatGoTime(d, RFC3339);
      const l = str(layout, 'timestamp');
      if (l === 'unix') return String(Math.floor(d.getTime() / 1000));
      return formatGoTime(d, l);
    }),
    contains: arity(2, 2, (needle: unknown, haystack: unknown) => inList(haystack, needle)),
    in: arity(2, 2, (haystack: unknown, needle: unknown) => inList(haystack, needle)),
    containsAny: arity(2, 2, (needles: unknown, haystack: unknown) =>
      list(needles, 'containsAny').some((n) => inList(haystack, n)),
    ),
    containsAll: arity(2, 2, (needles: unknown, haystack: unknown) =>
      list(needles, 'containsAll').every((n) => inList(haystack, n)),
    ),
    containsNone: arity(
      2,
      2,
      (needles: unknown, haystack: unknown) => !list(needles, 'containsNone').some((n) => inList(haystack, n)),
    ),
    containsNotAll: arity(2, 2, (needles: unknown, haystack: unknown) =>
      list(needles, 'containsNotAll').some((n) => !inList(haystack, n)),
    ),
    byKey: arity(1, 1, byKey),
    byTag: arity(1, 1, byTag),
    explode: arity(1, 1, (pairs: unknown) =>
      explodeEntries((list(pairs, 'explode') as Array<{ Key: string; Value: string }>).map((p) => [p.Key, p.Value])),
    ),
    explodeMap: arity(1, 1, (m: unknown) => {
      if (kindOf(m) !== 'map') throw new Error(`explodeMap: expected a map, got ${typeName(m)}`);
      return explodeEntries(sortedKeys(m as object).map((k) => [k, mapGet(m as object, k)]));
    }),
    base64Encode: arity(1, 1, (s: unknown) => Buffer.from(str(s, 'base64Encode'), 'utf8').toString('base64')),
    base64Decode: arity(1, 1, (s: unknown) => decodeBase64(str(s, 'base64Decode'), false)),
    base64URLEncode: arity(1, 1, (s: unknown) =>
      Buffer.from(str(s, 'base64URLEncode'), 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_'),
    ),
    base64URLDecode: arity(1, 1, (s: unknown) => decodeBase64(str(s, 'base64URLDecode'), true)),
    sha256Hex: arity(1, 1, (s: unknown) => createHash('sha256').update(str(s, 'sha256Hex')).digest('hex')),
    md5sum: arity(1, 1, (s: unknown) => createHash('md5').update(str(s, 'md5sum')).digest('hex')),
    hmacSHA256Hex: arity(2, 2, (msg: unknown, secret: unknown) =>
      createHmac('sha256', str(secret, 'hmacSHA256Hex')).update(str(msg, 'hmacSHA256Hex')).digest('hex'),
    ),
    loop: arity(1, 2, loop),
    indent: arity(2, 2, (n: unknown, s: unknown) => {
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
        throw new Error('indent value must be a positive integer');
      const pad = ' '.repeat(n);
      return pad + str(s, 'indent').replace(/\n/g, '\n' + pad);
    }),
    add: math('add', (a, b) => a + b),
    subtract: math('subtract', (a, b) => a - b),
    multiply: math('multiply', (a, b) => a * b),
    divide: math('divide', (a, b, float) => {
      if (b === 0 && !float) throw new Error('divide: division by 0');
      return float ? a / b : Math.trunc(a / b);
    }),
    modulo: math('modulo', (a, b, float) => {
      if (float) throw new Error('modulo: floats are not supported');
      if (b === 0) throw new Error('modulo: division by 0');
      return a % b;
    }),
    minimum: math('minimum', (a, b) => Math.min(a, b)),
    maximum: math('maximum', (a, b) => Math.max(a, b)),
    scratch: arity(0, 0, () => scratch()),
    plugin: arity(1, V, (name: unknown) => {
      throw new Error(`plugin ${JSON.stringify(name)}: plugins are not supported by Drover`);
    }),
    sockaddr: arity(0, V, () => {
      throw new Error('sockaddr is not supported by Drover');
    }),
  };
}

function decodeBase64(s: string, url: boolean): string {
  const t = s.trim();
  const re = url ? /^[A-Za-z0-9\-_]*={0,2}$/ : /^[A-Za-z0-9+/]*={0,2}$/;
  if (!re.test(t) || (t.includes('=') && t.length % 4 !== 0)) throw new Error('illegal base64 data');
  return Buffer.from(t, url ? 'base64url' : 'base64').toString('utf8');
}

export const HELPER_FUNC_NAMES = Object.keys(helperFuncs(() => new Date(0)));
