import { execFile } from 'node:child_process';
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
import { ACME_LEASE_PATH, acmeChallengePath, AcmeIssuer, type AcmeVariable, type AcmeVariableStore } from './acme.js';
import type { CertEntry } from './certs.js';
import { withAcmeChallenge } from './challenge.js';
import { testCA, testLeaf } from './test-certs.js';

/** Variables in memory with the server's check-and-set rules. */
class MemoryVars implements AcmeVariableStore {
  readonly vars = new Map<string, AcmeVariable>();
  private index = 0;
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
}

function issuer(directory: string, store: AcmeVariableStore, extra: { domains?: string[]; now?: () => number } = {}) {
  const failures: CertEntry[][] = [];
  const log = memoryLogger();
  const i = new AcmeIssuer({
    settings: { directory, domains: extra.domains ?? ['shop.example.com'], renewBeforeMs: 30 * 86_400_000 },
    store,
    logger: log,
    onFailures: (e) => failures.push(e),
    now: extra.now,
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
    expect(entry?.problem).toMatch(/^ACME order failed \(attempt 1, next in 10s\): ACME directory: cannot reach https/);
    const line = log.lines.find((l) => l.msg === 'ACME certificate order failed; retrying');
    expect(line?.fields).toMatchObject({ host: 'shop.example.com', attempts: 1, retryInMs: 10_000 });
    // Within the backoff no new attempt is made; after it, the next one doubles the wait.
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(log.lines.filter((l) => l.msg === 'ACME certificate order failed; retrying')).toHaveLength(1);
    now += 10_001;
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)?.[0]?.problem).toMatch(/attempt 2, next in 20s/);
  });

  it("passes on the CA's own error type and detail", async () => {
    const { i, failures } = issuer(caUrl, new MemoryVars());
    await i.checkOnce(AbortSignal.timeout(10_000));
    expect(failures.at(-1)?.[0]?.problem).toMatch(/ACME \/acct: HTTP 400: rejectedIdentifier: no ACME for you/);
  });

  it('leaves a certificate written by hand alone and renews its own only within renew_before of expiry', async () => {
    const store = new MemoryVars();
    const testCa = await testCA();
    const soon = await testLeaf(testCa, ['old.example.com'], Date.now() - 60_000, Date.now() + 86_400_000);
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

  it('answers the CA on any gateway: a challenge another gateway published in the state is served from there', async () => {
    const store = new MemoryVars();
    await store.put(acmeChallengePath('tok-9'), { keyAuthorization: 'tok-9.thumb' }, 0);
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
    const key = newEcKey();
    const client = new AcmeClient({ directory: dead, accountKey: key });
    expect(client.thumbprint()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new AcmeClient({ directory: dead, accountKey: key }).thumbprint()).toBe(client.thumbprint());
    return client.close();
  });
});
