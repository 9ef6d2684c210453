import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isDroverError } from '../errors/index.js';
import type { Gateway } from '../gateway/index.js';
import { memoryLogger, nullLogger } from '../logging/index.js';
import { createServer, type Server } from '../server/index.js';
import type { ServiceRegistration } from '../structs/index.js';
import { defaultConfig, type AgentConfig } from './config.js';
import { findExecutable } from '../gateway/index.js';
import {
  chooseDataPlane,
  chooseSidecarDataPlane,
  gatewayUrl,
  serverCatalogQuery,
  startAgentGateway,
} from './gateway.js';

/** Both planes where HAProxy is installed (scripts/test.sh installs it); the Node plane alone elsewhere. */
const PLANES = findExecutable('haproxy') ? (['node', 'haproxy'] as const) : (['node'] as const);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function realServer(): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'drover-agent-gw-'));
  const server = await createServer({ dataDir: dir, logger: nullLogger, numWorkers: 0 });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => server.stop());
  return server;
}

/** A backend that answers its name and the path it saw. */
async function backend(name: string): Promise<number> {
  const srv: HttpServer = createHttpServer((req, res) => res.end(`${name} ${req.url}`));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as AddressInfo).port;
}

const reg = (
  id: string,
  service: string,
  port: number,
  tags: string[],
  status: ServiceRegistration['Status'] = 'passing',
  ns = 'default',
): ServiceRegistration => ({
  ID: id,
  ServiceName: service,
  Namespace: ns,
  NodeID: 'n1',
  Datacenter: 'dc1',
  JobID: service,
  AllocID: `alloc-${id}`,
  Tags: tags,
  Address: '127.0.0.1',
  Port: port,
  CreateIndex: 0,
  ModifyIndex: 0,
  Status: status,
});

const planeConfig = (over: Partial<AgentConfig['gateway']> = {}): AgentConfig => {
  const c = defaultConfig(true);
  return { ...c, gateway: { ...c.gateway, listen: '127.0.0.1:0', ...over } };
};

async function started(config: AgentConfig, server: Server | undefined): Promise<Gateway> {
  const gw = (await startAgentGateway(config, server, nullLogger))!;
  cleanups.push(() => gw.close(0));
  return gw;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

describe.each(PLANES)("the agent's gateway on the %s data plane", (plane) => {
  const devConfig = (over: Partial<AgentConfig['gateway']> = {}) => planeConfig({ dataPlane: plane, ...over });

  it('runs the data plane the config names', async () => {
    const gw = await started(devConfig(), await realServer());
    expect(gw.dataPlane).toBe(plane);
  });

  it("routes by the server's catalog in every namespace and follows its changes", async () => {
    const server = await realServer();
    const [web, api] = [await backend('web'), await backend('api')];
    await server.upsertServiceRegistrations([
      reg('w1', 'web', web, ['urlprefix-/']),
      reg('s1', 'stats', api, ['urlprefix-/api strip=/api'], 'passing', 'ops'),
    ]);
    const gw = await started(devConfig(), server);
    await gw.ready(AbortSignal.timeout(3_000));
    expect(await get(gw.port, '/hello')).toEqual({ status: 200, body: 'web /hello' });
    expect(await get(gw.port, '/api/stats')).toEqual({ status: 200, body: 'api /stats' });

    const web2 = await backend('web2');
    await server.upsertServiceRegistrations([reg('w2', 'web', web2, ['urlprefix-/'])]);
    await expect
      .poll(() => gw.routes().find((r) => r.Prefix === '/')?.Targets.length === 2, {
        timeout: 3_000,
        message: 'the second web instance',
      })
      .toBe(true);
    await server.deleteServiceRegistrations(['w1']);
    await expect
      .poll(
        () =>
          gw
            .routes()
            .find((r) => r.Prefix === '/')
            ?.Targets.map((t) => t.ID)
            .join() === 'w2',
        { timeout: 3_000, message: 'the first web instance to leave' },
      )
      .toBe(true);
    expect(await get(gw.port, '/')).toEqual({ status: 200, body: 'web2 /' });
  });

  it('serves passing instances only: a critical one leaves the routing', async () => {
    const server = await realServer();
    const [a, b] = [await backend('a'), await backend('b')];
    await server.upsertServiceRegistrations([
      reg('a', 'web', a, ['urlprefix-/']),
      reg('b', 'web', b, ['urlprefix-/'], 'critical'),
    ]);
    const gw = await started(devConfig(), server);
    await gw.ready(AbortSignal.timeout(3_000));
    expect(
      gw
        .routes()
        .find((r) => r.Prefix === '/')
        ?.Targets.map((t) => t.ID),
    ).toEqual(['a']);
    for (let i = 0; i < 4; i++) expect((await get(gw.port, '/')).body).toBe('a /');
  });
});

describe("the agent's gateway", () => {
  const devConfig = planeConfig;

  it('defaults to HAProxy when a binary is found, else to the Node plane with a reason', () => {
    expect(defaultConfig(true).gateway.dataPlane).toBe('auto');
    expect(chooseDataPlane('auto', () => true)).toEqual({ plane: 'haproxy' });
    expect(chooseDataPlane('auto', () => false)).toEqual({
      plane: 'node',
      fallbackReason: 'no haproxy binary on PATH',
    });
    expect(chooseDataPlane('node', () => true)).toEqual({ plane: 'node' });
    expect(chooseDataPlane('haproxy', () => false)).toEqual({ plane: 'haproxy' });
  });

  it('chooses the Connect sidecar plane the same way, warning once when auto falls back to Node', () => {
    expect(defaultConfig(true).client.connect.sidecarDataPlane).toBe('auto');
    const log = memoryLogger();
    expect(chooseSidecarDataPlane('auto', log, () => true)).toBe('haproxy');
    expect(chooseSidecarDataPlane('node', log, () => true)).toBe('node');
    expect(chooseSidecarDataPlane('haproxy', log, () => false)).toBe('haproxy');
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(chooseSidecarDataPlane('auto', log, () => false)).toBe('node');
    const warns = log.lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toMatch(/Connect sidecars run on the built-in Node proxy/);
  });

  it('falls back to the Node plane with a warning when no haproxy binary is on PATH', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = mkdtempSync(join(tmpdir(), 'drover-agent-gw-empty-path-'));
    const log = memoryLogger();
    let gw: Gateway | undefined;
    try {
      gw = (await startAgentGateway(devConfig(), await realServer(), log))!;
    } finally {
      process.env['PATH'] = path;
    }
    cleanups.push(() => gw.close(0));
    expect(gw.dataPlane).toBe('node');
    expect(log.lines.find((l) => l.level === 'warn')?.msg).toMatch(/no haproxy binary on PATH: .*Node data plane/);
  });

  it('is off unless enabled', async () => {
    const config = defaultConfig(false);
    expect(config.gateway.enabled).toBe(false);
    expect(await startAgentGateway(config, undefined, nullLogger)).toBeUndefined();
  });

  it('refuses to start on a taken port, naming the port and the flag that changes it', async () => {
    const port = await backend('squatter');
    const server = await realServer();
    const err = await startAgentGateway(devConfig({ listen: `127.0.0.1:${port}` }), server, memoryLogger()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDroverError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect((err as Error).message).toContain('-gateway-port');
  });

  it('blocks the catalog query until the registrations change', async () => {
    const server = await realServer();
    const query = serverCatalogQuery(server);
    await server.upsertServiceRegistrations([reg('a', 'web', 1, [])]);
    const first = await query(0, AbortSignal.timeout(2_000));
    expect(first.instances.map((i) => i.ID)).toEqual(['a']);
    let answered = false;
    const next = query(first.index, AbortSignal.timeout(5_000)).then((r) => ((answered = true), r));
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 150));
    expect(answered).toBe(false);
    await server.upsertServiceRegistrations([reg('b', 'web', 2, [], 'critical')]);
    const second = await next;
    expect(second.index).toBeGreaterThan(first.index);
    expect(second.instances.map((i) => [i.ID, i.Healthy])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });

  it('shows a reachable URL for its listen address', () => {
    expect(gatewayUrl('127.0.0.1:0', 41234)).toBe('http://127.0.0.1:41234');
    expect(gatewayUrl('0.0.0.0:8080', 8080)).toBe('http://127.0.0.1:8080');
    expect(gatewayUrl('[::1]:8080', 8080)).toBe('http://[::1]:8080');
  });
});
