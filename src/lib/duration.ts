/**
 * Go durations, read and written the way Go's `time.ParseDuration` and `time.Duration.String()` do, because
 * job files, API query parameters, driver configs and CLI flags written for Nomad carry them. This is the one
 * parser: it used to exist five times, disagreeing on the sign, on `μs` and on what a bare number meant.
 *
 * Go's grammar: `[-+]? (number unit)+` or the lone `0`, where a number is `digits`, `digits.`, `.digits` or
 * `digits.digits` and a unit is one of ns, us, µs (U+00B5), μs (U+03BC), ms, s, m, h. No white space, no
 * bare number, no empty string. Values beyond Go's int64 nanoseconds (about 292 years) are rejected as Go does.
 * Where a caller's input historically allows a bare number, it says what the number means with `bareNumber`.
 */
import { DroverError } from '../errors/index.js';

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  '\u00b5s': 1e3,
  '\u03bcs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's largest duration, (1<<63)-1 nanoseconds, as a float (the comparison needs no more precision). */
const MAX_NS = 2 ** 63 - 1;

const ELEMENT = /(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

export interface GoDurationOptions {
  /**
   * What a bare number ("30", "1.5") means: Go rejects it (`'reject'`, the default; "0" is always 0);
   * `'seconds'` as Nomad's blocking-query `wait`; `'nanoseconds'` as driver configs that hold a time.Duration.
   */
  bareNumber?: 'reject' | 'seconds' | 'nanoseconds';
  /** Whether a leading `-` is allowed (Go allows it); false where only a wait or a timeout makes sense. */
  allowNegative?: boolean;
}

export type GoDurationResult = { ok: true; ns: number } | { ok: false; error: string };

/** Reads a Go duration into integer nanoseconds, or says why the text is not one. Never throws. */
export function readGoDuration(text: string, opts: GoDurationOptions = {}): GoDurationResult {
  const bad = (why: string): GoDurationResult => ({
    ok: false,
    error: `invalid duration ${JSON.stringify(text)}: ${why}`,
  });
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s.startsWith('-')) {
      if (opts.allowNegative === false) return bad('a negative duration is not allowed here');
      sign = -1;
    }
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, ns: 0 };
  if (s === '') return bad('expected a number and a unit (ns, us, ms, s, m, h), as 30s or 1h30m');
  if (/^(\d+\.?\d*|\.\d+)$/.test(s)) {
    const unit = opts.bareNumber === 'seconds' ? 1e9 : opts.bareNumber === 'nanoseconds' ? 1 : 0;
    if (unit === 0) return bad('missing unit (ns, us, ms, s, m, h)');
    return finish(Number(s) * unit, sign, bad);
  }
  let total = 0;
  let i = 0;
  while (i < s.length) {
    ELEMENT.lastIndex = i;
    const m = ELEMENT.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) {
      return bad('expected a number and a unit (ns, us, ms, s, m, h), as 30s or 1h30m');
    }
    total += Number(`${m[1] || '0'}.${m[2] ?? ''}0`) * UNIT_NS[m[3]!]!;
    i = ELEMENT.lastIndex;
  }
  return finish(total, sign, bad);
}

function finish(ns: number, sign: number, bad: (why: string) => GoDurationResult): GoDurationResult {
  if (!Number.isFinite(ns) || ns > MAX_NS) return bad('out of range (more than about 292 years)');
  const r = Math.round(ns);
  return { ok: true, ns: r === 0 ? 0 : sign * r };
}

/**
 * Reads a Go duration into integer nanoseconds; throws a BadRequest DroverError naming `what` (a field, a
 * flag or a parameter: "wait", "-deadline") when the text is not one.
 */
export function parseGoDuration(text: string, opts: GoDurationOptions & { what?: string } = {}): number {
  const r = readGoDuration(text, opts);
  if (r.ok) return r.ns;
  const detail = r.error.replace(/^invalid duration /, '');
  throw new DroverError('BadRequest', opts.what ? `invalid ${opts.what} ${detail}` : r.error);
}

/** The same, in milliseconds (fractional below 1ms), for timers and Date arithmetic. */
export function parseGoDurationMs(text: string, opts: GoDurationOptions & { what?: string } = {}): number {
  return parseGoDuration(text, opts) / 1e6;
}

/** Formats nanoseconds as Go's time.Duration.String() does ("15s", "1m30s", "250ms", "1h0m0s", "1.5µs"). */
export function formatGoDuration(ns: number): string {
  ns = Math.round(ns);
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e9) {
    const [unit, digits] = n < 1e3 ? ['ns', 0] : n < 1e6 ? ['\u00b5s', 3] : ['ms', 6];
    out = `${decimal(n, digits)}${unit}`;
  } else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    const s = `${decimal(n, 9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

/** `v / 10**digits` written in plain decimal with no trailing zeros, as Go's fmtFrac (never `1e-9`). */
function decimal(v: number, digits: number): string {
  if (digits === 0) return String(v);
  const scale = 10 ** digits;
  const whole = Math.floor(v / scale);
  const frac = String(v - whole * scale)
    .padStart(digits, '0')
    .replace(/0+$/, '');
  return frac === '' ? String(whole) : `${whole}.${frac}`;
}
