/**
 * Workload identity tokens: compact JWS (ES256) signed with a key the servers keep in the state store, and
 * the public keys as a JWK Set for `/.well-known/jwks.json`. node:crypto does the signing; this file only
 * frames it (header.payload.signature, base64url).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import type { SigningKey } from '../structs/index.js';

export interface IdentityClaims {
  /** Nomad's subject: `<region>:<namespace>:<job>:<group>:<task>:default`. */
  sub: string;
  aud: string[];
  iat: number;
  nbf: number;
  nomad_namespace: string;
  nomad_job_id: string;
  nomad_task_group: string;
  nomad_task: string;
  nomad_allocation_id: string;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export function newSigningKey(now = Date.now()): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomUUID();
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return {
    KeyID: kid,
    Algorithm: 'ES256',
    PrivateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    PublicJWK: { ...jwk, kid, alg: 'ES256', use: 'sig' },
    CreateTime: now,
  };
}

export function signJWT(key: SigningKey, claims: IdentityClaims): string {
  const header = b64(JSON.stringify({ alg: 'ES256', kid: key.KeyID, typ: 'JWT' }));
  const payload = b64(JSON.stringify(claims));
  const sig = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key: createPrivateKey(key.PrivateKey),
    dsaEncoding: 'ieee-p1363',
  });
  return `${header}.${payload}.${b64(sig)}`;
}

/** True when `s` has the shape of a compact JWS (three base64url parts). */
export function looksLikeJWT(s: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s) && s.length < 16_384;
}

/**
 * The claims of a token signed by one of `keys`, or undefined when the signature, the key ID or the shape
 * is wrong. Never throws on bad input.
 */
export function verifyJWT(token: string, keys: (kid: string) => SigningKey | undefined): IdentityClaims | undefined {
  if (!looksLikeJWT(token)) return undefined;
  const [h, p, s] = token.split('.') as [string, string, string];
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown; kid?: unknown };
    if (header.alg !== 'ES256' || typeof header.kid !== 'string') return undefined;
    const key = keys(header.kid);
    if (!key) return undefined;
    const pub = createPublicKey({ key: key.PublicJWK, format: 'jwk' });
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      { key: pub, dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url'),
    );
    if (!ok) return undefined;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as IdentityClaims;
    if (
      typeof claims.nomad_namespace !== 'string' ||
      typeof claims.nomad_job_id !== 'string' ||
      typeof claims.nomad_allocation_id !== 'string'
    )
      return undefined;
    return claims;
  } catch {
    return undefined;
  }
}
