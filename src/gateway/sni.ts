/**
 * The server name in a TLS ClientHello, read without terminating TLS, so `proto=tcp+sni` routes can pass the
 * connection through to the instance that owns the name (HAProxy's `req.ssl_sni` on the other data plane).
 *
 *   record: type 0x16 | version(2) | length(2) | handshake: type 1 | length(3) | version(2) | random(32)
 *           | session id (1+n) | cipher suites (2+n) | compression (1+n) | extensions (2+n): type(2) len(2) data
 *   server_name extension (type 0): list length(2) | name type 0 | name length(2) | name
 */

/** What the bytes so far say: the name (or '' when the hello has none), more bytes needed, or not TLS at all. */
export type SniResult = { name: string } | 'more' | 'not-tls';

/** Reads the SNI host name from the first TLS record in `buf`. Only the first record is read (as HAProxy does). */
export function readSni(buf: Buffer): SniResult {
  if (buf.length < 5) return 'more';
  if (buf[0] !== 0x16 || buf[1] !== 3) return 'not-tls';
  const recordEnd = 5 + buf.readUInt16BE(3);
  if (buf.length < recordEnd) return 'more';
  let p = 5;
  if (buf[p] !== 1) return 'not-tls';
  p += 4 + 2 + 32;
  const need = (n: number) => p + n <= recordEnd;
  if (!need(1)) return 'not-tls';
  p += 1 + buf[p]!;
  if (!need(2)) return 'not-tls';
  p += 2 + buf.readUInt16BE(p);
  if (!need(1)) return 'not-tls';
  p += 1 + buf[p]!;
  if (!need(2)) return { name: '' };
  const extEnd = Math.min(recordEnd, p + 2 + buf.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    p += 4;
    if (type === 0 && p + 5 <= extEnd) {
      const nameLen = buf.readUInt16BE(p + 3);
      if (buf[p + 2] !== 0 || p + 5 + nameLen > extEnd) return 'not-tls';
      return { name: buf.toString('ascii', p + 5, p + 5 + nameLen).toLowerCase() };
    }
    p += len;
  }
  return { name: '' };
}
