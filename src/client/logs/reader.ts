/**
 * Reads a task's log across its numbered files (see rotator.ts), and follows it across rotations.
 *
 *   read <base>.N from pos ─► EOF ─► <base>.N+1 exists? ─► re-read .N to its end (it is now the final copy),
 *        ▲                     │                            then continue in .N+1 at 0
 *        │                     └─ no: follow? sleep and retry : done
 *        └─ .N deleted (rotated out): jump to the oldest remaining index
 *
 * Files are opened by path on every read, never kept open: after a rotation the path `.N` names the copy while
 * the live inode moved on to `.N+1`.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { logIndexes } from './rotator.js';

export interface ReadLogOptions {
  origin?: 'start' | 'end';
  /** Bytes from the origin. */
  offset?: number;
  follow?: boolean;
  signal?: AbortSignal;
  pollMs?: number;
}

function sizeOf(p: string): number | undefined {
  try {
    return statSync(p).size;
  } catch {
    return undefined;
  }
}

function readRange(p: string, pos: number, max: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(p, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(max);
    const n = readSync(fd, buf, 0, max, pos);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Where reading starts: [index, byte position]. */
function startPosition(dir: string, base: string, origin: 'start' | 'end', offset: number): [number, number] {
  const idx = logIndexes(dir, base);
  const first = idx[0];
  const last = idx[idx.length - 1];
  if (first === undefined || last === undefined) return [0, 0];
  if (origin === 'start') {
    let left = offset;
    for (const i of idx) {
      const s = sizeOf(join(dir, `${base}.${i}`)) ?? 0;
      if (left < s) return [i, left];
      left -= s;
    }
    return [last, sizeOf(join(dir, `${base}.${last}`)) ?? 0];
  }
  let left = offset;
  for (const i of idx.toReversed()) {
    const s = sizeOf(join(dir, `${base}.${i}`)) ?? 0;
    if (left <= s) return [i, s - left];
    left -= s;
  }
  return [first, 0];
}

const CHUNK = 64 * 1024;

export async function* readLogFiles(dir: string, base: string, o: ReadLogOptions = {}): AsyncGenerator<Buffer> {
  let [index, pos] = startPosition(dir, base, o.origin ?? 'start', o.offset ?? 0);
  const pollMs = o.pollMs ?? 200;
  while (!o.signal?.aborted) {
    const path = join(dir, `${base}.${index}`);
    const chunk = readRange(path, pos, CHUNK);
    if (chunk === undefined) {
      // Rotated out from under us (or not created yet): continue at the oldest file still there.
      const oldest = logIndexes(dir, base).find((i) => i >= index);
      if (oldest !== undefined && oldest !== index) {
        index = oldest;
        pos = 0;
        continue;
      }
    } else if (chunk.length > 0) {
      pos += chunk.length;
      yield chunk;
      continue;
    } else if (logIndexes(dir, base).some((i) => i > index)) {
      // A newer file exists, so this one is complete: drain what the rotation copied after our last read.
      for (let rest = readRange(path, pos, CHUNK); rest && rest.length > 0; rest = readRange(path, pos, CHUNK)) {
        pos += rest.length;
        yield rest;
      }
      const next = logIndexes(dir, base).find((i) => i > index)!;
      index = next;
      pos = 0;
      continue;
    }
    if (!o.follow) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, pollMs);
      function done() {
        clearTimeout(t);
        o.signal?.removeEventListener('abort', done);
        resolve();
      }
      o.signal?.addEventListener('abort', done, { once: true });
    });
  }
}
