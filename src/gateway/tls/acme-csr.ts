/**
 * A PKCS#10 certificate signing request (RFC 2986) for one DNS name, signed with an EC P-256 key: what an ACME
 * order's finalize call carries. node:crypto signs but does not build CSRs, so the few DER structures needed are
 * written here (RFC 5280 names and the subjectAltName extension, in an extensionRequest attribute).
 *
 *   SEQUENCE { info: SEQUENCE { 0, Name(CN=host), SubjectPublicKeyInfo, [0] { extensionRequest(SAN=host) } },
 *              ecdsa-with-SHA256, BIT STRING(signature over info) }
 */
import { createPublicKey, sign, type KeyObject } from 'node:crypto';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

const OID_CN = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';

/** The DER CSR for `host`, signed by `key` (an EC P-256 private key). */
export function createCsr(host: string, key: KeyObject): Buffer {
  const name = seq(set(seq(oid(OID_CN), tlv(0x0c, Buffer.from(host, 'utf8')))));
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const san = seq(tlv(0x82, Buffer.from(host, 'ascii'))); // GeneralNames { dNSName [2] IMPLICIT IA5String }
  const extensions = seq(seq(oid(OID_SUBJECT_ALT_NAME), tlv(0x04, san)));
  const attributes = tlv(0xa0, seq(oid(OID_EXTENSION_REQUEST), set(extensions)));
  const info = seq(tlv(0x02, Buffer.from([0])), name, spki, attributes);
  const signature = sign('sha256', info, key); // DER-encoded ECDSA, as X.509 wants
  return seq(info, seq(oid(OID_ECDSA_SHA256)), tlv(0x03, Buffer.from([0]), signature));
}
