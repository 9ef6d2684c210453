import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DroverError } from '../errors/index.js';
import {
  formatGoDuration,
  parseGoDuration,
  parseGoDurationMs,
  readGoDuration,
  type GoDurationOptions,
} from './duration.js';

// Each row is what Go's time.ParseDuration answers for the text (nanoseconds, or null for an error).
const GO_CASES: ReadonlyArray<[string, number | null]> = [
  ['0', 0],
  ['-0', 0],
  ['+0', 0],
  ['5s', 5e9],
  ['30s', 30e9],
  ['1478s', 1478e9],
  ['-5s', -5e9],
  ['+5s', 5e9],
  ['-0s', 0],
  ['5.0s', 5e9],
  ['5.6s', 5.6e9],
  ['5.s', 5e9],
  ['.5s', 0.5e9],
  ['1.004s', 1.004e9],
  ['1.0040s', 1.004e9],
  ['100.00100s', 100.001e9],
  ['10ns', 10],
  ['11us', 11e3],
  ['12\u00b5s', 12e3],
  ['12\u03bcs', 12e3],
  ['13ms', 13e6],
  ['14s', 14e9],
  ['15m', 15 * 60e9],
  ['16h', 16 * 3600e9],
  ['3h30m', 3.5 * 3600e9],
  ['10.5s4m', 4 * 60e9 + 10.5e9],
  ['-2m3.4s', -(2 * 60e9 + 3.4e9)],
  ['1h2m3s4ms5us6ns', 3600e9 + 2 * 60e9 + 3e9 + 4e6 + 5e3 + 6],
  ['39h9m14.425s', 39 * 3600e9 + 9 * 60e9 + 14.425e9],
  ['52763797000ns', 52763797000],
  ['0.3333333333333333333h', 1200e9],
  ['1.5h', 5400e9],
  // errors
  ['', null],
  ['3', null],
  ['-', null],
  ['s', null],
  ['.', null],
  ['-.', null],
  ['.s', null],
  ['+.s', null],
  ['1d', null],
  ['1s ', null],
  [' 1s', null],
  ['1 s', null],
  ['1s-2s', null],
  ['ten seconds', null],
  ['1e3s', null],
  ['3000000h', null],
];

describe('readGoDuration', () => {
  it.each(GO_CASES)('reads %j as Go does', (text, want) => {
    const r = readGoDuration(text);
    if (want === null) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toContain(JSON.stringify(text));
    } else {
      expect(r).toEqual({ ok: true, ns: want });
    }
  });

  const BARE: ReadonlyArray<[string, GoDurationOptions, number | null]> = [
    ['30', {}, null],
    ['30', { bareNumber: 'reject' }, null],
    ['30', { bareNumber: 'seconds' }, 30e9],
    ['1.5', { bareNumber: 'seconds' }, 1.5e9],
    ['250', { bareNumber: 'nanoseconds' }, 250],
    ['-30', { bareNumber: 'seconds' }, -30e9],
    ['30', { bareNumber: 'seconds', allowNegative: false }, 30e9],
    ['-30', { bareNumber: 'seconds', allowNegative: false }, null],
    ['-5s', { allowNegative: false }, null],
    ['+5s', { allowNegative: false }, 5e9],
    ['5s', { bareNumber: 'seconds' }, 5e9],
  ];
  it.each(BARE)('reads %j with options %j as the caller asked', (text, opts, want) => {
    const r = readGoDuration(text, opts);
    expect(r.ok ? r.ns : null).toBe(want);
  });

  it('says which rule the text broke', () => {
    expect(readGoDuration('3')).toEqual({ ok: false, error: expect.stringContaining('missing unit') });
    expect(readGoDuration('-5s', { allowNegative: false })).toEqual({
      ok: false,
      error: expect.stringContaining('negative'),
    });
    expect(readGoDuration('3000000h')).toEqual({ ok: false, error: expect.stringContaining('out of range') });
    expect(readGoDuration('1x')).toEqual({ ok: false, error: expect.stringContaining('expected a number and a unit') });
  });
});

describe('parseGoDuration', () => {
  it('throws a BadRequest naming the field or flag that held the text', () => {
    expect(() => parseGoDuration('soon', { what: 'wait' })).toThrow(DroverError);
    expect(() => parseGoDuration('soon', { what: 'wait' })).toThrow(/^invalid wait "soon": /);
    try {
      parseGoDuration('soon');
    } catch (e) {
      expect((e as DroverError).code).toBe('BadRequest');
      expect((e as DroverError).message).toMatch(/^invalid duration "soon"/);
    }
  });

  it('gives milliseconds, fractional below one, for timers', () => {
    expect(parseGoDurationMs('1m30s')).toBe(90_000);
    expect(parseGoDurationMs('250us')).toBe(0.25);
  });
});

describe('formatGoDuration', () => {
  const CASES: ReadonlyArray<[number, string]> = [
    [0, '0s'],
    [1, '1ns'],
    [1100, '1.1\u00b5s'],
    [2.2e6, '2.2ms'],
    [250e6, '250ms'],
    [3.3e9, '3.3s'],
    [15e9, '15s'],
    [60e9, '1m0s'],
    [90e9, '1m30s'],
    [4 * 60e9 + 5e9, '4m5s'],
    [4 * 60e9 + 5.001e9, '4m5.001s'],
    [3600e9, '1h0m0s'],
    [5 * 3600e9 + 6 * 60e9 + 7.001e9, '5h6m7.001s'],
    [8 * 60e9 + 1, '8m0.000000001s'],
    [-1, '-1ns'],
    [-90e9, '-1m30s'],
  ];
  it.each(CASES)('writes %d ns as %j, as Go does', (ns, want) => {
    expect(formatGoDuration(ns)).toBe(want);
  });

  it('writes what it reads back to the same value', () => {
    for (const [ns] of CASES) expect(readGoDuration(formatGoDuration(ns))).toEqual({ ok: true, ns });
  });
});

describe('Go durations, any composition', () => {
  it('adds up the parts of any composed duration', () => {
    fc.assert(
      fc.property(fc.nat(99), fc.nat(59), fc.nat(59), fc.nat(999), (h, m, s, ms) => {
        const r = readGoDuration(`${h}h${m}m${s}s${ms}ms`);
        return r.ok && r.ns === ((h * 60 + m) * 60 + s) * 1e9 + ms * 1e6;
      }),
    );
  });

  it('reads back whatever it writes', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e15, max: 1e15 }), (ns) => {
        const r = readGoDuration(formatGoDuration(ns));
        return r.ok && r.ns === ns;
      }),
    );
  });
});
