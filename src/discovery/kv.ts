/**
 * The rules of the Consul-compatible key/value store, as pure functions over rows: which keys are valid, what a
 * write or delete does (check-and-set included), and how a read by prefix, by key or of key names answers.
 * The server applies them inside one state-store transaction; the HTTP route only decodes and encodes.
 *
 *   PUT key (+cas, +flags) ─► validateKvKey ─► applyKvPut(current) ─► row | cas refused (false)
 *   DELETE key (+recurse, +cas) ─► kvDeleteTargets(rows) ─► keys to delete | cas refused (false)
 *   GET key | ?recurse | ?keys&separator ─► kvRead(rows) ─► entries | key names | null (404)
 */
import { badRequest, type Problem } from '../errors/index.js';
import type { KVEntry } from '../structs/index.js';

/** Consul refuses values above 512 KiB; so does Drover (before anything is stored). */
export const MAX_KV_VALUE_BYTES = 512 * 1024;
/** Longest key accepted, in bytes of UTF-8. Consul has no documented limit; this keeps keys usable in a path. */
export const MAX_KV_KEY_BYTES = 1024;

/**
 * Problems with a key, each naming what is wrong. Keys are opaque strings as in Consul, but a control
 * character (NUL included: it separates composite keys in the state store) or a `.`/`..` segment (which
 * URL normalisation would silently turn into another key) is refused, as is an over-long key.
 */
export function kvKeyProblems(key: string, opts: { allowEmpty?: boolean } = {}): Problem[] {
  const problems: Problem[] = [];
  if (key === '' && !opts.allowEmpty) problems.push({ message: 'missing key name', path: 'Key' });
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KV_KEY_BYTES)
    problems.push({ message: `key is ${bytes} bytes long; the limit is ${MAX_KV_KEY_BYTES}`, path: 'Key' });
  // eslint-disable-next-line no-control-regex
  const ctl = /[\u0000-\u001f\u007f]/.exec(key);
  if (ctl)
    problems.push({
      message: `key has a control character (U+${ctl[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}) at offset ${ctl.index}`,
      path: 'Key',
    });
  if (key.split('/').some((seg) => seg === '.' || seg === '..'))
    problems.push({ message: `key ${JSON.stringify(key)} has a "." or ".." segment`, path: 'Key' });
  return problems;
}

/** Throws BadRequest naming every problem of the key. */
export function validateKvKey(key: string, opts: { allowEmpty?: boolean } = {}): void {
  const problems = kvKeyProblems(key, opts);
  if (problems.length > 0)
    throw badRequest(`invalid key ${JSON.stringify(key)}: ${problems.map((p) => p.message).join('; ')}`, problems);
}

/** Parses `?flags=`: an unsigned integer (Consul's is a uint64; beyond 2^53 it would lose digits, so refused). */
export function parseKvFlags(raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)))
    throw badRequest(`invalid flags "${raw}": expected an unsigned integer below 2^53`, [
      { message: 'expected an unsigned integer', path: 'flags' },
    ]);
  return Number(raw);
}

export interface KvPutRequest {
  Key: string;
  /** The value's bytes. */
  value: Buffer;
  flags?: number;
  /** 0: only if the key does not exist; N: only if its ModifyIndex is still N. */
  cas?: number;
}

/** The row a PUT stores, or null when its check-and-set fails (Consul then answers `false`). */
export function applyKvPut(current: KVEntry | undefined, req: KvPutRequest, index: number): KVEntry | null {
  if (req.cas !== undefined) {
    if (req.cas === 0 && current) return null;
    if (req.cas !== 0 && (!current || current.ModifyIndex !== req.cas)) return null;
  }
  return {
    LockIndex: 0,
    Key: req.Key,
    // As Consul: a PUT without ?flags stores 0, not the flags the key had.
    Flags: req.flags ?? 0,
    Value: req.value.length === 0 ? null : req.value.toString('base64'),
    CreateIndex: current?.CreateIndex ?? index,
    ModifyIndex: index,
  };
}

/**
 * The keys a DELETE removes: the key alone, or every key under it with `recurse`. With `cas`, only a single
 * key whose ModifyIndex is still `cas` (Consul ignores cas with recurse; Drover refuses the pair instead).
 * Null: the check-and-set failed.
 */
export function kvDeleteTargets(
  rows: Iterable<KVEntry>,
  key: string,
  opts: { recurse?: boolean; cas?: number },
): string[] | null {
  if (opts.recurse && opts.cas !== undefined) throw badRequest('cas and recurse cannot be used together on a delete');
  if (opts.recurse) return [...rows].filter((r) => r.Key.startsWith(key)).map((r) => r.Key);
  const current = [...rows].find((r) => r.Key === key);
  if (opts.cas !== undefined && (opts.cas === 0 || !current || current.ModifyIndex !== opts.cas)) return null;
  return current ? [key] : [];
}

/** Entries under `prefix`, sorted by key (Consul's order: byte order of the keys). */
export function kvUnder(rows: Iterable<KVEntry>, prefix: string): KVEntry[] {
  return [...rows].filter((r) => r.Key.startsWith(prefix)).sort((a, b) => cmpBytes(a.Key, b.Key));
}

/**
 * `?keys`: the key names under `prefix`; with a separator, each name is cut after the first separator that
 * follows the prefix, and duplicates are dropped (so `?keys&separator=/` lists one "folder" level).
 */
export function kvKeys(rows: Iterable<KVEntry>, prefix: string, separator = ''): string[] {
  const out: string[] = [];
  let last: string | undefined;
  for (const r of kvUnder(rows, prefix)) {
    let k = r.Key;
    if (separator !== '') {
      const at = k.indexOf(separator, prefix.length);
      if (at >= 0) k = k.slice(0, at + separator.length);
    }
    if (k !== last) out.push(k);
    last = k;
  }
  return out;
}

function cmpBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The bytes of an entry's value. */
export function kvValue(e: KVEntry): Buffer {
  return e.Value === null ? Buffer.alloc(0) : Buffer.from(e.Value, 'base64');
}
