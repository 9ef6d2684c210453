/**
 * How batches and snapshots are encoded for etcd: JSON, compressed with raw DEFLATE, with the job that
 * allocations carry (Nomad denormalises it into every allocation) written once per object and referred
 * to by number. A plan of 1,000 allocations of one job therefore stores the job once, not 1,000 times.
 */
import { promisify } from 'node:util';
import { constants, deflateRaw, inflateRaw, type ZlibOptions } from 'node:zlib';
import type { BackendBatch } from '../backend.js';
import type { TableName } from '../schema.js';

const deflateAsync = promisify<Buffer, ZlibOptions, Buffer>(deflateRaw);
const inflateAsync = promisify<Buffer, ZlibOptions, Buffer>(inflateRaw);

/**
 * DEFLATE at its fastest level. On the scheduler bench's allocation batches level 1 compresses about as well as
 * the default level 6 (1.66 MB against 1.53 MB per 10,000 allocations, 6.5x) for half its CPU (53 ms against
 * 98 ms), and the leader compresses every batch it commits. The output is read back in chunks of `chunkSize`,
 * each a round trip between the thread pool and the event loop (Node's default of 16 KiB made ~100 of them per
 * 10,000 allocations): the chunk is sized to the expected output, 16 KiB to 1 MiB, so a small entry does not
 * allocate a large buffer.
 */
const MIN_CHUNK = 16 * 1024;
const MAX_CHUNK = 1024 * 1024;
const chunkFor = (bytes: number) => Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, bytes));
const deflate = (data: Buffer) =>
  deflateAsync(data, { level: constants.Z_BEST_SPEED, chunkSize: chunkFor(data.length >> 2) });
const inflate = (data: Buffer) => inflateAsync(data, { chunkSize: chunkFor(data.length * 8) });

type Row = [table: TableName, key: string, value: unknown];

interface Encoded {
  v: 1;
  jobs: unknown[];
  batches?: { index: number; tableIndexes: BackendBatch['tableIndexes']; changes: Row[] }[];
  snapshot?: { index: number; tableIndexes: BackendBatch['tableIndexes']; rows: Row[] };
}

class JobTable {
  readonly jobs: unknown[] = [];
  private readonly refs = new Map<object, number>();

  out(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    const job = (value as { Job?: unknown }).Job;
    if (job === null || typeof job !== 'object') return value;
    let ref = this.refs.get(job);
    if (ref === undefined) {
      ref = this.jobs.length;
      this.jobs.push(job);
      this.refs.set(job, ref);
    }
    return { ...value, Job: { $job: ref } };
  }
}

function restoreJobs(rows: Row[], jobs: unknown[]): void {
  for (const row of rows) {
    const v = row[2] as { Job?: { $job?: number } } | null;
    if (v !== null && typeof v === 'object' && v.Job && typeof v.Job.$job === 'number')
      (v as { Job: unknown }).Job = jobs[v.Job.$job];
  }
}

/** One log entry: several consecutive batches, committed together. */
export async function encodeBatches(batches: BackendBatch[]): Promise<Buffer> {
  const jobs = new JobTable();
  const doc: Encoded = {
    v: 1,
    jobs: jobs.jobs,
    batches: batches.map((b) => ({
      index: b.index,
      tableIndexes: b.tableIndexes,
      changes: b.changes.map((c): Row => [c.table, c.key, c.table === 'allocs' ? jobs.out(c.value) : c.value]),
    })),
  };
  return deflate(Buffer.from(JSON.stringify(doc)));
}

export async function decodeBatches(data: Buffer): Promise<BackendBatch[]> {
  const doc = JSON.parse((await inflate(data)).toString('utf8')) as Encoded;
  if (doc.v !== 1 || !doc.batches) throw new Error(`unknown etcd log entry format ${String(doc.v)}`);
  return doc.batches.map((b) => {
    restoreJobs(b.changes, doc.jobs);
    return {
      index: b.index,
      tableIndexes: b.tableIndexes,
      changes: b.changes.map(([table, key, value]) => ({ table, key, value })),
    };
  });
}

export interface SnapshotData {
  index: number;
  tableIndexes: BackendBatch['tableIndexes'];
  rows: Iterable<Row>;
}

export async function encodeSnapshot(s: SnapshotData): Promise<Buffer> {
  const jobs = new JobTable();
  const rows: Row[] = [];
  for (const [table, key, value] of s.rows) rows.push([table, key, table === 'allocs' ? jobs.out(value) : value]);
  const doc: Encoded = { v: 1, jobs: jobs.jobs, snapshot: { index: s.index, tableIndexes: s.tableIndexes, rows } };
  return deflate(Buffer.from(JSON.stringify(doc)));
}

export async function decodeSnapshot(
  data: Buffer,
): Promise<{ index: number; tableIndexes: BackendBatch['tableIndexes']; rows: Row[] }> {
  const doc = JSON.parse((await inflate(data)).toString('utf8')) as Encoded;
  if (doc.v !== 1 || !doc.snapshot) throw new Error(`unknown etcd snapshot format ${String(doc.v)}`);
  restoreJobs(doc.snapshot.rows, doc.jobs);
  return doc.snapshot;
}

/** Splits `data` into pieces of at most `size` bytes (at least one piece). */
export function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out.length ? out : [Buffer.alloc(0)];
}
