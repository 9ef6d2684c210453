/**
 * Go-style durations ("30s", "1h30m", "1.5h", "100ms") and Nomad's size strings ("256MB", "1GiB"),
 * because job files written for Nomad use them and the structs hold integer nanoseconds / MB.
 */

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses a Go duration string into integer nanoseconds, or returns an error text. */
export function parseDuration(text: string): number | { error: string } {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)/y;
  let i = 0;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    i = 1;
  }
  if (i >= s.length) return { error: `invalid duration "${text}"` };
  let total = 0;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return { error: `invalid duration "${text}": expected a number and a unit (ns, us, ms, s, m, h)` };
    total += parseFloat(m[1]!) * UNIT_NS[m[2]!]!;
    i = re.lastIndex;
  }
  return sign * Math.round(total);
}

const SIZE_MB: Record<string, number> = {
  '': 1 / (1024 * 1024),
  b: 1 / (1024 * 1024),
  k: 1 / 1024, kb: 1 / 1024, kib: 1 / 1024,
  m: 1, mb: 1, mib: 1,
  g: 1024, gb: 1024, gib: 1024,
  t: 1024 * 1024, tb: 1024 * 1024, tib: 1024 * 1024,
};

/** Parses a size ("512MB", "1GiB", "100") into MB; a bare number is taken as MB already. */
export function parseSizeMB(text: string): number | { error: string } {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return { error: `invalid size "${text}"` };
  if (m[2] === '') return Math.floor(parseFloat(m[1]!));
  const mult = SIZE_MB[m[2]!.toLowerCase()];
  if (mult === undefined) return { error: `invalid size unit in "${text}"` };
  return Math.floor(parseFloat(m[1]!) * mult);
}
