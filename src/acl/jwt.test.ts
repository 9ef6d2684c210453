import { describe, expect, it } from 'vitest';
import { newSigningKey, signJWT, verifyJWT, type IdentityClaims } from './jwt.js';

const claims: IdentityClaims = {
  sub: 'global:default:web:g:t:default',
  aud: ['nomad.io'],
  iat: 1,
  nbf: 1,
  nomad_namespace: 'default',
  nomad_job_id: 'web',
  nomad_task_group: 'g',
  nomad_task: 't',
  nomad_allocation_id: 'a1',
};

describe('workload identity JWTs', () => {
  const key = newSigningKey();
  const other = newSigningKey();
  const keys = (kid: string) => (kid === key.KeyID ? key : undefined);

  it('verifies a token signed with a stored key and hands back its claims', () => {
    expect(verifyJWT(signJWT(key, claims), keys)).toEqual(claims);
    expect(key.PublicJWK).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: key.KeyID });
    expect(key.PublicJWK).not.toHaveProperty('d');
  });

  it('refuses a tampered payload, a foreign key, an unknown key ID and garbage', () => {
    const jwt = signJWT(key, claims);
    const [h, , s] = jwt.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, nomad_job_id: 'db' })).toString('base64url');
    expect(verifyJWT(`${h}.${forged}.${s}`, keys)).toBeUndefined();
    expect(verifyJWT(signJWT({ ...other, KeyID: key.KeyID }, claims), keys)).toBeUndefined();
    expect(verifyJWT(signJWT(other, claims), keys)).toBeUndefined();
    for (const bad of ['', 'a.b.c', 'x'.repeat(20_000), '...', `${h}.${forged}`])
      expect(verifyJWT(bad, keys)).toBeUndefined();
  });
});
