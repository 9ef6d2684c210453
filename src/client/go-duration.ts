/** Formats nanoseconds as Go's time.Duration.String() does ("15s", "1m30s", "250ms", "1h0m0s"), as Nomad's messages show them. */
export function formatGoDuration(ns: number): string {
  ns = Math.round(ns);
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e9) {
    const [unit, div] = n < 1e3 ? ['ns', 1] : n < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trim(n / div)}${unit}`;
  } else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    const s = `${trim(n / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trim(v: number): string {
  return Number(v.toFixed(9)).toString();
}
