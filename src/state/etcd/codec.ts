/**
 * How batches and snapshots are encoded for etcd: JSON, compressed with raw DEFLATE, with the job that
 * allocations carry (Nomad denormalises it into every allocation) written once per object and referred
 * to by number. A plan of 1,000 allocations of one job therefore stores the job once, not 1,000 times.
 */
import { promisify } from 'node:util';
import { once } from 'node:events';
import { constants, createDeflateRaw, createInflateRaw, deflateRaw, inflateRaw, type ZlibOptions } from 'node:zlib';
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
  /** How many of `jobs` a streaming writer has already written out. */
  written = 0;
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

export interface SnapshotMeta {
  index: number;
  tableIndexes: BackendBatch['tableIndexes'];
}

/** Serialised rows handed to DEFLATE at a time: small enough to keep each step short, large enough to be cheap. */
const SNAPSHOT_PART = 1024 * 1024;
/** The record that names a job rows refer to by number (format 2); a table name can never start with `$`. */
const JOB_RECORD = '$job';
const END_RECORD = '$end';

/**
 * Snapshot format 2: newline-separated JSON records through one streaming DEFLATE, so no string ever holds the
 * whole state (format 1 built it as one JSON document: at a million allocations that is about 1 GB, past V8's
 * largest string, and the snapshot could never be written). Records, one per line:
 *
 *   {"v":2,"index":N,"tableIndexes":{...}}     the header
 *   ["$job", n, {...}]                         a job, before the first row that refers to it as {"$job": n}
 *   [table, key, value]                        a row
 *   ["$end", rows]                             the trailer: a snapshot cut short is refused, never half-loaded
 *
 * JSON escapes newlines inside strings, so a raw newline only ever ends a record. The rows are read between
 * awaits, a part at a time: the caller must not change them meanwhile (the etcd backend hands over a copy of its
 * row list, whose values are never mutated). `signal` stops the encoding between parts.
 */
export async function encodeSnapshot(s: SnapshotData, signal?: AbortSignal): Promise<Buffer> {
  const z = createDeflateRaw({ level: constants.Z_BEST_SPEED, chunkSize: MAX_CHUNK });
  const out: Buffer[] = [];
  z.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise<void>((resolve, reject) => {
    z.once('end', resolve);
    z.once('error', reject);
  });
  ended.catch(() => {}); // awaited below; a write error also surfaces there
  const write = async (text: string) => {
    if (!z.write(text)) await Promise.race([once(z, 'drain'), ended]);
  };
  try {
    const jobs = new JobTable();
    let part = `${JSON.stringify({ v: 2, index: s.index, tableIndexes: s.tableIndexes })}\n`;
    let count = 0;
    for (const [table, key, value] of s.rows) {
      const v = table === 'allocs' ? jobs.out(value) : value;
      for (; jobs.written < jobs.jobs.length; jobs.written++)
        part += `${JSON.stringify([JOB_RECORD, jobs.written, jobs.jobs[jobs.written]])}\n`;
      part += `${JSON.stringify([table, key, v])}\n`;
      count++;
      if (part.length >= SNAPSHOT_PART) {
        if (signal?.aborted) throw signal.reason;
        await write(part);
        part = '';
      }
    }
    part += `${JSON.stringify([END_RECORD, count])}\n`;
    await write(part);
    z.end();
    await ended;
  } catch (e) {
    z.destroy();
    throw e;
  }
  return Buffer.concat(out);
}

/**
 * Reads a snapshot written by `encodeSnapshot`, handing each row to `visit` as it is decoded (no copy of the
 * whole state is built). Also reads format 1, the single JSON document earlier versions wrote.
 */
export async function decodeSnapshot(data: Buffer, visit: (row: Row) => void): Promise<SnapshotMeta> {
  const z = createInflateRaw({ chunkSize: MAX_CHUNK });
  z.end(data);
  let meta: SnapshotMeta | undefined;
  let ended = false;
  let count = 0;
  const jobs: unknown[] = [];
  const record = (line: Buffer) => {
    if (ended) throw new Error('etcd snapshot has records after its end');
    const r = JSON.parse(line.toString('utf8')) as unknown;
    if (!meta) {
      const head = r as Encoded | { v: 2; index: number; tableIndexes: BackendBatch['tableIndexes'] };
      if (head.v === 1 && 'snapshot' in head && head.snapshot) {
        // Format 1: the whole snapshot in one document (and so on one line).
        restoreJobs(head.snapshot.rows, head.jobs);
        for (const row of head.snapshot.rows) visit(row);
        meta = { index: head.snapshot.index, tableIndexes: head.snapshot.tableIndexes };
        ended = true;
        return;
      }
      if (head.v !== 2 || !('index' in head)) throw new Error(`unknown etcd snapshot format ${String(head.v)}`);
      meta = { index: head.index, tableIndexes: head.tableIndexes };
      return;
    }
    const row = r as Row | [typeof JOB_RECORD, number, unknown] | [typeof END_RECORD, number];
    if (row[0] === JOB_RECORD) {
      jobs[row[1]] = row[2];
    } else if (row[0] === END_RECORD) {
      if (row[1] !== count) throw new Error(`etcd snapshot ends after ${count} rows, its trailer says ${row[1]}`);
      ended = true;
    } else {
      restoreJobs([row], jobs);
      visit(row);
      count++;
    }
  };
  let pending: Buffer[] = [];
  for await (const chunk of z as AsyncIterable<Buffer>) {
    let from = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      record(pending.length ? Buffer.concat([...pending, piece]) : piece);
      pending = [];
      from = nl + 1;
    }
    if (from < chunk.length) pending.push(chunk.subarray(from));
  }
  if (pending.length) record(Buffer.concat(pending));
  if (!meta || !ended) throw new Error('etcd snapshot is cut short (no end record)');
  return meta;
}

/** Splits `data` into pieces of at most `size` bytes (at least one piece). */
export function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out.length ? out : [Buffer.alloc(0)];
}
