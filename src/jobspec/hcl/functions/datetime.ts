/** `formatdate` and `timeadd`: RFC 3339 timestamps, kept in the timestamp's own UTC offset. */
import { readGoDuration } from '../../../lib/duration.js';
import { FunctionError, argString, fn, type FunctionTable } from '../function-types.js';
import { str } from '../values.js';
import { DAYS, MONTHS, pad2 as p2 } from '../../../lib/calendar.js';

interface Stamp {
  /** Milliseconds since the epoch, UTC. */
  ms: number;
  /** The timestamp's own offset from UTC, in minutes. */
  offsetMin: number;
  utc: boolean;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function parseStamp(s: string, argIndex: number): Stamp {
  const m = RFC3339.exec(s);
  if (!m) throw new FunctionError(`not a valid RFC3339 timestamp: ${JSON.stringify(s)}`, argIndex);
  const [, y, mo, d, h, mi, se, frac, zone] = m;
  const utc = zone === 'Z' || zone === 'z';
  const offsetMin = utc
    ? 0
    : (zone!.startsWith('-') ? -1 : 1) * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(4, 6)));
  const ms =
    Date.UTC(
      Number(y),
      Number(mo) - 1,
      Number(d),
      Number(h),
      Number(mi),
      Number(se),
      frac ? Math.floor(Number(frac) * 1000) : 0,
    ) -
    offsetMin * 60_000;
  return { ms, offsetMin, utc };
}

function zone(st: Stamp, colon: boolean): string {
  const sign = st.offsetMin < 0 ? '-' : '+';
  const a = Math.abs(st.offsetMin);
  return `${sign}${p2(Math.floor(a / 60))}${colon ? ':' : ''}${p2(a % 60)}`;
}

function token(tok: string, st: Stamp, d: Date): string {
  const Y = d.getUTCFullYear();
  const M = d.getUTCMonth();
  const h = d.getUTCHours();
  const h12 = h % 12 === 0 ? 12 : h % 12;
  switch (tok) {
    case 'YYYY':
      return String(Y).padStart(4, '0');
    case 'YY':
      return p2(Y % 100);
    case 'MMMM':
      return MONTHS[M]!;
    case 'MMM':
      return MONTHS[M]!.slice(0, 3);
    case 'MM':
      return p2(M + 1);
    case 'M':
      return String(M + 1);
    case 'DD':
      return p2(d.getUTCDate());
    case 'D':
      return String(d.getUTCDate());
    case 'EEEE':
      return DAYS[d.getUTCDay()]!;
    case 'EEE':
      return DAYS[d.getUTCDay()]!.slice(0, 3);
    case 'hh':
      return p2(h);
    case 'h':
      return String(h);
    case 'HH':
      return p2(h12);
    case 'H':
      return String(h12);
    case 'AA':
      return h < 12 ? 'AM' : 'PM';
    case 'aa':
      return h < 12 ? 'am' : 'pm';
    case 'mm':
      return p2(d.getUTCMinutes());
    case 'm':
      return String(d.getUTCMinutes());
    case 'ss':
      return p2(d.getUTCSeconds());
    case 's':
      return String(d.getUTCSeconds());
    case 'ZZZZZ':
      return zone(st, true);
    case 'ZZZZ':
      return zone(st, false);
    case 'ZZZ':
      return st.utc ? 'UTC' : zone(st, false);
    case 'Z':
      return st.utc ? 'Z' : zone(st, true);
  }
  throw new FunctionError(`invalid date format verb ${JSON.stringify(tok)}`, 0);
}

export function formatDate(spec: string, stamp: string): string {
  const st = parseStamp(stamp, 1);
  const d = new Date(st.ms + st.offsetMin * 60_000);
  let out = '';
  let i = 0;
  while (i < spec.length) {
    const c = spec[i]!;
    if (c === "'") {
      const end = spec.indexOf("'", i + 1);
      if (end < 0) throw new FunctionError('unterminated literal in date format', 0);
      out += end === i + 1 ? "'" : spec.slice(i + 1, end);
      i = end + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (j < spec.length && spec[j] === c) j++;
      out += token(spec.slice(i, j), st, d);
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** A Go duration string ("1h30m", "-1.5s") in milliseconds, as `timeadd` takes it. */
function durationArgMs(s: string, argIndex: number): number {
  const r = readGoDuration(s);
  if (!r.ok) throw new FunctionError(r.error, argIndex);
  return r.ns / 1e6;
}

function formatStamp(ms: number, st: Stamp): string {
  const d = new Date(ms + st.offsetMin * 60_000);
  const date = `${String(d.getUTCFullYear()).padStart(4, '0')}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  return `${date}T${time}${st.utc ? 'Z' : zone(st, true)}`;
}

export const datetimeFunctions: FunctionTable = {
  formatdate: fn(['format', 'time'], (a) => str(formatDate(argString(a, 0), argString(a, 1)))),
  timeadd: fn(['timestamp', 'duration'], (a) => {
    const st = parseStamp(argString(a, 0), 0);
    return str(formatStamp(st.ms + durationArgMs(argString(a, 1), 1), st));
  }),
};
