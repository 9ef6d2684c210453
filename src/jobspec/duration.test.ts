import { describe, expect, it } from 'vitest';
import { parseSizeMB } from './duration.js';

describe('parseSizeMB', () => {
  it('reads sizes with units into MB and bare numbers as MB', () => {
    expect(parseSizeMB('256MB')).toBe(256);
    expect(parseSizeMB('1GiB')).toBe(1024);
    expect(parseSizeMB('2048')).toBe(2048);
    expect(parseSizeMB('512KB')).toBe(0);
    expect(parseSizeMB('12 parsecs')).toEqual({ error: expect.stringContaining('unit') });
  });
});
