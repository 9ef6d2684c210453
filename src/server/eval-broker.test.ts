import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { build } from '../testing/builders.js';
import type { Evaluation } from '../structs/index.js';
import { EvalBroker } from './eval-broker.js';

const brokers: EvalBroker[] = [];
function broker(over: Partial<ConstructorParameters<typeof EvalBroker>[0]> = {}) {
  const failed: Evaluation[] = [];
  const cancelled: Evaluation[] = [];
  const b = new EvalBroker({
    logger: nullLogger,
    clock: { now: () => Date.now() },
    nackTimeoutMs: 60_000,
    deliveryLimit: 3,
    initialNackDelayMs: 5,
    subsequentNackDelayMs: 5,
    onFailed: (e) => failed.push(e),
    onCancel: (es) => cancelled.push(...es),
    ...over,
  });
  b.setEnabled(true);
  brokers.push(b);
  return { b, failed, cancelled };
}
afterEach(() => brokers.splice(0).forEach((b) => b.setEnabled(false)));

const ev = (job: string, over: Partial<Evaluation> = {}) => build.eval({ Job: build.job({ ID: job }), ...over });
const types = ['service', 'batch'];

describe('EvalBroker', () => {
  it('delivers the highest priority first, FIFO within a priority', async () => {
    const { b } = broker();
    b.enqueue(ev('a', { Priority: 50, CreateIndex: 1 }));
    b.enqueue(ev('b', { Priority: 90, CreateIndex: 2 }));
    b.enqueue(ev('c', { Priority: 50, CreateIndex: 3 }));
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const got = (await b.dequeue(types))!;
      order.push(got.ev.JobID);
      b.ack(got.ev.ID, got.token);
    }
    expect(order).toEqual(['b', 'a', 'c']);
  });

  it('delivers only the types a worker asks for', async () => {
    const { b } = broker();
    b.enqueue(ev('a', { Type: 'system' }));
    const ac = new AbortController();
    const p = b.dequeue(['service'], ac.signal);
    ac.abort();
    await expect(p).resolves.toBeNull();
    expect((await b.dequeue(['system']))?.ev.JobID).toBe('a');
  });

  it('wakes a waiting worker when an eval arrives', async () => {
    const { b } = broker();
    const p = b.dequeue(types);
    b.enqueue(ev('a'));
    expect((await p)?.ev.JobID).toBe('a');
  });

  it('holds a second eval of the same job until the first is acked, then runs only the newest', async () => {
    const { b, cancelled } = broker();
    const first = ev('a', { CreateIndex: 1 });
    b.enqueue(first);
    const got = (await b.dequeue(types))!;
    const older = ev('a', { CreateIndex: 2 });
    const newest = ev('a', { CreateIndex: 3 });
    b.enqueue(older);
    b.enqueue(newest);
    expect(b.stats()).toMatchObject({ ready: 0, unacked: 1, pending: 2 });
    b.ack(got.ev.ID, got.token);
    expect(cancelled.map((e) => e.ID)).toEqual([older.ID]);
    expect((await b.dequeue(types))?.ev.ID).toBe(newest.ID);
  });

  it('redelivers a nacked eval and fails it at the delivery limit', async () => {
    const { b, failed } = broker();
    const e = ev('a');
    b.enqueue(e);
    for (let i = 0; i < 3; i++) {
      const got = (await b.dequeue(types))!;
      expect(got.ev.ID).toBe(e.ID);
      b.nack(got.ev.ID, got.token);
    }
    expect(failed.map((x) => x.ID)).toEqual([e.ID]);
    expect(b.stats()).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('nacks an eval whose worker neither acks nor resets it in time', async () => {
    const { b } = broker({ nackTimeoutMs: 20 });
    b.enqueue(ev('a'));
    const first = (await b.dequeue(types))!;
    const second = (await b.dequeue(types))!;
    expect(second.ev.ID).toBe(first.ev.ID);
    expect(second.token).not.toBe(first.token);
    expect(() => b.ack(first.ev.ID, first.token)).toThrow(expect.objectContaining({ code: 'Conflict' }));
    b.ack(second.ev.ID, second.token);
  });

  it('holds an eval with WaitUntil in the future until then', async () => {
    const { b } = broker();
    b.enqueue(ev('a', { WaitUntil: new Date(Date.now() + 60).toISOString() }));
    expect(b.stats().delayed).toBe(1);
    const t0 = Date.now();
    const got = await b.dequeue(types);
    expect(got?.ev.JobID).toBe('a');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
  });

  it('drops everything and releases waiters when disabled', async () => {
    const { b } = broker();
    const p = b.dequeue(types);
    b.setEnabled(false);
    await expect(p).resolves.toBeNull();
    b.enqueue(ev('a'));
    expect(b.stats().ready).toBe(0);
  });
});
