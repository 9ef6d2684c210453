import { describe, expect, it } from 'vitest';
import {
  binaryUnits,
  formatBytes,
  formatDurationShort,
  formatKV,
  formatRelative,
  formatTable,
  formatTime,
  shortId,
} from './format.js';
import { memoryOutput } from './output.js';

describe('formatTable', () => {
  it('pads every column but the last to its widest cell, joined by two spaces', () => {
    expect(
      formatTable([
        ['ID', 'Type', 'Status'],
        ['web-frontend', 'service', 'running'],
        ['db', 'batch', 'dead'],
      ]),
    ).toBe(
      ['ID            Type     Status', 'web-frontend  service  running', 'db            batch    dead'].join('\n'),
    );
  });

  it('trims trailing spaces when the last cells are empty', () => {
    expect(
      formatTable([
        ['A', 'B'],
        ['x', ''],
      ]),
    ).toBe('A  B\nx');
  });
});

describe('formatKV', () => {
  it('aligns the equals signs like nomad detail views', () => {
    expect(
      formatKV([
        ['ID', 'web'],
        ['Submit Date', 'now'],
        ['Type', 'service'],
      ]),
    ).toBe('ID          = web\nSubmit Date = now\nType        = service');
  });
});

describe('times and sizes', () => {
  it('shows the two largest units of a duration', () => {
    expect(formatDurationShort(0)).toBe('0s');
    expect(formatDurationShort(45_000)).toBe('45s');
    expect(formatDurationShort(90_000)).toBe('1m30s');
    expect(formatDurationShort(3_600_000 + 120_000 + 5_000)).toBe('1h2m');
    expect(formatDurationShort(3 * 86_400_000 + 12 * 3_600_000)).toBe('3d12h');
    expect(formatDurationShort(86_400_000 + 5_000)).toBe('1d');
  });

  it('says how long ago, or how far ahead', () => {
    expect(formatRelative(1_000, 61_000)).toBe('1m ago');
    expect(formatRelative(61_000, 1_000)).toBe('in 1m');
  });

  it('prints RFC3339 times, in UTC with a Z', () => {
    expect(formatTime(Date.UTC(2026, 10, 21, 22, 43, 3), true)).toBe('2026-11-21T22:43:03Z');
  });

  it('prints sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(88 * 1024)).toBe('88 KiB');
    expect(formatBytes(6.3 * 1024 * 1024)).toBe('6.3 MiB');
    expect(formatBytes(300 * 1024 * 1024)).toBe('300 MiB');
  });

  it('scales bytes to the largest binary unit under 1024, stopping at TiB', () => {
    expect(binaryUnits(1023)).toEqual({ value: 1023, unit: 'B', scaled: false });
    expect(binaryUnits(1536)).toEqual({ value: 1.5, unit: 'KiB', scaled: true });
    expect(binaryUnits(2048 * 1024 ** 4)).toEqual({ value: 2048, unit: 'TiB', scaled: true });
  });

  it('shortens IDs to 8 characters unless verbose', () => {
    expect(shortId('0123456789abcdef')).toBe('01234567');
    expect(shortId('0123456789abcdef', true)).toBe('0123456789abcdef');
  });
});

describe('Output', () => {
  it('writes tables, key-values and sections to stdout and errors to stderr', () => {
    const out = memoryOutput();
    out.kv([['ID', 'x']]);
    out.section('Allocations', 'none');
    out.table([]);
    out.error('bad');
    expect(out.stdout()).toBe('ID = x\n\nAllocations\nnone\n');
    expect(out.stderr()).toBe('bad\n');
  });

  it('prints JSON indented, for -json', () => {
    const out = memoryOutput(true);
    out.printJSON({ a: 1 });
    expect(out.json).toBe(true);
    expect(out.stdout()).toBe('{\n    "a": 1\n}\n');
  });
});
