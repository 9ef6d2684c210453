import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { HeartbeatTimers } from './heartbeats.js';

describe('heartbeat timers after a leader failover', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('marks no node down before the failover TTL, and a silent node once it passes', () => {
    const expired: string[] = [];
    const hb = new HeartbeatTimers({ minTTLms: 2000, maxHeartbeatsPerSecond: 50, gracems: 1000 }, nullLogger, (id) =>
      expired.push(id),
    );
    hb.setEnabled(true);
    hb.initialize(['a', 'b'], 30_000);
    vi.advanceTimersByTime(10_000);
    expect(expired).toEqual([]);
    hb.reset('a', 2); // a found the new leader: back to the normal TTL + grace
    vi.advanceTimersByTime(3_100);
    expect(expired).toEqual(['a']);
    vi.advanceTimersByTime(17_000);
    expect(expired).toEqual(['a', 'b']);
  });

  it('keeps the normal TTL + grace after a plain restart', () => {
    const expired: string[] = [];
    const hb = new HeartbeatTimers({ minTTLms: 2000, maxHeartbeatsPerSecond: 50, gracems: 1000 }, nullLogger, (id) =>
      expired.push(id),
    );
    hb.setEnabled(true);
    hb.initialize(['a']);
    vi.advanceTimersByTime(3_100);
    expect(expired).toEqual(['a']);
  });
});
