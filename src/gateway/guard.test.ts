import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sha512Crypt } from '../lib/sha-crypt.js';
import { AUTH_FAILURES_PER_ADDRESS, AUTH_HASHES_PER_SECOND, buildGuard, Windows } from './guard.js';

function call(guard: ReturnType<typeof buildGuard>, addr: string, auth?: string): { ok: boolean; status?: number } {
  const req = { socket: { remoteAddress: addr }, headers: auth === undefined ? {} : { authorization: auth } };
  let status: number | undefined;
  const res = { headersSent: false, writeHead: (s: number) => (status = s), end: () => undefined };
  const ok = guard!(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  return { ok, status };
}

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

describe('route guard', () => {
  const users = new Map([['alice', sha512Crypt('right', 'salt', 1000)]]);
  const source = { users: () => users };

  it('lets the right password through and answers 401 to a wrong one or an unknown user', () => {
    const g = buildGuard('r', { host: '', prefix: '/', strip: '', auth: 'a' }, { auth: source, now: () => 0 });
    expect(call(g, '127.0.0.1', basic('alice', 'right')).ok).toBe(true);
    expect(call(g, '127.0.0.2', basic('alice', 'wrong')).status).toBe(401);
    expect(call(g, '127.0.0.3', basic('bob', 'right')).status).toBe(401);
    expect(call(g, '127.0.0.4', basic('alice', 'x'.repeat(12_000))).status).toBe(401);
  });

  it('answers 429 without hashing once one address has failed 5 times in a second', () => {
    let t = 0;
    const g = buildGuard('r', { host: '', prefix: '/', strip: '', auth: 'a' }, { auth: source, now: () => t });
    for (let i = 0; i < AUTH_FAILURES_PER_ADDRESS; i++)
      expect(call(g, '127.0.0.9', basic('alice', `bad${i}`)).status).toBe(401);
    expect(call(g, '127.0.0.9', basic('alice', 'right')).status).toBe(429);
    expect(call(g, '127.0.0.8', basic('alice', 'right')).ok).toBe(true);
    t = 1000;
    expect(call(g, '127.0.0.9', basic('alice', 'right')).ok).toBe(true);
  });

  it('caps hashing for all clients together and still serves a verified client from its cache', () => {
    const t = 0;
    const g = buildGuard('r', { host: '', prefix: '/', strip: '', auth: 'a' }, { auth: source, now: () => t });
    expect(call(g, '127.0.1.0', basic('alice', 'right')).ok).toBe(true);
    for (let i = 1; i < AUTH_HASHES_PER_SECOND; i++) call(g, `127.0.1.${i}`, basic('mallory', 'x'));
    expect(call(g, '127.0.2.1', basic('alice', 'wrong')).status).toBe(429);
    expect(call(g, '127.0.1.0', basic('alice', 'right')).ok).toBe(true);
  });

  it('answers 429 over rate= per address', () => {
    const g = buildGuard('r', { host: '', prefix: '/', strip: '', rate: 2 }, { now: () => 0 });
    expect([1, 2, 3].map(() => call(g, '::1').ok)).toEqual([true, true, false]);
    expect(call(g, '::2').ok).toBe(true);
  });
});

describe('per-address windows', () => {
  it('stays within its bound by dropping the oldest windows, without copying the table', () => {
    let t = 0;
    const w = new Windows(() => t, 3);
    for (const a of ['a', 'b', 'c', 'd']) w.add(a);
    expect(w.size).toBe(3);
    expect(w.count('a')).toBe(0);
    expect(w.count('d')).toBe(1);
    t = 1500;
    w.add('e');
    expect(w.size).toBe(1);
  });
});
