import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testAgent } from '../http/testing/test-api.js';
import { newFakeScheduler } from '../server/testing/fake-scheduler.js';
import type { Allocation } from '../structs/index.js';
import { RemoteAclResolver } from './remote.js';
import { AclService } from './service.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serverAgent() {
  const dir = mkdtempSync(join(tmpdir(), 'drover-acl-remote-'));
  let acl!: AclService;
  const { http, stop } = await testAgent({ dataDir: dir, newScheduler: newFakeScheduler }, async (server) => {
    acl = new AclService({ store: server.store, enabled: true, dataDir: dir });
    await acl.ensureSigningKey();
    return { acl };
  });
  cleanups.push(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { acl, http };
}

describe('token resolution on a client-only agent', () => {
  it('asks the servers who a token is, with its policies and roles, and refuses unknown tokens', async () => {
    const { acl, http } = await serverAgent();
    const root = await acl.bootstrap();
    await acl.upsertPolicy('logs', { Name: 'logs', Rules: 'namespace "web" { capabilities = ["read-logs"] }' });
    await acl.upsertPolicy('nodes', { Name: 'nodes', Rules: 'node { policy = "read" }' });
    const role = await acl.upsertRole({ Name: 'ops', Policies: [{ Name: 'nodes' }] });
    const t = await acl.upsertToken({ Type: 'client', Policies: ['logs'], Roles: [{ ID: role.ID }] });
    const remote = new RemoteAclResolver({ servers: [http.address], hasAlloc: () => false });
    expect((await remote.resolve(root.SecretID)).acl.management).toBe(true);
    const id = await remote.resolve(t.SecretID);
    expect(id.accessor).toBe(t.AccessorID);
    expect(id.acl.allowNamespaceOperation('web', 'read-logs')).toBe(true);
    expect(id.acl.allowNamespaceOperation('other', 'read-logs')).toBe(false);
    expect(id.acl.allowNode('read')).toBe(true);
    await expect(remote.resolve('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
      code: 'ACLTokenNotFound',
    });
    expect((await remote.resolve(undefined)).acl.allowNamespace('default')).toBe(false);
  });

  it("verifies a workload identity with the servers' public keys while this client runs its allocation", async () => {
    const { acl, http } = await serverAgent();
    const alloc = {
      ID: 'a1',
      Namespace: 'default',
      JobID: 'web',
      TaskGroup: 'g',
      Job: { TaskGroups: [{ Name: 'g', Tasks: [{ Name: 't' }] }] },
    } as unknown as Allocation;
    const jwt = acl.signIdentities(alloc)['t']!;
    let runs = true;
    const remote = new RemoteAclResolver({ servers: [http.address], hasAlloc: (id) => runs && id === 'a1', ttlMs: 0 });
    const id = await remote.resolve(jwt);
    expect(id.acl.allowVariableOperation('default', 'nomad/jobs/web', 'read')).toBe(true);
    expect(id.acl.allowVariableOperation('default', 'nomad/jobs/db', 'read')).toBe(false);
    runs = false;
    await expect(remote.resolve(jwt)).rejects.toMatchObject({ code: 'ACLTokenExpired' });
  });
});
