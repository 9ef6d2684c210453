import { describe, expect, it } from 'vitest';
import { isSha512Crypt, sha512Crypt, verifySha512Crypt } from './sha-crypt.js';

describe('SHA-512 crypt', () => {
  it('matches the hashes openssl passwd -6 gives for short and long passwords', () => {
    expect(sha512Crypt('secret', 'saltsalt')).toBe(
      '$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1',
    );
    expect(sha512Crypt('x'.repeat(100), 'abcdefghijklmnopqrst')).toBe(
      '$6$abcdefghijklmnop$r/HtRGuCzMNedONV3I8Xz8Qm4Qy85pQ/RigX0agmbAzWsa3BCc1B564NfCD/Giyliby36KbTMkrVLsmFYtbTu1',
    );
  });

  it('matches glibc crypt(3) with explicit rounds', () => {
    expect(sha512Crypt('Hello world!', 'saltstring', 10000)).toBe(
      '$6$rounds=10000$saltstring$buk9gc9MDdd3Z11.ZzxK8sKnFNbxNdTnCf.XHjjiTHcgFuFgkKvBQPLIaUn4Ixl3TLN8ZgCk52MPgbWjATwhH0',
    );
  });

  it('accepts the right password and refuses a wrong one or a malformed hash', () => {
    const h = sha512Crypt('pw', 'abc');
    expect(isSha512Crypt(h)).toBe(true);
    expect(verifySha512Crypt('pw', h)).toBe(true);
    expect(verifySha512Crypt('pW', h)).toBe(false);
    expect(verifySha512Crypt('pw', '$1$abc$xyz')).toBe(false);
    expect(isSha512Crypt('plain')).toBe(false);
  });

  it('refuses a password over 256 bytes without hashing it, even the right one', () => {
    const long = 'x'.repeat(257);
    const h = sha512Crypt(long, 'abc', 1000);
    const t = performance.now();
    expect(verifySha512Crypt(long, h)).toBe(false);
    expect(verifySha512Crypt('y'.repeat(12_000), h)).toBe(false);
    expect(performance.now() - t).toBeLessThan(20);
    expect(verifySha512Crypt('x'.repeat(256), sha512Crypt('x'.repeat(256), 'abc', 1000))).toBe(true);
  });
});
