import { describe, expect, it } from 'vitest';
import { createServer } from './server.js';
import { nullLogger } from '../logging/index.js';
import type { CommittedWrite, StateStore } from '../state/index.js';
import { BUFFER_WRITES, EventBroker, eventMatches, type EventBatch, type EventFilter } from './event-broker.js';

const filter = (topics: Record<string, string[]>, namespace = 'default'): EventFilter => ({
  topics: new Map(Object.entries(topics).map(([t, k]) => [t as never, new Set(k)])),
  namespace,
});

describe('the event broker', () => {
  it('streams a variable write as an event batch without its items, and resumes from an index', async () => {
    const s = await createServer({ dataDir: ':memory:', logger: nullLogger });
    try {
      const ac = new AbortController();
      const got: EventBatch[] = [];
      const reading = (async () => {
        for await (const b of s.events.subscribe(filter({ Variable: ['*'] }), 0, ac.signal, 60_000)) {
          if (b) got.push(b);
          if (got.length === 2) ac.abort();
        }
      })();
      const w1 = await s.vars.put({ Namespace: 'default', Path: 'a/b', Items: { secret: 'x' } });
      await s.vars.put({ Namespace: 'default', Path: 'a/c', Items: { secret: 'y' } });
      await reading;
      expect(got.map((b) => b.Events[0]!.Key)).toEqual(['a/b', 'a/c']);
      expect(got[0]!.Events[0]).toMatchObject({
        Topic: 'Variable',
        Type: 'VariableUpserted',
        Namespace: 'default',
        Index: w1.index,
      });
      expect(JSON.stringify(got)).not.toContain('secret');
      // From the second write's index: only that one.
      const ac2 = new AbortController();
      const again: EventBatch[] = [];
      for await (const b of s.events.subscribe(filter({ '*': ['*'] }), got[1]!.Index, ac2.signal, 50)) {
        if (b) again.push(b);
        else ac2.abort();
      }
      expect(again.map((b) => b.Index)).toEqual([got[1]!.Index]);
    } finally {
      await s.stop();
    }
  });

  it('wakes every subscriber of one key, and the others still after one of them leaves', async () => {
    const s = await createServer({ dataDir: ':memory:', logger: nullLogger });
    try {
      const follow = (n: number) => {
        const ac = new AbortController();
        const keys: string[] = [];
        const done = (async () => {
          for await (const b of s.events.subscribe(filter({ Variable: ['k'] }), 0, ac.signal, 60_000)) {
            if (b) keys.push(...b.Events.map((e) => e.Key));
            if (keys.length === n) ac.abort();
          }
        })();
        return { ac, keys, done };
      };
      const [a, b, c] = [follow(1), follow(2), follow(2)];
      // All three wait on key "k" before the first write.
      await expect.poll(() => s.events.waiting(), { timeout: 5_000 }).toBe(3);
      await s.vars.put({ Namespace: 'default', Path: 'k', Items: { v: '1' } });
      await a.done;
      await expect.poll(() => s.events.waiting(), { timeout: 5_000 }).toBe(2);
      await s.vars.put({ Namespace: 'default', Path: 'other', Items: { v: '1' } });
      await s.vars.put({ Namespace: 'default', Path: 'k', Items: { v: '2' } });
      await Promise.all([b.done, c.done]);
      expect([a.keys, b.keys, c.keys]).toEqual([['k'], ['k', 'k'], ['k', 'k']]);
      expect(s.events.waiting()).toBe(0);
    } finally {
      await s.stop();
    }
  });

  it('holds a paused listener at its cursor and hands it what it missed on resume, in order', async () => {
    const s = await createServer({ dataDir: ':memory:', logger: nullLogger });
    try {
      const keys: string[] = [];
      let accept = true;
      const sub = s.events.listen(filter({ Variable: ['*'] }), 0, 60_000, (b) => {
        if (b) keys.push(...b.Events.map((e) => e.Key));
        return accept;
      });
      await s.vars.put({ Namespace: 'default', Path: 'p/1', Items: { v: '1' } });
      await expect.poll(() => keys, { timeout: 5_000 }).toEqual(['p/1']);
      // The sink says "no more now": the next batch is delivered, then nothing until resume().
      accept = false;
      await s.vars.put({ Namespace: 'default', Path: 'p/2', Items: { v: '1' } });
      await expect.poll(() => keys, { timeout: 5_000 }).toEqual(['p/1', 'p/2']);
      expect(s.events.waiting()).toBe(0);
      await s.vars.put({ Namespace: 'default', Path: 'p/3', Items: { v: '1' } });
      await s.vars.put({ Namespace: 'default', Path: 'p/4', Items: { v: '1' } });
      await new Promise((r) => setImmediate(r));
      expect(keys).toEqual(['p/1', 'p/2']);
      accept = true;
      sub.resume();
      await expect.poll(() => keys, { timeout: 5_000 }).toEqual(['p/1', 'p/2', 'p/3', 'p/4']);
      await expect.poll(() => s.events.waiting(), { timeout: 5_000 }).toBe(1);
      sub.close();
      expect(s.events.waiting()).toBe(0);
      await s.vars.put({ Namespace: 'default', Path: 'p/5', Items: { v: '1' } });
      await new Promise((r) => setImmediate(r));
      expect(keys).toHaveLength(4);
    } finally {
      await s.stop();
    }
  });

  it('ends only the listener whose sink throws, and still delivers to the others of the same pass', async () => {
    const s = await createServer({ dataDir: ':memory:', logger: nullLogger });
    try {
      const keys: string[] = [];
      let ended = 0;
      s.events.listen(
        filter({ Variable: ['*'] }),
        0,
        60_000,
        (b) => {
          if (b) throw new Error('a broken sink');
          return true;
        },
        () => ended++,
      );
      s.events.listen(filter({ Variable: ['*'] }), 0, 60_000, (b) => {
        if (b) keys.push(...b.Events.map((e) => e.Key));
        return true;
      });
      await s.vars.put({ Namespace: 'default', Path: 't/1', Items: { v: '1' } });
      await s.vars.put({ Namespace: 'default', Path: 't/2', Items: { v: '1' } });
      await expect.poll(() => keys, { timeout: 5_000 }).toEqual(['t/1', 't/2']);
      expect(ended).toBe(1);
      expect(s.events.waiting()).toBe(1);
    } finally {
      await s.stop();
    }
  });

  it('resumes a listener that fell behind the bounded buffer at the oldest batch still held', async () => {
    const s = await createServer({ dataDir: ':memory:', logger: nullLogger });
    try {
      const indexes: number[] = [];
      const sub = s.events.listen(filter({ Variable: ['*'] }), 0, 60_000, (b) => {
        if (b) indexes.push(b.Index);
        return false;
      });
      await s.vars.put({ Namespace: 'default', Path: 'q/first', Items: { v: '0' } });
      await expect.poll(() => indexes.length, { timeout: 5_000 }).toBe(1);
      for (let i = 0; i < BUFFER_WRITES + 10; i++)
        await s.vars.put({ Namespace: 'default', Path: `q/${i % 7}`, Items: { v: String(i) } });
      expect(indexes).toHaveLength(1);
      sub.resume();
      await expect.poll(() => indexes.length, { timeout: 5_000 }).toBe(2);
      expect(indexes[1]).toBe(s.events.oldestIndex());
      expect(indexes[1]! - indexes[0]!).toBeGreaterThan(10);
      sub.close();
      // The ring has wrapped: resuming from an index in its middle starts exactly there, in order.
      const latest = s.store.latestIndex();
      const from = latest - 5;
      const got: number[] = [];
      const mid = s.events.listen(filter({ Variable: ['*'] }), from, 60_000, (b) => {
        if (b) got.push(b.Index);
      });
      await expect.poll(() => got.length, { timeout: 5_000 }).toBe(6);
      expect(got).toEqual([from, from + 1, from + 2, from + 3, from + 4, latest]);
      mid.close();
    } finally {
      await s.stop();
    }
  });

  it('ends every listener, paused or waiting, when the server stops', async () => {
    const s = await createServer({ dataDir: ':memory:', logger: nullLogger });
    const ends: string[] = [];
    s.events.listen(
      filter({ Job: ['*'] }),
      0,
      60_000,
      () => true,
      () => ends.push('waiting'),
    );
    const paused = s.events.listen(
      filter({ Job: ['*'] }),
      0,
      60_000,
      () => true,
      () => ends.push('paused'),
    );
    paused.pause();
    await expect.poll(() => s.events.waiting(), { timeout: 5_000 }).toBe(1);
    await s.stop();
    expect(ends.sort()).toEqual(['paused', 'waiting']);
    expect(s.events.waiting()).toBe(0);
  });

  it('sends a heartbeat to a listener that waited its period without events', async () => {
    const s = await createServer({ dataDir: ':memory:', logger: nullLogger });
    try {
      let beats = 0;
      const sub = s.events.listen(filter({ Job: ['none'] }), 0, 50, (b) => {
        if (b === null) beats++;
      });
      await expect.poll(() => beats, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      sub.close();
    } finally {
      await s.stop();
    }
  });

  it('holds variables and nodes in its ring without their data or secret while nobody reads them', async () => {
    let publish: (w: CommittedWrite) => void = () => {};
    const store = {
      onCommit: (fn: (w: CommittedWrite) => void) => ((publish = fn), () => {}),
    } as unknown as StateStore;
    const broker = new EventBroker(store);
    publish({
      index: 7,
      changes: [
        {
          table: 'variables',
          key: 'default\u0000a/b',
          value: { Namespace: 'default', Path: 'a/b', Data: 'ENCRYPTED', KeyID: 'k1', ModifyIndex: 7 },
        },
        { table: 'nodes', key: 'n1', value: { ID: 'n1', Name: 'node-1', SecretID: 'NODE-SECRET' } },
      ],
    });
    // The ring is private: this looks at what it keeps alive before any subscriber turns it into events.
    const ring = JSON.stringify((broker as unknown as { ring: unknown[] }).ring);
    expect(ring).toContain('a/b');
    expect(ring).toContain('node-1');
    expect(ring).not.toContain('ENCRYPTED');
    expect(ring).not.toContain('k1');
    expect(ring).not.toContain('NODE-SECRET');
    const got: EventBatch[] = [];
    const sub = broker.listen(filter({ '*': ['*'] }), 0, 60_000, (b) => {
      if (b) got.push(b);
    });
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(1);
    expect(got[0]!.Events.map((e) => e.Payload)).toEqual([
      { Variable: { Namespace: 'default', Path: 'a/b', ModifyIndex: 7 } },
      { Node: { ID: 'n1', Name: 'node-1' } },
    ]);
    sub.close();
    broker.close();
  });

  it('matches topics by key or filter key and namespaces, with nodes in every namespace', () => {
    const ev = {
      Topic: 'Allocation' as const,
      Type: 'AllocationUpdated',
      Key: 'a1',
      Namespace: 'prod',
      FilterKeys: ['web'],
      Index: 3,
      Payload: {},
    };
    expect(eventMatches(filter({ Allocation: ['web'] }, 'prod'), ev)).toBe(true);
    expect(eventMatches(filter({ Allocation: ['a1'] }, '*'), ev)).toBe(true);
    expect(eventMatches(filter({ Allocation: ['api'] }, 'prod'), ev)).toBe(false);
    expect(eventMatches(filter({ Allocation: ['*'] }, 'default'), ev)).toBe(false);
    expect(eventMatches(filter({ Job: ['*'] }, 'prod'), ev)).toBe(false);
    expect(eventMatches(filter({ Node: ['*'] }, 'other'), { ...ev, Topic: 'Node', Namespace: '' })).toBe(true);
  });
});
