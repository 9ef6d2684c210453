/** Number and string functions of Nomad's HCL2 library. */
import { FunctionError, argInt, argNumber, argSeq, argString, fn, type FunctionTable } from '../function-types.js';
import { T, type Value, list, num, object, str, tuple } from '../values.js';
import { compileGoRegexp, type GoRegexp, type RegexMatch } from '../../../lib/regex.js';
import { formatList, goFormat } from './format.js';

const chars = (s: string): string[] => Array.from(s);

export const numberFunctions: FunctionTable = {
  abs: fn(['num'], (a) => num(Math.abs(argNumber(a, 0)))),
  ceil: fn(['num'], (a) => num(Math.ceil(argNumber(a, 0)))),
  floor: fn(['num'], (a) => num(Math.floor(argNumber(a, 0)))),
  log: fn(['num', 'base'], (a) => num(Math.log(argNumber(a, 0)) / Math.log(argNumber(a, 1)))),
  pow: fn(['num', 'power'], (a) => num(Math.pow(argNumber(a, 0), argNumber(a, 1)))),
  signum: fn(['num'], (a) => num(Math.sign(argNumber(a, 0)) || 0)),
  max: fn(['...numbers'], (a) => {
    if (a.length === 0) throw new FunctionError('must pass at least one number');
    return num(Math.max(...a.map((_, i) => argNumber(a, i))));
  }),
  min: fn(['...numbers'], (a) => {
    if (a.length === 0) throw new FunctionError('must pass at least one number');
    return num(Math.min(...a.map((_, i) => argNumber(a, i))));
  }),
  parseint: fn(['number', 'base'], (a) => num(parseInteger(argString(a, 0), argInt(a, 1)))),
};

const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

function parseInteger(s: string, base: number): number {
  if (base < 2 || base > 62) throw new FunctionError('base must be a whole number between 2 and 62 inclusive', 1);
  let text = s;
  let sign = 1;
  if (text.startsWith('-') || text.startsWith('+')) {
    sign = text.startsWith('-') ? -1 : 1;
    text = text.slice(1);
  }
  if (text === '') throw new FunctionError(`cannot parse "${s}" as a base ${base} integer`, 0);
  let n = 0;
  for (const c of text) {
    // Bases up to 36 are case-insensitive, as Go's big.Int SetString.
    const d = base <= 36 ? DIGITS.indexOf(c.toLowerCase()) : DIGITS.indexOf(c);
    if (d < 0 || d >= base) throw new FunctionError(`cannot parse "${s}" as a base ${base} integer`, 0);
    n = n * base + d;
  }
  return sign * n;
}

/** A user's pattern in Go's RE2 syntax, matched in linear time; a bad pattern is an error on argument `argIndex`. */
function goRegexp(pattern: string, argIndex: number): GoRegexp {
  try {
    return compileGoRegexp(pattern);
  } catch (e) {
    throw new FunctionError(`invalid regular expression pattern: ${(e as Error).message}`, argIndex);
  }
}

function matchValue(m: RegexMatch): Value {
  if (m.groups && Object.keys(m.groups).length > 0) {
    const o: Record<string, Value> = {};
    for (const [k, g] of Object.entries(m.groups)) o[k] = str(g ?? '');
    return object(o);
  }
  if (m.length === 1) return str(m[0] ?? '');
  return tuple(m.slice(1).map((g) => str(g ?? '')));
}

function title(s: string): string {
  let prevLetter = false;
  let out = '';
  for (const c of s) {
    const isLetter = /[\p{L}\p{N}_']/u.test(c);
    out += isLetter && !prevLetter ? c.toUpperCase() : c;
    prevLetter = isLetter;
  }
  return out;
}

function trimSet(s: string, cut: string, left: boolean, right: boolean): string {
  const set = new Set(chars(cut));
  const cs = chars(s);
  let a = 0;
  let b = cs.length;
  if (left) while (a < b && set.has(cs[a]!)) a++;
  if (right) while (b > a && set.has(cs[b - 1]!)) b--;
  return cs.slice(a, b).join('');
}

export const stringFunctions: FunctionTable = {
  chomp: fn(['str'], (a) => str(argString(a, 0).replace(/(\r\n|\r|\n)+$/, ''))),
  format: fn(['format', '...args'], (a) => str(goFormat(argString(a, 0), a.slice(1))), { allowNull: true }),
  formatlist: fn(['format', '...args'], (a) => list(formatList(argString(a, 0), a.slice(1)).map(str), T.string)),
  indent: fn(['spaces', 'str'], (a) => {
    const pad = ' '.repeat(Math.max(0, argInt(a, 0)));
    return str(argString(a, 1).replace(/\n/g, '\n' + pad));
  }),
  join: fn(['separator', '...lists'], (a) => {
    const sep = argString(a, 0);
    if (a.length < 2) throw new FunctionError('at least one list is required');
    const parts: string[] = [];
    for (let i = 1; i < a.length; i++) {
      for (const item of argSeq(a, i)) {
        if (item.kind === 'null')
          throw new FunctionError(`element of list ${i} is null; cannot concatenate null values`, i);
        parts.push(argString([item], 0));
      }
    }
    return str(parts.join(sep));
  }),
  lower: fn(['str'], (a) => str(argString(a, 0).toLowerCase())),
  upper: fn(['str'], (a) => str(argString(a, 0).toUpperCase())),
  regex: fn(['pattern', 'string'], (a) => {
    const m = goRegexp(argString(a, 0), 0).exec(argString(a, 1));
    if (!m) throw new FunctionError('pattern did not match any part of the given string');
    return matchValue(m);
  }),
  regexall: fn(['pattern', 'string'], (a) => {
    const re = goRegexp(argString(a, 0), 0);
    const out: Value[] = [];
    for (const m of re.matchAll(argString(a, 1), 100_000)) out.push(matchValue(m));
    return list(out);
  }),
  regex_replace: fn(['str', 'pattern', 'replace'], (a) =>
    str(goRegexp(argString(a, 1), 1).replaceAll(argString(a, 0), argString(a, 2))),
  ),
  replace: fn(['str', 'substr', 'replace'], (a) => {
    const s = argString(a, 0);
    const sub = argString(a, 1);
    const rep = argString(a, 2);
    if (sub.length > 1 && sub.startsWith('/') && sub.endsWith('/'))
      return str(goRegexp(sub.slice(1, -1), 1).replaceAll(s, rep));
    return str(s.split(sub).join(rep));
  }),
  split: fn(['separator', 'str'], (a) => {
    const sep = argString(a, 0);
    const s = argString(a, 1);
    return list((sep === '' ? chars(s) : s.split(sep)).map(str), T.string);
  }),
  strrev: fn(['str'], (a) => str(chars(argString(a, 0)).reverse().join(''))),
  strlen: fn(['str'], (a) => num(chars(argString(a, 0)).length)),
  substr: fn(['str', 'offset', 'length'], (a) => {
    const cs = chars(argString(a, 0));
    let off = argInt(a, 1);
    const len = argInt(a, 2);
    if (off < 0) off = Math.max(0, cs.length + off);
    if (off > cs.length) throw new FunctionError('offset is greater than the length of the string', 1);
    return str(cs.slice(off, len < 0 ? undefined : off + len).join(''));
  }),
  title: fn(['str'], (a) => str(title(argString(a, 0)))),
  trim: fn(['str', 'cutset'], (a) => str(trimSet(argString(a, 0), argString(a, 1), true, true))),
  trimprefix: fn(['str', 'prefix'], (a) => {
    const s = argString(a, 0);
    const p = argString(a, 1);
    return str(s.startsWith(p) ? s.slice(p.length) : s);
  }),
  trimsuffix: fn(['str', 'suffix'], (a) => {
    const s = argString(a, 0);
    const p = argString(a, 1);
    return str(p !== '' && s.endsWith(p) ? s.slice(0, s.length - p.length) : s);
  }),
  trimspace: fn(['str'], (a) => str(argString(a, 0).trim())),
};
