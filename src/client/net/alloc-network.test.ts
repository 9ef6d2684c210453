import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../../logging/index.js';
import { MockDriver } from '../../drivers/index.js';
import { createClient } from '../index.js';
import { AllocNetworks, DEFAULT_BRIDGE } from './index.js';
import { FakeServer, testAlloc, testJob, testTask } from '../testing/index.js';

const dirs: string[] = [];
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

describe('allocation networks in the client', () => {
  it('fails every task with the missing CNI plugins named, before any namespace or record exists', async () => {
    const server = new FakeServer();
    const dataDir = tempDir('drover-client-net-');
    const client = await createClient({
      rpc: server,
      dataDir,
      logger: nullLogger,
      datacenter: 'dc1',
      region: 'global',
      drivers: [new MockDriver()],
      timing: { allocUpdateBatchMs: 20 },
      network: { cniPath: [tempDir('drover-client-nobin-')] },
    });
    await client.start();
    stops.push(() => client.stop({ killTasks: true }));
    const job = testJob([testTask('a', 'mock_driver', {}), testTask('b', 'mock_driver', {})]);
    job.TaskGroups[0]!.Networks = [
      { Mode: 'bridge', Device: '', CIDR: '', IP: '', ReservedPorts: null, DynamicPorts: null },
    ];
    const alloc = server.place(testAlloc(job, client.nodeID));

    await expect.poll(() => server.allocs.get(alloc.ID)?.ClientStatus, { timeout: 5_000 }).toBe('failed');
    const failed = () => Object.values(server.allocs.get(alloc.ID)?.TaskStates ?? {}).filter((t) => t.Failed).length;
    await expect.poll(failed, { timeout: 5_000 }).toBe(2);
    for (const task of ['a', 'b']) {
      const st = server.allocs.get(alloc.ID)?.TaskStates?.[task];
      expect(st?.Failed).toBe(true);
      const ev = st?.Events.find((e) => e.Type === 'Setup Failure');
      expect(ev?.DisplayMessage).toContain('CNI plugin "bridge" not found');
      expect(st?.Events.some((e) => e.Type === 'Started')).toBe(false);
    }
    const records = join(dataDir, 'net');
    expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);
  });
});

describe('allocation networks held by a driver', () => {
  it('removes the holder and the record when the holder cannot start, and names its reason', async () => {
    // Every plugin of the chain exists (as a no-op), so setup gets as far as the holder.
    const bin = tempDir('drover-net-fakebin-');
    for (const p of ['loopback', 'bridge', 'firewall', 'portmap']) {
      writeFileSync(join(bin, p), '#!/bin/sh\necho {}\n');
      chmodSync(join(bin, p), 0o755);
    }
    const dataDir = tempDir('drover-net-holder-');
    const natRemoved: string[] = [];
    const nat = {
      add: () => Promise.resolve(),
      remove: (id: string) => {
        natRemoved.push(id);
        return Promise.resolve();
      },
    };
    const networks = new AllocNetworks({ ...DEFAULT_BRIDGE, cniPath: [bin] }, dataDir, nullLogger, { nat });
    const destroyed: string[] = [];
    const holder = {
      name: 'docker',
      create: () => Promise.reject(new Error('the pause image drover/pause:latest is absent')),
      destroy: (id: string) => {
        destroyed.push(id);
        return Promise.resolve();
      },
    };
    await expect(networks.setup('a1', 'bridge', [], { holder })).rejects.toThrow(
      'the pause image drover/pause:latest is absent',
    );
    expect(destroyed).toEqual(['a1']);
    expect(natRemoved).toEqual(['a1']);
    expect(networks.recorded()).toEqual([]);
    expect(readdirSync(join(dataDir, 'net'))).toEqual([]);
  });
});
