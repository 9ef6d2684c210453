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

  it('refuse names and usages that would rewrite the CA config or the subject, before running openssl', async () => {
    const ca = { certPEM: '', keyPEM: '' };
    const leaf = {
      commonName: 'a.test',
      subjectAltName: 'DNS:a.test',
      extendedKeyUsage: 'serverAuth',
      notBefore: 0,
      notAfter: 1,
    };
    for (const [field, value] of [
      ['subjectAltName', 'DNS:a.test\nbasicConstraints = critical,CA:TRUE'],
      ['subjectAltName', 'DNS:a.test\r'],
      ['subjectAltName', '@alt'],
      ['subjectAltName', 'DNS:$ENV::HOME'],
      ['extendedKeyUsage', 'serverAuth\nkeyUsage = keyCertSign'],
      ['commonName', 'a.test/O=Evil'],
      ['commonName', 'a\nb'],
    ] as const)
      await expect(signLeaf(ca, { ...leaf, [field]: value })).rejects.toThrow(new RegExp(`^${field}: .* not allowed`));
    await expect(createSelfSignedCA('CA\n/O=Evil')).rejects.toThrow(/^commonName: /);
    // What the mesh and the gateway ask for still passes the check (an empty CA then fails in openssl itself).
    await expect(
      signLeaf(ca, {
        ...leaf,
        commonName: 'web',
        subjectAltName: 'URI:spiffe://a.consul/ns/default/dc/dc1/svc/web,DNS:*.b.test,IP:127.0.0.1',
        extendedKeyUsage: 'serverAuth,clientAuth',
      }),
    ).rejects.toThrow(/openssl/);
  });

  it("reject with openssl's own message when it fails", async () => {
    await expect(openssl(['x509', '-in', '/nonexistent/drover.pem'])).rejects.toThrow(/openssl x509 failed: \S+/);
  });
});
