import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as agentModule from '../../agent/index.js';
import { FakeNomad } from '../../api/testing/index.js';
import { MemorySource, startGateway, type Gateway, type GatewayInstance } from '../../gateway/index.js';
import { nullLogger } from '../../logging/index.js';
import { runCli } from '../run.js';
import { buildAgentConfig } from './agent-config.js';

let dir: string;
const cleanups: Array<() => Promise<void> | void> = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-gw-cli-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rm(dir, { recursive: true, force: true });
});

async function cli(
  argv: string[],
  opts: { env?: Record<string, string>; signal?: AbortSignal; onOut?: (s: string) => void } = {},
) {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string) => ((stdout += s), opts.onOut?.(stdout)) },
    stderr: { write: (s: string) => (stderr += s) },
    env: opts.env ?? {},
  };
  const code = await runCli(argv, io, { signal: opts.signal });
  return { code, stdout, stderr };
}

const flags = (over: Partial<Parameters<typeof buildAgentConfig>[0]> = {}) => ({ dev: true, configFiles: [], ...over });

const inst = (id: string, alloc: string, port: number, tags: string[]): GatewayInstance => ({
  ID: `_nomad-task-${alloc}-web-web-http-${id}`,
  ServiceName: 'web',
  Address: '127.0.0.1',
  Port: port,
  Tags: tags,
  AllocID: alloc,
  NodeID: 'n1',
  Healthy: true,
});

async function gatewayWith(instances: GatewayInstance[], admin = false): Promise<Gateway> {
  const gw = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    admin: admin ? { host: '127.0.0.1', port: 0 } : undefined,
    source: new MemorySource(instances),
    logger: nullLogger,
  });
  cleanups.push(() => gw.close(0));
  await gw.ready(AbortSignal.timeout(2_000));
  return gw;
}

async function backend(): Promise<number> {
  const srv: Server = createServer((req, res) => res.end(`backend ${req.url}`));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as AddressInfo).port;
}

describe('the agent config gateway block', () => {
  it('is on in -dev on 127.0.0.1:8080 with round robin on the automatic data plane, off otherwise', async () => {
    expect((await buildAgentConfig(flags(), agentModule)).gateway).toEqual({
      enabled: true,
      listen: '127.0.0.1:8080',
      lb: 'round_robin',
      dataPlane: 'auto',
    });
    expect((await buildAgentConfig(flags({ dev: false, server: true }), agentModule)).gateway.enabled).toBe(false);
  });

  it('reads gateway { enabled, listen, admin, lb, data_plane } from HCL and JSON files', async () => {
    const hcl = join(dir, 'a.hcl');
    await writeFile(
      hcl,
      'gateway {\n  enabled = true\n  listen = "0.0.0.0:9080"\n  admin = "127.0.0.1:9081"\n  lb = "least_conn"\n  data_plane = "haproxy"\n}\n',
    );
    const cfg = await buildAgentConfig(flags({ dev: false, configFiles: [hcl] }), agentModule);
    expect(cfg.gateway).toEqual({
      enabled: true,
      listen: '0.0.0.0:9080',
      admin: '127.0.0.1:9081',
      lb: 'least_conn',
      dataPlane: 'haproxy',
    });
    const json = join(dir, 'b.json');
    await writeFile(json, JSON.stringify({ gateway: [{ enabled: false }] }));
    expect((await buildAgentConfig(flags({ configFiles: [json] }), agentModule)).gateway.enabled).toBe(false);
  });

  it('rejects an unknown balancing, data plane or a listen address without a port, naming the key', async () => {
    const bad = async (body: string) => {
      const f = join(dir, `bad-${Math.random().toString(36).slice(2)}.hcl`);
      await writeFile(f, `gateway {\n  ${body}\n}\n`);
      return buildAgentConfig(flags({ configFiles: [f] }), agentModule).then(
        () => '',
        (e: Error) => e.message,
      );
    };
    expect(await bad('lb = "random"')).toMatch(/gateway\.lb must be one of round_robin, least_conn, got "random"/);
    expect(await bad('data_plane = "envoy"')).toMatch(/gateway\.data_plane must be one of auto, node, haproxy/);
    expect(await bad('listen = "localhost"')).toMatch(/gateway\.listen must be host:port/);
  });

  it('-gateway-port sets the port on the configured host and turns the gateway on', async () => {
    expect((await buildAgentConfig(flags({ gatewayPort: 0 }), agentModule)).gateway.listen).toBe('127.0.0.1:0');
    const f = join(dir, 'c.hcl');
    await writeFile(f, 'gateway {\n  listen = "0.0.0.0:9080"\n}\n');
    const cfg = await buildAgentConfig(
      flags({ dev: false, server: true, configFiles: [f], gatewayPort: 7070 }),
      agentModule,
    );
    expect(cfg.gateway).toMatchObject({ enabled: true, listen: '0.0.0.0:7070' });
    await expect(buildAgentConfig(flags({ gatewayPort: 70000 }), agentModule)).rejects.toThrow(
      /Invalid -gateway-port 70000/,
    );
  });

  it('prints "Gateway at" with its data plane beside "API at" when the agent runs one', async () => {
    const ctl = new AbortController();
    const startAgent = async (f: { gatewayPort?: number }) => {
      expect(f.gatewayPort).toBe(0);
      queueMicrotask(() => ctl.abort());
      return {
        stop: async () => {},
        address: 'http://127.0.0.1:4646',
        gatewayAddress: 'http://127.0.0.1:41000',
        gatewayPlane: 'haproxy',
      };
    };
    let stdout = '';
    const code = await runCli(
      ['agent', '-dev', '-gateway-port', '0'],
      { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true }, env: {} },
      { signal: ctl.signal, startAgent },
    );
    expect(code).toBe(0);
    expect(stdout).toContain(
      '    API at http://127.0.0.1:4646\n    Gateway at http://127.0.0.1:41000 (data plane: haproxy)\n',
    );
  });
});

describe('drover gateway routes', () => {
  it('prints each route with its instances by allocation ID, from the shared listener', async () => {
    const [p1, p2] = [await backend(), await backend()];
    const gw = await gatewayWith([
      inst('a', 'aaaaaaaa-1111', p1, ['urlprefix-/']),
      inst('b', 'bbbbbbbb-2222', p2, ['urlprefix-/']),
      inst('c', 'cccccccc-3333', p2, ['urlprefix-/api strip=/api']),
    ]);
    const r = await cli(['gateway', 'routes', '-gateway', `http://127.0.0.1:${gw.port}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Route\s+Strip\s+LB\s+Service\s+Instance\s+Address\s+Active\s+State$/);
    expect(r.stdout).toMatch(
      new RegExp(`^/api\\s+/api\\s+round_robin\\s+web\\s+cccccccc\\s+127\\.0\\.0\\.1:${p2}\\s+0\\s+ok$`, 'm'),
    );
    expect(r.stdout).toMatch(
      new RegExp(`^/\\s+-\\s+round_robin\\s+web\\s+aaaaaaaa\\s+127\\.0\\.0\\.1:${p1}\\s+0\\s+ok$`, 'm'),
    );
    expect(r.stdout).toMatch(new RegExp(`^\\s+web\\s+bbbbbbbb\\s+127\\.0\\.0\\.1:${p2}\\s+0\\s+ok$`, 'm'));
  });

  it('lists route options and says why a route with an unknown option is not served', async () => {
    const p1 = await backend();
    const gw = await gatewayWith([
      inst('a', 'aaaaaaaa-1111', p1, ['urlprefix-/ok rate=50 header=X-Frame-Options:DENY']),
      inst('b', 'bbbbbbbb-2222', p1, ['urlprefix-/bad auht=ops']),
    ]);
    const r = await cli(['gateway', 'routes', '-gateway', `http://127.0.0.1:${gw.port}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\/bad\s+-\s+round_robin\s+web\s+-\s+-\s+0\s+not served$/m);
    expect(r.stdout).toMatch(/^Route options:\n\s+\/ok\s+rate=50 header=X-Frame-Options:DENY$/m);
    expect(r.stdout).toMatch(/^Routes not served:\n\s+\/bad\s+unknown option "auht" \(known: strip, /m);
  });

  it('reads a separate admin listener too, and prints the JSON with -json', async () => {
    const gw = await gatewayWith([inst('a', 'aaaaaaaa-1111', await backend(), ['urlprefix-/x'])], true);
    const r = await cli(['gateway', 'routes', '-json'], {
      env: { DROVER_GATEWAY: `http://127.0.0.1:${gw.adminPort}` },
    });
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as Array<{ Prefix: string; Targets: Array<{ AllocID: string }> }>;
    expect(body.map((x) => [x.Prefix, x.Targets.map((t) => t.AllocID)])).toEqual([['/x', ['aaaaaaaa-1111']]]);
  });

  it('says which gateway it could not reach, and refuses a server that is not a gateway', async () => {
    const closed = createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise<void>((res) => closed.close(() => res()));
    const notGateway = createServer((_req, res) => res.end('<html>hi</html>'));
    await new Promise<void>((res) => notGateway.listen(0, '127.0.0.1', res));
    cleanups.push(() => new Promise<void>((res) => notGateway.close(() => res())));
    const other = `http://127.0.0.1:${(notGateway.address() as AddressInfo).port}`;
    const r = await cli(['gateway', 'routes', '-gateway', other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Error querying the gateway at ${other}: no routing table found`);
    const unreachable = await cli(['gateway', 'routes', '-gateway', `http://127.0.0.1:${dead}`]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(
      `Error querying the gateway at http://127.0.0.1:${dead}: ECONNREFUSED (is it running?`,
    );
  });
});

describe('drover gateway', () => {
  it('rejects an unknown balancing or data plane before listening', async () => {
    expect((await cli(['gateway', '-lb', 'random'])).stderr).toContain(
      'Invalid -lb "random": expected round_robin or least_conn',
    );
    expect((await cli(['gateway', '-data-plane', 'envoy'])).stderr).toContain('Invalid -data-plane "envoy"');
    expect((await cli(['gateway', '-listen', 'nope'])).code).toBe(1);
  });

  it('asks for the whole TLS setting (listener, certificate and key) before listening', async () => {
    expect((await cli(['gateway', '-tls-listen', '127.0.0.1:0'])).stderr).toContain(
      '-tls-listen needs -tls-cert-file and -tls-key-file',
    );
    expect((await cli(['gateway', '-tls-cert-file', 'c.pem', '-tls-key-file', 'k.pem'])).stderr).toContain(
      '-tls-cert-file and -tls-key-file need -tls-listen',
    );
    const missing = join(dir, 'missing.pem');
    const r = await cli([
      'gateway',
      '-tls-listen',
      '127.0.0.1:0',
      '-tls-cert-file',
      missing,
      '-tls-key-file',
      missing,
      '-listen',
      '127.0.0.1:0',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`-tls-cert-file: cannot read ${missing}`);
  });

  it("follows an agent's catalog, routes by its tags, and stops on the signal", async () => {
    const port = await backend();
    const fake = await new FakeNomad().start();
    cleanups.push(() => fake.stop());
    fake.on('GET', '/v1/services', {
      index: 3,
      body: [{ Namespace: 'default', Services: [{ ServiceName: 'stats', Tags: ['urlprefix-/api strip=/api'] }] }],
    });
    fake.on('GET', '/v1/service/stats', {
      index: 3,
      body: [
        {
          ID: 's1',
          ServiceName: 'stats',
          Namespace: 'default',
          NodeID: 'n1',
          AllocID: 'a1',
          Tags: ['urlprefix-/api strip=/api'],
          Address: '127.0.0.1',
          Port: port,
          Status: 'passing',
        },
      ],
    });
    const ctl = new AbortController();
    let url = '';
    const onOut = (all: string) => (url = /Gateway at (http:\/\/127\.0\.0\.1:\d+)/.exec(all)?.[1] ?? url);
    const run = cli(['gateway', '-address', fake.address, '-listen', '127.0.0.1:0'], { signal: ctl.signal, onOut });
    try {
      await expect.poll(() => url, { timeout: 4_000, interval: 20 }).not.toBe('');
      await expect
        .poll(() => fetch(`${url}/api/v1`).then((r) => r.text()), { timeout: 2_000, interval: 20 })
        .toBe('backend /v1');
    } finally {
      ctl.abort();
    }
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('==> Gateway stopped');
  });
});
