import { describe, expect, it } from 'vitest';
import { ResponseDeadlines } from './proxy.js';

const waiter = () => {
  const w = { deadline: 0, expired: 0, expire: () => void w.expired++ };
  return w;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('response deadlines', () => {
  it('expires an exchange that is still waiting after the timeout, once', async () => {
    const d = new ResponseDeadlines(20);
    const w = waiter();
    d.arm(w);
    await sleep(60);
    expect(w.expired).toBe(1);
  });

  it('leaves alone an exchange that was answered, and restarts the wait of a retried one', async () => {
    const d = new ResponseDeadlines(40);
    const answered = waiter();
    const retried = waiter();
    d.arm(answered);
    d.arm(retried);
    await sleep(20);
    d.disarm(answered);
    d.arm(retried);
    await sleep(30);
    expect(answered.expired).toBe(0);
    expect(retried.expired).toBe(0);
    await sleep(60);
    expect(retried.expired).toBe(1);
  });

  it('arms nothing when the timeout is off', async () => {
    const d = new ResponseDeadlines(0);
    const w = waiter();
    d.arm(w);
    await sleep(20);
    expect(w.expired).toBe(0);
  });
});
