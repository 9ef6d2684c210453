/**
 * Pure helpers that turn API values into what the views show: counts, short IDs, times. No DOM, so they are
 * unit tested in Node.
 */
import type { AllocListStub, DeploymentState, JobSummary } from './types.js';

/** Nomad's CLI and UI show the first 8 characters of a UUID. */
export function shortId(id: string): string {
  return id.length > 8 && /^[0-9a-f]{8}-/.test(id) ? id.slice(0, 8) : id;
}

/** Running / pending / failed over every group of a job summary, as the jobs list shows them. */
export interface Counts {
  running: number;
  pending: number;
  failed: number;
  complete: number;
  lost: number;
}

export function zeroCounts(): Counts {
  return { running: 0, pending: 0, failed: 0, complete: 0, lost: 0 };
}

/** Queued and starting allocations are both "pending" to a reader: asked for, not yet running. */
export function summaryCounts(summary: JobSummary | null | undefined): Counts & { groups: number } {
  const out = { ...zeroCounts(), groups: 0 };
  for (const g of Object.values(summary?.Summary ?? {})) {
    out.groups++;
    out.running += g.Running;
    out.pending += g.Queued + g.Starting;
    out.failed += g.Failed;
    out.complete += g.Complete;
    out.lost += g.Lost;
  }
  return out;
}

/** Per task group counts of allocations by client status (the job page's groups table). */
export function allocCountsByGroup(allocs: readonly AllocListStub[]): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const a of allocs) {
    let c = out.get(a.TaskGroup);
    if (!c) out.set(a.TaskGroup, (c = zeroCounts()));
    switch (a.ClientStatus) {
      case 'running':
        c.running++;
        break;
      case 'pending':
        c.pending++;
        break;
      case 'failed':
        c.failed++;
        break;
      case 'complete':
        c.complete++;
        break;
      case 'lost':
        c.lost++;
        break;
    }
  }
  return out;
}

/** A deployment group's progress: healthy of desired, as a fraction for a progress bar and as text. */
export function deploymentProgress(s: DeploymentState): { value: number; max: number; text: string } {
  const max = Math.max(s.DesiredTotal, 0);
  const value = Math.min(s.HealthyAllocs, max);
  const canaries =
    s.DesiredCanaries > 0
      ? `, canaries ${s.PlacedCanaries?.length ?? 0}/${s.DesiredCanaries}${s.Promoted ? ' promoted' : ''}`
      : '';
  return {
    value,
    max,
    text: `${s.HealthyAllocs} healthy of ${s.DesiredTotal} (${s.PlacedAllocs} placed, ${s.UnhealthyAllocs} unhealthy${canaries})`,
  };
}

/** Unix nanoseconds, an RFC3339 string, or nothing → milliseconds since the epoch (undefined for none). */
export function toMillis(t: number | string | null | undefined): number | undefined {
  if (t === null || t === undefined || t === '' || t === 0) return undefined;
  if (typeof t === 'number') return t / 1e6;
  const ms = Date.parse(t);
  // Go's zero time ("0001-01-01T00:00:00Z") means "never".
  return Number.isNaN(ms) || ms <= 0 ? undefined : ms;
}

/** "12s ago", "3m ago", "5h ago", "2d ago"; "in 4s" for a time ahead of `now` (clock skew). */
export function relativeTime(ms: number, now: number): string {
  const d = Math.round((now - ms) / 1000);
  const abs = Math.abs(d);
  const text =
    abs < 60
      ? `${abs}s`
      : abs < 3600
        ? `${Math.floor(abs / 60)}m`
        : abs < 86400
          ? `${Math.floor(abs / 3600)}h`
          : `${Math.floor(abs / 86400)}d`;
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** Local date and time to the second, for `title` attributes and tables of events. */
export function absoluteTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * Keeps the tail of a growing log within `max` characters, cutting at a line start so the first line shown
 * is whole. Returns the text and whether anything was cut.
 */
export function keepTail(text: string, max: number): { text: string; cut: boolean } {
  if (text.length <= max) return { text, cut: false };
  const start = text.length - max;
  const nl = text.indexOf('\n', start);
  return { text: nl >= 0 && nl < text.length - 1 ? text.slice(nl + 1) : text.slice(start), cut: true };
}

/** 1536 → "1.5 KiB", as `alloc fs` prints sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
