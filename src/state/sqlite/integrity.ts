/**
 * Start-up checks of the SQLite state, so that damage is found and refused rather than served as an
 * emptier cluster. SQLite recovers from a torn WAL tail silently: cutting the WAL in half, or garbage in
 * its middle, simply ends replay early, and the agent used to start with acknowledged jobs gone and
 * nothing logged. Two witnesses catch that:
 *
 *   state.marker ── a small file (write, fsync, rename) holding the highest index the agent acknowledged,
 *                   rewritten at most once a second and at close. Loading an index below it, or finding
 *                   state.db missing or empty while the marker exists, means acknowledged writes are gone.
 *   the WAL      ── frames carry the WAL's salt and a running checksum. A frame that fails the checksum
 *                   followed by frames with the current salt that would have been valid is damage in the
 *                   middle (a torn tail ends at the bad frame).
 *   quick_check  ── PRAGMA quick_check after opening (run by the core's load).
 *
 * On detected loss the agent refuses to start with the reason, unless started with `-recover`: then it logs
 * what was lost and goes on with what the database holds, and the marker is reset to that.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { stateCorrupt } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';

export const markerFile = 'state.marker';

export interface IntegrityOptions {
  dataDir: string;
  /** Start even when loss is detected (`drover agent -recover`). */
  recover?: boolean;
  logger?: Logger;
}

/** The index recorded in the marker, or undefined when there is none (a new data directory). */
export function readMarker(dataDir: string): number | undefined {
  const f = join(dataDir, markerFile);
  if (!existsSync(f)) return undefined;
  try {
    const v = JSON.parse(readFileSync(f, 'utf8')) as { index?: unknown };
    return typeof v.index === 'number' && Number.isSafeInteger(v.index) ? v.index : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the marker atomically and durably (temp file, fsync, rename). */
export function writeMarker(dataDir: string, index: number): void {
  const f = join(dataDir, markerFile);
  const tmp = `${f}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify({ index, written: new Date().toISOString() }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, f);
}

function refuseOrWarn(opts: IntegrityOptions, message: string): void {
  if (!opts.recover)
    throw stateCorrupt(
      `${message}; refusing to start. Restore a snapshot (drover operator snapshot restore) or start with -recover to continue with what the database holds`,
    );
  opts.logger?.warn(`state damage accepted by -recover: ${message}`);
}

/** Before opening: the database must exist and be non-empty if the marker says data existed; the WAL must not be damaged mid-way. */
export function checkBeforeOpen(opts: IntegrityOptions): void {
  if (opts.dataDir === ':memory:') return;
  const db = join(opts.dataDir, 'state.db');
  const marker = readMarker(opts.dataDir);
  if (marker !== undefined && marker > 0) {
    const size = existsSync(db) ? statSync(db).size : -1;
    if (size <= 0)
      refuseOrWarn(
        opts,
        `${db} is ${size < 0 ? 'missing' : 'empty'} but the agent had acknowledged writes up to index ${marker}`,
      );
  }
  const wal = `${db}-wal`;
  if (existsSync(wal)) {
    const damage = walDamage(readFileSync(wal));
    if (damage !== undefined) refuseOrWarn(opts, `${wal} is damaged: ${damage}`);
  }
}

/** After loading: the loaded index must reach the marker. */
export function checkAfterLoad(opts: IntegrityOptions, loadedIndex: number): void {
  if (opts.dataDir === ':memory:') return;
  const marker = readMarker(opts.dataDir);
  if (marker !== undefined && loadedIndex < marker) {
    refuseOrWarn(
      opts,
      `the state database holds writes up to index ${loadedIndex} but the agent had acknowledged writes up to index ${marker}`,
    );
  }
}

/**
 * SQLite's WAL format: a 32-byte header (magic, version, page size, checkpoint seq, salt-1, salt-2, checksum),
 * then frames of a 24-byte header (page, commit size, salt-1, salt-2, checksum-1, checksum-2) and a page.
 * Checksums run over the header and every frame in order. Returns what is wrong, or undefined.
 */
export function walDamage(buf: Buffer): string | undefined {
  if (buf.length < 32) return undefined;
  const magic = buf.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return undefined; // not a WAL SQLite would replay: it ignores it
  const bigEndian = (magic & 1) === 1;
  const pageSize = buf.readUInt32BE(8) === 1 ? 65536 : buf.readUInt32BE(8);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return 'the header has an invalid page size';
  const salt1 = buf.readUInt32BE(16);
  const salt2 = buf.readUInt32BE(20);
  let [s1, s2] = walChecksum(buf, 0, 24, 0, 0, bigEndian);
  if (s1 !== buf.readUInt32BE(24) || s2 !== buf.readUInt32BE(28)) return undefined; // an invalid header: SQLite ignores the WAL
  const frameSize = 24 + pageSize;
  let badAt = -1;
  let frame = 0;
  for (let off = 32; off + frameSize <= buf.length; off += frameSize, frame++) {
    const fs1 = buf.readUInt32BE(off + 8);
    const fs2 = buf.readUInt32BE(off + 12);
    if (fs1 !== salt1 || fs2 !== salt2) {
      // Frames of an earlier WAL generation (after a checkpoint reset) end the valid part: not damage.
      if (badAt < 0) break;
      continue;
    }
    if (badAt >= 0) {
      // Only a later commit frame proves loss: it ended a transaction SQLite will now never replay.
      if (buf.readUInt32BE(off + 4) !== 0)
        return `frame ${badAt} fails its checksum but frame ${frame} after it commits a transaction of the same WAL (damage in the middle, not a torn tail)`;
      continue;
    }
    [s1, s2] = walChecksum(buf, off, 8, s1, s2, bigEndian);
    [s1, s2] = walChecksum(buf, off + 24, pageSize, s1, s2, bigEndian);
    if (s1 !== buf.readUInt32BE(off + 16) || s2 !== buf.readUInt32BE(off + 20)) badAt = frame;
  }
  return undefined;
}

function walChecksum(
  buf: Buffer,
  off: number,
  len: number,
  a: number,
  b: number,
  bigEndian: boolean,
): [number, number] {
  let s1 = a;
  let s2 = b;
  for (let i = off; i < off + len; i += 8) {
    const x0 = bigEndian ? buf.readUInt32BE(i) : buf.readUInt32LE(i);
    const x1 = bigEndian ? buf.readUInt32BE(i + 4) : buf.readUInt32LE(i + 4);
    s1 = (s1 + x0 + s2) >>> 0;
    s2 = (s2 + x1 + s1) >>> 0;
  }
  return [s1, s2];
}

/** Rewrites the marker at most once per `intervalMs` as writes are acknowledged, and at close. */
export class MarkerWriter {
  private latest = 0;
  private written = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly logger?: Logger,
    private readonly intervalMs = 1_000,
  ) {}

  /** Records that `index` is durable; the file follows within `intervalMs`. */
  note(index: number): void {
    if (this.dataDir === ':memory:' || index <= this.latest) return;
    this.latest = index;
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes the marker now if it is behind. A failure (disk full) is logged and retried at the next note. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.dataDir === ':memory:' || this.latest <= this.written) return;
    try {
      writeMarker(this.dataDir, this.latest);
      this.written = this.latest;
    } catch (e) {
      this.logger?.warn('cannot write the state marker', { error: (e as Error).message });
    }
  }

  /** After load (or -recover): the marker starts at what the database holds. */
  reset(index: number): void {
    this.latest = index;
    this.written = 0;
    this.flush();
  }
}
