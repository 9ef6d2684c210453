/**
 * An artifact's `source` and `options` read the way go-getter reads them (Nomad's artifact block):
 *
 *   source + options (appended as query parameters) ─► detector: http(s):// · file:// · absolute or relative path
 *     ─► go-getter's own parameters taken out of the query: archive=<type|false>, checksum=<algo:hex>, filename=
 *     ─► the archive type from the query or from the path's extension (.tar.gz .tgz .tar .zip .gz)
 *
 * Forced getters (`git::`, `s3::`...) and the other schemes are refused by name: Drover fetches over HTTP(S) and
 * from files inside the allocation directory only. A relative path is relative to the task directory, as
 * go-getter's pwd is in Nomad.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverError } from '../../errors/index.js';

export type ArchiveKind = 'tar' | 'tar.gz' | 'zip' | 'gz';
export type ChecksumAlgo = 'md5' | 'sha1' | 'sha256' | 'sha512';

export interface ArtifactSource {
  kind: 'http' | 'file';
  /** What is fetched: the URL without go-getter's parameters (http), or the file's absolute path. */
  location: string;
  archive: ArchiveKind | null;
  checksum: { algo: ChecksumAlgo; hex: string } | null;
  /** The file name a single file gets in mode "any": `?filename=` or the last part of the path. */
  filename: string;
}

/** Hex lengths of each digest, also how go-getter guesses a checksum given without its type. */
const HEX_LENGTH: Record<ChecksumAlgo, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };

/** Extensions go-getter recognises, longest first so `.tar.gz` wins over `.gz`. */
const EXTENSIONS: Array<[string, ArchiveKind | string]> = [
  ['.tar.gz', 'tar.gz'],
  ['.tgz', 'tar.gz'],
  ['.tar.bz2', 'tar.bz2'],
  ['.tbz2', 'tar.bz2'],
  ['.tar.xz', 'tar.xz'],
  ['.txz', 'tar.xz'],
  ['.tar.zst', 'tar.zst'],
  ['.tzst', 'tar.zst'],
  ['.tar', 'tar'],
  ['.zip', 'zip'],
  ['.gz', 'gz'],
  ['.bz2', 'bz2'],
  ['.xz', 'xz'],
  ['.zst', 'zst'],
];
const SUPPORTED: ReadonlySet<string> = new Set(['tar', 'tar.gz', 'zip', 'gz']);
const ARCHIVE_ALIASES: Record<string, string> = { tgz: 'tar.gz', tbz2: 'tar.bz2', txz: 'tar.xz', tzst: 'tar.zst' };

/** A problem with the artifact as written: retrying cannot help, so the task fails at once. */
export function badArtifact(message: string): DroverError {
  return new DroverError('BadRequest', message, { details: { recoverable: false } });
}

/**
 * Reads `source` with its `options`. `taskDir` anchors relative paths. Throws a non-recoverable error for a
 * source no retry could fetch (unsupported scheme, malformed checksum, unknown archive type).
 */
export function parseArtifactSource(
  source: string,
  options: Record<string, string> | null | undefined,
  taskDir: string,
): ArtifactSource {
  const src = source.trim();
  if (!src) throw badArtifact('artifact source is empty');
  const forced = /^([A-Za-z0-9]+)::/.exec(src);
  if (forced && !['http', 'https', 'file'].includes(forced[1]!.toLowerCase()))
    throw badArtifact(`artifact getter "${forced[1]}::" is not supported: Drover fetches http(s):// and local files`);
  const plain = forced ? src.slice(forced[0].length) : src;

  let url: URL;
  let kind: 'http' | 'file';
  if (/^https?:\/\//i.test(plain)) {
    url = parseURL(plain);
    kind = 'http';
  } else if (/^file:\/\//i.test(plain)) {
    url = parseURL(plain);
    kind = 'file';
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(plain)) {
    throw badArtifact(
      `artifact source scheme "${plain.split(':')[0]}" is not supported: Drover fetches http(s):// and local files`,
    );
  } else if (/^(github\.com|gitlab\.com|bitbucket\.org)\//i.test(plain) || /^git@/.test(plain)) {
    throw badArtifact(`artifact source "${plain}" is a git repository: Drover fetches http(s):// and local files`);
  } else {
    // go-getter's file detector: a path, absolute or relative to the task directory; its query stays a query.
    const [p = '', q] = splitQuery(plain);
    const abs = isAbsolute(p) ? p : resolve(taskDir, p);
    url = parseURL('file://' + encodeURI(abs) + (q !== undefined ? '?' + q : ''));
    kind = 'file';
  }
  for (const [k, v] of Object.entries(options ?? {})) url.searchParams.set(k, String(v));

  const archiveParam = url.searchParams.get('archive');
  const checksumParam = url.searchParams.get('checksum');
  const filenameParam = url.searchParams.get('filename');
  for (const k of ['archive', 'checksum', 'filename']) url.searchParams.delete(k);

  const path = kind === 'file' ? filePath(url) : '';
  const pathname = kind === 'file' ? path : safeDecode(url.pathname);
  const filename = filenameParam || pathname.split('/').filter(Boolean).pop() || 'artifact';
  if (filename.includes('/') || filename === '..' || filename === '.')
    throw badArtifact(`artifact filename "${filename}" must be a plain file name`);

  return {
    kind,
    location: kind === 'file' ? path : url.href,
    archive: archiveKind(archiveParam, pathname),
    checksum: checksumParam ? parseChecksum(checksumParam) : null,
    filename,
  };
}

function parseURL(s: string): URL {
  try {
    return new URL(s);
  } catch {
    throw badArtifact(`artifact source "${s}" is not a valid URL`);
  }
}

function filePath(url: URL): string {
  const u = new URL(url.href);
  u.search = '';
  try {
    return fileURLToPath(u);
  } catch (e) {
    throw badArtifact(`artifact source "${url.href}": ${(e as Error).message}`);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function splitQuery(s: string): [string, string | undefined] {
  const i = s.indexOf('?');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function archiveKind(param: string | null, pathname: string): ArchiveKind | null {
  if (param !== null) {
    const p = param.trim().toLowerCase();
    if (p === 'false' || p === '') return null;
    const kind = ARCHIVE_ALIASES[p] ?? p;
    if (!SUPPORTED.has(kind)) throw unsupportedArchive(kind);
    return kind as ArchiveKind;
  }
  const lower = pathname.toLowerCase();
  for (const [ext, kind] of EXTENSIONS) {
    if (!lower.endsWith(ext)) continue;
    if (!SUPPORTED.has(kind)) throw unsupportedArchive(kind);
    return kind as ArchiveKind;
  }
  return null;
}

function unsupportedArchive(kind: string): DroverError {
  return badArtifact(
    `artifact archive type "${kind}" is not supported (tar, tar.gz, zip and gz are); set options { archive = false } to fetch it as a file`,
  );
}

/** `algo:hex`, or a bare hex digest whose length names the algorithm, as go-getter accepts. */
export function parseChecksum(text: string): { algo: ChecksumAlgo; hex: string } {
  const t = text.trim();
  const i = t.indexOf(':');
  const algo = (i < 0 ? '' : t.slice(0, i).toLowerCase()) as ChecksumAlgo | '';
  const hex = (i < 0 ? t : t.slice(i + 1)).toLowerCase();
  if (algo === ('file' as string))
    throw badArtifact('artifact checksum "file:<url>" is not supported: give the digest as algo:hex');
  const guessed = algo || (Object.keys(HEX_LENGTH) as ChecksumAlgo[]).find((a) => HEX_LENGTH[a] === hex.length);
  if (!guessed || !(guessed in HEX_LENGTH))
    throw badArtifact(`artifact checksum "${t}": expected md5:, sha1:, sha256: or sha512: followed by the hex digest`);
  if (hex.length !== HEX_LENGTH[guessed] || !/^[0-9a-f]+$/.test(hex))
    throw badArtifact(`artifact checksum "${t}": a ${guessed} digest is ${HEX_LENGTH[guessed]} hex characters`);
  return { algo: guessed, hex };
}
