import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { asn1Time, createSelfSignedCA, openssl, signLeaf } from './openssl.js';

describe('openssl helpers', () => {
  it('write a date the way openssl ca -startdate takes it', () => {
    expect(asn1Time(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('20260102030405Z');
  });

  it('sign a leaf with exactly the dates, names and usage asked for, verifiable by its CA', async () => {
    const ca = await createSelfSignedCA('Lib test CA');
    const notBefore = Date.UTC(2020, 0, 1);
    const notAfter = Date.UTC(2020, 0, 1, 0, 5);
    const leaf = await signLeaf(ca, {
      commonName: 'a.test',
      subjectAltName: 'DNS:a.test,DNS:b.test',
      extendedKeyUsage: 'serverAuth',
      notBefore,
      notAfter,
    });
    const x = new X509Certificate(leaf.certPEM);
    expect(Date.parse(x.validFrom)).toBe(notBefore);
    expect(Date.parse(x.validTo)).toBe(notAfter);
    expect(x.subjectAltName).toBe('DNS:a.test, DNS:b.test');
    expect(x.verify(new X509Certificate(ca.certPEM).publicKey)).toBe(true);
  });

  it("reject with openssl's own message when it fails", async () => {
    await expect(openssl(['x509', '-in', '/nonexistent/drover.pem'])).rejects.toThrow(/openssl x509 failed: \S+/);
  });
});
