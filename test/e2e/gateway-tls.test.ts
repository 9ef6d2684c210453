/**
 * The gateway's HTTPS edge as a user meets it, with one dev agent (its default data plane: HAProxy when installed):
 * `gateway { tls_listen  tls { cert_file key_file } }` serves the default certificate; a certificate put into the
 * Variable nomad/gateway/certs/<host> (dots written as _) with `drover var put` is served on the next handshake while a bounded load
 * loop of fresh HTTPS connections sees no failure; an expired one is refused with the reason in the agent log and
 * `drover gateway certs`, and the other hosts keep serving; so are a key that does not match its certificate and a
 * certificate for other names. A standalone `drover gateway -tls-listen ...` following the agent serves the same.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCertSet, type TestPem } from '../../src/gateway/tls/test-certs.js';
import { nodeWebJob, allocAnswerScript } from './fixtures/node-web-job.js';
import { TestAgent } from './harness/agent.js';

const JOB = nodeWebJob({
  name: 'gwtls-web',
  tags: ['urlprefix-/'],
  script: allocAnswerScript("' proto ' + q.headers['x-forwarded-proto']"),
});

interface Answer {
  status: number;
  body: string;
  fingerprint: string;
}

/**
 * One HTTPS request on a fresh connection (a fresh handshake), trusting only `ca`, with SNI `servername`; with
 * `anyName` a certificate for other names is taken too (to see which one a refused host gets).
 */
function httpsGet(url: string, ca: string, servername: string, anyName = false): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: '/',
        ca,
        servername,
        ...(anyName ? { checkServerIdentity: () => undefined } : {}),
        agent: false,
        headers: { host: servername },
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            fingerprint: (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '',
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('the gateway HTTPS listener of a dev agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gwtls-e2e-'));
  let agent: TestAgent;
  let https = '';
  let ca: TestPem;
  let dflt: TestPem;
  let shopA: TestPem;
  let shopB: TestPem;
  let expired: TestPem;
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  beforeAll(async () => {
    ({ ca, dflt, shopA, shopB, expired } = await testCertSet());
    const cfg = file(
      'agent.hcl',
      [
        'gateway {',
        '  tls_listen = "127.0.0.1:0"',
        `  tls {\n    cert_file = "${file('default.pem', dflt.cert)}"\n    key_file = "${file('default.key', dflt.key)}"\n  }`,
        '}',
        '',
      ].join('\n'),
    );
    agent = new TestAgent({ args: ['-config', cfg] });
    await agent.start();
    // The banner may follow the API's first answer (start() resolves on that), so wait for it.
    https = await agent.waitFor('the HTTPS line of the banner', () =>
      Promise.resolve(/Gateway HTTPS at (https:\/\/[\d.]+:\d+)/.exec(agent.output)?.[1]),
    );
    const run = agent.cli(['job', 'run', '-detach', file('job.hcl', JOB)]);
    expect(run.code, run.stderr).toBe(0);
  }, 90_000);

  afterAll(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the default certificate from tls { cert_file key_file } and forwards with X-Forwarded-Proto https', async () => {
    const a = await agent.waitFor('the job behind the HTTPS listener', async () => {
      const r = await httpsGet(https, ca.cert, 'localhost');
      return r.status === 200 && r.body.startsWith('alloc ') ? r : undefined;
    });
    expect(a.body).toMatch(/ proto https$/);
    expect(a.fingerprint).toBe(fp(dflt.cert));
  }, 60_000);

  it('serves a certificate put into a Variable on the next handshake, with no failed request under load', async () => {
    const put = (p: TestPem, name: string) =>
      agent.cli([
        'var',
        'put',
        '-force',
        'nomad/gateway/certs/shop_test',
        `cert=@${file(`${name}.pem`, p.cert)}`,
        `key=@${file(`${name}.key`, p.key)}`,
      ]);
    const first = put(shopA, 'shop-a');
    expect(first.code, first.stderr).toBe(0);
    await agent.waitFor('the first shop.test certificate', async () => {
      return (await httpsGet(https, ca.cert, 'shop.test')).fingerprint === fp(shopA.cert);
    });
    // A bounded loop of fresh connections while the certificate is replaced: every one must answer 200.
    const seen = new Set<string>();
    const failures: string[] = [];
    let stop = false;
    const until = Date.now() + 20_000;
    const loop = (async () => {
      let n = 0;
      while (!stop && Date.now() < until && n < 2000) {
        n++;
        try {
          const r = await httpsGet(https, ca.cert, 'shop.test');
          if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
          seen.add(r.fingerprint);
        } catch (e) {
          failures.push(String(e));
        }
      }
      return n;
    })();
    await new Promise((r) => setTimeout(r, 300));
    const second = put(shopB, 'shop-b');
    expect(second.code, second.stderr).toBe(0);
    await agent.waitFor('the replaced shop.test certificate', async () => seen.has(fp(shopB.cert)), 15_000, 50);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    const requests = await loop;
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(5);
    expect(seen).toEqual(new Set([fp(shopA.cert), fp(shopB.cert)]));
  }, 60_000);

  it('refuses an expired certificate with the reason in the agent log and drover gateway certs, others keep serving', async () => {
    const put = agent.cli([
      'var',
      'put',
      'nomad/gateway/certs/old_test',
      `cert=@${file('old.pem', expired.cert)}`,
      `key=@${file('old.key', expired.key)}`,
    ]);
    expect(put.code, put.stderr).toBe(0);
    await agent.waitFor('the expired certificate in the log', async () =>
      agent.output
        .split('\n')
        .some(
          (l) =>
            /TLS certificate not served/.test(l) &&
            /old\.test.*the certificate expired at|the certificate expired at.*old\.test/.test(l),
        ),
    );
    const certs = agent.cli(['gateway', 'certs', '-gateway', agent.gatewayAddress]);
    expect(certs.code, certs.stderr).toBe(0);
    expect(certs.stdout).toMatch(
      /old\.test\s+variable\s+nomad\/gateway\/certs\/old_test\s+\S+\s+NOT SERVED: the certificate expired at/,
    );
    expect(certs.stdout).toMatch(/shop\.test\s+variable\s+nomad\/gateway\/certs\/shop_test\s+\S+\s+serving/);
    expect((await httpsGet(https, ca.cert, 'shop.test')).fingerprint).toBe(fp(shopB.cert));
    // A name with no certificate of its own gets the default one.
    expect((await httpsGet(https, ca.cert, 'localhost')).fingerprint).toBe(fp(dflt.cert));
  }, 60_000);

  it('refuses a key that does not match its certificate and a certificate for other names, with the reason', async () => {
    const put = (path: string, cert: string, key: string, name: string) =>
      agent.cli(['var', 'put', path, `cert=@${file(`${name}.pem`, cert)}`, `key=@${file(`${name}.key`, key)}`]);
    const mixed = put('nomad/gateway/certs/mix_test', shopA.cert, dflt.key, 'mix');
    expect(mixed.code, mixed.stderr).toBe(0);
    const other = put('nomad/gateway/certs/other_test', shopA.cert, shopA.key, 'other');
    expect(other.code, other.stderr).toBe(0);
    const logged = (host: string, problem: RegExp) =>
      agent.output.split('\n').some((l) => /TLS certificate not served/.test(l) && l.includes(host) && problem.test(l));
    await agent.waitFor('both problems in the agent log', async () =>
      Promise.resolve(
        logged('mix.test', /the key does not match the certificate/) &&
          logged('other.test', /the certificate is for shop\.test, not other\.test/),
      ),
    );
    const certs = agent.cli(['gateway', 'certs', '-gateway', agent.gatewayAddress]);
    expect(certs.code, certs.stderr).toBe(0);
    expect(certs.stdout).toMatch(/^mix\.test\s+variable\s.*NOT SERVED: the key does not match the certificate$/m);
    expect(certs.stdout).toMatch(
      /^other\.test\s+variable\s.*NOT SERVED: the certificate is for shop\.test, not other\.test$/m,
    );
    // The refused hosts get the default certificate; the others keep theirs.
    expect((await httpsGet(https, ca.cert, 'mix.test', true)).fingerprint).toBe(fp(dflt.cert));
    expect((await httpsGet(https, ca.cert, 'shop.test')).fingerprint).toBe(fp(shopB.cert));
  }, 60_000);

  it('serves the same certificates from a standalone drover gateway given -tls-listen', async () => {
    const gw = agent.cliAsync([
      'gateway',
      '-address',
      agent.address,
      '-listen',
      '127.0.0.1:0',
      '-tls-listen',
      '127.0.0.1:0',
      '-tls-cert-file',
      file('default.pem', dflt.cert),
      '-tls-key-file',
      file('default.key', dflt.key),
    ]);
    let out = '';
    gw.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    gw.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => gw.once('exit', r));
    try {
      const [, plain, tls] = await agent.waitFor('the standalone gateway banner', () =>
        Promise.resolve(
          /Gateway at (http:\/\/[\d.]+:\d+)\n\s+Gateway HTTPS at (https:\/\/[\d.]+:\d+)/.exec(out) ?? undefined,
        ),
      );
      const a = await agent.waitFor('the job behind the standalone HTTPS listener', async () => {
        const r = await httpsGet(tls!, ca.cert, 'localhost');
        return r.status === 200 && r.body.startsWith('alloc ') ? r : undefined;
      });
      expect(a.body).toMatch(/ proto https$/);
      expect(a.fingerprint).toBe(fp(dflt.cert));
      // SNI certificates come from the followed agent's Variables.
      await agent.waitFor('the variable certificate on the standalone gateway', async () => {
        return (await httpsGet(tls!, ca.cert, 'shop.test')).fingerprint === fp(shopB.cert);
      });
      const certs = agent.cli(['gateway', 'certs', '-gateway', plain!]);
      expect(certs.code, certs.stderr).toBe(0);
      expect(certs.stdout).toMatch(/^old\.test\s+variable\s.*NOT SERVED: the certificate expired at/m);
      expect(out).toMatch(/TLS certificate not served.*old\.test|old\.test.*TLS certificate not served/);
    } finally {
      gw.kill('SIGTERM');
      await exited;
    }
  }, 60_000);
});
