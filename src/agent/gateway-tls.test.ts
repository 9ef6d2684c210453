import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DroverClient } from '../api/index.js';
import { testCA, testLeaf, type TestPem } from '../gateway/tls/test-certs.js';
import { testAgent } from '../http/testing/test-api.js';
import { nullLogger } from '../logging/index.js';
import type { Server } from '../server/index.js';
import { MemoryBackend } from '../state/index.js';
import { defaultConfig, type AgentConfig } from './config.js';
import { ACME_LIST_PAGE, acmeVariableStore, startGatewayTls } from './gateway-tls.js';

describe("the agent gateway's acme.ca_file", () => {
  let dir: string;
  let ca: TestPem;
  let tls: { certFile: string; keyFile: string };
  /** Calls to the server's variable list: the certificate variables are followed once the TLS side starts. */
  let listed = 0;
  const server = {
    vars: {
      list: async (q: { signal?: AbortSignal }) => {
        listed++;
        await new Promise((r) => q.signal?.addEventListener('abort', r, { once: true }));
        return { index: 1, value: [] };
      },
      get: async () => ({ index: 1, value: undefined }),
    },
  } as unknown as Server;

  const config = (caFile: string): AgentConfig => {
    const c = defaultConfig(true);
    return {
      ...c,
      gateway: {
        ...c.gateway,
        tlsListen: '127.0.0.1:0',
        tls,
        acme: { directory: 'https://127.0.0.1:1/dir', caFile },
      },
    };
  };
  const file = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-gw-acme-ca-'));
    ca = await testCA();
    const leaf = await testLeaf(ca, ['localhost']);
    tls = { certFile: await file('gw.pem', leaf.cert), keyFile: await file('gw.key', leaf.key) };
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a missing file by its setting before following the certificate variables', async () => {
    listed = 0;
    const missing = join(dir, 'gone.pem');
    await expect(startGatewayTls(config(missing), server, nullLogger)).rejects.toThrow(
      `gateway.acme.ca_file: cannot read ${missing}`,
    );
    expect(listed).toBe(0);
  });

  it('refuses a file that holds no certificate, at start, naming the setting and the file', async () => {
    listed = 0;
    const notPem = await file('key-instead.pem', ca.key);
    await expect(startGatewayTls(config(notPem), server, nullLogger)).rejects.toThrow(
      `gateway.acme.ca_file: ${notPem} holds no PEM certificate`,
    );
    expect(listed).toBe(0);
  });

  it('refuses a truncated bundle and a certificate block that does not parse', async () => {
    const truncated = await file('truncated.pem', ca.cert + ca.cert.slice(0, ca.cert.length / 2));
    await expect(startGatewayTls(config(truncated), server, nullLogger)).rejects.toThrow(
      `gateway.acme.ca_file: ${truncated} is not a complete PEM certificate bundle (truncated?)`,
    );
    const garbled = await file(
      'garbled.pem',
      `${ca.cert}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`,
    );
    await expect(startGatewayTls(config(garbled), server, nullLogger)).rejects.toThrow(
      `gateway.acme.ca_file: ${garbled}: certificate 2 is not a valid certificate`,
    );
  });

  it('starts with a bundle of good certificates, text between them allowed', async () => {
    listed = 0;
    const other = await testCA();
    const bundle = await file('bundle.pem', `# test CA\n${ca.cert}\n# another\n${other.cert}`);
    const started = await startGatewayTls(config(bundle), server, nullLogger);
    try {
      expect(started?.options.acmeChallenge).toBeTypeOf('function');
      await expect.poll(() => listed, { timeout: 5_000 }).toBeGreaterThan(0);
    } finally {
      await started?.stop();
    }
  });
});

describe("the ACME issuer's variable store", () => {
  it('lists over HTTP a page at a time, following X-Nomad-NextToken to the last page; in-process, in one', async () => {
    const agent = await testAgent({ dataDir: ':memory:', backend: new MemoryBackend() });
    try {
      const prefix = 'nomad/gateway/acme/challenge-';
      const want: string[] = [];
      for (let n = 0; n < ACME_LIST_PAGE * 2 + 5; n++) {
        const path = `${prefix}t${String(n).padStart(4, '0')}`;
        want.push(path);
        await agent.server.vars.put({ Namespace: 'default', Path: path, Items: { keyAuthorization: `t${n}.k` } });
      }
      // Outside the prefix: never listed.
      await agent.server.vars.put({ Namespace: 'default', Path: 'nomad/gateway/acme/lease', Items: { holder: 'x' } });
      const signal = AbortSignal.timeout(10_000);
      const overHttp = acmeVariableStore(undefined, new DroverClient({ address: agent.http.address }));
      const pages: string[][] = [];
      let next: string | undefined;
      do {
        const page = await overHttp.list!(prefix, signal, next);
        pages.push(page.paths);
        next = page.nextToken;
      } while (next !== undefined && pages.length < 10);
      expect(pages.map((p) => p.length)).toEqual([ACME_LIST_PAGE, ACME_LIST_PAGE, 5]);
      expect(pages.flat()).toEqual(want);
      const inProcess = acmeVariableStore(agent.server, new DroverClient({ address: agent.http.address }));
      expect(await inProcess.list!(prefix, signal)).toEqual({ paths: want });
    } finally {
      await agent.stop();
    }
  });
});
