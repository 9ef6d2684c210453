import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { parseListenAddress, runGatewayProcess } from './process.js';
import { echoOf, FakeAgent, get, reg, startBackend } from './test-support.js';
import { testCA, testLeaf } from './tls/test-certs.js';
import type { Gateway } from './types.js';

/** Every TLS setup's stop(), counted: the real one still runs. */
const tlsStops = vi.hoisted(() => ({ count: 0 }));
vi.mock('./tls/setup.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('./tls/setup.js')>();
  return {
    ...real,
    startTlsFromFiles: async (...args: Parameters<typeof real.startTlsFromFiles>) => {
      const started = await real.startTlsFromFiles(...args);
      return {
        ...started,
        stop: () => {
          tlsStops.count++;
          return started.stop();
        },
      };
    },
  };
});

describe('the gateway process', () => {
  it('parses listen addresses and rejects malformed ones', () => {
    expect(parseListenAddress('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListenAddress(':9000')).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(parseListenAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(() => parseListenAddress('localhost')).toThrow(/invalid listen address/);
  });

  it('follows an agent catalog and routes to its instances until stopped', async () => {
    const web = await startBackend('web');
    const api = await startBackend('api');
    const agent = new FakeAgent();
    agent.set([reg('w1', 'web', web.port, ['urlprefix-/'])]);
    await agent.start();
    const stop = new AbortController();
    let gw: Gateway | undefined;
    const running = runGatewayProcess({
      address: `http://127.0.0.1:${agent.port}`,
      listen: '127.0.0.1:0',
      logger: nullLogger,
      signal: stop.signal,
      onStarted: (g) => (gw = g),
    });
    try {
      const started = await vi.waitUntil(() => gw, { timeout: 5_000, interval: 5 });
      await started.ready(AbortSignal.timeout(2000));
      expect(echoOf(await get(started.port, '/x')).name).toBe('web');
      agent.set([
        reg('w1', 'web', web.port, ['urlprefix-/']),
        reg('a1', 'api', api.port, ['urlprefix-/api strip=/api']),
      ]);
      await expect
        .poll(() => started.routes().some((r) => r.Name === '/api'), { timeout: 2000, interval: 2 })
        .toBe(true);
      expect(echoOf(await get(started.port, '/api/v1'))).toMatchObject({ name: 'api', url: '/v1' });
      const routes = JSON.parse((await get(started.port, '/_drover/gateway/routes')).body) as { Name: string }[];
      expect(routes.map((r) => r.Name)).toEqual(['/', '/api']);
    } finally {
      stop.abort();
      await running;
      await agent.close();
      await web.close();
      await api.close();
    }
  });

  it('stops following certificate variables even when closing the listeners fails', async () => {
    const agent = new FakeAgent();
    await agent.start();
    const dir = await mkdtemp(join(tmpdir(), 'fxmesh-gw-'));
    const leaf = await testLeaf(await testCA(), ['localhost']);
    await writeFile(join(dir, 'cert.pem'), leaf.cert);
    await writeFile(join(dir, 'key.pem'), leaf.key);
    const stop = new AbortController();
    let gw: Gateway | undefined;
    const before = tlsStops.count;
    const running = runGatewayProcess({
      address: `http://127.0.0.1:${agent.port}`,
      listen: '127.0.0.1:0',
      tls: { listen: '127.0.0.1:0', certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') },
      logger: nullLogger,
      signal: stop.signal,
      onStarted: (g) => {
        // The gateway closes, then reports a failure (a listener that would not close cleanly).
        const close = g.close.bind(g);
        g.close = async () => {
          await close(0);
          throw new Error('close failed');
        };
        gw = g;
      },
    });
    try {
      await vi.waitUntil(() => gw, { timeout: 5_000, interval: 5 });
      stop.abort();
      await expect(running).rejects.toThrow(/close failed/);
      expect(tlsStops.count).toBe(before + 1);
    } finally {
      stop.abort();
      await running.catch(() => {});
      await agent.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
