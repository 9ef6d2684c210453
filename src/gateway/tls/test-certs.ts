/**
 * Certificates for the gateway's TLS tests, made with the openssl binary: a throwaway CA and leaves for DNS names
 * with exact validity dates (so a test can make an expired one). Test support only.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPem {
  cert: string;
  key: string;
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 20_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`)) : resolve(),
    );
  });
}

async function inTemp<T>(fn: (f: (name: string) => string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-gwtls-cert-'));
  try {
    return await fn((n) => join(dir, n));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A self-signed test CA (P-256, ten years). */
export function testCA(): Promise<TestPem> {
  return inTemp(async (f) => {
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.pem'),
      '-days',
      '3650',
      '-subj',
      '/CN=Drover gateway test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { cert: await readFile(f('ca.pem'), 'utf8'), key: await readFile(f('ca.key'), 'utf8') };
  });
}

const asn1 = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';

/** A leaf for `names` signed by `ca`, valid from `notBefore` to `notAfter` (ms since epoch). */
export function testLeaf(
  ca: TestPem,
  names: string[],
  notBefore = Date.now() - 60_000,
  notAfter = Date.now() + 86_400_000,
): Promise<TestPem> {
  return inTemp(async (f) => {
    await writeFile(f('ca.pem'), ca.cert);
    await writeFile(f('ca.key'), ca.key, { mode: 0o600 });
    await writeFile(f('index.txt'), '');
    await writeFile(f('serial'), `01${randomBytes(8).toString('hex')}\n`);
    await writeFile(
      f('ca.cnf'),
      [
        '[ca]',
        'default_ca = t',
        '[t]',
        `database = ${f('index.txt')}`,
        `new_certs_dir = ${f('')}`,
        `certificate = ${f('ca.pem')}`,
        `private_key = ${f('ca.key')}`,
        `serial = ${f('serial')}`,
        'default_md = sha256',
        'policy = pol',
        'unique_subject = no',
        'x509_extensions = leaf',
        '[pol]',
        'commonName = supplied',
        '[leaf]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage = serverAuth',
        `subjectAltName = ${names.map((n) => `DNS:${n}`).join(',')}`,
        '',
      ].join('\n'),
    );
    await openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f('leaf.key'),
      '-out',
      f('leaf.csr'),
      '-subj',
      `/CN=${names[0] ?? 'localhost'}`,
    ]);
    await openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      f('ca.cnf'),
      '-in',
      f('leaf.csr'),
      '-out',
      f('leaf.pem'),
      '-startdate',
      asn1(notBefore),
      '-enddate',
      asn1(notAfter),
    ]);
    return { cert: await readFile(f('leaf.pem'), 'utf8'), key: await readFile(f('leaf.key'), 'utf8') };
  });
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
