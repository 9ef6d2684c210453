import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Allocation } from '../structs/index.js';
import { ClientStateStore, type PersistedAlloc, type StateStoreFS } from './state-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'drover-state-store-'));
  dirs.push(d);
  return d;
}

function persisted(id: string, version: number): PersistedAlloc {
  return { alloc: { ID: id, AllocModifyIndex: version } as unknown as Allocation, tasks: {} };
}

/** Real file operations that count what they do. */
function countingFS(): StateStoreFS & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    writeFile: async (p, data) => {
      writes.push(p);
      await writeFile(p, data);
    },
    rename: (a, b) => rename(a, b),
    remove: (p) => rm(p, { force: true }),
  };
}

/** Counting file operations whose writes wait until `release()`: a write kept in flight. */
function gatedFS(): { fs: ReturnType<typeof countingFS>; slow: StateStoreFS; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const fs = countingFS();
  return { fs, slow: { ...fs, writeFile: async (p, d) => (await gate, fs.writeFile(p, d)) }, release };
}

const versionOf = (s: ClientStateStore, id: string) =>
  s.loadAllocs().find((p) => p.alloc.ID === id)?.alloc.AllocModifyIndex;

describe('ClientStateStore', () => {
  it('does not block the caller: a save lands on disk only after the current tick', async () => {
    const dir = tempDir();
    const store = new ClientStateStore(dir);
    store.saveAlloc(persisted('a1', 1));
    expect(existsSync(join(dir, 'client', 'allocs', 'a1.json'))).toBe(false);
    await store.flush();
    expect(versionOf(new ClientStateStore(dir), 'a1')).toBe(1);
  });

  it('coalesces a burst of saves of one allocation into one write of the latest state', async () => {
    const dir = tempDir();
    const fs = countingFS();
    const store = new ClientStateStore(dir, { fs });
    for (let v = 1; v <= 50; v++) store.saveAlloc(persisted('a1', v));
    store.saveAlloc(persisted('a2', 7));
    await store.flush();
    expect(fs.writes.filter((w) => w.includes('a1'))).toHaveLength(1);
    expect(versionOf(store, 'a1')).toBe(50);
    expect(versionOf(store, 'a2')).toBe(7);
  });

  it('writes a save made while a write is in flight after it, so the latest state wins', async () => {
    const dir = tempDir();
    const { fs, slow, release } = gatedFS();
    const store = new ClientStateStore(dir, { fs: slow });
    store.saveAlloc(persisted('a1', 1));
    await new Promise((r) => setImmediate(r));
    store.saveAlloc(persisted('a1', 2));
    store.saveAlloc(persisted('a1', 3));
    release();
    await store.flush();
    expect(fs.writes).toHaveLength(2);
    expect(versionOf(store, 'a1')).toBe(3);
  });

  it('deletes after a write of the same allocation already in flight, so the file does not come back', async () => {
    const dir = tempDir();
    const store = new ClientStateStore(dir);
    store.saveAlloc(persisted('a1', 1));
    await new Promise((r) => setImmediate(r));
    store.deleteAlloc('a1');
    await store.flush();
    expect(existsSync(join(dir, 'client', 'allocs', 'a1.json'))).toBe(false);
  });

  it('leaves the previous good state readable when the process dies in the middle of a write', async () => {
    const dir = tempDir();
    const good = new ClientStateStore(dir);
    good.saveAlloc(persisted('a1', 1));
    await good.flush();
    // The dying process gets half of the new document to disk, then never runs again (no rename).
    let died!: () => void;
    const dead = new Promise<void>((r) => (died = r));
    const dying: StateStoreFS = {
      writeFile: async (p, data) => {
        writeFileSync(p, data.slice(0, Math.floor(data.length / 2)));
        died();
        await new Promise(() => {});
      },
      rename: async () => {
        throw new Error('unreachable');
      },
      remove: async () => {},
    };
    new ClientStateStore(dir, { fs: dying }).saveAlloc(persisted('a1', 2));
    await dead;
    const files = readdirSync(join(dir, 'client', 'allocs'));
    expect(files.sort()).toEqual(['a1.json', 'a1.json.tmp']);
    // The restarted agent reads the last complete state and clears the torn temp file.
    const errors: string[] = [];
    const restarted = new ClientStateStore(dir);
    expect(restarted.loadAllocs((f) => errors.push(f)).map((p) => p.alloc.AllocModifyIndex)).toEqual([1]);
    expect(errors).toEqual([]);
    expect(readdirSync(join(dir, 'client', 'allocs'))).toEqual(['a1.json']);
    expect(JSON.parse(readFileSync(join(dir, 'client', 'allocs', 'a1.json'), 'utf8')).alloc.AllocModifyIndex).toBe(1);
  });

  it('writes a new driver handle before returning, and keeps the latest when an older write was in flight', async () => {
    const dir = tempDir();
    const { slow, release } = gatedFS();
    const store = new ClientStateStore(dir, { fs: slow });
    store.saveAlloc(persisted('a1', 1));
    await new Promise((r) => setImmediate(r));
    store.saveAllocNow(persisted('a1', 2));
    // On disk at once, without waiting for the slow asynchronous write of version 1.
    expect(versionOf(new ClientStateStore(join(dir)), 'a1')).toBe(2);
    release();
    await store.flush();
    expect(versionOf(store, 'a1')).toBe(2);
  });

  it('drops a queued write of an older state once the new driver handle is written, and keeps a queued delete', async () => {
    const dir = tempDir();
    const fs = countingFS();
    const store = new ClientStateStore(dir, { fs });
    store.saveAlloc(persisted('a1', 1));
    store.saveAllocNow(persisted('a1', 2));
    store.deleteAlloc('a2');
    store.saveAllocNow(persisted('a2', 1));
    await store.flush();
    // a1: only the synchronous write; a2: the save replaced the queued delete, as a later saveAlloc would.
    expect(fs.writes.map((p) => p.split('/').pop())).toEqual(['a2.json.tmp']);
    expect(versionOf(store, 'a1')).toBe(2);
    expect(versionOf(store, 'a2')).toBe(1);
  });

  it('logs a failed write and keeps going with the other allocations', async () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => warnings.push(m), child: () => logger };
    const fs = countingFS();
    const failing: StateStoreFS = {
      ...fs,
      writeFile: async (p, d) => (p.includes('bad') ? Promise.reject(new Error('disk full')) : fs.writeFile(p, d)),
    };
    const store = new ClientStateStore(dir, { fs: failing, logger });
    store.saveAlloc(persisted('bad', 1));
    store.saveAlloc(persisted('ok', 1));
    await store.flush();
    expect(warnings).toEqual(['cannot persist allocation state']);
    expect(versionOf(store, 'ok')).toBe(1);
  });
});
