import { connect as h2connect } from 'node:http2';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nullLogger } from '../../logging/index.js';
import { startGateway } from '../gateway.js';
import { startHaproxyGateway } from '../haproxy/plane.js';
import { MemorySource } from '../memory-source.js';
import { instance, startBackend, type Echo, type TestBackend, haproxyInstalled } from '../test-support.js';
import type { Gateway } from '../types.js';
import { CertStore, type CertEntry } from './certs.js';
import { testCertSet, testLeaf, type TestPem } from './test-certs.js';
import { certVariablePath, variableToEntry } from './var-certs.js';

interface Answer {
  status: number;
  alpn: string;
  /** SHA-256 fingerprint of the certificate the gateway presented. */
  fingerprint: string;
  echo: Echo;
}

/** One HTTPS/1.1 request on a fresh connection, trusting only `ca`, with SNI `servername`. */
function httpsGet(port: number, ca: string, servername: string, path = '/'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, ca, servername, agent: false, headers: { host: servername } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const socket = res.socket as TLSSocket;
          resolve({
            status: res.statusCode ?? 0,
            alpn: String(socket.alpnProtocol),
            fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '',
            echo: JSON.parse(body) as Echo,
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One HTTP/2 request on a fresh session. */
function h2Get(port: number, ca: string, servername: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca, servername });
    session.on('error', reject);
    const req = session.request({ ':path': '/', ':authority': servername });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const socket = session.socket as TLSSocket;
      const answer = {
        status,
        alpn: String(session.alpnProtocol),
        fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '',
        echo: JSON.parse(body) as Echo,
      };
      session.close();
      resolve(answer);
    });
    req.on('error', reject);
    req.end();
  });
}

const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

const planes: { name: string; start: typeof startGateway; skip?: string }[] = [
  { name: 'node', start: startGateway },
  {
    name: 'haproxy',
    start: (o) => startHaproxyGateway({ ...o, threads: 1 }),
    skip: haproxyInstalled() ? undefined : 'haproxy is not installed',
  },
];

let ca: TestPem;
let dflt: TestPem;
let shopA: TestPem;
let shopB: TestPem;
let expired: TestPem;
beforeAll(async () => {
  ({ ca, dflt, shopA, shopB, expired } = await testCertSet());
}, 60_000);

const entry = (host: string, p: TestPem, source: CertEntry['source'] = 'variable'): CertEntry => ({
  host,
  cert: p.cert,
  key: p.key,
  source,
  origin: host === '' ? '/etc/drover/gw.pem' : certVariablePath(host),
});

for (const plane of planes) {
  describe.skipIf(plane.skip !== undefined)(`the TLS listener on the ${plane.name} data plane`, () => {
    let backend: TestBackend;
    let gw: Gateway;
    let certs: CertStore;

    beforeAll(async () => {
      backend = await startBackend('web');
      certs = new CertStore();
      certs.set('file', [entry('', dflt, 'file')]);
      certs.set('variable', [entry('shop.test', shopA)]);
      gw = await plane.start({
        listen: { host: '127.0.0.1', port: 0 },
        tls: {
          listen: { host: '127.0.0.1', port: 0 },
          certs,
          acmeChallenge: (token) => (token === 'tok-1' ? 'tok-1.thumbprint' : undefined),
        },
        source: new MemorySource([instance('w1', backend.port, ['urlprefix-/'])]),
        logger: nullLogger,
      });
      await gw.ready(AbortSignal.timeout(10_000));
    }, 30_000);
    afterAll(async () => {
      await gw?.close(500);
      await backend?.close();
    });

    it('serves each SNI name its own certificate and the default one to other names', async () => {
      const shop = await httpsGet(gw.tlsPort!, ca.cert, 'shop.test');
      expect(shop.status).toBe(200);
      expect(shop.fingerprint).toBe(fp(shopA.cert));
      expect(shop.echo.headers['x-forwarded-proto']).toBe('https');
      const other = await httpsGet(gw.tlsPort!, ca.cert, 'localhost');
      expect(other.fingerprint).toBe(fp(dflt.cert));
    });

    it('serves the default certificate to a client that sends no SNI name (https://127.0.0.1)', async () => {
      const answer = await new Promise<{ status: number; fingerprint: string }>((resolve, reject) => {
        // No servername: Node sends no SNI for an IP address, as curl https://127.0.0.1 does not.
        const req = request(
          { host: '127.0.0.1', port: gw.tlsPort!, ca: ca.cert, agent: false, checkServerIdentity: () => undefined },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                fingerprint: (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '',
              }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(answer).toEqual({ status: 200, fingerprint: fp(dflt.cert) });
    });

    it('speaks HTTP/2 when the client offers h2', async () => {
      const a = await h2Get(gw.tlsPort!, ca.cert, 'shop.test');
      expect(a).toMatchObject({ status: 200, alpn: 'h2' });
      expect(a.echo.headers['host']).toBe('shop.test');
      expect(a.echo.headers['x-forwarded-proto']).toBe('https');
    });

    it('serves a replaced certificate from the next handshake on', async () => {
      certs.set('variable', [entry('shop.test', shopB)]);
      await expect
        .poll(async () => (await httpsGet(gw.tlsPort!, ca.cert, 'shop.test')).fingerprint, { timeout: 5000 })
        .toBe(fp(shopB.cert));
    });

    it('answers an ACME HTTP-01 challenge on the plain listener and 404 for an unknown token', async () => {
      const base = `http://127.0.0.1:${gw.port}/.well-known/acme-challenge/`;
      const known = await fetch(base + 'tok-1');
      expect([known.status, await known.text()]).toEqual([200, 'tok-1.thumbprint']);
      const unknown = await fetch(base + 'tok-2');
      expect([unknown.status, await unknown.text()]).toEqual([404, 'no ACME challenge pending for token "tok-2"\n']);
    });

    it('refuses an expired certificate with the reason and keeps serving the other hosts', async () => {
      certs.set('variable', [entry('shop.test', shopB), entry('old.test', expired)]);
      const listed = gw.certs().find((c) => c.Host === 'old.test');
      expect(listed).toMatchObject({ Serving: false });
      expect(listed?.Problem).toMatch(/^the certificate expired at 20/);
      expect((await httpsGet(gw.tlsPort!, ca.cert, 'shop.test')).fingerprint).toBe(fp(shopB.cert));
    });
  });
}

describe('CertStore', () => {
  it('reports a key that does not match its certificate and keeps the good certificate it had', () => {
    const problems: string[] = [];
    const store = new CertStore(Date.now, (p) => problems.push(`${p.Host}: ${p.Problem}`));
    store.set('variable', [entry('shop.test', shopA)]);
    store.set('variable', [{ ...entry('shop.test', shopA), key: shopB.key }]);
    expect(problems).toEqual(['shop.test: the key does not match the certificate']);
    expect(store.pick('shop.test')?.fingerprint).toBe(fp(shopA.cert));
  });

  it('refuses a certificate whose names do not cover its host', () => {
    const store = new CertStore();
    const [p] = store.set('variable', [entry('other.test', shopA)]);
    expect(p?.Problem).toBe('the certificate is for shop.test, not other.test');
    expect(store.pick('other.test')).toBeUndefined();
  });

  it('chooses a wildcard entry for a name under it', async () => {
    const wild = await testLeaf(ca, ['*.apps.test']);
    const store = new CertStore();
    store.set('variable', [entry('*.apps.test', wild)]);
    expect(store.pick('a.apps.test')?.fingerprint).toBe(fp(wild.cert));
    expect(store.pick('a.b.apps.test')).toBeUndefined();
  });
});

describe('certificate variables', () => {
  it('write a host with _ for each dot and ~ for a wildcard, and read it back', () => {
    expect(certVariablePath('shop.example.com')).toBe('nomad/gateway/certs/shop_example_com');
    expect(certVariablePath('*.example.com')).toBe('nomad/gateway/certs/~_example_com');
    const items = { cert: 'C', key: 'K' };
    expect(variableToEntry({ Path: 'nomad/gateway/certs/~_example_com', Items: items }).host).toBe('*.example.com');
    expect(variableToEntry({ Path: 'nomad/gateway/certs/shop_example_com', Items: items }).problem).toBeUndefined();
  });

  it('name a variable without a key item or without a host as the problem', () => {
    const noKey = variableToEntry({ Path: 'nomad/gateway/certs/shop_test', Items: { cert: 'C' } });
    expect(noKey.problem).toBe('the variable has no key item (it needs cert and key, PEM)');
    const noHost = variableToEntry({ Path: 'nomad/gateway/certs/a__b', Items: { cert: 'C', key: 'K' } });
    expect(noHost.problem).toMatch(/^"a__b" names no host/);
  });
});
