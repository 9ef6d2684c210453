import { describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { parseListenAddress, runGatewayProcess } from './process.js';
import { echoOf, FakeAgent, get, reg, startBackend } from './test-support.js';
import type { Gateway } from './types.js';

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
});
