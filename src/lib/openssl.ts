/**
 * X.509 work done by the `openssl` binary (as `drover tls` does it): a self-signed EC P-256 CA and leaves it signs
 * with exact start and end dates. `openssl ca` is used because it takes exact dates (`x509 -days` counts whole
 * days), so a leaf may live minutes, or be made already expired for a test. Used by the mesh CA and the gateway's
 * test certificates.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverError } from '../errors/index.js';

/** A PEM certificate and its PEM private key. */
export interface CertKeyPEM {
  certPEM: string;
  keyPEM: string;
}

/**
 * Runs `openssl args...` (bounded to 20 s); rejects with the tool's stderr, or with a hint to install it when
 * the binary is missing (`needFor` names what needs it).
 */
export function openssl(args: string[], opts: { signal?: AbortSignal; needFor?: string } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 20_000, signal: opts.signal }, (err, _out, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new DroverError(
          'Internal',
          missing
            ? `${opts.needFor ?? 'this'} needs the openssl binary (Debian: apt-get install openssl)`
            : `openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`,
        ),
      );
    });
  });
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** openssl's date form for `-startdate` / `-enddate` (UTC, YYYYMMDDHHMMSSZ). */
export function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

/** A subject's common name as `-subj /CN=...` takes it: no `/`, `=`, `+`, `\\` or line breaks. */
const COMMON_NAME = /^[A-Za-z0-9 ._*:-]{1,64}$/;
/** One subjectAltName entry as ca.cnf takes it: no `$`, `#`, `@`, quotes, spaces or line breaks. */
const SAN_ENTRY = /^(DNS|IP|URI):[A-Za-z0-9._*:/%-]+$/;
const EXTENDED_KEY_USAGE = /^[A-Za-z]+(,[A-Za-z]+)*$/;

/**
 * Rejects a value that would change the meaning of the `-subj` argument or the ca.cnf it is written into (a line
 * break adds a directive, `@` names a section, `$` expands a variable): callers pass checked names, this is the
 * last line.
 */
function checkField(field: string, value: string, re: RegExp): void {
  if (!re.test(value))
    throw new DroverError(
      'BadRequest',
      `${field}: "${value.replace(/[^\x20-\x7e]/g, '?')}" has a character not allowed`,
    );
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed CA (EC P-256, ten years) with `commonName`. */
export async function createSelfSignedCA(
  commonName: string,
  opts: { signal?: AbortSignal; needFor?: string } = {},
): Promise<CertKeyPEM> {
  checkField('commonName', commonName, COMMON_NAME);
  return await inTempDir('drover-ca-', async (dir) => {
    const [key, cert] = [join(dir, 'ca.key'), join(dir, 'ca.pem')];
    await openssl(
      [
        'req',
        '-x509',
        ...EC_KEY,
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '3650',
        '-subj',
        `/CN=${commonName}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      opts,
    );
    return { certPEM: await readFile(cert, 'utf8'), keyPEM: await readFile(key, 'utf8') };
  });
}

export interface LeafRequest {
  commonName: string;
  /** An organizational unit put in the subject before the CN (the mesh puts the service's namespace there). */
  organizationalUnit?: string;
  /** The subjectAltName value, e.g. `DNS:a.test,DNS:b.test` or `URI:spiffe://...`. */
  subjectAltName: string;
  /** e.g. `serverAuth` or `serverAuth,clientAuth`. */
  extendedKeyUsage: string;
  /** Validity, ms since the epoch. */
  notBefore: number;
  notAfter: number;
}

/** A fresh EC P-256 leaf signed by `ca`, valid exactly from `notBefore` to `notAfter`. */
export async function signLeaf(
  ca: CertKeyPEM,
  leaf: LeafRequest,
  opts: { signal?: AbortSignal; needFor?: string } = {},
): Promise<CertKeyPEM> {
  checkField('commonName', leaf.commonName, COMMON_NAME);
  if (leaf.organizationalUnit !== undefined) checkField('organizationalUnit', leaf.organizationalUnit, COMMON_NAME);
  checkField('extendedKeyUsage', leaf.extendedKeyUsage, EXTENDED_KEY_USAGE);
  for (const entry of leaf.subjectAltName.split(',')) checkField('subjectAltName', entry, SAN_ENTRY);
  const subject = `${leaf.organizationalUnit !== undefined ? `/OU=${leaf.organizationalUnit}` : ''}/CN=${leaf.commonName}`;
  return await inTempDir('drover-leaf-', async (dir) => {
    const f = (n: string) => join(dir, n);
    await writeFile(f('ca.pem'), ca.certPEM);
    await writeFile(f('ca.key'), ca.keyPEM, { mode: 0o600 });
    await writeFile(f('index.txt'), '');
    await writeFile(f('serial'), `01${randomBytes(8).toString('hex')}\n`);
    await writeFile(
      f('ca.cnf'),
      [
        '[ca]',
        'default_ca = drover',
        '[drover]',
        `database = ${f('index.txt')}`,
        `new_certs_dir = ${dir}`,
        `certificate = ${f('ca.pem')}`,
        `private_key = ${f('ca.key')}`,
        `serial = ${f('serial')}`,
        'default_md = sha256',
        'policy = pol',
        'unique_subject = no',
        'email_in_dn = no',
        'x509_extensions = leaf',
        '[pol]',
        'organizationalUnitName = optional',
        'commonName = supplied',
        '[leaf]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage = ${leaf.extendedKeyUsage}`,
        `subjectAltName = ${leaf.subjectAltName}`,
        '',
      ].join('\n'),
    );
    await openssl(['req', '-new', ...EC_KEY, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', subject], opts);
    await openssl(
      [
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
        asn1Time(leaf.notBefore),
        '-enddate',
        asn1Time(leaf.notAfter),
      ],
      opts,
    );
    return { certPEM: await readFile(f('leaf.pem'), 'utf8'), keyPEM: await readFile(f('leaf.key'), 'utf8') };
  });
}

/**
 * A PKCS#10 certificate signing request (DER) for one DNS name, as CN and subjectAltName, signed with `keyPEM`:
 * what an ACME order's finalize call carries. `host` must already be a checked DNS name.
 */
export async function createCsr(host: string, keyPEM: string, signal?: AbortSignal): Promise<Buffer> {
  if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new DroverError('BadRequest', `not a DNS name for a CSR: "${host}"`);
  return await inTempDir('drover-csr-', async (dir) => {
    await writeFile(join(dir, 'key.pem'), keyPEM, { mode: 0o600 });
    const out = join(dir, 'req.der');
    const subject = ['-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`];
    await openssl(['req', '-new', '-key', join(dir, 'key.pem'), ...subject, '-outform', 'DER', '-out', out], {
      signal,
      needFor: 'ACME certificate orders',
    });
    return await readFile(out);
  });
}
