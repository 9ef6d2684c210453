/**
 * Nomad's size strings ("256MB", "1GiB"), because job files written for Nomad use them and the structs hold
 * MB. (Durations are read by src/lib/duration.ts, the one Go-duration parser.)
 */

const SIZE_MB: Record<string, number> = {
  '': 1 / (1024 * 1024),
  b: 1 / (1024 * 1024),
  k: 1 / 1024,
  kb: 1 / 1024,
  kib: 1 / 1024,
  m: 1,
  mb: 1,
  mib: 1,
  g: 1024,
  gb: 1024,
  gib: 1024,
  t: 1024 * 1024,
  tb: 1024 * 1024,
  tib: 1024 * 1024,
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
