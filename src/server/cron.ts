/**
 * Cron expressions as Nomad reads them (its cronexpr library): 5 fields `min hour dom month dow`,
 * 6 fields add a trailing `year`, 7 fields add a leading `second`. So seconds need all seven fields;
 * `*\/15 * * * * *` is every 15 minutes in Nomad, and so here. Aliases `@hourly` etc., names for months
 * and weekdays, `*`, `?`, lists, ranges and steps. When both day-of-month and day-of-week are
 * restricted a day matching either one fires, as in Vixie cron. Not supported: `L`, `W`, `#`.
 *
 * Times are computed on the wall clock of `time_zone` (IANA name, via Intl), then turned back into an
 * instant; a wall time skipped by a DST jump never fires.
 */
import { badRequest } from '../errors/index.js';

export interface CronSchedule {
  /** The first firing strictly after `afterMs` (epoch ms), or undefined when there is none before 2100. */
  next(afterMs: number): number | undefined;
}

const ALIASES: Record<string, string> = {
  '@yearly': '0 0 0 1 1 * *',
  '@annually': '0 0 0 1 1 * *',
  '@monthly': '0 0 0 1 * * *',
  '@weekly': '0 0 0 * * 0 *',
  '@daily': '0 0 0 * * * *',
  '@midnight': '0 0 0 * * * *',
  '@hourly': '0 0 * * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** First value of `names` (months count from 1). */
  nameBase?: number;
}

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59 };
const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
const DOM: FieldSpec = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 };
// 7 is accepted for Sunday and folded to 0.
const DOW: FieldSpec = { name: 'day-of-week', min: 0, max: 7, names: DAYS, nameBase: 0 };
const YEAR: FieldSpec = { name: 'year', min: 1970, max: 2099 };

function value(tok: string, f: FieldSpec, spec: string): number {
  const t = tok.toLowerCase();
  if (f.names) {
    const i = f.names.findIndex((n) => t === n || (t.length > 3 && n === t.slice(0, 3)));
    if (i >= 0) return i + (f.nameBase ?? 0);
  }
  if (!/^\d+$/.test(t)) throw badRequest(`invalid cron "${spec}": "${tok}" is not a valid ${f.name}`);
  const n = Number(t);
  if (n < f.min || n > f.max) throw badRequest(`invalid cron "${spec}": ${f.name} ${n} is outside ${f.min}-${f.max}`);
  return n;
}

/** Parses one field; `restricted` is false for `*` / `?` (matters for the day fields). */
function field(text: string, f: FieldSpec, spec: string): { set: Set<number>; restricted: boolean } {
  const set = new Set<number>();
  let restricted = true;
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m) throw badRequest(`invalid cron "${spec}": cannot read ${f.name} "${part}"`);
    const step = m[2] !== undefined ? Number(m[2]) : 1;
    if (step < 1) throw badRequest(`invalid cron "${spec}": step 0 in ${f.name}`);
    const range = m[1] ?? '';
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      lo = f.min;
      hi = f === DOW ? 6 : f.max;
      if (m[2] === undefined) restricted = false;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      lo = value(a, f, spec);
      hi = value(b, f, spec);
      if (f === DOW && hi === 0 && lo > 0) hi = 7; // fri-sun
      if (lo > hi) throw badRequest(`invalid cron "${spec}": range ${range} in ${f.name} runs backwards`);
    } else {
      lo = value(range, f, spec);
      hi = m[2] !== undefined ? f.max : lo;
    }
    for (let v = lo; v <= hi; v += step) set.add(f === DOW && v === 7 ? 0 : v);
  }
  return { set, restricted };
}

interface Fields {
  sec: Set<number>;
  min: Set<number>;
  hour: Set<number>;
  dom: Set<number>;
  month: Set<number>;
  dow: Set<number>;
  year: Set<number>;
  domRestricted: boolean;
  dowRestricted: boolean;
}

export function parseCronFields(spec: string): Fields {
  const trimmed = spec.trim();
  const parts = (ALIASES[trimmed.toLowerCase()] ?? trimmed).split(/\s+/).filter(Boolean);
  if (parts.length < 5 || parts.length > 7)
    throw badRequest(`invalid cron "${spec}": expected 5, 6 or 7 fields, got ${parts.length}`);
  const full = parts.length === 7 ? parts : ['0', ...parts, ...(parts.length === 5 ? ['*'] : [])];
  const [s, mi, h, d, mo, dw, y] = full as [string, string, string, string, string, string, string];
  const dom = field(d, DOM, spec);
  const dow = field(dw, DOW, spec);
  return {
    sec: field(s, SECOND, spec).set,
    min: field(mi, MINUTE, spec).set,
    hour: field(h, HOUR, spec).set,
    dom: dom.set,
    month: field(mo, MONTH, spec).set,
    dow: dow.set,
    year: field(y, YEAR, spec).set,
    domRestricted: dom.restricted,
    dowRestricted: dow.restricted,
  };
}

/** Wall-clock fields of an instant in a time zone, as a UTC Date (so UTC arithmetic walks the wall clock). */
function wallClock(ms: number, fmt: Intl.DateTimeFormat | undefined): number {
  if (fmt === undefined) return ms;
  const p: Record<string, number> = {};
  for (const x of fmt.formatToParts(new Date(ms))) if (x.type !== 'literal') p[x.type] = Number(x.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
}

/** The instant whose wall clock in the zone is `wall`, or undefined when DST skipped that wall time. */
function fromWallClock(wall: number, fmt: Intl.DateTimeFormat | undefined): number | undefined {
  if (fmt === undefined) return wall;
  let guess = wall;
  for (let i = 0; i < 3; i++) {
    const offset = wallClock(guess, fmt) - guess;
    const next = wall - offset;
    if (next === guess) break;
    guess = next;
  }
  return wallClock(guess, fmt) === wall ? guess : undefined;
}

function zoneFormat(timeZone: string): Intl.DateTimeFormat | undefined {
  if (timeZone === '' || timeZone === 'UTC' || timeZone === 'Etc/UTC') return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    throw badRequest(`invalid time_zone "${timeZone}": not a known IANA time zone`);
  }
}

function dayMatches(f: Fields, d: Date): boolean {
  const dom = f.dom.has(d.getUTCDate());
  const dow = f.dow.has(d.getUTCDay());
  if (f.domRestricted && f.dowRestricted) return dom || dow;
  if (f.domRestricted) return dom;
  if (f.dowRestricted) return dow;
  return true;
}

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR_MS = 60 * MIN;

/** The first wall time ≥ `start` matching the fields; jumps by the largest unit that does not match. */
function nextWall(f: Fields, start: number): number | undefined {
  let t = start;
  for (let guard = 0; guard < 200_000; guard++) {
    const d = new Date(t);
    const y = d.getUTCFullYear();
    if (y > 2099) return undefined;
    if (!f.year.has(y)) {
      t = Date.UTC(y + 1, 0, 1);
      continue;
    }
    if (!f.month.has(d.getUTCMonth() + 1)) {
      t = Date.UTC(y, d.getUTCMonth() + 1, 1);
      continue;
    }
    if (!dayMatches(f, d)) {
      t = Date.UTC(y, d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    if (!f.hour.has(d.getUTCHours())) {
      t = Math.floor(t / HOUR_MS) * HOUR_MS + HOUR_MS;
      continue;
    }
    if (!f.min.has(d.getUTCMinutes())) {
      t = Math.floor(t / MIN) * MIN + MIN;
      continue;
    }
    if (!f.sec.has(d.getUTCSeconds())) {
      t += SEC;
      continue;
    }
    return t;
  }
  return undefined;
}

/** Parses `spec` (throws BadRequest naming the problem) for the zone `timeZone` (default UTC). */
export function parseCron(spec: string, timeZone = 'UTC'): CronSchedule {
  const f = parseCronFields(spec);
  const fmt = zoneFormat(timeZone);
  return {
    next(afterMs: number): number | undefined {
      // Whole seconds strictly after `afterMs`.
      let wall = wallClock(Math.floor(afterMs / SEC) * SEC + SEC, fmt);
      for (let tries = 0; tries < 10; tries++) {
        const w = nextWall(f, wall);
        if (w === undefined) return undefined;
        const at = fromWallClock(w, fmt);
        if (at !== undefined && at > afterMs) return at;
        wall = w + SEC;
      }
      return undefined;
    },
  };
}
