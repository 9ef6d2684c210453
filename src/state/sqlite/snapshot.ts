/**
 * Snapshots of the SQLite state: `save` is SQLite's online backup (a consistent copy of every committed
 * write, taken while the agent serves), `restore` puts a snapshot in place of a stopped agent's state.
 * A snapshot is a plain SQLite database file in Drover's layout (not Nomad's raft snapshot format).
 */
import Database from 'better-sqlite3';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { badRequest, stateFormatTooNew } from '../../errors/index.js';
import { writeMarker } from './integrity.js';
import { STATE_DB_FORMAT } from './sqlite-core.js';

/** Copies the committed state of the database at `dbFile` to `dest` (SQLite online backup; readers keep going). */
export async function saveSnapshot(dbFile: string, dest: string): Promise<void> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    await db.backup(dest);
  } finally {
    db.close();
  }
}

/**
 * Puts the root keys of `keystoreDir` (the files that seal variables at rest) into the snapshot, so a restore
 * into another data dir can read its variables: a snapshot is as secret as the data dir it came from.
 */
export function addKeystoreToSnapshot(file: string, keystoreDir: string): void {
  if (!existsSync(keystoreDir)) return;
  const db = new Database(file, { fileMustExist: true });
  try {
    db.exec('CREATE TABLE IF NOT EXISTS snapshot_keystore (name TEXT PRIMARY KEY, body TEXT NOT NULL)');
    const put = db.prepare('INSERT OR REPLACE INTO snapshot_keystore (name, body) VALUES (?, ?)');
    for (const name of readdirSync(keystoreDir)) {
      if (name.endsWith('.json')) put.run(name, readFileSync(join(keystoreDir, name), 'utf8'));
    }
  } finally {
    db.close();
  }
}

/** Writes the snapshot's root keys (if any) into `<dataDir>/keystore` (0700/0600) and drops them from the file. */
function takeKeystoreFromSnapshot(file: string, dataDir: string): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    const has = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_keystore'").get();
    if (has === undefined) return;
    const dir = join(dataDir, 'keystore');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    for (const row of db.prepare('SELECT name, body FROM snapshot_keystore').all() as {
      name: string;
      body: string;
    }[]) {
      // Key files are named by their KeyID: refuse anything that could leave the directory.
      if (!/^[A-Za-z0-9-]+\.json$/.test(row.name))
        throw badRequest(`snapshot ${file} holds a key file with a bad name`);
      writeFileSync(join(dir, row.name), row.body, { mode: 0o600 });
    }
    db.exec('DROP TABLE snapshot_keystore');
  } finally {
    db.close();
  }
}

/**
 * Checks a snapshot file and returns the state index it holds; throws BadRequest naming what is wrong, or
 * StateFormat for a snapshot a newer Drover took in a newer format (it is not restored: downgrades are not supported).
 */
export function inspectSnapshot(file: string): { index: number } {
  if (!existsSync(file)) throw badRequest(`snapshot ${file} does not exist`);
  const head = Buffer.alloc(16);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') !== 'SQLite format 3\u0000')
    throw badRequest(`${file} is not a Drover snapshot (not an SQLite database)`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const check = db.pragma('quick_check', { simple: true }) as string;
    if (check !== 'ok') throw badRequest(`snapshot ${file} is damaged: PRAGMA quick_check: ${check}`);
    const format = db.pragma('user_version', { simple: true }) as number;
    if (format > STATE_DB_FORMAT) throw stateFormatTooNew(file, format, STATE_DB_FORMAT);
    const row = db.prepare("SELECT value FROM meta WHERE key = 'index'").get() as { value: number } | undefined;
    if (row === undefined) throw badRequest(`${file} is not a Drover snapshot (no state index)`);
    return { index: row.value };
  } catch (e) {
    if (e instanceof Error && /no such table/.test(e.message))
      throw badRequest(`${file} is not a Drover snapshot (no meta table)`);
    throw e;
  } finally {
    db.close();
  }
}

/**
 * Replaces the state in `dataDir` (the server's directory, holding state.db) with `file`. The agent must be
 * stopped. The snapshot is checked first, copied beside state.db, fsynced and renamed over it; the old WAL
 * goes, and the loss marker is set to the snapshot's index so the next start accepts it.
 */
export function restoreSnapshot(file: string, dataDir: string): { index: number } {
  const { index } = inspectSnapshot(file);
  mkdirSync(dataDir, { recursive: true });
  const target = join(dataDir, 'state.db');
  const tmp = `${target}.restore`;
  copyFileSync(file, tmp);
  takeKeystoreFromSnapshot(tmp, dataDir);
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  for (const f of [`${target}-wal`, `${target}-shm`]) rmSync(f, { force: true });
  renameSync(tmp, target);
  writeMarker(dataDir, index);
  return { index };
}
