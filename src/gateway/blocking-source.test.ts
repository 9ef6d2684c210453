import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { BlockingQuerySource, registrationToInstance, type BlockingAnswer } from './blocking-source.js';
import { instance, reg } from './test-support.js';

describe('BlockingQuerySource', () => {
  it('yields each new index once, passing the last index back to the query, and retries failures', async () => {
    const answers: (BlockingAnswer | Error)[] = [
      { index: 5, instances: [instance('a', 1, [])] },
      { index: 5, instances: [instance('a', 1, [])] }, // wait ended, nothing new
      new Error('catalog unavailable'),
      { index: 7, instances: [instance('a', 1, []), instance('b', 2, [])] },
    ];
    const asked: number[] = [];
    const ac = new AbortController();
    const source = new BlockingQuerySource(
      async (minIndex) => {
        asked.push(minIndex);
        const next = answers.shift();
        if (next === undefined) {
          ac.abort();
          return { index: minIndex, instances: [] };
        }
        if (next instanceof Error) throw next;
        return next;
      },
      nullLogger,
      { minMs: 1, maxMs: 2 },
    );
    const sets: string[][] = [];
    for await (const set of source.watch(ac.signal)) sets.push(set.map((i) => i.ID));
    expect(sets).toEqual([['a'], ['a', 'b']]);
    expect(asked).toEqual([0, 5, 5, 5, 7]);
  });

  it('maps catalog rows to gateway instances, healthy only when passing or without checks', () => {
    expect(registrationToInstance(reg('x', 'web', 80, ['urlprefix-/']))).toEqual({
      ID: 'x',
      ServiceName: 'web',
      Address: '127.0.0.1',
      Port: 80,
      Tags: ['urlprefix-/'],
      AllocID: 'alloc-x',
      NodeID: 'node-1',
      Healthy: true,
    });
    expect(registrationToInstance({ ...reg('x', 'web', 80, []), Status: 'warning' }).Healthy).toBe(false);
    expect(registrationToInstance({ ...reg('x', 'web', 80, []), Status: 'passing' }).Healthy).toBe(true);
  });
});
