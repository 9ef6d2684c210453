/* global process, setTimeout, clearTimeout */
// Helpers shared by the benchmarks: argument parsing, percentiles, the RESULT line of issue 7, and where
// the compiled code lives. Benchmarks import dist/ (run `npm run build` first); the runner checks that.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dist = (p) => join(repoRoot, 'dist', p);

/** `--flag` → true, `--key value` → 'value', `--key=value` → 'value'. */
export function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-')) {
      out._.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    if (eq >= 0) out[body.slice(0, eq)] = body.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('-')) out[body] = argv[++i];
    else out[body] = true;
  }
  return out;
}

/** The q-quantile (0..1) of numbers, nearest-rank; NaN when empty. */
export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[rank];
}

function fmt(v) {
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return 'NaN';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

/**
 * The one line each figure ends with. `lowerIsBetter` only decides nothing here: the goal is printed as
 * given (e.g. ">=15000" or "<=1.15") so a reader sees the direction.
 */
export function resultLine({ name, value, unit, ref, goal }) {
  const ratio = typeof ref === 'number' && ref !== 0 && Number.isFinite(value) ? value / ref : NaN;
  return `RESULT name=${name} value=${fmt(value)} unit=${unit} ref=${fmt(ref)} ratio=${fmt(ratio)} goal=${goal}`;
}

/** Peak resident set of this process in bytes (maxRSS is in kilobytes). */
export function peakRSSBytes() {
  return process.resourceUsage().maxRSS * 1024;
}

/** Current resident set of another process, from /proc (Linux); NaN when unreadable. */
export function rssOfPid(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system) another process has used so far, from /proc (Linux); NaN when unreadable. */
export function cpuSecondsOfPid(pid) {
  const t = cpuTimesOfPid(pid);
  return t.user + t.system;
}

/** User and system CPU seconds of another process so far, from /proc (Linux); NaN when unreadable. */
export function cpuTimesOfPid(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start at ") "; utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
  } catch {
    return { user: NaN, system: NaN };
  }
}

export function mb(bytes) {
  return bytes / (1024 * 1024);
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. The abort listener is removed when the timer fires:
 * a long-lived signal shared by many sleeps would otherwise collect one listener per sleep.
 */
export function sleep(ms, signal) {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A Logger (the interface of src/logging) that prints nothing but counts warnings and errors and keeps the
 * first few, so a benchmark measures work rather than log output and can still report what went wrong.
 */
export function countingLogger(keep = 5) {
  const seen = { warn: 0, error: 0, first: [] };
  const note = (level) => (msg, fields) => {
    seen[level]++;
    if (seen.first.length < keep) seen.first.push(`${level}: ${msg} ${fields ? JSON.stringify(fields) : ''}`);
  };
  const logger = { debug() {}, info() {}, warn: note('warn'), error: note('error'), child: () => logger, seen };
  return logger;
}
