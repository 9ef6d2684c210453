import { randomUUID } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
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

  it('round-trips a snapshot, each job written once however many allocations carry it', async () => {
    const other = { ID: 'api', TaskGroups: [] };
    const rows: [BackendBatch['changes'][number]['table'], string, unknown][] = [
      ['allocs', 'a1', alloc(1)],
      ['variables', 'v', { Path: 'v', Items: { x: 'é→\n"' } }],
      ['allocs', 'a2', alloc(2)],
      ['allocs', 'a3', { ...alloc(3), JobID: 'api', Job: other }],
    ];
    const data = await encodeSnapshot({ index: 3, tableIndexes: { allocs: 3 }, rows });
    const text = inflateRawSync(data).toString('utf8');
    expect(text.split('"TaskGroups"').length - 1).toBe(2); // two jobs, three allocations
    const back: unknown[] = [];
    const meta = await decodeSnapshot(data, (r) => back.push(r));
    expect(meta).toEqual({ index: 3, tableIndexes: { allocs: 3 } });
    expect(back).toEqual(rows);
  });

  it('reads a snapshot in the single-document format earlier versions wrote', async () => {
    const doc = {
      v: 1,
      jobs: [job],
      snapshot: { index: 9, tableIndexes: { allocs: 9 }, rows: [['allocs', 'a1', { ID: 'a1', Job: { $job: 0 } }]] },
    };
    const back: unknown[] = [];
    const meta = await decodeSnapshot(deflateRawSync(JSON.stringify(doc)), (r) => back.push(r));
    expect(meta).toEqual({ index: 9, tableIndexes: { allocs: 9 } });
    expect(back).toEqual([['allocs', 'a1', { ID: 'a1', Job: job }]]);
  });

  it('refuses a snapshot cut short or with an unknown format, naming the problem', async () => {
    const lines = (...l: unknown[]) => deflateRawSync(l.map((x) => JSON.stringify(x)).join('\n'));
    const head = { v: 2, index: 1, tableIndexes: {} };
    await expect(decodeSnapshot(lines(head, ['nodes', 'n1', {}]), () => {})).rejects.toThrow(/cut short/);
    await expect(decodeSnapshot(lines(head, ['nodes', 'n1', {}], ['$end', 2]), () => {})).rejects.toThrow(
      /ends after 1 rows, its trailer says 2/,
    );
    await expect(decodeSnapshot(lines({ v: 3 }), () => {})).rejects.toThrow(/unknown etcd snapshot format 3/);
  });

  it('streams a snapshot whose JSON is larger than the largest string V8 can hold', async () => {
    // 520 rows of 1 MiB: about 545 MB of JSON, past V8's limit of about 536.9 million characters, which a
    // snapshot built as one document (format 1) hit at about a million allocations.
    const big = 'x'.repeat(1024 * 1024);
    const n = 520;
    function* rows(): Generator<[BackendBatch['changes'][number]['table'], string, unknown]> {
      for (let i = 0; i < n; i++) yield ['variables', `v${i}`, { Path: `v${i}`, Items: { big } }];
    }
    const data = await encodeSnapshot({ index: 5, tableIndexes: { variables: 5 }, rows: rows() });
    let seen = 0;
    const meta = await decodeSnapshot(data, ([table, key, value]) => {
      const items = (value as { Items: { big: string } }).Items;
      if (table === 'variables' && key === `v${seen}` && items.big.length === big.length) seen++;
    });
    expect(meta.index).toBe(5);
    expect(seen).toBe(n);
  }, 120_000);
});
