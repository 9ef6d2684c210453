/**
 * ACME at the gateway as a user meets it, with one dev agent (its default data plane: HAProxy when installed) and
 * Debian's pebble (a real ACME CA) on loopback. The agent's `gateway { acme { directory ca_file } }` names no
 * domains, so it orders for the hosts of its routes. First the CA is down: the order fails with a clear log line,
 * `drover gateway certs` shows why, and the routes keep serving. Then pebble starts, validates HTTP-01 by
 * fetching the challenge from the gateway's HTTP port (its `httpPort`; the test's tiny DNS server sends every
 * name to 127.0.0.1), and the certificate lands in the Variable nomad/gateway/certs/<host>, served on the next
 * handshake: checked with `openssl s_client` and curl trusting only pebble's root. The host's route carries
 * `redirect=https`: plain HTTP gets a 301 to the HTTPS listener, except the challenge path, which the CA needs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dns2 from 'dns2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort as freePort } from '../../src/gateway/test-support.js';
import { testCA, testLeaf } from '../../src/gateway/tls/test-certs.js';
import { allocAnswerScript, nodeWebJob } from './fixtures/node-web-job.js';
import { TestAgent } from './harness/agent.js';

const PEBBLE = '/usr/bin/pebble';
const HOST = 'shop.acme-e2e.test';

const JOB = nodeWebJob({
  name: 'acme-e2e-web',
  tags: [`urlprefix-${HOST}/ redirect=https`, 'urlprefix-/plain'],
  script: allocAnswerScript(),
});

/** A DNS server that answers every A question with 127.0.0.1 (and nothing else), for pebble's VA. */
async function loopbackDns(): Promise<{ port: number; close: () => Promise<void> }> {
  const { Packet, UDPServer } = dns2;
  const server = new UDPServer({ type: 'udp4' });
  server.on('request', ((
    request: InstanceType<typeof Packet>,
    send: (r: InstanceType<typeof Packet>) => Promise<unknown>,
  ) => {
    const response = Packet.createResponseFromRequest(request);
    for (const q of request.questions)
      if (q.type === Packet.TYPE.A)
        response.answers.push({
          name: q.name,
          type: Packet.TYPE.A,
          class: Packet.CLASS.IN,
          ttl: 5,
          address: '127.0.0.1',
        } as never);
    void send(response);
  }) as never);
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  return { port: server.address().port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function run(cmd: string, args: string[], input = ''): { code: number; out: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('ACME issuance at the gateway of a dev agent, with pebble', () => {
  const dir = mkdtempSync(join(tmpdir(), 'acme-e2e-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  let agent: TestAgent;
  let dns: Awaited<ReturnType<typeof loopbackDns>>;
  let pebble: ChildProcess | undefined;
  let pebbleOut = '';
  let gwPort = 0;
  let tlsPort = 0;
  let acmePort = 0;
  let mgmtPort = 0;
  let pebbleTlsCa = '';

  beforeAll(async () => {
    const ca = await testCA();
    const pebbleCert = await testLeaf(ca, ['localhost']);
    pebbleTlsCa = file('pebble-tls-ca.pem', ca.cert);
    [gwPort, tlsPort, acmePort, mgmtPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const dflt = await testLeaf(ca, ['localhost']);
    const cfg = file(
      'agent.hcl',
      `gateway {
  tls_listen = "127.0.0.1:${tlsPort}"
  tls {
    cert_file = "${file('default.pem', dflt.cert)}"
    key_file  = "${file('default.key', dflt.key)}"
  }
  acme {
    directory = "https://localhost:${acmePort}/dir"
    email     = "ops@acme-e2e.test"
    ca_file   = "${pebbleTlsCa}"
  }
}
`,
    );
    writeFileSync(
      join(dir, 'pebble.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: file('pebble.pem', pebbleCert.cert),
          privateKey: file('pebble.key', pebbleCert.key),
          httpPort: gwPort,
          tlsPort: await freePort(),
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    dns = await loopbackDns();
    agent = new TestAgent({ args: ['-config', cfg, '-gateway-port', String(gwPort)] });
    await agent.start();
    const ran = agent.cli(['job', 'run', '-detach', file('job.hcl', JOB)]);
    expect(ran.code, ran.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    if (pebble && pebble.exitCode === null) {
      const exited = new Promise((r) => pebble!.once('exit', r));
      pebble.kill('SIGTERM');
      await exited;
    }
    await agent?.stop();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports an unreachable ACME directory in the log and drover gateway certs while the routes keep serving', async () => {
    await agent.waitFor('the failed order in the log', async () =>
      agent.output
        .split('\n')
        .some((l) => l.includes('ACME certificate order failed') && l.includes(HOST) && l.includes('cannot reach')),
    );
    const certs = agent.cli(['gateway', 'certs', '-gateway', agent.gatewayAddress]);
    expect(certs.code, certs.stderr).toBe(0);
    expect(certs.stdout).toMatch(
      new RegExp(
        `${HOST.replace(/\./g, '\\.')}\\s+acme\\s+https://localhost:${acmePort}/dir\\s+-\\s+NOT SERVED: ACME order failed .*cannot reach`,
      ),
    );
    const plain = await agent.waitFor('the plain route', async () => {
      const r = await fetch(`http://127.0.0.1:${gwPort}/plain`);
      return r.status === 200 ? r.text() : undefined;
    });
    expect(plain).toMatch(/^alloc /);
    // The host's route sends plain HTTP to HTTPS (redirect=https), the other route does not...
    const redirect = run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      '-H',
      `host: ${HOST}`,
      `http://127.0.0.1:${gwPort}/a?b=1`,
    ]);
    expect(redirect.out).toBe(`301 https://${HOST}:${tlsPort}/a?b=1`);
    // ...and answers over HTTPS with the default certificate meanwhile.
    const curl = run('curl', ['-sS', '-k', '--resolve', `${HOST}:${tlsPort}:127.0.0.1`, `https://${HOST}:${tlsPort}/`]);
    expect(curl.out).toMatch(/^alloc /);
  }, 60_000);

  it('issues a certificate through HTTP-01 once the CA is up and serves it on the next handshake', async () => {
    pebble = spawn(PEBBLE, ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dns.port}`], {
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pebble.stdout!.on('data', (b: Buffer) => (pebbleOut += b.toString()));
    pebble.stderr!.on('data', (b: Buffer) => (pebbleOut += b.toString()));
    // The failed host is retried after its backoff (10 s for the first failure).
    await agent
      .waitFor('the issued certificate', async () => agent.output.includes('ACME certificate issued'), 40_000)
      .catch((e: Error) => {
        throw new Error(`${e.message}\npebble output:\n${pebbleOut.slice(-3000)}`);
      });
    // pebble fetched the key authorization from the gateway, not a shortcut.
    expect(pebbleOut).toMatch(
      new RegExp(
        `Attempting to validate w/ HTTP: http://${HOST.replace(/\./g, '\\.')}:${gwPort}/\\.well-known/acme-challenge/`,
      ),
    );

    const roots = run('curl', ['-sS', '--cacert', pebbleTlsCa, `https://localhost:${mgmtPort}/roots/0`]);
    expect(roots.code, roots.out).toBe(0);
    const root = file('pebble-root.pem', roots.out);

    const served = await agent.waitFor('the ACME certificate on the HTTPS listener', async () => {
      const s = run(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', HOST, '-CAfile', root],
        'Q\n',
      );
      return s.out.includes('Verify return code: 0 (ok)') ? s.out : undefined;
    });
    const leaf = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(served)![0]);
    expect(leaf.subjectAltName).toContain(`DNS:${HOST}`);
    expect(leaf.issuer).toMatch(/Pebble/);

    const curl = run('curl', [
      '-sS',
      '--cacert',
      root,
      '--resolve',
      `${HOST}:${tlsPort}:127.0.0.1`,
      `https://${HOST}:${tlsPort}/`,
    ]);
    expect(curl.code, curl.out).toBe(0);
    expect(curl.out).toMatch(/^alloc /);

    const certs = agent.cli(['gateway', 'certs', '-gateway', agent.gatewayAddress]);
    expect(certs.stdout).toMatch(
      new RegExp(
        `${HOST.replace(/\./g, '\\.')}\\s+variable\\s+nomad/gateway/certs/shop_acme-e2e_test\\s+\\S+\\s+serving`,
      ),
    );
    expect(certs.stdout).not.toMatch(/ACME order failed/);
    const v = agent.cli(['var', 'get', '-item', 'source', 'nomad/gateway/certs/shop_acme-e2e_test']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe('acme');
    // The pending key authorization was withdrawn once validated; the account and the lease stay.
    const acmeVars = agent.cli(['var', 'list', 'nomad/gateway/acme/']);
    expect(acmeVars.stdout).toMatch(/nomad\/gateway\/acme\/account/);
    expect(acmeVars.stdout).not.toMatch(/challenge-/);
  }, 60_000);
});
