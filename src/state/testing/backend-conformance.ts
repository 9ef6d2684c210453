/**
 * The conformance suite every StateBackend must pass (SQLite now, etcd later). A harness opens the
 * same storage location as many times as asked, so reopening is how durability is observed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { StateBackend } from '../backend.js';
import type { TableName } from '../schema.js';

export interface BackendHarness {
  /** Opens (or reopens) the backend over this harness's storage. */
  open(): StateBackend;
  /** Removes the storage. */
  dispose(): Promise<void>;
}

async function loadAll(
  b: StateBackend,
): Promise<{ rows: Map<string, unknown>; index: number; tableIndexes: Partial<Record<TableName, number>> }> {
  const rows = new Map<string, unknown>();
  const meta = await b.load((t, k, v) => rows.set(`${t}/${k}`, v));
  return { rows, ...meta };
}

const job = (id: string, modifyIndex: number) => ({
  Namespace: 'default',
  ID: id,
  ModifyIndex: modifyIndex,
  TaskGroups: [],
});

export function describeBackendConformance(name: string, makeHarness: () => Promise<BackendHarness>): void {
  describe(`StateBackend conformance: ${name}`, () => {
    let harness: BackendHarness | undefined;
    const open: StateBackend[] = [];
    const start = async () => {
      harness = await makeHarness();
      return () => {
        const b = harness!.open();
        open.push(b);
        return b;
      };
    };
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close();
      await harness?.dispose();
    });

    it('loads nothing and index 0 from empty storage', async () => {
      const b = (await start())();
      const got = await loadAll(b);
      expect(got.rows.size).toBe(0);
      expect(got.index).toBe(0);
    });

    it('returns every applied row and the indexes after a reopen', async () => {
      const openB = await start();
      const b = openB();
      await b.apply({
        index: 1,
        tableIndexes: { jobs: 1 },
        changes: [{ table: 'jobs', key: 'default\u0000a', value: job('a', 1) }],
      });
      await b.apply({
        index: 2,
        tableIndexes: { nodes: 2 },
        changes: [{ table: 'nodes', key: 'n1', value: { ID: 'n1', Name: 'one' } }],
      });
      await b.close();
      const got = await loadAll(openB());
      expect(got.index).toBe(2);
      expect(got.tableIndexes).toMatchObject({ jobs: 1, nodes: 2 });
      expect(got.rows.get('jobs/default\u0000a')).toEqual(job('a', 1));
      expect(got.rows.get('nodes/n1')).toEqual({ ID: 'n1', Name: 'one' });
    });

    it('forgets deleted rows and keeps the last write of a key', async () => {
      const openB = await start();
      const b = openB();
      await b.apply({
        index: 1,
        tableIndexes: { nodes: 1 },
        changes: [
          { table: 'nodes', key: 'n1', value: { ID: 'n1', Name: 'first' } },
          { table: 'nodes', key: 'n2', value: { ID: 'n2' } },
        ],
      });
      await b.apply({
        index: 2,
        tableIndexes: { nodes: 2 },
        changes: [
          { table: 'nodes', key: 'n1', value: { ID: 'n1', Name: 'second' } },
          { table: 'nodes', key: 'n2', value: null },
        ],
      });
      await b.close();
      const got = await loadAll(openB());
      expect([...got.rows.keys()]).toEqual(['nodes/n1']);
      expect(got.rows.get('nodes/n1')).toEqual({ ID: 'n1', Name: 'second' });
    });

    it('round-trips allocations with their denormalised job, sharing one job object per version', async () => {
      const openB = await start();
      const b = openB();
      const j = job('web', 5);
      const alloc = (id: string) => ({
        ID: id,
        Namespace: 'default',
        JobID: 'web',
        Job: j,
        NodeID: 'n1',
        EvalID: 'e1',
        DeploymentID: '',
      });
      await b.apply({
        index: 5,
        tableIndexes: { allocs: 5 },
        changes: [alloc('a1'), alloc('a2')].map((v) => ({ table: 'allocs' as const, key: v.ID, value: v })),
      });
      await b.close();
      const got = await loadAll(openB());
      const a1 = got.rows.get('allocs/a1') as { Job: unknown };
      const a2 = got.rows.get('allocs/a2') as { Job: unknown };
      expect(a1).toEqual(alloc('a1'));
      expect(a2.Job).toEqual(j);
    });

    it('keeps every table index it was given, not only the latest batch', async () => {
      const openB = await start();
      const b = openB();
      await b.apply({
        index: 3,
        tableIndexes: { jobs: 3, evals: 3 },
        changes: [{ table: 'evals', key: 'e', value: { ID: 'e' } }],
      });
      await b.apply({
        index: 4,
        tableIndexes: { evals: 4 },
        changes: [{ table: 'evals', key: 'e', value: { ID: 'e', Status: 'complete' } }],
      });
      await b.close();
      const got = await loadAll(openB());
      expect(got.tableIndexes.jobs).toBe(3);
      expect(got.tableIndexes.evals).toBe(4);
    });

    // The KV table's keys are the users' own strings (Consul keys): slashes, a trailing slash, spaces, percent
    // signs and non-ASCII must come back byte for byte, and deleting one key must not touch its prefix twin.
    it('round-trips KV entries under any key a user may choose, and deletes exactly the key named', async () => {
      const openB = await start();
      const b = openB();
      const keys = ['msg1', 'app/db/', 'app/db/pass', 'with space/%2F/ünï', 'app/db/pass2'];
      const entry = (k: string, i: number) => ({
        LockIndex: 0,
        Key: k,
        Flags: i,
        Value: Buffer.from(`value of ${k}`).toString('base64'),
        CreateIndex: 1,
        ModifyIndex: 1,
      });
      await b.apply({
        index: 1,
        tableIndexes: { kv: 1 },
        changes: keys.map((k, i) => ({ table: 'kv' as const, key: k, value: entry(k, i) })),
      });
      await b.apply({ index: 2, tableIndexes: { kv: 2 }, changes: [{ table: 'kv', key: 'app/db/pass', value: null }] });
      await b.close();
      const got = await loadAll(openB());
      expect(got.tableIndexes.kv).toBe(2);
      const kv = [...got.rows.keys()].filter((k) => k.startsWith('kv/')).sort();
      expect(kv).toEqual(['kv/app/db/', 'kv/app/db/pass2', 'kv/msg1', 'kv/with space/%2F/ünï']);
      expect(got.rows.get('kv/with space/%2F/ünï')).toEqual(entry('with space/%2F/ünï', 3));
    });
  });
}
