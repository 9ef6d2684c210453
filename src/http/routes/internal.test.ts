import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServerRPC } from '../../client/index.js';
import type { Server } from '../../server/index.js';
import { randomUUID } from 'node:crypto';
import { build } from '../../testing/builders.js';
import { upsertAllocs } from '../../state/index.js';
import { newFakeScheduler } from '../../server/testing/fake-scheduler.js';
import { testAgent } from '../testing/test-api.js';
import type { Node } from '../../structs/index.js';

/** A node as a client registers it: with its own secret. */
const nodeWithSecret = (id: string, over: Partial<Node> = {}): Node =>
  build.node({ ID: id, SecretID: randomUUID(), ...over });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ server: Server; address: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'drover-internal-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const { server, http, stop } = await testAgent({
    dataDir: dir,
    newScheduler: newFakeScheduler,
    heartbeat: { minTTLms: 2000, maxHeartbeatsPerSecond: 50, graceMs: 1000 },
  });
  cleanups.push(stop);
  return { server, address: http.address };
}

const put = (address: string, path: string, body: unknown, secret?: string) =>
  fetch(`${address}${path}`, {
    method: 'PUT',
    body: JSON.stringify(body),
    headers: secret ? { 'X-Drover-Node-Secret': secret } : {},
  });

async function registered(address: string, id: string): Promise<Node> {
  const node = nodeWithSecret(id);
  const res = await put(address, '/v1/internal/client/register', { Node: node }, node.SecretID);
  expect(res.status).toBe(200);
  return node;
}

describe('the internal client endpoints', () => {
  it('hand a node the mesh certificate of a sidecar it runs, and refuse one for a service it does not', async () => {
    const { server, address } = await setup();
    const n1 = await registered(address, 'n1');
    const n2 = await registered(address, 'n2');
    const job = build.job({ ID: 'db' });
    job.TaskGroups[0]!.Tasks.push({
      ...job.TaskGroups[0]!.Tasks[0]!,
      Name: 'connect-proxy-db',
      Kind: 'connect-proxy:db',
    });
    const a1 = build.alloc({ Job: job, NodeID: 'n1' });
    await server.store.write((txn) => upsertAllocs(txn, [a1], 0));
    const rpc = (node: Node) => {
      const c = new HttpServerRPC([address]);
      c.useNodeIdentity(node.ID, node.SecretID!);
      return c;
    };
    const m = await rpc(n1).meshSidecarMaterial('default', 'db');
    expect(m.SpiffeID).toBe('spiffe://drover/ns/default/svc/db');
    expect(m.CertPEM).toContain('BEGIN CERTIFICATE');
    await expect(rpc(n2).meshSidecarMaterial('default', 'db')).rejects.toThrow(/runs no sidecar of service "db"/);
    await expect(rpc(n1).meshSidecarMaterial('default', 'web')).rejects.toThrow(/runs no sidecar of service "web"/);
  });

  it("hand a remote client its heartbeat TTL in nanoseconds under Nomad's name, as HttpServerRPC reads it", async () => {
    const { address } = await setup();
    const n1 = nodeWithSecret('n1');
    const raw = await put(address, '/v1/internal/client/register', { Node: n1 }, n1.SecretID);
    expect((await raw.json()) as unknown).toMatchObject({ HeartbeatTTL: 2000 * 1e6 });

    // A client that got no number here heartbeated in a tight loop (NaN ms between heartbeats).
    const n2 = nodeWithSecret('n2');
    const rpc = new HttpServerRPC(address);
    rpc.useNodeIdentity('n2', n2.SecretID!);
    expect((await rpc.nodeRegister(n2)).heartbeatTTLms).toBe(2000);
    expect((await rpc.nodeUpdateStatus('n2', 'ready')).heartbeatTTLms).toBe(2000);
  });

  it('refuse every call that does not present the node secret', async () => {
    const { address } = await setup();
    const n1 = await registered(address, 'n1');
    expect((await put(address, '/v1/internal/client/register', { Node: nodeWithSecret('n9') })).status).toBe(403);
    expect((await put(address, '/v1/internal/client/status', { NodeID: 'n1', Status: 'down' })).status).toBe(403);
    expect((await fetch(`${address}/v1/internal/client/allocs/n1`)).status).toBe(403);
    expect((await put(address, '/v1/internal/client/allocs', { NodeID: 'n1', Allocs: [] })).status).toBe(403);
    expect((await put(address, '/v1/internal/client/services', { NodeID: 'n1', Upsert: [] })).status).toBe(403);
    const res = await fetch(`${address}/v1/internal/client/allocs/n1`, { headers: { 'X-Nomad-Token': n1.SecretID! } });
    expect(res.status).toBe(200);
  });

  it('refuse a registration that would take over a node ID registered with another secret', async () => {
    const { server, address } = await setup();
    await registered(address, 'n1');
    const thief = nodeWithSecret('n1', { Name: 'thief' });
    const res = await put(address, '/v1/internal/client/register', { Node: thief }, thief.SecretID);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/registered with another secret/);
    expect((await server.nodes.get('n1')).value.Name).not.toBe('thief');
  });

  it("refuse one node reading another node's allocations or marking it down", async () => {
    const { server, address } = await setup();
    await registered(address, 'n1');
    const n2 = await registered(address, 'n2');
    expect(
      (await fetch(`${address}/v1/internal/client/allocs/n1`, { headers: { 'X-Drover-Node-Secret': n2.SecretID! } }))
        .status,
    ).toBe(403);
    expect(
      (await put(address, '/v1/internal/client/status', { NodeID: 'n1', Status: 'down' }, n2.SecretID)).status,
    ).toBe(403);
    expect((await server.nodes.get('n1')).value.Status).toBe('ready');
  });

  it('refuse a service upsert for an allocation on another node, and accept one for its own', async () => {
    const { server, address } = await setup();
    const n1 = await registered(address, 'n1');
    const n2 = await registered(address, 'n2');
    const job = build.job({ ID: 'web' });
    const a1 = build.alloc({ Job: job, NodeID: 'n1' });
    await server.store.write((txn) => upsertAllocs(txn, [a1], 0));
    const reg = (nodeID: string) => ({
      ID: `_r-${nodeID}`,
      ServiceName: 'web',
      Namespace: 'default',
      NodeID: nodeID,
      Datacenter: 'dc1',
      JobID: 'web',
      AllocID: a1.ID,
      Tags: [],
      Address: '127.0.0.6',
      Port: 80,
      CreateIndex: 0,
      ModifyIndex: 0,
    });
    const spoofed = await put(
      address,
      '/v1/internal/client/services',
      { NodeID: 'n2', Upsert: [reg('n2')] },
      n2.SecretID,
    );
    expect(spoofed.status).toBe(403);
    expect(await spoofed.text()).toMatch(/not placed on node "n2"/);
    expect(
      (await put(address, '/v1/internal/client/services', { NodeID: 'n1', Upsert: [reg('n1')] }, n1.SecretID)).status,
    ).toBe(200);
    expect((await server.services.get('default', 'web')).value.map((r) => r.NodeID)).toEqual(['n1']);
    // Nor may it delete another node's instance.
    expect(
      (await put(address, '/v1/internal/client/services', { NodeID: 'n2', Delete: ['_r-n1'] }, n2.SecretID)).status,
    ).toBe(403);
    // Nor report on an allocation that is not its own.
    expect(
      (
        await put(
          address,
          '/v1/internal/client/allocs',
          { NodeID: 'n2', Allocs: [{ ID: a1.ID, ClientStatus: 'failed', ClientDescription: '', TaskStates: {} }] },
          n2.SecretID,
        )
      ).status,
    ).toBe(403);
  });
});
