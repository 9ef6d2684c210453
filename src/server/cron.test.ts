import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isDroverError } from '../errors/index.js';
import { parseCron } from './cron.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('cron expressions read as Nomad reads them', () => {
  it('fires a 5-field expression at second 0 of each matching minute', () => {
    const c = parseCron('*/15 * * * *');
    expect(iso(c.next(at('2026-01-01T10:07:30Z')))).toBe('2026-01-01T10:15:00.000Z');
    expect(iso(c.next(at('2026-01-01T10:15:00Z')))).toBe('2026-01-01T10:30:00.000Z');
  });

  it('reads 6 fields as minutes..day-of-week plus a year, like Nomad, not as seconds', () => {
    const c = parseCron('*/15 * * * * *');
    expect(iso(c.next(at('2026-01-01T10:07:30Z')))).toBe('2026-01-01T10:15:00.000Z');
    expect(parseCron('0 0 1 1 * 2030').next(at('2026-05-05T00:00:00Z'))).toBe(at('2030-01-01T00:00:00Z'));
  });

  it('reads 7 fields with seconds first, so a job can run every few seconds', () => {
    const c = parseCron('*/3 * * * * * *');
    expect(iso(c.next(at('2026-01-01T10:00:01.500Z')))).toBe('2026-01-01T10:00:03.000Z');
    expect(iso(c.next(at('2026-01-01T10:00:03Z')))).toBe('2026-01-01T10:00:06.000Z');
  });

  it('knows the aliases, month and weekday names, ranges, lists and steps', () => {
    expect(iso(parseCron('@hourly').next(at('2026-01-01T10:07:30Z')))).toBe('2026-01-01T11:00:00.000Z');
    expect(iso(parseCron('@daily').next(at('2026-01-01T10:07:30Z')))).toBe('2026-01-02T00:00:00.000Z');
    expect(iso(parseCron('@weekly').next(at('2026-01-01T10:07:30Z')))).toBe('2026-01-04T00:00:00.000Z'); // a Sunday
    expect(iso(parseCron('30 9 * feb mon-fri').next(at('2026-01-01T00:00:00Z')))).toBe('2026-02-02T09:30:00.000Z');
    expect(iso(parseCron('0 8,20 * * *').next(at('2026-01-01T09:00:00Z')))).toBe('2026-01-01T20:00:00.000Z');
    expect(iso(parseCron('0 0 * * 7').next(at('2026-01-01T00:00:00Z')))).toBe('2026-01-04T00:00:00.000Z');
  });

  it('fires on a day matching either day field when both are restricted', () => {
    // The 13th, or any Friday: Friday 2 January 2026 comes first.
    expect(iso(parseCron('0 0 13 * fri').next(at('2026-01-01T00:00:00Z')))).toBe('2026-01-02T00:00:00.000Z');
  });

  it('computes times on the wall clock of time_zone, across a DST change', () => {
    const c = parseCron('0 9 * * *', 'America/New_York');
    expect(iso(c.next(at('2026-01-10T00:00:00Z')))).toBe('2026-01-10T14:00:00.000Z'); // EST
    expect(iso(c.next(at('2026-07-10T00:00:00Z')))).toBe('2026-07-10T13:00:00.000Z'); // EDT
    // 02:30 does not exist on 8 March 2026 in New York: that day is skipped.
    expect(iso(parseCron('30 2 * * *', 'America/New_York').next(at('2026-03-08T05:00:00Z')))).toBe(
      '2026-03-09T06:30:00.000Z',
    );
  });

  it('refuses bad expressions and unknown zones with BadRequest naming the problem', () => {
    for (const bad of ['* * * *', '61 * * * *', '* * * * * * * *', '5-1 * * * *', 'x * * * *', '*/0 * * * *']) {
      const err = (() => {
        try {
          parseCron(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(isDroverError(err, 'BadRequest'), bad).toBe(true);
    }
    expect(() => parseCron('* * * * *', 'Mars/Olympus')).toThrow(/time_zone/);
  });

  it('always answers a time strictly later that matches the expression (property)', () => {
    const c = parseCron('*/7 3-5 * * mon,wed');
    fc.assert(
      fc.property(fc.integer({ min: at('2020-01-01T00:00:00Z'), max: at('2030-01-01T00:00:00Z') }), (t) => {
        const n = c.next(t)!;
        const d = new Date(n);
        return (
          n > t &&
          d.getUTCSeconds() === 0 &&
          d.getUTCMinutes() % 7 === 0 &&
          d.getUTCHours() >= 3 &&
          d.getUTCHours() <= 5 &&
          [1, 3].includes(d.getUTCDay())
        );
      }),
      { numRuns: 200 },
    );
  });
});
