/**
 * Fetches one artifact's bytes into a file the hook owns, hashing them on the way, with the client's limits:
 * at most `maxBytes` (a larger Content-Length is refused before the body is read, a body that keeps going is cut
 * off), within `timeoutMs` for the whole transfer, aborted with the task.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { confinedPath } from '../alloc-dir.js';
import type { ArtifactSource, ChecksumAlgo } from './source.js';

export interface FetchLimits {
  /** Largest download, in bytes. */
  maxBytes: number;
  /** Longest time for one whole download. */
  timeoutMs: number;
}

export interface FetchResult {
  bytes: number;
  /** Hex digest in the artifact's checksum algorithm (sha256 when it has none). */
  digest: string;
}

/**
 * Writes the artifact's bytes to `dest`. Local files must be regular files inside `allocDir`. Throws an Error
 * whose message says what went wrong (status, size, timeout), without the retry decision: the caller makes it.
 */
export async function fetchArtifact(
  src: ArtifactSource,
  dest: string,
  o: { allocDir: string; headers: Record<string, string>; limits: FetchLimits; signal: AbortSignal },
): Promise<FetchResult> {
  const algo: ChecksumAlgo = src.checksum?.algo ?? 'sha256';
  const hash = createHash(algo);
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > o.limits.maxBytes) {
        done(new Error(`artifact is larger than the client's limit of ${o.limits.maxBytes} bytes (http_max_size)`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const timeout = AbortSignal.timeout(o.limits.timeoutMs);
  const signal = AbortSignal.any([o.signal, timeout]);
  try {
    const body = src.kind === 'http' ? await httpBody(src.location, o.headers, o.limits, signal) : localBody(src, o);
    await pipeline(body, meter, createWriteStream(dest, { mode: 0o644 }), { signal });
  } catch (e) {
    if (timeout.aborted && !o.signal.aborted)
      throw new Error(`download did not finish within ${o.limits.timeoutMs / 1000}s (http_read_timeout)`, {
        cause: e,
      });
    throw e;
  }
  return { bytes, digest: hash.digest('hex') };
}

async function httpBody(
  url: string,
  headers: Record<string, string>,
  limits: FetchLimits,
  signal: AbortSignal,
): Promise<Readable> {
  // fetch() refuses credentials in the URL; go-getter sends them as basic auth.
  const target = new URL(url);
  const auth: Record<string, string> = {};
  if (target.username || target.password) {
    const user = decodeURIComponent(target.username);
    const pass = decodeURIComponent(target.password);
    auth.Authorization = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
    target.username = '';
    target.password = '';
  }
  let res: Response;
  try {
    res = await fetch(target, { headers: { ...auth, ...headers }, signal, redirect: 'follow' });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`GET ${redact(url)}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, { cause: e });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`GET ${redact(url)}: bad response code: ${res.status} ${res.statusText}`.trimEnd());
  }
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > limits.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(
      `GET ${redact(url)}: ${length} bytes is more than the client's limit of ${limits.maxBytes} bytes (http_max_size)`,
    );
  }
  if (!res.body) return Readable.from([]);
  return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
}

function localBody(src: ArtifactSource, o: { allocDir: string }): Readable {
  let path: string;
  try {
    path = confinedPath(o.allocDir, src.location);
  } catch {
    throw new Error(`local artifact ${src.location} is outside the allocation directory`);
  }
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new Error(`local artifact ${src.location}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  if (!st.isFile()) throw new Error(`local artifact ${src.location} is not a regular file`);
  return createReadStream(path);
}

/** A URL for messages, without a password in it. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.href;
  } catch {
    return url;
  }
}
