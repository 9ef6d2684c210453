import { describe, expect, it } from 'vitest';
import { allocListStub } from '../structs/index.js';
import { build } from '../testing/builders.js';
import { upsertAllocs } from '../state/index.js';
import { cachedAllocListStub } from './read-endpoints.js';
import { testServer } from './testing/harness.js';

describe('cachedAllocListStub', () => {
  it('builds one frozen stub per stored allocation version, equal to the plain stub', () => {
    const a = build.alloc({ Job: build.job({ ID: 'web' }), NodeID: 'n1' });
    const s = cachedAllocListStub(a);
    expect(s).toEqual(allocListStub(a));
    expect(Object.isFrozen(s)).toBe(true);
    expect(cachedAllocListStub(a)).toBe(s);
    const next = { ...a, ClientStatus: 'running', ModifyIndex: a.ModifyIndex + 1 };
    expect(cachedAllocListStub(next)).not.toBe(s);
    expect(cachedAllocListStub(next).ClientStatus).toBe('running');
  });
});

describe('allocList', () => {
  it('answers requests at the same allocs index with one frozen list, and a fresh one after a write', async () => {
    const srv = await testServer();
    try {
      const job = build.job({ ID: 'web' });
      await srv.store.write((txn) =>
        upsertAllocs(txn, [build.alloc({ Job: job, NodeID: 'n1' }), build.alloc({ Job: job, NodeID: 'n1' })], 0),
      );
      const first = await srv.allocs.list({});
      const again = await srv.allocs.list({});
      expect(again.value).toBe(first.value);
      expect(Object.isFrozen(first.value)).toBe(true);
      expect(first.value).toHaveLength(2);
      await srv.store.write((txn) => upsertAllocs(txn, [build.alloc({ Job: job, NodeID: 'n1' })], 0));
      const after = await srv.allocs.list({});
      expect(after.value).not.toBe(first.value);
      expect(after.value).toHaveLength(3);
      expect((await srv.allocs.list({ prefix: first.value[0]?.ID })).value.map((a) => a.ID)).toEqual([
        first.value[0]!.ID,
      ]);
    } finally {
      await srv.stop();
    }
  });
});
