import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AclService } from '../acl/index.js';
import { testAgent } from '../http/testing/test-api.js';
import { newFakeScheduler } from '../server/testing/fake-scheduler.js';
import type { Server } from '../server/index.js';
import type { Allocation } from '../structs/index.js';
import { build } from '../testing/builders.js';
import { inProcessRPC } from './in-process-rpc.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ server: Server; acl: AclService; jwt: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'drover-in-process-rpc-'));
  let acl!: AclService;
  const { server, stop } = await testAgent({ dataDir: dir, newScheduler: newFakeScheduler }, async (s) => {
    acl = new AclService({ store: s.store, enabled: true, dataDir: dir });
    await acl.ensureSigningKey();
    return { acl };
  });
  cleanups.push(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const Key of ['app/db', 'other/secret']) await server.kv.put({ Key, value: Buffer.from(Key) });
  const job = build.job({ ID: 'web' });
  const alloc: Allocation = build.alloc({ Job: job, NodeID: 'n1' });
  await server.store.write((txn) => txn.put('allocs', alloc));
  const task = job.TaskGroups[0]!.Tasks[0]!.Name;
  return { server, acl, jwt: acl.signIdentities(alloc)[task]! };
}

describe('the server as an in-process client reaches it, with ACLs on', () => {
  it("gives a task's template only the KV keys its workload identity may read, as over HTTP", async () => {
    const { server, acl, jwt } = await setup();
    const rpc = inProcessRPC(server, acl) as Server & { withToken(t: string): Server };
    const keys = async () => (await rpc.withToken(jwt).kvList('', {})).value.map((e) => e.Key);
    // The implicit grant of a workload identity covers nomad/jobs/<job> variables, not KV keys.
    expect(await keys()).toEqual([]);
    // A policy attached to the job (Nomad's JobACL) grants what its rules say, and nothing more.
    await acl.upsertPolicy('web-kv', {
      Name: 'web-kv',
      Rules: 'namespace "default" { variables { path "kv/app/*" { capabilities = ["read"] } } }',
      JobACL: { Namespace: 'default', JobID: 'web' },
    });
    expect(await keys()).toEqual(['app/db']);
    // Everything else is the server itself.
    expect((await rpc.kvList('', {})).value.map((e) => e.Key)).toEqual(['app/db', 'other/secret']);
  });

  it('is the server itself when ACLs are off', async () => {
    const { server } = await setup();
    expect(inProcessRPC(server, undefined)).toBe(server);
  });
});
