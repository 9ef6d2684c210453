/**
 * `format` and `formatlist`: Go fmt verbs as HCL's stdlib applies them to typed values.
 * Verbs: %v %#v %t %b %d %o %x %X %e %E %f %g %G %s %q %%, flags `+ - # 0 space`, width, precision,
 * and explicit argument indexes (`%[2]s`).
 */
import { T, type Value, formatNumber } from '../values.js';
import { convert } from '../convert.js';
import { FunctionError } from '../function-types.js';
import { jsonEncode } from './encoding.js';

const SPEC = /%([-+# 0]*)(\[\d+\])?(\d+)?(?:(\.)(\d*))?(\[\d+\])?([a-zA-Z%])/y;

export function goFormat(fmt: string, args: Value[]): string {
  let out = '';
  let next = 0;
  let i = 0;
  while (i < fmt.length) {
    const pct = fmt.indexOf('%', i);
    if (pct < 0) {
      out += fmt.slice(i);
      break;
    }
    out += fmt.slice(i, pct);
    SPEC.lastIndex = pct;
    const m = SPEC.exec(fmt);
    if (!m) throw new FunctionError(`invalid format verb at offset ${pct}`, 0);
    i = SPEC.lastIndex;
    const [, flags = '', idx1, width, dot, prec, idx2, verb] = m;
    if (verb === '%') {
      out += '%';
      continue;
    }
    const idx = idx2 ?? idx1;
    if (idx) next = Number(idx.slice(1, -1)) - 1;
    if (next < 0 || next >= args.length) throw new FunctionError(`not enough arguments for format verb %${verb}`, 0);
    const arg = args[next++]!;
    const body = formatOne(verb!, flags, dot ? Number(prec || 0) : undefined, arg, next);
    out += pad(body, flags, width === undefined ? 0 : Number(width), verb!);
  }
  if (next < args.length && !/%\[\d+\]/.test(fmt))
    throw new FunctionError(`too many arguments; only ${next} used by format string`, 0);
  return out;
}

function pad(s: string, flags: string, width: number, verb: string): string {
  if (s.length >= width) return s;
  if (flags.includes('-')) return s + ' '.repeat(width - s.length);
  if (flags.includes('0') && 'dbeEfgGxXo'.includes(verb)) {
    const sign = /^[+\- ]/.test(s) ? s[0]! : '';
    return sign + '0'.repeat(width - s.length) + s.slice(sign.length);
  }
  return ' '.repeat(width - s.length) + s;
}

function need(v: Value, kind: 'number' | 'string' | 'bool', argNo: number, verb: string): Value {
  const r = convert(v, kind === 'number' ? T.number : kind === 'string' ? T.string : T.bool);
  if (!r.ok) throw new FunctionError(`unsupported value for "%${verb}" at ${argNo}: ${r.error}`, argNo);
  return r.value;
}

function formatOne(verb: string, flags: string, prec: number | undefined, v: Value, argNo: number): string {
  if (v.kind === 'null' && verb !== 'v')
    throw new FunctionError(`unsupported value for "%${verb}" at ${argNo}: null value cannot be formatted`, argNo);
  switch (verb) {
    case 'v':
      if (flags.includes('#')) return jsonEncode(v);
      if (v.kind === 'null') return 'null';
      if (v.kind === 'string') return v.value;
      if (v.kind === 'number') return withSign(formatNumber(v.value), flags);
      if (v.kind === 'bool') return String(v.value);
      return jsonEncode(v);
    case 't':
      return String((need(v, 'bool', argNo, verb) as { value: boolean }).value);
    case 's': {
      const s = (need(v, 'string', argNo, verb) as { value: string }).value;
      return prec !== undefined ? Array.from(s).slice(0, prec).join('') : s;
    }
    case 'q':
      return JSON.stringify((need(v, 'string', argNo, verb) as { value: string }).value);
  }
  const n = (need(v, 'number', argNo, verb) as { value: number }).value;
  switch (verb) {
    case 'd':
    case 'b':
    case 'o':
    case 'x':
    case 'X': {
      if (!Number.isInteger(n))
        throw new FunctionError(`unsupported value for "%${verb}" at ${argNo}: an integer is required`, argNo);
      const radix = verb === 'd' ? 10 : verb === 'b' ? 2 : verb === 'o' ? 8 : 16;
      let s = BigInt(n) < 0n ? (-BigInt(n)).toString(radix) : BigInt(n).toString(radix);
      if (verb === 'X') s = s.toUpperCase();
      if (flags.includes('#') && radix !== 10)
        s = (radix === 16 ? (verb === 'X' ? '0X' : '0x') : radix === 8 ? '0' : '') + s;
      return withSign(n < 0 ? '-' + s : s, flags);
    }
    case 'f':
    case 'F':
      return withSign(n.toFixed(prec ?? 6), flags);
    case 'e':
    case 'E': {
      const s = goExp(n, prec ?? 6);
      return withSign(verb === 'E' ? s.toUpperCase() : s, flags);
    }
    case 'g':
    case 'G': {
      const s = prec === undefined ? formatNumber(n) : String(Number(n.toPrecision(Math.max(prec, 1))));
      return withSign(verb === 'G' ? s.toUpperCase() : s, flags);
    }
  }
  throw new FunctionError(`unsupported format verb %${verb}`, 0);
}

function goExp(n: number, prec: number): string {
  // JS gives 1.5e+2; Go gives 1.500000e+02 (at least two exponent digits).
  return n.toExponential(prec).replace(/e([+-])(\d)$/, 'e$10$2');
}

function withSign(s: string, flags: string): string {
  if (s.startsWith('-')) return s;
  if (flags.includes('+')) return '+' + s;
  if (flags.includes(' ')) return ' ' + s;
  return s;
}

/** For `formatlist`: list arguments iterate together; other arguments repeat. */
export function formatList(fmt: string, args: Value[]): string[] {
  let n = -1;
  args.forEach((a, i) => {
    if (a.kind === 'list' || a.kind === 'tuple' || a.kind === 'set') {
      if (n >= 0 && a.items.length !== n)
        throw new FunctionError(
          `argument ${i + 2} has length ${a.items.length}, which is inconsistent with previous argument of length ${n}`,
          i + 1,
        );
      n = a.items.length;
    }
  });
  if (n < 0) n = 1;
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    out.push(
      goFormat(
        fmt,
        args.map((a) => (a.kind === 'list' || a.kind === 'tuple' || a.kind === 'set' ? a.items[k]! : a)),
      ),
    );
  }
  return out;
}
