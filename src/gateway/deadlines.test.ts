import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { performance } from 'node:perf_hooks';
import { ResponseDeadlines } from './proxy.js';

const waiter = () => {
  const w = { deadline: 0, expired: 0, expire: () => void w.expired++ };
  return w;
};
// Fake timers (setInterval, and performance.now through Date): the sweep runs exactly when the test says time has passed.
const elapse = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe('response deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    // proxy.ts holds node:perf_hooks' performance, which fake timers do not replace: its clock follows the fake Date.
    vi.spyOn(performance, 'now').mockImplementation(() => Date.now());
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('expires an exchange that is still waiting after the timeout, once', async () => {
    const d = new ResponseDeadlines(20);
    const w = waiter();
    d.arm(w);
    await elapse(60);
    expect(w.expired).toBe(1);
  });

  it('leaves alone an exchange that was answered, and restarts the wait of a retried one', async () => {
    const d = new ResponseDeadlines(40);
    const answered = waiter();
    const retried = waiter();
    d.arm(answered);
    d.arm(retried);
    await elapse(20);
    d.disarm(answered);
    d.arm(retried);
    await elapse(30);
    expect(answered.expired).toBe(0);
    expect(retried.expired).toBe(0);
    await elapse(60);
    expect(retried.expired).toBe(1);
  });

  it('arms nothing when the timeout is off', async () => {
    const d = new ResponseDeadlines(0);
    const w = waiter();
    d.arm(w);
    await elapse(20);
    expect(w.expired).toBe(0);
  });
});
