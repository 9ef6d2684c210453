/**
 * The mesh CA: a self-signed EC P-256 root the servers create once and keep in state, and the short-lived leaf
 * certificates it signs for each service (URI SAN spiffe://drover/ns/<ns>/svc/<service>, serverAuth and
 * clientAuth, so one leaf serves both sides of a sidecar). HAProxy 2.6 (the sidecar's other data plane) cannot
 * read a URI SAN, so the leaf also names the service the ways it can check: subject OU=<ns>, CN=<service> (the
 * inbound's intentions) and DNS SAN <service>.<ns>.mesh.drover (the outbound's `verifyhost`). The X.509 work is OpenSSL's, as for `drover tls`
 * (the `openssl` binary): `openssl ca` because it takes exact start and end dates (`x509 -days` counts whole
 * days), and a leaf must be able to live minutes.
 */
import { createHash } from 'node:crypto';
import { DroverError } from '../errors/index.js';
import { createSelfSignedCA, signLeaf } from '../lib/openssl.js';
import { parseMeshSpiffeID } from '../structs/index.js';

/** The DNS name a leaf carries for HAProxy's `verifyhost` (a namespace has no dot, so it reads back one way). */
export function meshHostName(namespace: string, service: string): string {
  return `${service}.${namespace}.mesh.drover`;
}

/**
 * The namespace as a leaf's subject OU names it: X.509 bounds an OU at 64 characters, so a longer namespace is
 * named by `_` and 40 hex digits of its SHA-256 (a namespace name cannot hold `_`, so none reads the same). The
 * HAProxy inbound's intention keys use the same name.
 */
export function meshSubjectNamespace(namespace: string): string {
  return namespace.length <= 64 ? namespace : `_${createHash('sha256').update(namespace).digest('hex').slice(0, 40)}`;
}

const NEED_FOR = 'the mesh CA';

/** Creates a root: its PEM certificate and PKCS#8 PEM key (valid ten years). */
export function createMeshCA(signal?: AbortSignal): Promise<{ certPEM: string; keyPEM: string }> {
  return createSelfSignedCA('Drover Mesh CA', { signal, needFor: NEED_FOR });
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
  const namespace = parseMeshSpiffeID(spiffeID)?.namespace;
  const ou = namespace !== undefined ? meshSubjectNamespace(namespace) : undefined;
  if (!/^[A-Za-z0-9._:/-]+$/.test(spiffeID) || !/^[A-Za-z0-9._-]+$/.test(commonName))
    throw new DroverError('BadRequest', `cannot issue a mesh certificate for "${commonName}" (${spiffeID})`);
  return signLeaf(
    ca,
    {
      commonName,
      ...(ou !== undefined ? { organizationalUnit: ou } : {}),
      subjectAltName:
        `URI:${spiffeID}` + (namespace !== undefined ? `,DNS:${meshHostName(namespace, commonName)}` : ''),
      extendedKeyUsage: 'serverAuth,clientAuth',
      notBefore: now - 60_000,
      notAfter: validBefore,
    },
    { signal, needFor: NEED_FOR },
  );
}
