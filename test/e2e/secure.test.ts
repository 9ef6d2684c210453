/**
 * Issue 12's reproducers, through the HTTP API of a real dev agent: each used to harm the host or another
 * node and now fails safely (names, node identity, driver defaults).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';
import {
  alloc,
  allocsOf,
  jobFile,
  runJob,
  singleTaskJob,
  stopAndClean,
  waitRunning,
} from './fixtures/drivers-support.js';

describe('a dev agent refuses path traversal, root exec tasks and spoofed client calls, and keeps variables encrypted', () => {
  const agent = new TestAgent();
  const seen = new Set<string>();
  beforeAll(() => agent.start());
  afterAll(() => stopAndClean(agent, seen));

  const identity = () => ({
    nodeID: readFileSync(join(agent.dataDir, 'client', 'client', 'node-id'), 'utf8').trim(),
    secret: readFileSync(join(agent.dataDir, 'client', 'client', 'secret-id'), 'utf8').trim(),
  });
  const rawJob = (taskName: string) => ({
    Job: {
      ID: 'trav',
      Name: 'trav',
      Type: 'batch',
      Datacenters: ['dc1'],
      TaskGroups: [
        {
          Name: 'g',
          Count: 1,
          Tasks: [
            {
              Name: taskName,
              Driver: 'raw_exec',
              Config: { command: '/bin/true' },
              Resources: { CPU: 100, MemoryMB: 32 },
            },
          ],
        },
      ],
    },
  });

  it('answers a task named ../../../../../../victim with a 400 naming the field, and creates nothing', async () => {
    const victim = join(agent.dataDir, 'victim');
    const res = await agent.api<string>('/v1/jobs', {
      method: 'PUT',
      body: JSON.stringify(rawJob(`../../../../../..${victim}`)),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/must not contain.*at TaskGroups\[0\]\.Tasks\[0\]\.Name/);
    expect((await agent.api('/v1/job/trav')).status).toBe(404);
    expect(existsSync(victim)).toBe(false);
  });

  it('refuses the same name in a job file at validate time, with its line', () => {
    const file = jobFile(
      'trav',
      singleTaskJob({ job: 'trav', driver: 'raw_exec', config: '        command = "/bin/true"' }).replace(
        'task "t"',
        'task "../../x"',
      ),
    );
    const r = agent.cli(['job', 'run', file]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/trav\.nomad\.hcl:\d+.*task name "\.\.\/\.\.\/x" must not contain "\/"/s);
  });

  it('fails an exec task that asks for root, with a task event naming the plugin option', async () => {
    const hcl = singleTaskJob({
      job: 'rootexec',
      driver: 'exec',
      type: 'batch',
      config: '        command = "/bin/id"',
    }).replace('driver = "exec"', 'driver = "exec"\n      user   = "root"');
    runJob(agent, jobFile('rootexec', hcl), { monitor: false });
    const failed = await agent.waitFor('the root task to fail', async () => {
      const [a] = await allocsOf(agent, 'rootexec');
      if (a) seen.add(a.ID);
      return a?.ClientStatus === 'failed' ? a : null;
    });
    const events = (await alloc(agent, failed.ID)).TaskStates!.t!.Events;
    expect(events.map((e) => e.DriverError ?? '').join('\n')).toMatch(
      /user "root" is denied on this client \(plugin option "user\.denylist"\)/,
    );
  });

  it('fails an exec task that asks for the host pid namespace', async () => {
    runJob(
      agent,
      jobFile(
        'hostpid',
        singleTaskJob({
          job: 'hostpid',
          driver: 'exec',
          type: 'batch',
          config: '        command = "/bin/true"\n        pid_mode = "host"',
        }),
      ),
      { monitor: false },
    );
    const failed = await agent.waitFor('the host-pid task to fail', async () => {
      const [a] = await allocsOf(agent, 'hostpid');
      if (a) seen.add(a.ID);
      return a?.ClientStatus === 'failed' ? a : null;
    });
    const events = (await alloc(agent, failed.ID)).TaskStates!.t!.Events;
    expect(events.map((e) => e.DriverError ?? '').join('\n')).toMatch(/pid_mode "host" is not allowed on this client/);
  });

  it("refuses the internal client endpoints without the node secret, and with another node's", async () => {
    const { nodeID, secret } = identity();
    expect((await agent.api(`/v1/internal/client/allocs/${nodeID}`)).status).toBe(403);
    expect(
      (
        await agent.api('/v1/internal/client/status', {
          method: 'PUT',
          body: JSON.stringify({ NodeID: nodeID, Status: 'down' }),
        })
      ).status,
    ).toBe(403);
    // Taking over the node ID with a new secret is refused too.
    const thief = randomUUID();
    const node = (await agent.api<Record<string, unknown>>(`/v1/node/${nodeID}`)).body;
    const takeover = await agent.api('/v1/internal/client/register', {
      method: 'PUT',
      headers: { 'X-Drover-Node-Secret': thief },
      body: JSON.stringify({ Node: { ...node, SecretID: thief } }),
    });
    expect(takeover.status).toBe(403);
    expect((await agent.api<{ Status: string }>(`/v1/node/${nodeID}`)).body.Status).toBe('ready');
    expect(
      (await agent.api(`/v1/internal/client/allocs/${nodeID}`, { headers: { 'X-Drover-Node-Secret': secret } })).status,
    ).toBe(200);
  });

  it('refuses a spoofed service upsert from another node for an allocation it does not run', async () => {
    runJob(
      agent,
      jobFile(
        'victimsvc',
        singleTaskJob({
          job: 'victimsvc',
          driver: 'raw_exec',
          config: '        command = "/bin/sleep"\n        args = ["600"]',
        }),
      ),
      { monitor: false },
    );
    const [a] = await waitRunning(agent, 'victimsvc');
    seen.add(a!.ID);
    // An attacker registers a node of its own (it has a valid secret for that node) and claims the victim's alloc.
    const own = (await agent.api<Record<string, unknown>>(`/v1/node/${identity().nodeID}`)).body;
    const evil = { ...own, ID: randomUUID(), Name: 'evil', SecretID: randomUUID() };
    const reg = await agent.api('/v1/internal/client/register', {
      method: 'PUT',
      headers: { 'X-Drover-Node-Secret': evil.SecretID },
      body: JSON.stringify({ Node: evil }),
    });
    expect(reg.status).toBe(200);
    const spoof = {
      NodeID: evil.ID,
      Upsert: [
        {
          ID: '_evil',
          ServiceName: 'victimsvc',
          Namespace: 'default',
          NodeID: evil.ID,
          Datacenter: 'dc1',
          JobID: 'victimsvc',
          AllocID: a!.ID,
          Tags: [],
          Address: '127.0.0.66',
          Port: 80,
          CreateIndex: 0,
          ModifyIndex: 0,
        },
      ],
    };
    const res = await agent.api<string>('/v1/internal/client/services', {
      method: 'PUT',
      headers: { 'X-Drover-Node-Secret': evil.SecretID },
      body: JSON.stringify(spoof),
    });
    expect(res.status).toBe(403);
    expect(String(res.body)).toMatch(/not placed on node/);
    expect((await agent.api<unknown[]>('/v1/service/victimsvc')).body).toEqual([]);
    await agent.api(`/v1/node/${evil.ID}/purge`, { method: 'PUT' });
  });

  it('keeps variables encrypted in the state files, and reads them all after a full rotation frees the old key', async () => {
    const planted = `planted-${randomUUID()}`;
    for (let i = 0; i < 5; i++)
      expect(agent.cli(['var', 'put', `secure/v${i}`, `password=${planted}-${i}`]).code).toBe(0);
    const serverDir = join(agent.dataDir, 'server');
    const stateBytes = () =>
      readdirSync(serverDir)
        .filter((f) => f.startsWith('state.db'))
        .map((f) => readFileSync(join(serverDir, f)).toString('latin1'))
        .join('');
    expect(stateBytes()).not.toContain(planted);
    expect(statSync(join(serverDir, 'state.db')).mode & 0o077).toBe(0);
    expect(statSync(agent.dataDir).mode & 0o077).toBe(0);

    const before = JSON.parse(agent.cli(['operator', 'root', 'keyring', 'list', '-json']).stdout) as Array<{
      KeyID: string;
      State: string;
    }>;
    expect(before).toHaveLength(1);
    const old = before[0]!.KeyID;
    const inUse = agent.cli(['operator', 'root', 'keyring', 'remove', old]);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stdout + inUse.stderr).toMatch(/active key/);
    expect(agent.cli(['operator', 'root', 'keyring', 'rotate', '-full']).code).toBe(0);
    await agent.waitFor(
      'the old key to be removable',
      async () => agent.cli(['operator', 'root', 'keyring', 'remove', old]).code === 0,
    );
    const after = JSON.parse(agent.cli(['operator', 'root', 'keyring', 'list', '-json']).stdout) as Array<{
      KeyID: string;
      State: string;
    }>;
    expect(after.map((k) => k.State)).toEqual(['active']);
    expect(after[0]!.KeyID).not.toBe(old);
    for (let i = 0; i < 5; i++) {
      const v = await agent.api<{ Items: Record<string, string> }>(`/v1/var/secure/v${i}`);
      expect(v.body.Items).toEqual({ password: `${planted}-${i}` });
    }
    expect(stateBytes()).not.toContain(planted);
  });
});
