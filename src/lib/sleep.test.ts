import { describe, expect, it } from 'vitest';
import { sleep, sleepOrAborted } from './sleep.js';

describe('sleep', () => {
  it('resolves after the time, with or without a signal', async () => {
    const t0 = performance.now();
    await sleep(20);
    await sleep(20, new AbortController().signal);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
  });

  it("rejects with the signal's own reason when aborted, before or during the wait", async () => {
    const reason = new Error('stopping');
    await expect(sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
  });
});

describe('sleepOrAborted', () => {
  it('resolves early, without an error, when the signal aborts', async () => {
    const ac = new AbortController();
    const p = sleepOrAborted(60_000, ac.signal);
    ac.abort(new Error('stopping'));
    await expect(p).resolves.toBeUndefined();
    await expect(sleepOrAborted(60_000, AbortSignal.abort())).resolves.toBeUndefined();
  });
});
