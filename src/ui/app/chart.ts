/**
 * A small line chart in inline SVG (no chart library): the last samples of one series, its latest value
 * in the title, and the same figures as text for screen readers.
 */
import { h } from './dom.js';

export interface Sample {
  /** Unix milliseconds. */
  t: number;
  v: number;
}

/** Appends `s` (unless its time repeats the last one) and keeps the newest `keep`. */
export function pushSample(list: readonly Sample[], s: Sample, keep: number): Sample[] {
  if (!Number.isFinite(s.v)) return list as Sample[];
  const last = list[list.length - 1];
  const out = last && last.t === s.t ? [...list.slice(0, -1), s] : [...list, s];
  return out.length > keep ? out.slice(out.length - keep) : out;
}

/** The polyline's points for samples scaled into a `w`×`hgt` box (y grows downwards). */
export function chartPoints(samples: readonly Sample[], w: number, hgt: number): { points: string; max: number } {
  if (samples.length === 0) return { points: '', max: 0 };
  const max = Math.max(...samples.map((s) => s.v), 1e-9);
  const t0 = samples[0]!.t;
  const span = Math.max(samples[samples.length - 1]!.t - t0, 1);
  const y = (v: number) => (hgt - (v / max) * (hgt - 2) - 1).toFixed(1);
  // One sample is a flat line across the chart, so the first reading shows at once.
  if (samples.length === 1) return { points: `0,${y(samples[0]!.v)} ${w},${y(samples[0]!.v)}`, max };
  const points = samples.map((s) => `${(((s.t - t0) / span) * w).toFixed(1)},${y(s.v)}`).join(' ');
  return { points, max };
}

const W = 300;
const H = 80;

export function Chart({ title, unit, samples }: { title: string; unit: string; samples: Sample[] }) {
  const last = samples[samples.length - 1];
  const { points, max } = chartPoints(samples, W, H);
  const label = last
    ? `${title}: ${last.v.toFixed(1)} ${unit} now, up to ${max.toFixed(1)} ${unit} in the chart`
    : `${title}: no samples yet`;
  return h(
    'figure',
    { class: 'chart' },
    h(
      'figcaption',
      null,
      title,
      ' ',
      h('strong', { class: 'chart-value' }, last ? `${last.v.toFixed(1)} ${unit}` : '–'),
    ),
    h(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': label, preserveAspectRatio: 'none' },
      h('rect', { x: 0, y: 0, width: W, height: H, class: 'chart-bg' }),
      points ? h('polyline', { points, class: 'chart-line', fill: 'none' }) : null,
    ),
  );
}
