import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServerRPC } from '../../client/index.js';
import { nullLogger } from '../../logging/index.js';
import { createServer } from '../../server/index.js';
import { mockNode } from '../../state/testing/fixtures.js';
import { newFakeScheduler } from '../../server/testing/fake-scheduler.js';
import { startHttpApi } from '../server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the internal client endpoints', () => {
  it("hand a remote client its heartbeat TTL in nanoseconds under Nomad's name, as HttpServerRPC reads it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-internal-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = await createServer({ dataDir: dir, logger: nullLogger, newScheduler: newFakeScheduler, numWorkers: 1, heartbeat: { minTTLms: 2000, maxHeartbeatsPerSecond: 50, gracems: 1000 } });
    cleanups.push(() => server.stop());
    const http = await startHttpApi({ host: '127.0.0.1', port: 0, server, agent: { self: () => ({}) }, logger: nullLogger });
    cleanups.push(() => http.close());

    const raw = await fetch(`${http.address}/v1/internal/client/register`, { method: 'PUT', body: JSON.stringify({ Node: mockNode('n1') }) });
    expect((await raw.json()) as unknown).toMatchObject({ HeartbeatTTL: 2000 * 1e6 });

    // A client that got no number here heartbeated in a tight loop (NaN ms between heartbeats).
    const rpc = new HttpServerRPC(http.address);
    expect((await rpc.nodeRegister(mockNode('n2'))).heartbeatTTLms).toBe(2000);
    expect((await rpc.nodeUpdateStatus('n2', 'ready')).heartbeatTTLms).toBe(2000);
  });
});
