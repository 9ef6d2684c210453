/**
 * The agent's TLS material (`tls { ... }`): read once at start and again on SIGHUP, checked before use so a
 * truncated or mismatched file is a clear error naming the file, never a half-working listener.
 *
 *   HTTP API (tls.http):  HTTPS with cert_file/key_file; verify_https_client → a client certificate signed by
 *                         ca_file is required (mutual TLS), otherwise requested but optional.
 *   client → server (tls.rpc): the client presents its certificate and trusts only ca_file; with
 *                         verify_server_hostname the server's certificate must name server.<region>.nomad (or
 *                         server.<region>.drover, Drover's own spelling), so a client certificate posing as a
 *                         server is refused.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { checkServerIdentity, createSecureContext, type PeerCertificate } from 'node:tls';
import { DroverError } from '../errors/index.js';
import type { TlsConfig } from './config.js';

export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

function readPem(kind: string, file: string): string {
  if (!file) throw new DroverError('BadRequest', `tls: ${kind} is required when TLS is enabled`);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new DroverError('BadRequest', `tls: cannot read ${kind} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function parseCert(kind: string, file: string, pem: string): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----') || !pem.includes('-----END CERTIFICATE-----')) {
    throw new DroverError('BadRequest', `tls: ${kind} ${file} is not a complete PEM certificate (truncated?)`);
  }
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new DroverError('BadRequest', `tls: ${kind} ${file} is not a valid certificate: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Reads and checks ca_file, cert_file and key_file: each parses, and the key belongs to the certificate. */
export function loadTlsMaterial(cfg: TlsConfig): TlsMaterial {
  const ca = readPem('ca_file', cfg.caFile);
  const cert = readPem('cert_file', cfg.certFile);
  const key = readPem('key_file', cfg.keyFile);
  parseCert('ca_file', cfg.caFile, ca);
  const x = parseCert('cert_file', cfg.certFile, cert);
  let k: KeyObject;
  try {
    k = createPrivateKey(key);
  } catch (e) {
    throw new DroverError(
      'BadRequest',
      `tls: key_file ${cfg.keyFile} is not a valid private key (truncated?): ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!x.checkPrivateKey(k))
    throw new DroverError('BadRequest', `tls: key_file ${cfg.keyFile} does not belong to cert_file ${cfg.certFile}`);
  try {
    createSecureContext({ ca, cert, key });
  } catch (e) {
    throw new DroverError('BadRequest', `tls: the certificate files cannot be used together: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return { ca, cert, key };
}

/** The names a server certificate must carry for verify_server_hostname. */
export function serverNames(region: string): string[] {
  return roleNames(region, 'server');
}

function roleNames(region: string, role: 'server' | 'client'): string[] {
  return [`${role}.${region}.nomad`, `${role}.${region}.drover`];
}

/** Whether a verified peer certificate is a server's of `region` (what a client agent trusts forwards from). */
export function isServerCertificate(region: string, cert: PeerCertificate): boolean {
  return serverNames(region).some((n) => checkServerIdentity(n, cert) === undefined);
}

/**
 * The peer check of a server → client agent connection (forwarded logs, stats, signals): with
 * verify_server_hostname the client agent's certificate must name a client (or a server that runs a client).
 */
export function clientIdentityCheck(
  region: string,
  verifyServerHostname: boolean,
): (host: string, cert: PeerCertificate) => Error | undefined {
  if (!verifyServerHostname) return checkServerIdentity;
  const names = [...roleNames(region, 'client'), ...serverNames(region)];
  return (_host, cert) => {
    for (const n of names) if (checkServerIdentity(n, cert) === undefined) return undefined;
    return new Error(
      `the client agent's certificate (CN ${JSON.stringify(cert.subject?.CN ?? '')}) is not an agent certificate of region "${region}": expected ${names.join(' or ')}`,
    );
  };
}

/**
 * The peer check of a client → server connection: with verify_server_hostname, one of the role names; otherwise
 * the usual host name check against the address dialled.
 */
export function serverIdentityCheck(
  region: string,
  verifyServerHostname: boolean,
): (host: string, cert: PeerCertificate) => Error | undefined {
  if (!verifyServerHostname) return checkServerIdentity;
  const names = serverNames(region);
  return (_host, cert) => {
    for (const n of names) if (checkServerIdentity(n, cert) === undefined) return undefined;
    return new Error(
      `the server's certificate (CN ${JSON.stringify(cert.subject?.CN ?? '')}) is not a server certificate of region "${region}": expected ${names.join(' or ')}`,
    );
  };
}
