import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { MemoryBackend } from './backend.js';
import { upsertAllocs } from './alloc-ops.js';
import { StateStore } from './store.js';
import { build } from '../testing/builders.js';

const open = () => StateStore.open({ backend: new MemoryBackend(), logger: nullLogger });

describe('upsertAllocs and the chain of replacements', () => {
  it('points the replaced allocation at its replacement, also when the plan stops it in the same write', async () => {
    const s = await open();
    const job = build.job({ ID: 'web' });
    const old = build.alloc({ Job: job, NodeID: 'n1' });
    await s.write((tx) => upsertAllocs(tx, [old], 0));
    const replacement = build.alloc({ Job: job, NodeID: 'n2', PreviousAllocation: old.ID });
    // The plan carries its own copy of the stopped allocation (NextAllocation unset), written after the replacement.
    const stopped = { ...old, DesiredStatus: 'stop', DesiredDescription: 'alloc is being migrated' };
    const { index } = await s.write((tx) => upsertAllocs(tx, [replacement, stopped], 0));
    const after = s.snapshot().allocByID(old.ID)!;
    expect(after.NextAllocation).toBe(replacement.ID);
    expect(after.DesiredStatus).toBe('stop');
    expect(after.ModifyIndex).toBe(index);
    expect(s.snapshot().allocByID(replacement.ID)!.PreviousAllocation).toBe(old.ID);
  });

  it('leaves NextAllocation empty for an allocation nobody replaced', async () => {
    const s = await open();
    const a = build.alloc({ Job: build.job({ ID: 'web' }), NodeID: 'n1' });
    await s.write((tx) => upsertAllocs(tx, [a], 0));
    await s.write((tx) => upsertAllocs(tx, [{ ...a, DesiredStatus: 'stop' }], 0));
    expect(s.snapshot().allocByID(a.ID)!.NextAllocation).toBe('');
  });
});
