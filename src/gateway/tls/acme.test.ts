import { execFile } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../logging/index.js';
import { deadPort } from '../test-support.js';
import { AcmeClient, newEcKey } from './acme-client.js';
import { createCsr } from '../../lib/openssl.js';
import {
  ACME_ACCOUNT_PATH,
  ACME_LEASE_PATH,
  acmeChallengePath,
  AcmeIssuer,
  type AcmeVariable,
  type AcmeVariableStore,
} from './acme.js';
import type { CertEntry } from './certs.js';
import { withAcmeChallenge } from './challenge.js';
import { testCA, testLeaf } from './test-certs.js';

/** Variables in memory with the server's check-and-set rules, listed `pageSize` paths a page as the API does. */
class MemoryVars implements AcmeVariableStore {
  readonly vars = new Map<string, AcmeVariable>();
  /** The `nextToken` each list call was given, in order. */
  readonly listed: (string | undefined)[] = [];
  private index = 0;
  constructor(private readonly pageSize = Infinity) {}
  get(path: string) {
    return Promise.resolve(this.vars.get(path));
  }
  put(path: string, items: Record<string, string>, cas: number | undefined) {
    const cur = this.vars.get(path);
    if (cas !== undefined && (cur?.ModifyIndex ?? 0) !== cas) return Promise.resolve(false);
    this.vars.set(path, { Items: items, ModifyIndex: ++this.index });
    return Promise.resolve(true);
  }
  delete(path: string) {
    this.vars.delete(path);
    return Promise.resolve();
  }
  list(prefix: string, _signal: AbortSignal, nextToken?: string) {
    this.listed.push(nextToken);
    // As the HTTP API: sorted by path, the page starts at the token (or past it, once that one is gone).
    const all = [...this.vars.keys()].filter((p) => p.startsWith(prefix)).sort();
    const from = nextToken === undefined ? all : all.filter((p) => p >= nextToken);
    const paths = from.slice(0, this.pageSize);
    return Promise.resolve({ paths, nextToken: from[this.pageSize] });
  }
}

function issuer(
  directory: string,
  store: AcmeVariableStore,
  extra: { domains?: string[]; now?: () => number; newHostsPerHour?: number } = {},
) {
  const failures: CertEntry[][] = [];
  const log = memoryLogger();
  const i = new AcmeIssuer({
    settings: { directory, domains: extra.domains ?? ['shop.example.com'], renewBeforeMs: 30 * 86_400_000 },
    store,
    logger: log,
    onFailures: (e) => failures.push(e),
    now: extra.now,
    newHostsPerHour: extra.newHostsPerHour,
  });
  return { i, failures, log };
}

describe('the ACME certificate signing request', () => {
  it('is a PKCS#10 request that openssl verifies, naming the host as CN and subjectAltName', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'acme-csr-'));
    try {
      const keyPEM = newEcKey().export({ type: 'pkcs8', format: 'pem' }) as string;
      await writeFile(join(dir, 'r.der'), await createCsr('shop.example.com', keyPEM));
      const text = await new Promise<string>((resolve, reject) =>
        execFile(
          'openssl',
          ['req', '-inform', 'der', '-in', join(dir, 'r.der'), '-verify', '-noout', '-text'],
          (err, out, errOut) => (err ? reject(new Error(errOut)) : resolve(`${out}${errOut}`)),
        ),
      );
      expect(text).toMatch(/verify OK/i);
      expect(text).toMatch(/Subject: CN\s*=\s*shop\.example\.com/);
      expect(text).toMatch(/DNS:shop\.example\.com/);
      await expect(createCsr('a/b', keyPEM)).rejects.toThrow(/not a DNS name/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the ACME issuer', () => {
  let dead = '';
  let ca: Server;
  let caUrl = '';
  const orderKids: string[] = [];

  beforeAll(async () => {
    dead = `https://127.0.0.1:${await deadPort()}/dir`;
    // A CA that answers its directory and nonces, and refuses every account with a problem document.
    ca = createServer((req, res) => {
      const base = `http://127.0.0.1:${(ca.address() as AddressInfo).port}`;
      res.setHeader('replay-nonce', `n${Date.now()}`);
      if (req.url === '/dir') {
        res.setHeader('content-type', 'application/json');
        return res.end(
          JSON.stringify({ newNonce: `${base}/nonce`, newAccount: `${base}/acct`, newOrder: `${base}/order` }),
        );
      }
      if (req.url === '/nonce') return res.end();
      // A second directory whose CA takes every account (and refuses every order).
      if (req.url === '/dir2') {
        res.setHeader('content-type', 'application/json');
        return res.end(
          JSON.stringify({ newNonce: `${base}/nonce`, newAccount: `${base}/acct2`, newOrder: `${base}/order` }),
        );
      }
      if (req.url === '/acct2') {
        res.writeHead(201, { location: `${base}/acct/mine`, 'content-type': 'application/json' });
        return res.end('{"status":"valid"}');
      }
      if (req.url === '/order') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const prot = (JSON.parse(body) as { protected: string }).protected;
          orderKids.push((JSON.parse(Buffer.from(prot, 'base64url').toString()) as { kid?: string }).kid ?? '');
          res.writeHead(400, { 'content-type': 'application/problem+json' });
          res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'no orders' }));
        });
        return;
      }
      res.writeHead(400, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'no ACME for you' }));
    });
    await new Promise<void>((r) => ca.listen(0, '127.0.0.1', r));
    caUrl = `http://127.0.0.1:${(ca.address() as AddressInfo).port}/dir`;
  });

  afterAll(() => new Promise<void>((r) => ca.close(() => r())));

  it('records an unreachable directory as the host failure, logs it, and waits its backoff before retrying', async () => {
    let now = 1_000_000;
    const { i, failures, log } = issuer(dead, new MemoryVars(), { now: () => now });
    await i.checkOnce(AbortSignal.timeout(10_000));
    const entry = failures.at(-1)?.[0];
    expect(entry).toMatchObject({ host: 'shop.example.com', source: 'acme', origin: dead });
    const next = new Date(1_010_000).toISOString();
    expect(entry?.problem).toContain(
      `ACME order failed (attempt 1, next at ${next}): ACME directory: cannot reach ${dead}`,
    );
    const line = log.lines.find((l) => l.msg === 'ACME certificate order failed; retrying');
    expect(line?.fields).toMatchObject({ host: 'shop.example.com', attempts: 1, retryInMs: 10_000 });
    // Within the backoff no new attempt is made; after it, the next one doubles the wait.
    // The text stays the same while time passes, so the certificate store does not log it as new each check.
    now += 5_000;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)?.[0]?.problem).toBe(entry?.problem);
    expect(log.lines.filter((l) => l.msg === 'ACME certificate order failed; retrying')).toHaveLength(1);
    now += 5_001;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)?.[0]?.problem).toMatch(/attempt 2, next at .*T.*Z\)/);
  });

  it("passes on the CA's own error type and detail", async () => {
    const { i, failures } = issuer(caUrl, new MemoryVars());
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)?.[0]?.problem).toMatch(/ACME \/acct: HTTP 400: rejectedIdentifier: no ACME for you/);
  });

  it('leaves a certificate written by hand alone and renews its own only within renew_before of expiry', async () => {
    const store = new MemoryVars();
    const testCa = await testCA();
    const soon = await testLeaf(testCa, ['old.example.com'], Date.now() - 80 * 86_400_000, Date.now() + 86_400_000);
    const later = await testLeaf(testCa, ['new.example.com'], Date.now() - 60_000, Date.now() + 90 * 86_400_000);
    await store.put('nomad/gateway/certs/mine_example_com', { cert: soon.cert, key: soon.key }, 0);
    await store.put('nomad/gateway/certs/old_example_com', { ...soon, source: 'acme' }, 0);
    await store.put('nomad/gateway/certs/new_example_com', { ...later, source: 'acme' }, 0);
    const { i, failures } = issuer(dead, store, {
      domains: ['mine.example.com', 'old.example.com', 'new.example.com'],
    });
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)?.map((f) => f.host)).toEqual(['old.example.com']);
  });

  it('orders nothing while another gateway holds the lease', async () => {
    const store = new MemoryVars();
    await store.put(ACME_LEASE_PATH, { holder: 'other', until: String(Date.now() + 60_000) }, 0);
    const { i, failures, log } = issuer(dead, store);
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)).toEqual([]);
    expect(log.lines.some((l) => l.msg === 'another gateway holds the ACME lease')).toBe(true);
    // A lapsed lease (its holder died) is taken over.
    const lease = store.vars.get(ACME_LEASE_PATH)!;
    await store.put(ACME_LEASE_PATH, { holder: 'other', until: String(Date.now() - 1) }, lease.ModifyIndex);
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)?.[0]?.host).toBe('shop.example.com');
  });

  it('has the lease holder delete the challenge variables a gateway that died mid-order left, by its own clock', async () => {
    const store = new MemoryVars();
    let now = Date.now();
    // Dates written by other gateways (here one far in the past, one missing) are not trusted: only what this
    // gateway saw unchanged for staleChallengeMs (10 min) is stale.
    await store.put(acmeChallengePath('old'), { keyAuthorization: 'old.t', written: String(now - 60 * 60_000) }, 0);
    await store.put(acmeChallengePath('undated'), { keyAuthorization: 'undated.t' }, 0);
    // Another gateway holds the lease (it may be ordering): nothing is swept.
    await store.put(ACME_LEASE_PATH, { holder: 'other', until: String(now + 60_000) }, 0);
    const { i, log } = issuer(dead, store, { now: () => now });
    await i.checkOnce(AbortSignal.timeout(10_000));
    const challenges = () => [...store.vars.keys()].filter((p) => p.includes('/challenge-')).sort();
    expect(challenges()).toHaveLength(2);
    // The lease lapsed (its holder died): this gateway takes it and sweeps before ordering, but it has not yet
    // seen any of them for 10 minutes.
    const lease = store.vars.get(ACME_LEASE_PATH)!;
    await store.put(ACME_LEASE_PATH, { holder: 'other', until: String(now - 1) }, lease.ModifyIndex);
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(challenges()).toHaveLength(2);
    // 'undated' changes meanwhile (a live order rewrote it): its clock starts again.
    now += 6 * 60_000;
    const undated = store.vars.get(acmeChallengePath('undated'))!;
    await store.put(acmeChallengePath('undated'), { keyAuthorization: 'undated.t2' }, undated.ModifyIndex);
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(challenges()).toHaveLength(2);
    // 11 minutes after it was first seen, 'old' goes; 'undated' (5 minutes unchanged) and a new one stay.
    now += 5 * 60_000;
    await store.put(acmeChallengePath('recent'), { keyAuthorization: 'recent.t' }, 0);
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(challenges()).toEqual([acmeChallengePath('recent'), acmeChallengePath('undated')]);
    now += 6 * 60_000;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(challenges()).toEqual([acmeChallengePath('recent')]);
    expect(log.lines.filter((l) => l.msg === 'removed a stale ACME challenge variable')).toHaveLength(2);
  });

  it('sweeps stale challenge variables on every page of the list, each by its own clock', async () => {
    const store = new MemoryVars(2);
    let now = Date.now();
    const tokens = ['a1', 'a2', 'b1', 'b2', 'c1'];
    for (const t of tokens) await store.put(acmeChallengePath(t), { keyAuthorization: `${t}.k` }, 0);
    const { i, log } = issuer(dead, store, { now: () => now });
    const challenges = () => [...store.vars.keys()].filter((p) => p.includes('/challenge-')).sort();
    // First sweep: all five are seen (three pages of two), none is stale yet.
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(store.listed).toEqual([undefined, acmeChallengePath('b1'), acmeChallengePath('c1')]);
    expect(challenges()).toHaveLength(5);
    // 'c1', on the last page, changes: its clock restarts, the others' do not (no page forgets another's).
    now += 6 * 60_000;
    await store.put(
      acmeChallengePath('c1'),
      { keyAuthorization: 'c1.k2' },
      store.vars.get(acmeChallengePath('c1'))!.ModifyIndex,
    );
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(challenges()).toHaveLength(5);
    // 11 minutes after they were first seen, the four unchanged go, on whichever page they were.
    now += 5 * 60_000;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(challenges()).toEqual([acmeChallengePath('c1')]);
    now += 6 * 60_000;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(challenges()).toEqual([]);
    expect(log.lines.filter((l) => l.msg === 'removed a stale ACME challenge variable')).toHaveLength(5);
  });

  it('stops a sweep whose list names the same next page again, with a warning, rather than loop', async () => {
    const store = new MemoryVars();
    const listed: (string | undefined)[] = [];
    const looping: AcmeVariableStore = {
      get: (p) => store.get(p),
      put: (p, items, cas) => store.put(p, items, cas),
      delete: (p) => store.delete(p),
      list: async (_prefix, _signal, nextToken) => {
        listed.push(nextToken);
        return { paths: [], nextToken: 'same' };
      },
    };
    const { i, log } = issuer(dead, looping);
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(listed).toEqual([undefined, 'same']);
    expect(log.lines.filter((l) => l.msg === 'sweeping stale ACME challenge variables failed')[0]?.fields).toEqual({
      error: expect.stringContaining('does not end (next token "same")'),
    });
  });

  it('answers the CA on any gateway: a challenge another gateway published in the state is served from there', async () => {
    const store = new MemoryVars();
    await store.put(acmeChallengePath('tok-9'), { keyAuthorization: 'tok-9.thumb' }, 0);
    // Another gateway is ordering: it holds the lease.
    await store.put(ACME_LEASE_PATH, { holder: 'other', until: String(Date.now() + 60_000) }, 0);
    const { i } = issuer(dead, store);
    const server = createServer(
      withAcmeChallenge(
        (_q, s) => s.end('route'),
        (t) => i.challenge(t),
      ),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const hit = await fetch(`${base}/.well-known/acme-challenge/tok-9`);
      expect([hit.status, await hit.text()]).toEqual([200, 'tok-9.thumb']);
      const miss = await fetch(`${base}/.well-known/acme-challenge/tok-10`);
      expect(miss.status).toBe(404);
      expect(await (await fetch(`${base}/x`)).text()).toBe('route');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('orders for the plain DNS names of the routes when no domains are set', () => {
    const i = new AcmeIssuer({
      settings: { directory: dead },
      store: new MemoryVars(),
      logger: memoryLogger(),
      routeHosts: () => [
        'B.example.com',
        'a.example.com',
        '*.wild.example.com',
        '10.0.0.1',
        'localhost',
        'a.example.com',
      ],
    });
    expect(i.wantedHosts()).toEqual(['a.example.com', 'b.example.com']);
  });

  it('signs the key authorization with the RFC 7638 thumbprint of the account key', () => {
    const jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: 'BSB4vJTOhjIff5ma65RTUxKtTOzIIvvHCQSIBuDH1VA',
      y: '8cqndssH1yp6GfiKc9EYNAdaU0S60_7_ZjAhUO6_zow',
      d: 'pL70vTCVtzNPlrMPZVIucooBESTpExRpQOJQk0U87vY',
    };
    // RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256, base64url.
    const canonical = `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
    const expected = createHash('sha256').update(canonical).digest('base64url');
    const client = new AcmeClient({ directory: dead, accountKey: createPrivateKey({ key: jwk, format: 'jwk' }) });
    expect(client.thumbprint()).toBe(expected);
    return client.close();
  });

  it('renews a certificate shorter than renew_before at a third of its lifetime left, not at every check', async () => {
    const store = new MemoryVars();
    const testCa = await testCA();
    const from = Date.now() - 60_000;
    const short = await testLeaf(testCa, ['shop.example.com'], from, from + 3 * 86_400_000);
    await store.put('nomad/gateway/certs/shop_example_com', { ...short, source: 'acme', issued: String(from) }, 0);
    let now = from + 60_000;
    const { i, log } = issuer(dead, store, { now: () => now });
    await i.checkOnce(AbortSignal.timeout(10_000));
    const orders = () => log.lines.filter((l) => l.msg === 'ACME certificate order failed; retrying').length;
    expect(orders()).toBe(0);
    now = from + 2 * 86_400_000 - 60_000;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(orders()).toBe(0);
    now = from + 2 * 86_400_000 + 1;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(orders()).toBe(1);
  });

  it('takes the lease again before each order and stops when another gateway has it', async () => {
    const store = new MemoryVars();
    // While the first order runs (it reads the account), another gateway takes the lease.
    const racing: AcmeVariableStore = {
      get: async (path) => {
        if (path === ACME_ACCOUNT_PATH) {
          const lease = store.vars.get(ACME_LEASE_PATH);
          await store.put(ACME_LEASE_PATH, { holder: 'other', until: String(Date.now() + 60_000) }, lease?.ModifyIndex);
        }
        return store.get(path);
      },
      put: (path, items, cas) => store.put(path, items, cas),
      delete: (path) => store.delete(path),
    };
    const { i, log } = issuer(dead, racing, { domains: ['a.example.com', 'b.example.com'] });
    await i.checkOnce(AbortSignal.timeout(10_000));
    const ordered = log.lines.filter((l) => l.msg === 'ACME certificate order failed; retrying');
    expect(ordered.map((l) => l.fields?.['host'])).toEqual(['a.example.com']);
    expect(log.lines.some((l) => l.msg === 'another gateway holds the ACME lease')).toBe(true);
  });

  it('orders at most newHostsPerHour hosts without a certificate per hour, renewals first', async () => {
    const store = new MemoryVars();
    const testCa = await testCA();
    const expiring = await testLeaf(testCa, ['old.example.com'], Date.now() - 80 * 86_400_000, Date.now() + 86_400_000);
    await store.put('nomad/gateway/certs/old_example_com', { ...expiring, source: 'acme' }, 0);
    let now = Date.now();
    const hosts = ['a', 'b', 'c', 'd'].map((h) => `${h}.example.com`);
    const { i, log } = issuer(dead, store, {
      domains: [...hosts, 'old.example.com'],
      newHostsPerHour: 2,
      now: () => now,
    });
    await i.checkOnce(AbortSignal.timeout(10_000));
    const ordered = () =>
      log.lines.filter((l) => l.msg === 'ACME certificate order failed; retrying').map((l) => l.fields?.['host']);
    expect(ordered()).toEqual(['old.example.com', 'a.example.com', 'b.example.com']);
    const waits = () => log.lines.filter((l) => l.msg.startsWith('ACME: more new hosts than the hourly limit'));
    expect(waits()).toHaveLength(1);
    expect(waits()[0]?.fields?.['waiting']).toEqual(['c.example.com', 'd.example.com']);
    now += 1_000; // a, b and old back off; c and d still wait for the hour
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(ordered()).toHaveLength(3);
    expect(waits()).toHaveLength(1); // the same waiting hosts are not logged again
    now += 61 * 60_000; // the hour is over: the hosts not tried yet go before the failing ones
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(ordered().slice(3)).toEqual(['old.example.com', 'c.example.com', 'd.example.com']);
  });

  it('asks the state for an unknown token only while some gateway holds the lease, reading that once a second', async () => {
    const store = new MemoryVars();
    await store.put(acmeChallengePath('tok-1'), { keyAuthorization: 'tok-1.thumb' }, 0);
    const reads: string[] = [];
    const counting: AcmeVariableStore = {
      get: (p) => (reads.push(p), store.get(p)),
      put: store.put.bind(store),
      delete: store.delete.bind(store),
    };
    let now = Date.now();
    const { i } = issuer(dead, counting, { now: () => now });
    for (let n = 0; n < 50; n++) expect(await i.challenge(`made-up-${n}`)).toBeUndefined();
    expect(await i.challenge('tok-1')).toBeUndefined(); // no lease: nobody is ordering
    expect(reads).toEqual([ACME_LEASE_PATH]);
    await store.put(ACME_LEASE_PATH, { holder: 'other', until: String(now + 60_000) }, 0);
    now += 1_001;
    expect(await i.challenge('tok-1')).toBe('tok-1.thumb');
    expect(reads).toEqual([ACME_LEASE_PATH, ACME_LEASE_PATH, acmeChallengePath('tok-1')]);
  });

  it('never puts a CA token that is not base64url into a variable path, nor looks one up', async () => {
    expect(() => acmeChallengePath('../certs/x')).toThrow(/not base64url/);
    let reads = 0;
    const store = new MemoryVars();
    const counting: AcmeVariableStore = {
      ...store,
      get: (p) => (reads++, store.get(p)),
      put: store.put.bind(store),
      delete: store.delete.bind(store),
    };
    const { i } = issuer(dead, counting);
    expect(await i.challenge('../lease')).toBeUndefined();
    expect(reads).toBe(0);
  });

  it('orders under the account another gateway stored first when its own account write loses', async () => {
    const dir2 = caUrl.replace(/\/dir$/, '/dir2');
    const store = new MemoryVars();
    const otherKey = newEcKey().export({ type: 'pkcs8', format: 'pem' }) as string;
    let first = true;
    const racing: AcmeVariableStore = {
      get: async (path) => {
        const v = await store.get(path);
        if (path === ACME_ACCOUNT_PATH && first) {
          first = false;
          await store.put(path, { key: otherKey, url: 'http://127.0.0.1/acct/other', directory: dir2 }, 0);
        }
        return v;
      },
      put: (path, items, cas) => store.put(path, items, cas),
      delete: (path) => store.delete(path),
    };
    orderKids.length = 0;
    const { i } = issuer(dir2, racing);
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(orderKids).toEqual(['http://127.0.0.1/acct/other']);
    expect(store.vars.get(ACME_ACCOUNT_PATH)?.Items['key']).toBe(otherKey);
  });
});
