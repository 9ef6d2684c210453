/**
 * The key-encryption key (KEK) that servers sharing one state backend (etcd) are each given: the keys they
 * share through that backend (the variables' root keys, the workload-identity signing key) are stored wrapped
 * with it, so reading etcd does not reveal them.
 *
 *   wrap:   secret ──► AES-256-GCM(KEK, 12-byte random nonce, AAD = purpose + "\0" + id) ──► base64(nonce ‖ ct ‖ tag)
 *   unwrap: the reverse; a wrong KEK, or a value copied to another purpose or id, fails the tag check
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { DroverError } from '../errors/index.js';

const NONCE = 12;
const TAG = 16;

/** Wraps `secret` (bound to `purpose` and `id`) with the 32-byte `kek`. */
export function wrapWithKEK(kek: Buffer, purpose: string, id: string, secret: Buffer): string {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  c.setAAD(Buffer.from(`${purpose}\u0000${id}`, 'utf8'));
  const body = Buffer.concat([c.update(secret), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64');
}

/** The secret `wrapWithKEK` wrapped; a clear error when the KEK is not the one it was wrapped with. */
export function unwrapWithKEK(kek: Buffer, purpose: string, id: string, wrapped: string): Buffer {
  const raw = Buffer.from(wrapped, 'base64');
  if (raw.length < NONCE + TAG) throw new DroverError('Internal', `${purpose} "${id}": the wrapped key is truncated`);
  try {
    const d = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, NONCE));
    d.setAAD(Buffer.from(`${purpose}\u0000${id}`, 'utf8'));
    d.setAuthTag(raw.subarray(raw.length - TAG));
    return Buffer.concat([d.update(raw.subarray(NONCE, raw.length - TAG)), d.final()]);
  } catch (e) {
    throw new DroverError(
      'Internal',
      `${purpose} "${id}" cannot be unwrapped: this server's key-encryption key (server.keyring_kek_file) is not the one the cluster's keys were sealed with`,
      { cause: e },
    );
  }
}

/**
 * Reads a KEK file: base64 of 32 random bytes (`openssl rand -base64 32`), readable by its owner only.
 * `field` names the config key in errors.
 */
export function readKEKFile(file: string, field = 'server.keyring_kek_file'): Buffer {
  let text: string;
  let mode: number;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DroverError('BadRequest', `${field}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if ((mode & 0o077) !== 0)
    throw new DroverError(
      'BadRequest',
      `${field}: ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    );
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== 32)
    throw new DroverError(
      'BadRequest',
      `${field}: ${file} must hold base64 of 32 random bytes (e.g. "openssl rand -base64 32"), it holds ${key.length} bytes`,
    );
  return key;
}
