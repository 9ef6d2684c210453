/**
 * Go's fmt for template output: Sprint, Sprintln, Sprintf with the verbs templates use
 * (%v %+v %s %d %q %f %e %g %x %X %o %b %c %t %T %U %%), flags (- + # 0 space), width and precision (`*` too).
 * Values follow values.ts: integral numbers format as int, others as float64.
 */
import { findMethod, kindOf, sortedKeys, mapGet, typeName } from './values.js';

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  /** %+v: struct field names; the + is not a sign flag then. */
  plusV?: boolean;
  width?: number;
  prec?: number;
}

const noSpec: Spec = { minus: false, plus: false, sharp: false, zero: false, space: false };

/** fmt.Sprint: operands separated by a space when neither side is a string. */
export function sprint(args: unknown[]): string {
  let out = '';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(a, 'v', noSpec);
  }
  return out;
}

/** fmt.Sprintln: operands always separated by a space, and a newline at the end. */
export function sprintln(args: unknown[]): string {
  return args.map((a) => formatValue(a, 'v', noSpec)).join(' ') + '\n';
}

/** Value as `{{ . }}` prints it: Go's fmt %v. */
export function printValue(v: unknown): string {
  if (v === undefined) return '<no value>';
  return formatValue(v, 'v', noSpec);
}

export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  const n = format.length;
  let i = 0;
  while (i < n) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { minus: false, plus: false, sharp: false, zero: false, space: false };
    flags: for (; i < n; i++) {
      switch (format[i]) {
        case '-':
          spec.minus = true;
          spec.zero = false;
          break;
        case '+':
          spec.plus = true;
          break;
        case '#':
          spec.sharp = true;
          break;
        case '0':
          spec.zero = !spec.minus;
          break;
        case ' ':
          spec.space = true;
          break;
        default:
          break flags;
      }
    }
    if (format[i] === '*') {
      i++;
      const w = args[argi++];
      if (typeof w === 'number' && Number.isInteger(w)) {
        spec.width = Math.abs(w);
        if (w < 0) {
          spec.minus = true;
          spec.zero = false;
        }
      } else out += '%!(BADWIDTH)';
    } else {
      const m = /^\d+/.exec(format.slice(i));
      if (m) {
        spec.width = parseInt(m[0], 10);
        i += m[0].length;
      }
    }
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const p = args[argi++];
        if (typeof p === 'number' && Number.isInteger(p) && p >= 0) spec.prec = p;
        else out += '%!(BADPREC)';
      } else {
        const m = /^\d*/.exec(format.slice(i))!;
        spec.prec = m[0] ? parseInt(m[0], 10) : 0;
        i += m[0].length;
      }
    }
    if (i >= n) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatArg(args[argi++], verb, spec);
  }
  if (argi < args.length) {
    out +=
      '%!(EXTRA ' +
      args
        .slice(argi)
        .map((a) => `${typeName(a)}=${formatValue(a, 'v', noSpec)}`)
        .join(', ') +
      ')';
  }
  return out;
}

function formatArg(v: unknown, verb: string, spec: Spec): string {
  if (verb === 'T') return pad(typeName(v), spec);
  return formatValue(v, verb, spec);
}

function badVerb(v: unknown, verb: string): string {
  if (v === null || v === undefined) return `%!${verb}(<nil>)`;
  return `%!${verb}(${typeName(v)}=${formatValue(v, 'v', noSpec)})`;
}

function stringer(v: unknown): string | undefined {
  const m = findMethod(v, 'String') ?? findMethod(v, 'Error');
  if (m) return String(m.call(v));
  return undefined;
}

export function formatValue(v: unknown, verb: string, spec: Spec): string {
  if (verb === 'v' && spec.plus) spec = { ...spec, plus: false, plusV: true };
  if (v === null || v === undefined) return verb === 'v' ? pad('<nil>', spec) : badVerb(v, verb);
  if ('vsxXq'.includes(verb)) {
    const s = stringer(v);
    if (s !== undefined) return formatString(s, verb, spec);
  }
  switch (kindOf(v)) {
    case 'bool':
      return verb === 't' || verb === 'v' ? pad(String(v), spec) : badVerb(v, verb);
    case 'int':
      if ('eEfFgG'.includes(verb)) return formatFloat(v as number, verb, spec)!;
      return formatInt(v as number, verb, spec) ?? badVerb(v, verb);
    case 'float':
      return formatFloat(v as number, verb, spec) ?? badVerb(v, verb);
    case 'string':
      return 'vsqxX'.includes(verb) ? formatString(v as string, verb, spec) : badVerb(v, verb);
    case 'slice':
      return '[' + (v as unknown[]).map((e) => formatValue(e, verb, spec)).join(' ') + ']';
    case 'map': {
      const m = v as object;
      const parts = sortedKeys(m).map((k) => `${formatValue(k, verb, spec)}:${formatValue(mapGet(m, k), verb, spec)}`);
      return 'map[' + parts.join(' ') + ']';
    }
    case 'struct': {
      const obj = v as Record<string, unknown>;
      const parts = Object.keys(obj).map((k) => (spec.plusV ? `${k}:` : '') + formatValue(obj[k], verb, spec));
      return '{' + parts.join(' ') + '}';
    }
    case 'func':
      return pad('0xfunc', spec);
    default:
      return badVerb(v, verb);
  }
}

function pad(s: string, spec: Spec, zeroOk = true): string {
  const w = spec.width;
  if (w === undefined) return s;
  const len = [...s].length;
  if (len >= w) return s;
  const fill = w - len;
  if (spec.minus) return s + ' '.repeat(fill);
  if (spec.zero && zeroOk) return '0'.repeat(fill) + s;
  return ' '.repeat(fill) + s;
}

/** Pads a number, putting zero padding after the sign as Go does. */
function padNumber(sign: string, digits: string, spec: Spec): string {
  const w = spec.width ?? 0;
  if (spec.zero && !spec.minus && w > sign.length + digits.length)
    return sign + '0'.repeat(w - sign.length - digits.length) + digits;
  return pad(sign + digits, spec, false);
}

function signOf(neg: boolean, spec: Spec): string {
  return neg ? '-' : spec.plus ? '+' : spec.space ? ' ' : '';
}

function formatInt(n: number, verb: string, spec: Spec): string | undefined {
  const neg = n < 0;
  const abs = Math.abs(n);
  let digits: string;
  let prefix = '';
  switch (verb) {
    case 'v':
    case 'd':
      digits = abs.toString(10);
      break;
    case 'b':
      digits = abs.toString(2);
      if (spec.sharp) prefix = '0b';
      break;
    case 'o':
    case 'O':
      digits = abs.toString(8);
      if (verb === 'O') prefix = '0o';
      else if (spec.sharp) prefix = '0';
      break;
    case 'x':
      digits = abs.toString(16);
      if (spec.sharp) prefix = '0x';
      break;
    case 'X':
      digits = abs.toString(16).toUpperCase();
      if (spec.sharp) prefix = '0X';
      break;
    case 'c':
      return pad(String.fromCodePoint(n), spec);
    case 'q':
      return pad(quoteRune(n), spec);
    case 'U':
      return pad('U+' + abs.toString(16).toUpperCase().padStart(4, '0'), spec);
    default:
      return undefined;
  }
  if (spec.prec !== undefined) {
    if (spec.prec === 0 && n === 0) digits = '';
    digits = digits.padStart(spec.prec, '0');
    return pad(signOf(neg, spec) + prefix + digits, spec, false);
  }
  return padNumber(signOf(neg, spec) + prefix, digits, spec);
}

function formatFloat(x: number, verb: string, spec: Spec): string | undefined {
  if (!Number.isFinite(x)) {
    const s = Number.isNaN(x) ? 'NaN' : x > 0 ? (spec.plus ? '+Inf' : 'Inf') : '-Inf';
    return pad(s, spec, false);
  }
  const neg = x < 0 || Object.is(x, -0);
  const abs = Math.abs(x);
  let body: string;
  switch (verb) {
    case 'f':
    case 'F':
      body = toFixedGo(abs, spec.prec ?? 6);
      break;
    case 'e':
    case 'E':
      body = expGo(abs.toExponential(Math.min(spec.prec ?? 6, 100)));
      if (verb === 'E') body = body.toUpperCase();
      break;
    case 'v':
    case 'g':
    case 'G':
      body = formatG(abs, spec.prec);
      if (verb === 'G') body = body.toUpperCase();
      break;
    default:
      return undefined;
  }
  return padNumber(signOf(neg, spec), body, spec);
}

/** toFixed, but ties round to even as Go's strconv does for exactly representable halves. */
function toFixedGo(abs: number, prec: number): string {
  const s = abs.toFixed(Math.min(prec, 100));
  const scaled = abs * 10 ** prec;
  if (prec <= 15 && Number.isFinite(scaled) && scaled - Math.floor(scaled) === 0.5 && Math.floor(scaled) % 2 === 0) {
    return (Math.floor(scaled) / 10 ** prec).toFixed(prec);
  }
  return s;
}

/** JS writes `1.5e+0`; Go writes `1.5e+00`. */
function expGo(s: string): string {
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Go's %g: shortest representation by default, switching to exponent form for exp < -4 or exp >= precision. */
function formatG(abs: number, prec: number | undefined): string {
  if (abs === 0) return '0';
  let digits: string;
  let exp: number;
  if (prec === undefined) {
    const [m, e] = abs.toExponential().split('e');
    digits = m!.replace('.', '');
    exp = parseInt(e!, 10);
  } else {
    const p = Math.max(prec, 1);
    const [m, e] = abs.toExponential(Math.min(p - 1, 100)).split('e');
    digits = m!.replace('.', '').replace(/0+$/, '') || '0';
    exp = parseInt(e!, 10);
  }
  const eprec =
    prec === undefined
      ? 6
      : Math.max(prec, 1) > digits.length && digits.length >= exp + 1
        ? digits.length
        : Math.max(prec, 1);
  if (exp < -4 || exp >= eprec) {
    const mant = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
    return mant + 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
  }
  if (exp < 0) return '0.' + '0'.repeat(-exp - 1) + digits;
  if (digits.length <= exp + 1) return digits + '0'.repeat(exp + 1 - digits.length);
  return digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
}

function formatString(s: string, verb: string, spec: Spec): string {
  if (spec.prec !== undefined && (verb === 's' || verb === 'v' || verb === 'q'))
    s = [...s].slice(0, spec.prec).join('');
  switch (verb) {
    case 'q':
      return pad(
        spec.sharp &&
          !s.includes('`') &&
          ![...s].some((c) => {
            const n = c.codePointAt(0)!;
            return (n < 0x20 && n !== 0x09 && n !== 0x0a) || n === 0x7f;
          })
          ? '`' + s + '`'
          : goQuote(s),
        spec,
      );
    case 'x':
    case 'X': {
      const bytes = Buffer.from(s, 'utf8');
      let hex = [...bytes].map((b) => b.toString(16).padStart(2, '0'));
      if (spec.sharp) hex = hex.map((h) => '0x' + h);
      let out = hex.join(spec.space ? ' ' : '');
      if (verb === 'X') out = out.toUpperCase();
      return pad(out, spec);
    }
    default:
      return pad(s, spec);
  }
}

/** strconv.Quote: a double-quoted Go string literal. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    out += escapeChar(ch, '"');
  }
  return out + '"';
}

function quoteRune(n: number): string {
  if (n < 0 || n > 0x10ffff) return `'\\ufffd'`;
  return "'" + escapeChar(String.fromCodePoint(n), "'") + "'";
}

const ESC: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '\\': '\\\\',
};

function escapeChar(ch: string, quote: string): string {
  if (ch === quote) return '\\' + ch;
  const esc = ESC[ch];
  if (esc) return esc;
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f) return '\\x' + cp.toString(16).padStart(2, '0');
  if (
    (cp >= 0x80 && cp < 0xa0) ||
    cp === 0xad ||
    (cp >= 0xd800 && cp < 0xe000) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0xfeff
  ) {
    return cp > 0xffff ? '\\U' + cp.toString(16).padStart(8, '0') : '\\u' + cp.toString(16).padStart(4, '0');
  }
  return ch;
}
