import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../logging/index.js';
import { startTlsFromFiles } from './setup.js';
import { testCertSet, type TestPem } from './test-certs.js';
import type { CertVariable } from './var-certs.js';

describe('a TLS listener set up from files', () => {
  let dir: string;
  let set: Record<'ca' | 'dflt' | 'shopA' | 'shopB' | 'expired', TestPem>;
  const names = { cert: '-tls-cert-file', key: '-tls-key-file' };
  const listen = { host: '127.0.0.1', port: 0 };
  const files = async (p: TestPem, name: string) => {
    await writeFile(join(dir, `${name}.pem`), p.cert);
    await writeFile(join(dir, `${name}.key`), p.key);
    return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gwbench-tls-setup-'));
    set = await testCertSet();
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses an expired default certificate, naming the setting and the reason', async () => {
    const f = await files(set.expired, 'old');
    await expect(startTlsFromFiles({ listen, ...f, names }, undefined, memoryLogger())).rejects.toThrow(
      `-tls-cert-file: the default certificate ${f.certFile}: the certificate expired at`,
    );
  });

  it('names the default certificate by `names.certificate` when given (the agent: gateway.tls)', async () => {
    const f = await files(set.expired, 'old2');
    const agentNames = { cert: 'gateway.tls.cert_file', key: 'gateway.tls.key_file', certificate: 'gateway.tls' };
    await expect(startTlsFromFiles({ listen, ...f, names: agentNames }, undefined, memoryLogger())).rejects.toThrow(
      `gateway.tls: the default certificate ${f.certFile}: the certificate expired at`,
    );
    await expect(
      startTlsFromFiles({ listen, ...f, keyFile: `${f.keyFile}.gone`, names: agentNames }, undefined, memoryLogger()),
    ).rejects.toThrow(`gateway.tls.key_file: cannot read ${f.keyFile}.gone`);
  });

  it('refuses a key file that does not belong to the certificate file', async () => {
    const f = { certFile: (await files(set.dflt, 'dflt')).certFile, keyFile: (await files(set.shopA, 'shop')).keyFile };
    await expect(startTlsFromFiles({ listen, ...f, names }, undefined, memoryLogger())).rejects.toThrow(
      'the key does not match the certificate',
    );
  });

  it('serves the variables it follows and logs each bad one with its host and reason, once', async () => {
    const f = await files(set.dflt, 'dflt');
    const vars: CertVariable[] = [
      { Path: 'nomad/gateway/certs/shop_test', Items: { cert: set.shopA.cert, key: set.shopA.key } },
      { Path: 'nomad/gateway/certs/old_test', Items: { cert: set.expired.cert, key: set.expired.key } },
      { Path: 'nomad/gateway/certs/mix_test', Items: { cert: set.shopB.cert, key: set.dflt.key } },
    ];
    let answered = 0;
    const query = async (minIndex: number, signal: AbortSignal) => {
      if (minIndex >= 7) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      answered++;
      return { index: 7, value: vars };
    };
    const log = memoryLogger();
    const tls = await startTlsFromFiles({ listen, ...f, names }, query, log);
    try {
      await expect.poll(() => tls.options.certs.servingNow().has('shop.test'), { timeout: 5_000 }).toBe(true);
      const problems = log.lines.filter((l) => l.msg === 'TLS certificate not served').map((l) => l.fields);
      expect(problems).toEqual([
        expect.objectContaining({ host: 'old.test', problem: expect.stringMatching(/^the certificate expired at/) }),
        expect.objectContaining({ host: 'mix.test', problem: 'the key does not match the certificate' }),
      ]);
      expect([...tls.options.certs.servingNow().keys()].sort()).toEqual(['', 'shop.test']);
      expect(answered).toBeGreaterThan(0);
    } finally {
      await tls.stop();
    }
  });
});
