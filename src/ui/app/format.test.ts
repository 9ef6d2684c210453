import { describe, expect, it } from 'vitest';
import {
  allocCountsByGroup,
  deploymentProgress,
  keepTail,
  relativeTime,
  shortId,
  summaryCounts,
  toMillis,
} from './format.js';
import type { AllocListStub } from './types.js';

const group = (o: Partial<Record<'Queued' | 'Complete' | 'Failed' | 'Running' | 'Starting' | 'Lost', number>>) => ({
  Queued: 0,
  Complete: 0,
  Failed: 0,
  Running: 0,
  Starting: 0,
  Lost: 0,
  ...o,
});

describe('the UI formatting helpers', () => {
  it('shorten UUIDs to 8 characters and leave other IDs whole', () => {
    expect(shortId('0b1c2d3e-0000-4000-8000-000000000000')).toBe('0b1c2d3e');
    expect(shortId('node-with-a-long-name')).toBe('node-with-a-long-name');
  });

  it('add up running, pending (queued and starting) and failed over the groups of a job summary', () => {
    const c = summaryCounts({
      Summary: { web: group({ Running: 2, Queued: 1 }), db: group({ Starting: 1, Failed: 3, Lost: 1 }) },
    });
    expect(c).toEqual({ groups: 2, running: 2, pending: 2, failed: 3, complete: 0, lost: 1 });
    expect(summaryCounts(null)).toEqual({ groups: 0, running: 0, pending: 0, failed: 0, complete: 0, lost: 0 });
  });

  it('count allocations per task group by client status', () => {
    const a = (TaskGroup: string, ClientStatus: string) => ({ TaskGroup, ClientStatus }) as AllocListStub;
    const m = allocCountsByGroup([
      a('web', 'running'),
      a('web', 'running'),
      a('web', 'failed'),
      a('db', 'pending'),
      a('db', 'complete'),
    ]);
    expect(m.get('web')).toEqual({ running: 2, pending: 0, failed: 1, complete: 0, lost: 0 });
    expect(m.get('db')).toEqual({ running: 0, pending: 1, failed: 0, complete: 1, lost: 0 });
  });

  it("describe a deployment group's progress as healthy of desired, canaries included", () => {
    const p = deploymentProgress({
      DesiredTotal: 3,
      PlacedAllocs: 2,
      HealthyAllocs: 1,
      UnhealthyAllocs: 0,
      DesiredCanaries: 1,
      PlacedCanaries: ['c'],
      Promoted: false,
    });
    expect(p).toEqual({ value: 1, max: 3, text: '1 healthy of 3 (2 placed, 0 unhealthy, canaries 1/1)' });
  });

  it('read nanosecond and RFC3339 times, and treat zero and Go zero times as no time', () => {
    expect(toMillis(1_700_000_000_000_000_000)).toBe(1_700_000_000_000);
    expect(toMillis('2023-11-14T22:13:20Z')).toBe(1_700_000_000_000);
    expect(toMillis(0)).toBeUndefined();
    expect(toMillis(null)).toBeUndefined();
    expect(toMillis('0001-01-01T00:00:00Z')).toBeUndefined();
  });

  it('say how long ago a time was in the largest whole unit', () => {
    const now = 1_000_000_000;
    expect(relativeTime(now - 12_000, now)).toBe('12s ago');
    expect(relativeTime(now - 3 * 60_000 - 5_000, now)).toBe('3m ago');
    expect(relativeTime(now - 5 * 3_600_000, now)).toBe('5h ago');
    expect(relativeTime(now - 2 * 86_400_000, now)).toBe('2d ago');
    expect(relativeTime(now + 4_000, now)).toBe('in 4s');
  });

  it('keep the tail of a log from a line start once it grows past the limit', () => {
    expect(keepTail('short', 10)).toEqual({ text: 'short', cut: false });
    expect(keepTail('line one\nline two\nline three\n', 16)).toEqual({ text: 'line three\n', cut: true });
    expect(keepTail('x'.repeat(30), 10)).toEqual({ text: 'x'.repeat(10), cut: true });
  });
});
