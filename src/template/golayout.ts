/**
 * Go's time.Format with its reference-time layouts ("2006-01-02T15:04:05Z07:00"), for `timestamp`. Times are
 * formatted in UTC, as consul-template does.
 */
import { DAYS, MONTHS, pad2 as p2 } from '../lib/calendar.js';

/** Each layout element, longest first where one is a prefix of another. */
const ELEMENTS: Array<[string, (d: Date) => string]> = [
  ['January', (d) => MONTHS[d.getUTCMonth()]!],
  ['Jan', (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3)],
  ['Monday', (d) => DAYS[d.getUTCDay()]!],
  ['Mon', (d) => DAYS[d.getUTCDay()]!.slice(0, 3)],
  ['MST', () => 'UTC'],
  ['2006', (d) => String(d.getUTCFullYear()).padStart(4, '0')],
  ['Z07:00:00', () => 'Z'],
  ['Z070000', () => 'Z'],
  ['Z07:00', () => 'Z'],
  ['Z0700', () => 'Z'],
  ['Z07', () => 'Z'],
  ['-07:00:00', () => '+00:00:00'],
  ['-070000', () => '+000000'],
  ['-07:00', () => '+00:00'],
  ['-0700', () => '+0000'],
  ['-07', () => '+00'],
  ['002', (d) => String(dayOfYear(d)).padStart(3, '0')],
  ['__2', (d) => String(dayOfYear(d)).padStart(3, ' ')],
  ['_2', (d) => String(d.getUTCDate()).padStart(2, ' ')],
  ['01', (d) => p2(d.getUTCMonth() + 1)],
  ['02', (d) => p2(d.getUTCDate())],
  ['03', (d) => p2(h12(d))],
  ['04', (d) => p2(d.getUTCMinutes())],
  ['05', (d) => p2(d.getUTCSeconds())],
  ['06', (d) => p2(d.getUTCFullYear() % 100)],
  ['15', (d) => p2(d.getUTCHours())],
  ['PM', (d) => (d.getUTCHours() >= 12 ? 'PM' : 'AM')],
  ['pm', (d) => (d.getUTCHours() >= 12 ? 'pm' : 'am')],
  ['1', (d) => String(d.getUTCMonth() + 1)],
  ['2', (d) => String(d.getUTCDate())],
  ['3', (d) => String(h12(d))],
  ['4', (d) => String(d.getUTCMinutes())],
  ['5', (d) => String(d.getUTCSeconds())],
];

function h12(d: Date): number {
  const h = d.getUTCHours() % 12;
  return h === 0 ? 12 : h;
}

function dayOfYear(d: Date): number {
  return (
    Math.floor(
      (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000,
    ) + 1
  );
}

/** Formats `d` (UTC) with a Go layout. `nanos` adds sub-millisecond precision for .000000000 layouts. */
export function formatGoTime(d: Date, layout: string, nanos?: number): string {
  const ns = nanos ?? d.getUTCMilliseconds() * 1_000_000;
  let out = '';
  let i = 0;
  outer: while (i < layout.length) {
    // Fractional seconds: .000 / ,000 (fixed) or .999 (trailing zeros dropped), as in Go.
    const frac = /^[.,](0+|9+)(?![0-9])/.exec(layout.slice(i));
    if (frac) {
      const digits = frac[1]!.length;
      let f = String(ns).padStart(9, '0').slice(0, Math.min(digits, 9));
      if (frac[1]![0] === '9') f = f.replace(/0+$/, '');
      out += f === '' ? '' : layout[i] + f;
      i += frac[0].length;
      continue;
    }
    for (const [el, fn] of ELEMENTS) {
      if (layout.startsWith(el, i)) {
        // `Jan`/`Mon` must not be the start of a longer lower-case word, as in Go.
        if ((el === 'Jan' || el === 'Mon') && /^[a-z]/.test(layout.slice(i + 3, i + 4))) break;
        out += fn(d);
        i += el.length;
        continue outer;
      }
    }
    out += layout[i];
    i++;
  }
  return out;
}

export const RFC3339 = '2006-01-02T15:04:05Z07:00';
