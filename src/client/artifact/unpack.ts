/**
 * Unpacks a downloaded archive into a staging directory the hook just created (so nothing else can have put a
 * symlink in it), refusing anything that would land outside it:
 *
 *   tar / tar.gz (node-tar's parser) · zip (yauzl) ─► one entry at a time ─► checks ─► written under `root`
 *   checks: no absolute path, no `..` part, no path through a symlink the archive made, a symlink's target
 *   relative and inside `root` (lexically here, and by realpath once everything is written), a hard link to a
 *   file already unpacked, only files, directories and links (no devices, FIFOs), at most `maxFiles` entries
 *   and `maxBytes` unpacked bytes.
 *
 * The first refused entry stops the unpacking with an error naming it; the caller throws the staging directory
 * away, so a refused archive leaves nothing behind.
 */
import {
  copyFileSync,
  createReadStream,
  createWriteStream,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { dirname, join, posix, relative, sep, isAbsolute } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';

export interface UnpackLimits {
  /** Most entries one archive may hold (`decompression_file_count_limit`). */
  maxFiles: number;
  /** Most bytes it may unpack to (`decompression_size_limit`). */
  maxBytes: number;
}

type EntryKind = 'file' | 'dir' | 'symlink' | 'link';

/** Writes the entries of one archive under `root`, enforcing the checks above. */
class EntryWriter {
  private files = 0;
  private bytes = 0;
  private readonly symlinks = new Set<string>();
  private readonly regular = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly limits: UnpackLimits,
  ) {}

  /** The entry's path under root, or an error naming why it is refused. */
  target(name: string, kind: EntryKind, linkTarget?: string): string {
    if (++this.files > this.limits.maxFiles)
      throw new Error(`archive holds more than ${this.limits.maxFiles} entries (decompression_file_count_limit)`);
    const clean = name.replace(/\\/g, '/');
    if (clean.startsWith('/') || /^[A-Za-z]:/.test(clean))
      throw new Error(`archive entry ${JSON.stringify(name)} has an absolute path`);
    const parts = clean.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new Error(`archive entry ${JSON.stringify(name)} leaves the destination (..)`);
    const rel = parts.join('/');
    for (let i = 1; i < parts.length; i++) {
      if (this.symlinks.has(parts.slice(0, i).join('/')))
        throw new Error(`archive entry ${JSON.stringify(name)} goes through a symlink in the archive`);
    }
    if (kind === 'symlink') {
      const t = linkTarget ?? '';
      if (t === '' || t.startsWith('/') || /^[A-Za-z]:/.test(t))
        throw new Error(`archive symlink ${JSON.stringify(name)} points to an absolute path ${JSON.stringify(t)}`);
      const resolved = posix.normalize(posix.join(posix.dirname(rel), t.replace(/\\/g, '/')));
      if (resolved === '..' || resolved.startsWith('../'))
        throw new Error(`archive symlink ${JSON.stringify(name)} points outside the destination (${t})`);
    }
    if (kind === 'link') {
      const t = (linkTarget ?? '').replace(/\\/g, '/');
      const tp = t.split('/').filter((p) => p !== '' && p !== '.');
      if (t.startsWith('/') || tp.includes('..') || !this.regular.has(tp.join('/')))
        throw new Error(`archive hard link ${JSON.stringify(name)} must point to a file unpacked before it (${t})`);
    }
    if (rel === '') {
      if (kind === 'dir') return this.root;
      throw new Error(`archive entry ${JSON.stringify(name)} has no name`);
    }
    return join(this.root, ...parts);
  }

  dir(name: string): void {
    const path = this.target(name, 'dir');
    if (isLinkOrFile(path)) rmSync(path, { force: true });
    mkdirSync(path, { recursive: true });
  }

  async file(name: string, mode: number, body: Readable, signal: AbortSignal): Promise<void> {
    const path = this.target(name, 'file');
    this.prepare(path);
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.bytes += chunk.length;
        if (this.bytes > this.limits.maxBytes) {
          done(new Error(`archive unpacks to more than ${this.limits.maxBytes} bytes (decompression_size_limit)`));
          return;
        }
        done(null, chunk);
      },
    });
    await pipeline(body, counter, createWriteStream(path, { mode: fileMode(mode) }), { signal });
    this.regular.add(relative(this.root, path).split(sep).join('/'));
  }

  symlink(name: string, linkTarget: string): void {
    const path = this.target(name, 'symlink', linkTarget);
    this.prepare(path);
    symlinkSync(linkTarget, path);
    this.symlinks.add(relative(this.root, path).split(sep).join('/'));
  }

  link(name: string, linkTarget: string): void {
    const path = this.target(name, 'link', linkTarget);
    this.prepare(path);
    const from = join(
      this.root,
      ...linkTarget
        .replace(/\\/g, '/')
        .split('/')
        .filter((p) => p !== '' && p !== '.'),
    );
    // The target was a regular file of this archive, but a later entry may have replaced it or a directory on its
    // way: copy only a regular file whose real path is still inside root, and count its bytes like any file's.
    const real = realpathSync.native(from);
    const rootReal = realpathSync.native(this.root);
    const st = lstatSync(real);
    if (!st.isFile() || (real !== rootReal && !real.startsWith(rootReal + sep)))
      throw new Error(
        `archive hard link ${JSON.stringify(name)} must point to a file unpacked before it (${linkTarget})`,
      );
    this.bytes += st.size;
    if (this.bytes > this.limits.maxBytes)
      throw new Error(`archive unpacks to more than ${this.limits.maxBytes} bytes (decompression_size_limit)`);
    copyFileSync(real, path);
    this.regular.add(relative(this.root, path).split(sep).join('/'));
  }

  /** The parent exists as a directory; a file or link already at `path` makes way (a later entry wins). */
  private prepare(path: string): void {
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { recursive: true, force: true });
    const rel = relative(this.root, path).split(sep).join('/');
    this.symlinks.delete(rel);
    // What was at or under `path` is gone: no later hard link may name it.
    for (const r of this.regular) if (r === rel || r.startsWith(`${rel}/`)) this.regular.delete(r);
  }
}

function isLinkOrFile(path: string): boolean {
  try {
    return !lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Permission bits only (no setuid/setgid/sticky from an archive), readable by the owner at least. */
function fileMode(mode: number): number {
  return (mode & 0o777) | 0o600;
}

/** Unpacks a tar or tar.gz (node-tar detects the compression) into `root`. */
export async function unpackTar(
  archive: string,
  root: string,
  limits: UnpackLimits,
  signal: AbortSignal,
): Promise<void> {
  const writer = new EntryWriter(root, limits);
  const ctl = new AbortController();
  const stop = AbortSignal.any([signal, ctl.signal]);
  let failure: unknown;
  const fail = (e: unknown): void => {
    failure ??= e;
    ctl.abort();
  };
  let chain = Promise.resolve();
  const inOrder = (step: () => void): void => {
    chain = chain
      .then(() => {
        if (failure === undefined) step();
      })
      .catch((e: unknown) => fail(e));
  };
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (failure !== undefined) {
        entry.resume();
        return;
      }
      try {
        switch (entry.type) {
          case 'File':
          case 'OldFile':
          case 'ContiguousFile': {
            // The parser waits for this entry's body to be read before it emits the next one.
            const body = entry as unknown as Readable;
            chain = chain.then(() =>
              writer.file(entry.path, entry.mode ?? 0o644, body, stop).catch((e: unknown) => fail(e)),
            );
            return;
          }
          // In archive order, after the files before them are written (a hard link names one of them).
          case 'Directory':
            inOrder(() => writer.dir(entry.path));
            break;
          case 'SymbolicLink':
            inOrder(() => writer.symlink(entry.path, entry.linkpath ?? ''));
            break;
          case 'Link':
            inOrder(() => writer.link(entry.path, entry.linkpath ?? ''));
            break;
          default:
            throw new Error(
              `archive entry ${JSON.stringify(entry.path)} is a ${entry.type}, not a file, directory or link`,
            );
        }
      } catch (e) {
        fail(e);
      }
      entry.resume();
    },
  });
  const input = createReadStream(archive);
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        input.destroy();
        reject(failure instanceof Error ? failure : new Error('unpacking aborted'));
      };
      if (stop.aborted) return onAbort();
      stop.addEventListener('abort', onAbort, { once: true });
      parser.on('error', (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))));
      parser.on('end', () => resolve());
      input.on('error', reject);
      input.pipe(parser as unknown as NodeJS.WritableStream);
    });
    await chain;
  } finally {
    input.destroy();
  }
  if (failure !== undefined) throw failure as Error;
  if (signal.aborted) throw new Error('unpacking aborted');
  checkSymlinks(root);
}

/** Unpacks a zip into `root`; yauzl itself refuses absolute and `..` names and lying entry sizes. */
export async function unpackZip(
  archive: string,
  root: string,
  limits: UnpackLimits,
  signal: AbortSignal,
): Promise<void> {
  const writer = new EntryWriter(root, limits);
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(archive, { lazyEntries: true, autoClose: true, validateEntrySizes: true }, (err, z) =>
      err ? reject(zipError(err)) : resolve(z),
    ),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new Error('unpacking aborted'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      zip.on('error', (e: Error) => reject(zipError(e)));
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        zipEntry(zip, entry, writer, signal).then(
          () => zip.readEntry(),
          (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
        );
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  checkSymlinks(root);
}

async function zipEntry(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  writer: EntryWriter,
  signal: AbortSignal,
): Promise<void> {
  const unixMode = entry.versionMadeBy >> 8 === 3 ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
  const type = unixMode & 0o170000;
  if (entry.fileName.endsWith('/') || type === 0o040000) return writer.dir(entry.fileName);
  if (type !== 0 && type !== 0o100000 && type !== 0o120000)
    throw new Error(`archive entry ${JSON.stringify(entry.fileName)} is not a file, directory or symlink`);
  const body = await new Promise<Readable>((resolve, reject) =>
    zip.openReadStream(entry, (err, s) => (err ? reject(zipError(err)) : resolve(s))),
  );
  if (type === 0o120000) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of body) {
      size += (c as Buffer).length;
      if (size > 4096) throw new Error(`archive symlink ${JSON.stringify(entry.fileName)} has a target over 4 KiB`);
      chunks.push(c as Buffer);
    }
    return writer.symlink(entry.fileName, Buffer.concat(chunks).toString('utf8'));
  }
  await writer.file(entry.fileName, unixMode & 0o777 ? unixMode : 0o644, body, signal);
}

function zipError(e: Error): Error {
  return new Error(`zip: ${e.message}`);
}

/** Decompresses a single gzip file to `dest`, bounded like an archive. */
export async function gunzipTo(
  archive: string,
  dest: string,
  limits: UnpackLimits,
  signal: AbortSignal,
): Promise<void> {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) {
        done(new Error(`gzip unpacks to more than ${limits.maxBytes} bytes (decompression_size_limit)`));
        return;
      }
      done(null, chunk);
    },
  });
  await pipeline(createReadStream(archive), createGunzip(), counter, createWriteStream(dest, { mode: 0o644 }), {
    signal,
  });
}

/** Every symlink under `root` resolves inside it, once all of them exist (chains included). */
function checkSymlinks(root: string): void {
  const rootReal = realpathSync.native(root);
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      if (d.isSymbolicLink()) {
        let real: string;
        try {
          real = realpathSync.native(p);
        } catch {
          continue; // dangling inside root: lexically checked already
        }
        const rel = relative(rootReal, real);
        if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel))
          throw new Error(`archive symlink ${JSON.stringify(relative(root, p))} resolves outside the destination`);
      } else if (d.isDirectory()) walk(p);
    }
  };
  walk(root);
}
