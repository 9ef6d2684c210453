/**
 * SHA-512 crypt (`$6$`, Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512"), the hash glibc's crypt(3),
 * `openssl passwd -6` and `mkpasswd -m sha-512` produce. The gateway's basic auth stores these hashes because
 * HAProxy's userlists check them with the system crypt(3) and the Node plane checks them here: one Variable
 * serves both data planes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DEFAULT_ROUNDS = 5000;
/** The byte order of the final encoding, three bytes per group, from the specification. */
const ORDER: [number, number, number][] = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
];

const sha512 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `n` bytes taken from `block` repeated. */
function repeatTo(block: Buffer, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 64) block.copy(out, i, 0, Math.min(64, n - i));
  return out;
}

function encode(b: Buffer): string {
  let out = '';
  const put = (w: number, n: number) => {
    for (let i = 0; i < n; i++, w >>= 6) out += ITOA64[w & 0x3f];
  };
  for (const [x, y, z] of ORDER) put((b[x]! << 16) | (b[y]! << 8) | b[z]!, 4);
  put(b[63]!, 2);
  return out;
}

/** Hashes `password` with `salt` (at most 16 characters are used) and `rounds` (default 5000). */
export function sha512Crypt(password: string, salt: string, rounds?: number): string {
  const p = Buffer.from(password, 'utf8');
  const s = Buffer.from(salt.slice(0, 16), 'utf8');
  const r = rounds === undefined ? DEFAULT_ROUNDS : Math.min(999_999_999, Math.max(1000, Math.floor(rounds)));
  const b = sha512(p, s, p);
  const a = createHash('sha512').update(p).update(s);
  let cnt = p.length;
  for (; cnt > 64; cnt -= 64) a.update(b);
  a.update(b.subarray(0, cnt));
  for (cnt = p.length; cnt > 0; cnt >>= 1) a.update(cnt & 1 ? b : p);
  const aDigest = a.digest();
  const dp = createHash('sha512');
  for (let i = 0; i < p.length; i++) dp.update(p);
  const pBytes = repeatTo(dp.digest(), p.length);
  const ds = createHash('sha512');
  for (let i = 0; i < 16 + aDigest[0]!; i++) ds.update(s);
  const sBytes = repeatTo(ds.digest(), s.length);
  let c = aDigest;
  for (let i = 0; i < r; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? pBytes : c);
    if (i % 3) h.update(sBytes);
    if (i % 7) h.update(pBytes);
    h.update(i & 1 ? c : pBytes);
    c = h.digest();
  }
  const head = rounds === undefined ? `$6$${s.toString('utf8')}` : `$6$rounds=${r}$${s.toString('utf8')}`;
  return `${head}$${encode(c)}`;
}

/** Whether `hash` (a `$6$` crypt string) is a valid SHA-512 crypt hash. */
export function isSha512Crypt(hash: string): boolean {
  return /^\$6\$(rounds=\d+\$)?[^$:\s]{0,16}\$[./0-9A-Za-z]{86}$/.test(hash);
}

/** Checks `password` against a `$6$` hash in constant time; false for anything that is not one. */
export function verifySha512Crypt(password: string, hash: string): boolean {
  const m = /^\$6\$(?:rounds=(\d+)\$)?([^$]{0,16})\$[./0-9A-Za-z]{86}$/.exec(hash);
  // Crypt time grows with the square of the password's length: a long one could stall the caller for seconds.
  if (!m || Buffer.byteLength(password) > 256) return false;
  const computed = sha512Crypt(password, m[2]!, m[1] === undefined ? undefined : Number(m[1]));
  const x = Buffer.from(computed);
  const y = Buffer.from(hash);
  return x.length === y.length && timingSafeEqual(x, y);
}
