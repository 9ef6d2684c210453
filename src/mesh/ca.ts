/**
 * The mesh CA: a self-signed EC P-256 root the servers create once and keep in state, and the short-lived leaf
 * certificates it signs for each service (URI SAN spiffe://drover/ns/<ns>/svc/<service>, serverAuth and
 * clientAuth, so one leaf serves both sides of a sidecar). The X.509 work is OpenSSL's, as for `drover tls`
 * (the `openssl` binary): `openssl ca` because it takes exact start and end dates (`x509 -days` counts whole
 * days), and a leaf must be able to live minutes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverError } from '../errors/index.js';

function openssl(args: string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 20_000, signal }, (err, _out, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new DroverError(
          'Internal',
          missing
            ? 'the mesh CA needs the openssl binary (Debian: apt-get install openssl)'
            : `openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`,
        ),
      );
    });
  });
}

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-mesh-ca-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Creates a root: its PEM certificate and PKCS#8 PEM key (valid ten years). */
export async function createMeshCA(signal?: AbortSignal): Promise<{ certPEM: string; keyPEM: string }> {
  return inTempDir(async (dir) => {
    const key = join(dir, 'ca.key');
    const cert = join(dir, 'ca.pem');
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '3650',
        '-subj',
        '/CN=Drover Mesh CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      signal,
    );
    return { certPEM: await readFile(cert, 'utf8'), keyPEM: await readFile(key, 'utf8') };
  });
}

/** openssl's date form for `-startdate` / `-enddate` (UTC, YYYYMMDDHHMMSSZ). */
function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

/**
 * Signs a fresh leaf for `spiffeID`, valid from a minute ago (clock skew between hosts) until `validBefore`.
 */
export async function issueLeaf(
  ca: { certPEM: string; keyPEM: string },
  commonName: string,
  spiffeID: string,
  validBefore: number,
  now: number,
  signal?: AbortSignal,
): Promise<{ certPEM: string; keyPEM: string }> {
  if (!/^[A-Za-z0-9._:/-]+$/.test(spiffeID) || !/^[A-Za-z0-9._-]+$/.test(commonName))
    throw new DroverError('BadRequest', `cannot issue a mesh certificate for "${commonName}" (${spiffeID})`);
  return inTempDir(async (dir) => {
    const f = (n: string) => join(dir, n);
    await writeFile(f('ca.pem'), ca.certPEM);
    await writeFile(f('ca.key'), ca.keyPEM, { mode: 0o600 });
    await writeFile(f('index.txt'), '');
    await writeFile(f('serial'), `01${randomBytes(8).toString('hex')}\n`);
    await writeFile(
      f('ca.cnf'),
      [
        '[ca]',
        'default_ca = mesh',
        '[mesh]',
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
        'commonName = supplied',
        '[leaf]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage = serverAuth,clientAuth',
        `subjectAltName = URI:${spiffeID}`,
        '',
      ].join('\n'),
    );
    await openssl(
      [
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
        `/CN=${commonName}`,
      ],
      signal,
    );
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
        asn1Time(now - 60_000),
        '-enddate',
        asn1Time(validBefore),
      ],
      signal,
    );
    return { certPEM: await readFile(f('leaf.pem'), 'utf8'), keyPEM: await readFile(f('leaf.key'), 'utf8') };
  });
}
