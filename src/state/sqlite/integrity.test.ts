import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../../logging/index.js';
import { StateStore } from '../store.js';
import { build } from '../../testing/builders.js';
import { readMarker, walDamage } from './integrity.js';
import { SqliteBackend } from './sqlite-backend.js';
import { ThreadedSqliteBackend } from './threaded-backend.js';

const dirs: string[] = [];
const stores: StateStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'drover-integrity-'));
  dirs.push(d);
  return d;
}

const open = (backend: SqliteBackend | ThreadedSqliteBackend) => StateStore.open({ backend, logger: nullLogger });

/**
 * Writes `n` jobs and leaves the store open (its WAL not checkpointed, as after a crash), waits for the
 * marker to record the last write, and copies the files to a fresh directory, as they would be found.
 */
async function crashedCopy(n: number): Promise<string> {
  const dir = tempDir();
  const s = await open(new SqliteBackend({ dataDir: dir }));
  stores.push(s);
  for (let i = 0; i < n; i++)
    await s.write((tx) => tx.put('jobs', { ...build.job({ ID: `job-${i}` }), Meta: { pad: 'x'.repeat(3000) } }));
  await expect.poll(() => readMarker(dir), { timeout: 5_000 }).toBe(n);
  const copy = tempDir();
  for (const f of ['state.db', 'state.db-wal', 'state.marker']) copyFileSync(join(dir, f), join(copy, f));
  return copy;
}

describe.each([
  ['in the main thread', (o: { dataDir: string; recover?: boolean }) => new SqliteBackend(o)],
  ['on a worker thread', (o: { dataDir: string; recover?: boolean }) => new ThreadedSqliteBackend(o)],
])('SQLite state integrity at start, %s', (_name, make) => {
  const openWith = async (o: { dataDir: string; recover?: boolean }) => {
    const s = await StateStore.open({ backend: make(o), logger: nullLogger });
    stores.push(s);
    return s;
  };

  it('reopens an undamaged crashed copy with every acknowledged write', async () => {
    const copy = await crashedCopy(40);
    const s = await openWith({ dataDir: copy });
    expect(s.snapshot().jobs()).toHaveLength(40);
  });

  it('refuses a zero-length state.db when the marker says data existed, and names the file', async () => {
    const copy = await crashedCopy(5);
    truncateSync(join(copy, 'state.db'), 0);
    rmSync(join(copy, 'state.db-wal'));
    await expect(openWith({ dataDir: copy })).rejects.toMatchObject({
      code: 'StateCorrupt',
      message: expect.stringMatching(
        /state\.db is empty but the agent had acknowledged writes up to index 5.*-recover/,
      ),
    });
  });

  it('refuses a WAL cut in half, since acknowledged writes would be missing', async () => {
    const copy = await crashedCopy(40);
    const wal = join(copy, 'state.db-wal');
    truncateSync(wal, Math.floor(readFileSync(wal).length / 2));
    await expect(openWith({ dataDir: copy })).rejects.toMatchObject({
      code: 'StateCorrupt',
      message: expect.stringMatching(/up to index \d+ but the agent had acknowledged writes up to index 40/),
    });
  });

  it('refuses garbage in the middle of the WAL', async () => {
    const copy = await crashedCopy(40);
    const wal = join(copy, 'state.db-wal');
    const buf = readFileSync(wal);
    buf.fill(0x5a, Math.floor(buf.length / 2), Math.floor(buf.length / 2) + 512);
    writeFileSync(wal, buf);
    expect(walDamage(buf)).toMatch(/damage in the middle/);
    await expect(openWith({ dataDir: copy })).rejects.toMatchObject({
      code: 'StateCorrupt',
      message: expect.stringContaining('state.db-wal is damaged'),
    });
  });

  it('starts with what the database holds when told to -recover, and resets the marker to it', async () => {
    const copy = await crashedCopy(40);
    const wal = join(copy, 'state.db-wal');
    truncateSync(wal, Math.floor(readFileSync(wal).length / 2));
    const s = await openWith({ dataDir: copy, recover: true });
    const held = s.latestIndex();
    expect(held).toBeLessThan(40);
    expect(s.snapshot().jobs()).toHaveLength(held);
    expect(readMarker(copy)).toBe(held);
  });

  it('refuses a database whose pages are damaged, with the quick_check finding', async () => {
    const dir = tempDir();
    const s = await openWith({ dataDir: dir });
    for (let i = 0; i < 30; i++)
      await s.write((tx) => tx.put('jobs', { ...build.job({ ID: `j${i}` }), Meta: { pad: 'y'.repeat(3000) } }));
    await s.close();
    expect(existsSync(join(dir, 'state.db-wal'))).toBe(false);
    const db = join(dir, 'state.db');
    const buf = readFileSync(db);
    // Pages 1 and 2 hold the file header and schema; scribble over whole table pages after them.
    buf.fill(0xff, 4096 * 3, 4096 * 8);
    writeFileSync(db, buf);
    await expect(openWith({ dataDir: dir })).rejects.toMatchObject({ code: 'StateCorrupt' });
  });
});
