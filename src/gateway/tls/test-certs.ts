/**
 * Certificates for the gateway's TLS tests, made with the openssl binary: a throwaway CA and leaves for DNS names
 * with exact validity dates (so a test can make an expired one). Test support only.
 */
import { createSelfSignedCA, signLeaf } from '../../lib/openssl.js';

export interface TestPem {
  cert: string;
  key: string;
}

const asTestPem = (p: { certPEM: string; keyPEM: string }): TestPem => ({ cert: p.certPEM, key: p.keyPEM });

/** A self-signed test CA (P-256, ten years). */
export async function testCA(): Promise<TestPem> {
  return asTestPem(await createSelfSignedCA('Drover gateway test CA'));
}

/** A leaf for `names` signed by `ca`, valid from `notBefore` to `notAfter` (ms since epoch). */
export async function testLeaf(
  ca: TestPem,
  names: string[],
  notBefore = Date.now() - 60_000,
  notAfter = Date.now() + 86_400_000,
): Promise<TestPem> {
  const leaf = await signLeaf(
    { certPEM: ca.cert, keyPEM: ca.key },
    {
      commonName: names[0] ?? 'localhost',
      subjectAltName: names.map((n) => `DNS:${n}`).join(','),
      extendedKeyUsage: 'serverAuth',
      notBefore,
      notAfter,
    },
  );
  return asTestPem(leaf);
}

/** The set the TLS tests use: a CA, a default (localhost), two for shop.test, and an expired one for old.test. */
export async function testCertSet(): Promise<Record<'ca' | 'dflt' | 'shopA' | 'shopB' | 'expired', TestPem>> {
  const ca = await testCA();
  const [dflt, shopA, shopB, expired] = await Promise.all([
    testLeaf(ca, ['localhost']),
    testLeaf(ca, ['shop.test']),
    testLeaf(ca, ['shop.test']),
    testLeaf(ca, ['old.test'], Date.now() - 2 * 86_400_000, Date.now() - 86_400_000),
  ]);
  return { ca, dflt, shopA, shopB, expired };
}
