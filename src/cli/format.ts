/**
 * Text formatting shaped like nomad's CLI: columns padded with two spaces, `Key = value` blocks, 8-character
 * IDs, relative times ("1m30s ago"), sizes in binary units. Pure functions, so tests need no terminal.
 */

/** An object's entries ordered by key as `Object.keys(o).sort()` orders them, for tables and key lists. */
export function sortedEntries<V>(o: Record<string, V>): [string, V][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Columns padded to their widest cell and joined by two spaces; the last column is not padded. */
export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const cols = Math.max(...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols; c++) widths.push(Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `Key = value` lines with the `=` signs aligned, as nomad's detail views. */
export function formatKV(pairs: [string, string][]): string {
  if (pairs.length === 0) return '';
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)} = ${v}`.trimEnd()).join('\n');
}

/** Nomad's short ID: the first 8 characters, unless the user asked for full IDs. */
export function shortId(id: string, verbose = false): string {
  return verbose ? id : id.slice(0, 8);
}

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** A duration like nomad prints it: the two largest non-zero units of d/h/m/s ("1h2m", "45s", "0s"). */
export function formatDurationShort(ms: number): string {
  let rest = Math.round(Math.abs(ms) / 1000) * 1000;
  const parts: string[] = [];
  for (const [u, size] of UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${u}`);
  }
  const nonZero = parts.slice(0, 2).filter((p) => !/^0[a-z]$/.test(p));
  return nonZero.length > 0 ? nonZero.join('') : '0s';
}

/** "3m ago" for a past moment, "in 3m" for a future one. */
export function formatRelative(thenMs: number, nowMs: number): string {
  const d = nowMs - thenMs;
  return d >= 0 ? `${formatDurationShort(d)} ago` : `in ${formatDurationShort(-d)}`;
}

/** Unix nanoseconds (as the API sends times) to milliseconds. */
export function nsToMs(ns: number): number {
  return Math.floor(ns / 1_000_000);
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** RFC3339 in local time with its offset, as nomad prints absolute times ("2026-11-21T22:43:03Z" in UTC). */
export function formatTime(ms: number, utc = false): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return 'N/A';
  const off = utc ? 0 : -d.getTimezoneOffset();
  const local = new Date(ms + off * 60_000);
  const base =
    `${local.getUTCFullYear()}-${pad2(local.getUTCMonth() + 1)}-${pad2(local.getUTCDate())}` +
    `T${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:${pad2(local.getUTCSeconds())}`;
  if (off === 0) return `${base}Z`;
  const sign = off > 0 ? '+' : '-';
  return `${base}${sign}${pad2(Math.floor(Math.abs(off) / 60))}:${pad2(Math.abs(off) % 60)}`;
}

/** An RFC3339 string (or null / Go's zero time) to a printable time, "N/A" when unset. */
export function formatRFC3339(s: string | null | undefined, utc = false): string {
  if (!s || s.startsWith('0001-01-01')) return 'N/A';
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? s : formatTime(ms, utc);
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes as a value below 1024 (up to TiB) and its binary unit; `bytes` is its own value when under 1 KiB. */
export function binaryUnits(bytes: number): { value: number; unit: string; scaled: boolean } {
  let value = bytes;
  let i = 0;
  for (; value >= 1024 && i < BINARY_UNITS.length - 1; i++) value /= 1024;
  return { value, unit: BINARY_UNITS[i]!, scaled: i > 0 };
}

/** Bytes in binary units with up to one decimal, as nomad's humanize output ("6.3 MiB", "300 MiB", "0 B"). */
export function formatBytes(bytes: number): string {
  const { value: v, unit, scaled } = binaryUnits(bytes);
  const text = !scaled || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, '');
  return `${text} ${unit}`;
}

/** Megabytes (as resources are written) in binary units. */
export function formatMB(mb: number): string {
  return formatBytes(mb * 1024 * 1024);
}

/** `<none>` for empty strings, as nomad shows unset values. */
export function orNone(s: string | null | undefined): string {
  return s ? s : '<none>';
}

/** Indents every line of `text` by `n` spaces. */
export function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}
