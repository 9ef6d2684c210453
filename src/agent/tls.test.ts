import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tlsCaCreate, tlsCertCreate } from '../cli/commands/tls.js';
import type { CommandContext } from '../cli/command.js';
import { HttpServerRPC } from '../client/index.js';
import { loadTlsMaterial, serverIdentityCheck } from './tls.js';
import type { TlsConfig } from './config.js';

let dir: string;
let other: string;
const quiet = { out: { line: () => undefined } } as unknown as CommandContext;

async function makeCA(d: string): Promise<void> {
  await tlsCaCreate.run(quiet, [], { dir: d, days: 30, commonName: 'test CA' });
  for (const role of ['server', 'client']) {
    await tlsCertCreate.run(quiet, [], {
      [role]: true,
      region: 'global',
      days: 30,
      dir: d,
      ca: join(d, 'drover-agent-ca.pem'),
      key: join(d, 'drover-agent-ca-key.pem'),
    });
  }
}

const cfg = (d: string, role: string, over: Partial<TlsConfig> = {}): TlsConfig => ({
  http: true,
  rpc: true,
  caFile: join(d, 'drover-agent-ca.pem'),
  certFile: join(d, `global-${role}-drover.pem`),
  keyFile: join(d, `global-${role}-drover-key.pem`),
  verifyServerHostname: true,
  verifyHttpsClient: true,
  ...over,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'drover-secure-tls-'));
  other = mkdtempSync(join(tmpdir(), 'drover-secure-tls-other-'));
  await makeCA(dir);
  await makeCA(other);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
});

/** An HTTPS endpoint answering the register call, with `role`'s certificate, requiring a client certificate. */
async function fakeServer(role: string): Promise<{ url: string; server: Server }> {
  const m = loadTlsMaterial(cfg(dir, role));
  const server = createServer({ ...m, requestCert: true, rejectUnauthorized: true }, (_req, res) =>
    res.end(JSON.stringify({ HeartbeatTTL: 1e9, Index: 1 })),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const rpcWith = (url: string, t: TlsConfig, verify = true) =>
  new HttpServerRPC(url, {
    tls: { ...loadTlsMaterial(t), checkServerIdentity: serverIdentityCheck('global', verify) },
    requestTimeoutMs: 5_000,
  });

describe('agent TLS', () => {
  it('connects a client with its certificate to a server with a server certificate', async () => {
    const { url, server } = await fakeServer('server');
    try {
      expect((await rpcWith(url, cfg(dir, 'client')).nodeRegister({ ID: 'n1' } as never)).heartbeatTTLms).toBe(1000);
    } finally {
      server.close();
    }
  });

  it('refuses, with verify_server_hostname, a client certificate posing as a server; without it the CA check alone passes', async () => {
    const { url, server } = await fakeServer('client');
    try {
      await expect(rpcWith(url, cfg(dir, 'client')).nodeRegister({ ID: 'n1' } as never)).rejects.toThrow(
        /no server reachable/,
      );
      expect((await rpcWith(url, cfg(dir, 'client'), false).nodeRegister({ ID: 'n1' } as never)).heartbeatTTLms).toBe(
        1000,
      );
    } finally {
      server.close();
    }
  });

  it('refuses a client whose certificate comes from another CA', async () => {
    const { url, server } = await fakeServer('server');
    try {
      const foreign = { ...cfg(other, 'client'), caFile: join(dir, 'drover-agent-ca.pem') };
      await expect(rpcWith(url, foreign).nodeRegister({ ID: 'n1' } as never)).rejects.toThrow(/no server reachable/);
    } finally {
      server.close();
    }
  });

  it('shares one TLS connection between the RPC and its template copies, each sending its own token', async () => {
    const m = loadTlsMaterial(cfg(dir, 'server'));
    const tokens: string[] = [];
    const server = createServer({ ...m, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      // The client's read of the servers' list (once, after the first answer) is not one of the calls counted.
      if (req.url !== '/v1/agent/servers') tokens.push(String(req.headers['x-nomad-token'] ?? ''));
      res.end(JSON.stringify({ HeartbeatTTL: 1e9, Index: 1 }));
    });
    let connections = 0;
    server.on('secureConnection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const rpc = rpcWith(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, cfg(dir, 'client'));
      await rpc.nodeRegister({ ID: 'n1' } as never);
      for (let i = 0; i < 10; i++) await rpc.withToken(`t${i}`).nodeRegister({ ID: 'n1' } as never);
      expect(tokens).toEqual(['', ...Array.from({ length: 10 }, (_, i) => `t${i}`)]);
      // A dispatcher per copy (the leak this guards against) opened a connection each: 11. One pool reuses its
      // connection; a request racing the release of the previous one may open a second.
      expect(connections).toBeLessThanOrEqual(3);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('serves new connections with reloaded certificates after setTls, as SIGHUP does', async () => {
    const { startHttpApi } = await import('../http/index.js');
    const { nullLogger } = await import('../logging/index.js');
    const first = loadTlsMaterial(cfg(dir, 'server'));
    const http = await startHttpApi({
      host: '127.0.0.1',
      port: 0,
      agent: { self: () => ({}) },
      logger: nullLogger,
      tls: { material: first, requireClientCert: false },
    });
    try {
      const issuer = (ca: string) =>
        new Promise<string>((res, rej) => {
          const s = tlsConnect({ host: '127.0.0.1', port: http.port, ca, servername: 'localhost' }, () => {
            res(String(s.getPeerCertificate().issuer.CN));
            s.end();
          });
          s.once('error', rej);
        });
      expect(await issuer(first.ca)).toBe('test CA');
      await expect(issuer(readFileSync(join(other, 'drover-agent-ca.pem'), 'utf8'))).rejects.toThrow();
      const second = loadTlsMaterial(cfg(other, 'server'));
      http.setTls!(second);
      expect(await issuer(second.ca)).toBe('test CA');
      await expect(issuer(first.ca)).rejects.toThrow();
    } finally {
      await http.close();
    }
  });

  it('names a truncated certificate and a key that does not match at load time', () => {
    const cut = join(dir, 'truncated.pem');
    const pem = readFileSync(join(dir, 'global-server-drover.pem'), 'utf8');
    writeFileSync(cut, pem.slice(0, pem.length / 2));
    expect(() => loadTlsMaterial(cfg(dir, 'server', { certFile: cut }))).toThrow(
      `tls: cert_file ${cut} is not a complete PEM certificate (truncated?)`,
    );
    expect(() => loadTlsMaterial(cfg(dir, 'server', { keyFile: join(dir, 'global-client-drover-key.pem') }))).toThrow(
      /does not belong to cert_file/,
    );
    expect(() => loadTlsMaterial(cfg(dir, 'server', { caFile: join(dir, 'missing.pem') }))).toThrow(
      /cannot read ca_file/,
    );
  });
});
