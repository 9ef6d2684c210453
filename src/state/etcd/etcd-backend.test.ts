import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDroverError } from '../../errors/index.js';
import type { BackendBatch } from '../backend.js';
import { describeBackendConformance } from '../testing/backend-conformance.js';
import { startEtcd, type TestEtcd } from '../testing/etcd-server.js';
import { EtcdBackend, type EtcdBackendOptions } from './etcd-backend.js';
import { EtcdClient, prefixEnd } from './etcd-client.js';
import { StateStore } from '../store.js';
import { memoryLogger, nullLogger, type MemoryLogLine } from '../../logging/index.js';
import { build } from '../../testing/builders.js';

let etcd: TestEtcd;
let prefixes = 0;
const freshPrefix = () => `/drover-test/${process.pid}-${++prefixes}/`;

beforeAll(async () => {
  etcd = await startEtcd();
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

describeBackendConformance('etcd', async () => {
  const prefix = freshPrefix();
  return {
    open: () => new EtcdBackend({ endpoints: etcd.endpoints, prefix }),
    dispose: async () => {},
  };
});

async function reload(
  opts: EtcdBackendOptions,
): Promise<{ rows: Map<string, unknown>; index: number; backend: EtcdBackend }> {
  const backend = new EtcdBackend(opts);
  const rows = new Map<string, unknown>();
  const meta = await backend.load((t, k, v) => rows.set(`${t}/${k}`, v));
  return { rows, index: meta.index, backend };
}

/** A backend on a fresh prefix whose log lines the test reads, loaded and ready for writes. */
async function loggedBackend(
  opts: Partial<EtcdBackendOptions>,
): Promise<{ b: EtcdBackend; lines: MemoryLogLine[]; prefix: string }> {
  const prefix = freshPrefix();
  const lines: MemoryLogLine[] = [];
  const b = new EtcdBackend({ endpoints: etcd.endpoints, prefix, logger: memoryLogger(lines), ...opts });
  await b.load(() => {});
  return { b, lines, prefix };
}

/** Waits until `done()` holds, up to 30 s (the assertion after it says what was missing). */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

async function keysUnder(prefix: string): Promise<string[]> {
  const client = new EtcdClient({ endpoints: etcd.endpoints });
  const p = Buffer.from(prefix);
  const r = await client.range(p, { rangeEnd: prefixEnd(p), keysOnly: true });
  return r.kvs.map((kv) => kv.key.toString('utf8').slice(prefix.length));
}

describe('EtcdBackend', () => {
  it('acknowledges 200 concurrent store writes, committed in groups, and reloads every one of them', async () => {
    const prefix = freshPrefix();
    const store = await StateStore.open({
      backend: new EtcdBackend({ endpoints: etcd.endpoints, prefix }),
      logger: nullLogger,
    });
    const writes = Array.from({ length: 200 }, (_, i) =>
      store.write((tx) => tx.put('nodes', build.node({ ID: `n${i}` }))),
    );
    const acked = await Promise.all(writes);
    expect(acked.map((w) => w.index)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await store.close();
    expect((await keysUnder(prefix)).filter((k) => k.startsWith('log/')).length).toBeLessThan(200);
    const again = await StateStore.open({
      backend: new EtcdBackend({ endpoints: etcd.endpoints, prefix }),
      logger: nullLogger,
    });
    expect(again.latestIndex()).toBe(200);
    expect([...again.snapshot().nodes()].length).toBe(200);
    await again.close();
  });

  it('stores a plan of 1,000 allocations larger than one etcd request atomically and reads it back', async () => {
    const prefix = freshPrefix();
    // Random meta defeats compression, so the entry needs several chunks even at 1 MiB each.
    const job = {
      Namespace: 'default',
      ID: 'big',
      ModifyIndex: 1,
      Meta: { blob: randomBytes(2048).toString('base64') },
    };
    const changes: BackendBatch['changes'] = [];
    for (let i = 0; i < 1000; i++)
      changes.push({
        table: 'allocs',
        key: `a${i}`,
        value: { ID: `a${i}`, Job: job, Noise: randomBytes(1500).toString('base64') },
      });
    const b = new EtcdBackend({ endpoints: etcd.endpoints, prefix });
    await b.load(() => {});
    await b.apply({ index: 1, tableIndexes: { allocs: 1 }, changes });
    await b.close();
    const pieces = (await keysUnder(prefix)).filter((k) => k.startsWith('chunk/'));
    expect(pieces.length).toBeGreaterThan(1);
    // A piece left by an earlier failed attempt at the same entry (a longer one) is not part of it.
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    await client.put(
      Buffer.from(`${prefix}chunk/${'1'.padStart(16, '0')}/${String(pieces.length).padStart(6, '0')}`),
      randomBytes(64),
    );
    const got = await reload({ endpoints: etcd.endpoints, prefix });
    await got.backend.close();
    expect(got.index).toBe(1);
    expect(got.rows.size).toBe(1000);
    expect(got.rows.get('allocs/a999')).toEqual(changes[999]!.value);
  });

  it('snapshots every few entries, deletes the log the snapshot covers, and reloads the same rows', async () => {
    const { b, lines, prefix } = await loggedBackend({ snapshotEveryEntries: 3 });
    for (let i = 1; i <= 10; i++) {
      await b.apply({
        index: i,
        tableIndexes: { nodes: i },
        changes: [{ table: 'nodes', key: `n${i % 4}`, value: { ID: `n${i % 4}`, Seen: i } }],
      });
    }
    // Snapshots are made beside the writes: wait for the one entry 9 made due before closing.
    await until(() => lines.some((l) => l.msg === 'etcd snapshot written' && Number(l.fields.index) >= 9));
    await b.close();
    const keys = await keysUnder(prefix);
    expect(keys.filter((k) => k.startsWith('log/')).length).toBeLessThan(3);
    expect(keys).toContain('snap');
    const got = await reload({ endpoints: etcd.endpoints, prefix });
    await got.backend.close();
    expect(got.index).toBe(10);
    expect(Object.fromEntries(got.rows)).toEqual({
      'nodes/n0': { ID: 'n0', Seen: 8 },
      'nodes/n1': { ID: 'n1', Seen: 9 },
      'nodes/n2': { ID: 'n2', Seen: 10 },
      'nodes/n3': { ID: 'n3', Seen: 7 },
    });
    // A damaged snapshot is refused at load as corrupt state, naming the snapshot.
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    const piece = keys.find((k) => k.startsWith('snapdata/'))!;
    await client.put(Buffer.from(prefix + piece), randomBytes(200));
    const err = await reload({ endpoints: etcd.endpoints, prefix }).catch((e: unknown) => e);
    expect(isDroverError(err, 'StateCorrupt')).toBe(true);
    expect((err as Error).message).toMatch(
      /etcd snapshot at index 9 \(.*snapdata\/0+9-[0-9a-f]{8}\/, 1 chunks\) cannot be read/,
    );
  });

  it('keeps acknowledging writes while a snapshot of a large state is encoded, and reloads every row', async () => {
    const { b, lines, prefix } = await loggedBackend({ snapshotEveryEntries: 2 });
    // About 12 MB of rows: encoding them takes many steps, each of which lets the writes go on.
    const rows = Array.from({ length: 40_000 }, (_, i) => ({
      table: 'nodes' as const,
      key: `n${i}`,
      value: { ID: `n${i}`, Attributes: { i, noise: randomBytes(96).toString('base64') } },
    }));
    await b.apply({ index: 1, tableIndexes: { nodes: 1 }, changes: rows });
    await b.apply({
      index: 2,
      tableIndexes: { nodes: 2 },
      changes: [{ table: 'nodes', key: 'm2', value: { ID: 'm2' } }],
    });
    // The second entry made a snapshot due: this write is acknowledged before that snapshot is written.
    await b.apply({
      index: 3,
      tableIndexes: { nodes: 3 },
      changes: [{ table: 'nodes', key: 'm3', value: { ID: 'm3' } }],
    });
    expect(lines.filter((l) => l.msg === 'etcd snapshot written')).toEqual([]);
    await until(() => lines.some((l) => l.msg === 'etcd snapshot written'));
    expect(lines.find((l) => l.msg === 'etcd snapshot written')?.fields).toMatchObject({ index: 2 });
    await b.apply({
      index: 4,
      tableIndexes: { nodes: 4 },
      changes: [{ table: 'nodes', key: 'm4', value: { ID: 'm4' } }],
    });
    await b.close();
    const got = await reload({ endpoints: etcd.endpoints, prefix });
    await got.backend.close();
    expect(got.index).toBe(4);
    expect(got.rows.size).toBe(40_003);
    expect(got.rows.get('nodes/n39999')).toEqual(rows[39_999]!.value);
    expect(got.rows.get('nodes/m3')).toEqual({ ID: 'm3' });
  }, 60_000);

  it('tries a failed snapshot again after a delay, not after every entry, and keeps the log meanwhile', async () => {
    // The retry delay runs on a clock of the test's own: no wall time is judged.
    let clock = 1_000_000;
    const { b, lines, prefix } = await loggedBackend({
      snapshotEveryEntries: 2,
      snapshotRetryMs: 2_000,
      now: () => clock,
    });
    // A row that encodes once (its log entry), fails twice (the first snapshot and its retry), then encodes again.
    let encodings = 0;
    const flaky = {
      toJSON() {
        encodings++;
        if (encodings === 2 || encodings === 3) throw new Error(`row refused to encode (${encodings})`);
        return { ID: 'flaky' };
      },
    };
    let index = 0;
    const write = (value: unknown = { ID: `n${index + 1}` }) =>
      b.apply({
        index: ++index,
        tableIndexes: { nodes: index },
        changes: [{ table: 'nodes', key: `n${index}`, value }],
      });
    const failures = () => lines.filter((l) => l.msg === 'etcd snapshot failed; trying again later');
    const written = () => lines.filter((l) => l.msg === 'etcd snapshot written');
    await write(flaky);
    await write();
    await until(() => failures().length > 0);
    expect(failures()[0]?.fields).toMatchObject({ error: 'row refused to encode (2)', retryInMs: 2_000 });
    // Entries written within the delay do not try again (the snapshot is still due: the log keeps growing).
    for (let i = 0; i < 4; i++) await write();
    clock += 1_999;
    await write();
    expect(failures()).toHaveLength(1);
    expect(written()).toHaveLength(0);
    // Once the delay is over, the next entry tries again: it fails too, and the delay doubles.
    clock += 1;
    await write();
    await until(() => failures().length > 1);
    clock += 3_999;
    await write();
    expect(written()).toHaveLength(0);
    clock += 1;
    await write();
    await until(() => written().length > 0);
    expect(written()).toHaveLength(1);
    // The retry failed too, and the delay doubled before the third try.
    expect(failures().map((l) => l.fields)).toMatchObject([
      { retryInMs: 2_000 },
      { error: 'row refused to encode (3)', retryInMs: 4_000 },
    ]);
    await b.close();
    const got = await reload({ endpoints: etcd.endpoints, prefix });
    await got.backend.close();
    expect(got.index).toBe(index);
    expect(got.rows.get('nodes/n1')).toEqual({ ID: 'flaky' });
  }, 60_000);

  it("keeps a follower's read-only replica current from the leader's writes, waking its blocking queries", async () => {
    const prefix = freshPrefix();
    const leader = await StateStore.open({
      backend: new EtcdBackend({ endpoints: etcd.endpoints, prefix, snapshotEveryEntries: 4 }),
      logger: nullLogger,
    });
    await leader.write((tx) => tx.put('nodes', build.node({ ID: 'before' })));
    const followerBackend = new EtcdBackend({ endpoints: etcd.endpoints, prefix });
    const replica = await StateStore.open({ backend: followerBackend, logger: nullLogger });
    replica.makeReplica(() => new Error('not the leader'));
    expect(replica.snapshot().nodeByID('before')).toBeDefined();
    const stop = new AbortController();
    let current = 0;
    const following = followerBackend.follow(
      (b) => replica.replicate(b),
      () => current++,
      stop.signal,
      50,
    );
    try {
      const woken = replica.waitForIndex(['nodes'], replica.latestIndex(), 10_000);
      // Ten writes cross two snapshots (and the compaction after the second): the watch keeps up with them.
      for (let i = 0; i < 10; i++) await leader.write((tx) => tx.put('nodes', build.node({ ID: `n${i}` })));
      expect(await woken).toBeGreaterThan(1);
      await expect.poll(() => replica.latestIndex(), { timeout: 10_000 }).toBe(leader.latestIndex());
      expect([...replica.snapshot().nodes()].map((n) => n.ID).sort()).toEqual(
        [...leader.snapshot().nodes()].map((n) => n.ID).sort(),
      );
      expect(current).toBeGreaterThan(0);
      await expect(replica.write((tx) => tx.put('nodes', build.node({ ID: 'x' })))).rejects.toThrow('not the leader');
    } finally {
      stop.abort();
      await following;
      await replica.close();
      await leader.close();
    }
  });

  it('refuses a write from a server whose view is stale, and every write after it, keeping the other writer’s data', async () => {
    const prefix = freshPrefix();
    const a = new EtcdBackend({ endpoints: etcd.endpoints, prefix });
    const b = new EtcdBackend({ endpoints: etcd.endpoints, prefix });
    await a.load(() => {});
    await b.load(() => {});
    await a.apply({
      index: 1,
      tableIndexes: { nodes: 1 },
      changes: [{ table: 'nodes', key: 'n1', value: { ID: 'n1', By: 'a' } }],
    });
    const stale = b.apply({
      index: 1,
      tableIndexes: { nodes: 1 },
      changes: [{ table: 'nodes', key: 'n1', value: { ID: 'n1', By: 'b' } }],
    });
    await expect(stale).rejects.toSatisfy((e: unknown) => isDroverError(e, 'NotLeader'));
    await expect(b.apply({ index: 2, tableIndexes: {}, changes: [] })).rejects.toSatisfy((e: unknown) =>
      isDroverError(e, 'NotLeader'),
    );
    await a.close();
    await b.close();
    const got = await reload({ endpoints: etcd.endpoints, prefix });
    await got.backend.close();
    expect(got.rows.get('nodes/n1')).toEqual({ ID: 'n1', By: 'a' });
  });

  it('refuses writes once its guard no longer holds (a deposed leader is fenced by etcd)', async () => {
    const prefix = freshPrefix();
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    const leaderKey = Buffer.from(`${prefix}leader`);
    const rev = await client.put(leaderKey, Buffer.from('me'));
    const b = new EtcdBackend({
      endpoints: etcd.endpoints,
      prefix,
      guard: () => [{ key: leaderKey, target: 'CREATE', createRevision: rev }],
    });
    await b.load(() => {});
    await b.apply({
      index: 1,
      tableIndexes: { nodes: 1 },
      changes: [{ table: 'nodes', key: 'n1', value: { ID: 'n1' } }],
    });
    await client.deleteRange(leaderKey, undefined);
    await client.put(leaderKey, Buffer.from('someone else'));
    await expect(
      b.apply({ index: 2, tableIndexes: { nodes: 2 }, changes: [{ table: 'nodes', key: 'n2', value: { ID: 'n2' } }] }),
    ).rejects.toSatisfy((e: unknown) => isDroverError(e, 'NotLeader'));
    await b.close();
    const got = await reload({ endpoints: etcd.endpoints, prefix });
    await got.backend.close();
    expect([...got.rows.keys()]).toEqual(['nodes/n1']);
  });

  it('fails to load with an error naming the endpoints when etcd cannot be reached', async () => {
    const b = new EtcdBackend({ endpoints: ['http://127.0.0.1:1', 'http://127.0.0.1:2'], requestTimeoutMs: 1000 });
    const err: unknown = await b.load(() => {}).catch((e: unknown) => e);
    expect(isDroverError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toMatch(
      /etcd load of \/drover\/global\/ failed: no etcd endpoint answered \(http:\/\/127\.0\.0\.1:1, http:\/\/127\.0\.0\.1:2\)/,
    );
  });
});

describe('EtcdBackend when etcd goes away for a while', () => {
  it('refuses writes while etcd is down, and after recover() writes again on the same head, not deposed', async () => {
    const own = await startEtcd();
    try {
      const prefix = freshPrefix();
      const b = new EtcdBackend({ endpoints: own.endpoints, prefix, requestTimeoutMs: 1000 });
      await b.load(() => {});
      const put = (i: number) =>
        b.apply({
          index: i,
          tableIndexes: { nodes: i },
          changes: [{ table: 'nodes', key: `n${i}`, value: { ID: `n${i}` } }],
        });
      await put(1);
      await own.kill(0);
      await expect(put(2)).rejects.toThrow();
      await expect(put(2)).rejects.toThrow(); // still refused: nothing may be written after a failed batch
      await own.restart(0);
      b.recover();
      await put(2);
      expect(b.deposed).toBe(false);
      await b.close();
      const got = await reload({ endpoints: own.endpoints, prefix });
      await got.backend.close();
      expect([...got.rows.keys()].sort()).toEqual(['nodes/n1', 'nodes/n2']);
    } finally {
      await own.stop();
    }
  }, 60_000);
});

describe('EtcdBackend on a full etcd', () => {
  let small: TestEtcd | undefined;
  afterAll(async () => {
    await small?.stop();
  });

  it('reports a full etcd as StorageFull and keeps what was already stored', async () => {
    small = await startEtcd({ flags: ['--quota-backend-bytes=2097152'] });
    const prefix = freshPrefix();
    const b = new EtcdBackend({ endpoints: small.endpoints, prefix, snapshotEveryEntries: 1_000_000 });
    await b.load(() => {});
    await b.apply({
      index: 1,
      tableIndexes: { nodes: 1 },
      changes: [{ table: 'nodes', key: 'keep', value: { ID: 'keep' } }],
    });
    let err: unknown;
    for (let i = 2; i < 40 && err === undefined; i++) {
      await b
        .apply({
          index: i,
          tableIndexes: { nodes: i },
          changes: [
            { table: 'nodes', key: `n${i}`, value: { ID: `n${i}`, Noise: randomBytes(200_000).toString('base64') } },
          ],
        })
        .catch((e: unknown) => {
          err = e;
        });
    }
    await b.close();
    expect(isDroverError(err, 'StorageFull')).toBe(true);
    expect((err as Error).message).toMatch(/quota/);
    const got = await reload({ endpoints: small.endpoints, prefix });
    await got.backend.close();
    expect(got.rows.get('nodes/keep')).toEqual({ ID: 'keep' });
  }, 60_000);
});
