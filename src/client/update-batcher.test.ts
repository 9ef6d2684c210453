import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import type { AllocClientUpdate, ServerRPC } from './rpc.js';
import { UpdateBatcher } from './update-batcher.js';

const update = (id: string, status: string): AllocClientUpdate => ({
  ID: id,
  ClientStatus: status,
  ClientDescription: '',
  TaskStates: {},
});

describe('UpdateBatcher', () => {
  it('builds a lazily pushed update once, when the batch is sent, from the state then', async () => {
    const sent: AllocClientUpdate[][] = [];
    let fail = false;
    const rpc = {
      updateAllocs: async (u: AllocClientUpdate[]) => {
        if (fail) throw new Error('server away');
        sent.push(u);
      },
    } as unknown as ServerRPC;
    const b = new UpdateBatcher(rpc, 60_000, Date.now, nullLogger);
    let status = 'pending';
    let built = 0;
    const make = () => {
      built++;
      return update('a1', status);
    };
    // The first change goes out at once (next timer turn); the window holds the later ones until close().
    b.pushLazy('a1', make);
    status = 'running';
    await new Promise((r) => setTimeout(r, 10));
    expect(sent).toEqual([[update('a1', 'running')]]);
    expect(built).toBe(1);
    for (const s of ['complete', 'failed']) {
      status = s;
      b.pushLazy('a1', make);
    }
    b.push(update('a2', 'running'));
    expect(b.has('a1')).toBe(true);
    expect(built).toBe(1);
    fail = true;
    await b.close();
    expect(built).toBe(2);
    // A failed send keeps the update it built for the next attempt.
    expect(b.has('a1')).toBe(true);
    fail = false;
    await b.close();
    expect(sent[1]).toEqual([update('a1', 'failed'), update('a2', 'running')]);
    expect(built).toBe(2);
  });
});
