import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BackendBatch } from '../backend.js';
import { decodeBatches, decodeSnapshot, encodeBatches, encodeSnapshot } from './codec.js';

/** Rows in the large batch: about 1.5 MiB compressed (20,000 gave 1.01 MiB, too close to the 1 MiB asserted). */
const ROWS = 30_000;
const job = { ID: 'web', TaskGroups: [{ Name: 'g', Count: ROWS }] };
const alloc = (i: number) => ({ ID: randomUUID(), NodeID: randomUUID(), Name: `web.g[${i}]`, JobID: 'web', Job: job });

describe('etcd codec', () => {
  it('round-trips a batch far larger than one zlib output chunk', async () => {
    const batch: BackendBatch = {
      index: 7,
      tableIndexes: { allocs: 7 },
      changes: Array.from({ length: ROWS }, (_, i) => ({ table: 'allocs' as const, key: `a${i}`, value: alloc(i) })),
    };
    const data = await encodeBatches([batch]);
    const [back] = await decodeBatches(data);
    expect(back?.index).toBe(7);
    expect(back?.changes).toHaveLength(ROWS);
    expect(back?.changes[ROWS - 1]).toEqual(batch.changes[ROWS - 1]);
    expect(data.length).toBeGreaterThan(1024 * 1024); // more than one output chunk of the largest size
  });

  it('round-trips a tiny batch and a delete', async () => {
    const batch: BackendBatch = {
      index: 1,
      tableIndexes: { nodes: 1 },
      changes: [
        { table: 'nodes', key: 'n1', value: { ID: 'n1', Status: 'ready' } },
        { table: 'nodes', key: 'n2', value: null },
      ],
    };
    expect(await decodeBatches(await encodeBatches([batch]))).toEqual([batch]);
  });

  it('round-trips a snapshot', async () => {
    const rows: [BackendBatch['changes'][number]['table'], string, unknown][] = [
      ['allocs', 'a1', alloc(1)],
      ['variables', 'v', { Path: 'v', Items: { x: 'é→' } }],
    ];
    const back = await decodeSnapshot(await encodeSnapshot({ index: 3, tableIndexes: { allocs: 3 }, rows }));
    expect(back).toEqual({ index: 3, tableIndexes: { allocs: 3 }, rows });
  });
});
