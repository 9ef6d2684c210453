import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration, parseSizeMB } from './duration.js';

describe('parseDuration', () => {
  it('reads Go durations into integer nanoseconds', () => {
    expect(parseDuration('30s')).toBe(30e9);
    expect(parseDuration('1h30m')).toBe(5400e9);
    expect(parseDuration('1.5h')).toBe(5400e9);
    expect(parseDuration('100ms')).toBe(100e6);
    expect(parseDuration('-2m')).toBe(-120e9);
    expect(parseDuration('0')).toBe(0);
  });

  it('explains what it expected when the text is not a duration', () => {
    expect(parseDuration('10')).toEqual({ error: expect.stringContaining('unit') });
    expect(parseDuration('ten seconds')).toEqual({ error: expect.stringContaining('invalid duration') });
    expect(parseDuration('')).toEqual({ error: expect.stringContaining('invalid duration') });
  });

  it('adds up the parts of any composed duration', () => {
    fc.assert(
      fc.property(fc.nat(99), fc.nat(59), fc.nat(59), (h, m, s) => parseDuration(`${h}h${m}m${s}s`) === ((h * 60 + m) * 60 + s) * 1e9),
    );
  });
});

describe('parseSizeMB', () => {
  it('reads sizes with units into MB and bare numbers as MB', () => {
    expect(parseSizeMB('256MB')).toBe(256);
    expect(parseSizeMB('1GiB')).toBe(1024);
    expect(parseSizeMB('2048')).toBe(2048);
    expect(parseSizeMB('512KB')).toBe(0);
    expect(parseSizeMB('12 parsecs')).toEqual({ error: expect.stringContaining('unit') });
  });
});
