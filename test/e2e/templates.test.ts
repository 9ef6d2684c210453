/**
 * Templates end to end: a real dev agent, the real CLI, raw_exec tasks. A template reading a variable
 * renders before its task starts and re-renders after `drover var put`, and the task gets its change_mode; and
 * the seeds' nginx setup, with nginx's upstreams rendered from Drover's catalog and nginx reloaded on SIGHUP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TestAgent } from './harness/agent.js';

const FIX = join(ROOT, 'test', 'e2e', 'fixtures');

interface TaskState {
  State: string;
  Restarts: number;
  Events: Array<{ Type: string; DisplayMessage: string }>;
}
interface AllocStub {
  ID: string;
  ClientStatus: string;
  DesiredStatus: string;
  TaskStates: Record<string, TaskState> | null;
}

describe('templates on a dev agent', () => {
  const agent = new TestAgent();
  beforeAll(async () => {
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
  });

  const allocOf = async (job: string) => {
    const r = await agent.api<AllocStub[]>(`/v1/job/${job}/allocations`);
    return r.body.find((a) => a.DesiredStatus === 'run');
  };
  const logs = (allocID: string, task: string) => agent.cli(['alloc', 'logs', allocID, task]).stdout;
  const stopJob = async (job: string) => {
    agent.cli(['job', 'stop', '-purge', job]);
    await agent.waitFor(`${job} to stop`, async () => {
      const r = await agent.api<AllocStub[]>('/v1/allocations');
      return r.body.every((a) => a.ClientStatus !== 'running' && a.ClientStatus !== 'pending');
    });
  };

  it('holds a task until its variable exists, then restarts it with the new value after drover var put', async () => {
    const run = agent.cli(['job', 'run', '-detach', join(FIX, 'tpl-var.nomad.hcl')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/template/i);
    const waiting = await agent.waitFor('the template to report the missing variable', async () => {
      const a = await allocOf('tpl');
      return a?.TaskStates?.t?.Events.some(
        (e) => e.DisplayMessage === 'Missing: nomad.var.block(nomad/jobs/tpl@default)',
      )
        ? a
        : null;
    });
    expect(waiting.TaskStates!.t!.State).toBe('pending');

    expect(agent.cli(['var', 'put', 'nomad/jobs/tpl', 'greeting=hi']).code).toBe(0);
    const a = await agent.waitFor('the task to start', async () => {
      const x = await allocOf('tpl');
      return x?.TaskStates?.t?.State === 'running' && /start: hi env=hi/.test(logs(x.ID, 't')) ? x : null;
    });
    expect(a.TaskStates!.t!.Restarts).toBe(0);

    const put = agent.cli(['var', 'put', 'nomad/jobs/tpl', 'greeting=hi2']);
    expect(put.code, put.stderr).toBe(0);
    const after = await agent.waitFor('the restart with the new value', async () => {
      const x = await allocOf('tpl');
      return x &&
        x.TaskStates?.t?.Restarts === 1 &&
        x.TaskStates.t.State === 'running' &&
        /start: hi2 env=hi2/.test(logs(x.ID, 't'))
        ? x
        : null;
    });
    expect(after.TaskStates!.t!.Events.map((e) => e.DisplayMessage)).toContain(
      'Template with change_mode restart re-rendered',
    );
    // env = true: the rendered file's variables, node attributes included, are in the task's environment.
    const envFile = readFileSync(
      join(agent.dataDir, 'client', 'alloc', after.ID, 't', 'secrets', 'greeting.env'),
      'utf8',
    );
    expect(envFile).toMatch(/^GREETING_ENV=hi2\nCORES=\d+\n$/);
    await stopJob('tpl');
  });

  it('signals the task instead when change_mode is signal, without restarting it', async () => {
    expect(agent.cli(['var', 'put', 'nomad/jobs/tpl', 'greeting=sig1']).code).toBe(0);
    const run = agent.cli(['job', 'run', '-detach', '-var', 'mode=signal', join(FIX, 'tpl-var.nomad.hcl')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const a = await agent.waitFor('the task to start', async () => {
      const x = await allocOf('tpl');
      return x?.TaskStates?.t?.State === 'running' && /start: sig1 env=sig1/.test(logs(x.ID, 't')) ? x : null;
    });
    expect(agent.cli(['var', 'put', 'nomad/jobs/tpl', 'greeting=sig2']).code).toBe(0);
    await agent.waitFor('the trapped SIGHUP', async () => /hup: sig2/.test(logs(a.ID, 't')));
    const x = (await allocOf('tpl'))!;
    expect(x.TaskStates!.t!.Restarts).toBe(0);
    expect(x.TaskStates!.t!.Events.map((e) => e.DisplayMessage)).toContain(
      'Task being sent signal SIGHUP: Template re-rendered',
    );
    await stopJob('tpl');
  });
});

describe('nginx configured by a template from the catalog', () => {
  const agent = new TestAgent();
  const backends: Server[] = [];
  const nginxPresent = existsSync('/usr/sbin/nginx');

  beforeAll(async () => {
    if (!nginxPresent) return;
    await agent.start();
    for (const name of ['b1', 'b2']) {
      const srv = createServer((_req, res) => res.end(name));
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
      backends.push(srv);
    }
  });
  afterAll(async () => {
    await agent.stop();
    for (const b of backends) await new Promise((r) => b.close(r));
  });

  const portOf = (s: Server) => (s.address() as AddressInfo).port;
  // Stand-in instances of "backend", written through the internal endpoint as the client's own: node identity
  // allows a node to register services only for allocations placed on it, with its secret, so they ride on the
  // nginx allocation (the only one on the dev node).
  const identity = () => ({
    nodeID: readFileSync(join(agent.dataDir, 'client', 'client', 'node-id'), 'utf8').trim(),
    secret: readFileSync(join(agent.dataDir, 'client', 'client', 'secret-id'), 'utf8').trim(),
  });
  const registration = (name: string, port: number, allocID: string) => ({
    ID: `_test-${name}`,
    ServiceName: 'backend',
    Namespace: 'default',
    NodeID: identity().nodeID,
    Datacenter: 'dc1',
    JobID: 'lb',
    AllocID: allocID,
    Tags: [],
    Address: '127.0.0.1',
    Port: port,
    CreateIndex: 0,
    ModifyIndex: 0,
  });
  const services = (body: object) =>
    agent.api('/v1/internal/client/services', {
      method: 'PUT',
      headers: { 'X-Drover-Node-Secret': identity().secret },
      body: JSON.stringify({ NodeID: identity().nodeID, ...body }),
    });

  /** `n` requests through nginx (bounded): which backends answered. */
  const sample = async (port: number, n: number) => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) });
      seen.push(r.status === 200 ? await r.text() : `status ${r.status}`);
    }
    return seen;
  };

  it.skipIf(!nginxPresent && process.env.CI !== 'true')(
    'routes through nginx to the catalog, and follows instances as they come and go',
    async () => {
      const [b1, b2] = backends as [Server, Server];
      const run = agent.cli(['job', 'run', join(FIX, 'nginx-lb.nomad.hcl')]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const alloc = await agent.waitFor('nginx to run', async () => {
        const r = await agent.api<AllocStub[]>('/v1/job/lb/allocations');
        return r.body.find((a) => a.TaskStates?.nginx?.State === 'running');
      });
      const full = (
        await agent.api<{ AllocatedResources: { Shared: { Ports: Array<{ Label: string; Value: number }> } } }>(
          `/v1/allocation/${alloc.ID}`,
        )
      ).body;
      const port = full.AllocatedResources.Shared.Ports.find((p) => p.Label === 'http')!.Value;
      const conf = join(agent.dataDir, 'client', 'alloc', alloc.ID, 'nginx', 'local', 'nginx.conf');
      expect((await services({ Upsert: [registration('b1', portOf(b1), alloc.ID)] })).status).toBe(200);
      await agent.waitFor(
        'b1 in the rendered config',
        async () => readFileSync(conf, 'utf8').includes(`server 127.0.0.1:${portOf(b1)};`),
        20_000,
      );
      await agent.waitFor(
        'nginx to answer from b1',
        async () => (await sample(port, 1).catch(() => []))[0] === 'b1',
        30_000,
      );

      // A second instance: the config gains it, nginx reloads, and traffic reaches both.
      await services({ Upsert: [registration('b2', portOf(b2), alloc.ID)] });
      await agent.waitFor(
        'b2 in the rendered config',
        async () => readFileSync(conf, 'utf8').includes(`server 127.0.0.1:${portOf(b2)};`),
        20_000,
      );
      await agent.waitFor('traffic on both backends', async () => new Set(await sample(port, 10)).size === 2, 20_000);

      // The first instance leaves: the config drops it and every request goes to b2.
      await services({ Delete: ['_test-b1'] });
      await agent.waitFor(
        'b1 gone from the config',
        async () => !readFileSync(conf, 'utf8').includes(`:${portOf(b1)};`),
        20_000,
      );
      await agent.waitFor('traffic only on b2', async () => (await sample(port, 10)).every((s) => s === 'b2'), 20_000);

      // None left: the seeds' fallback upstream.
      await services({ Delete: ['_test-b2'] });
      await agent.waitFor(
        'the fallback upstream',
        async () => readFileSync(conf, 'utf8').includes('server 127.0.0.1:65535;'),
        20_000,
      );

      const events = (await agent.api<AllocStub>(`/v1/allocation/${alloc.ID}`)).body.TaskStates!.nginx!;
      expect(events.Restarts).toBe(0);
      expect(events.Events.map((e) => e.DisplayMessage)).toContain(
        'Task being sent signal SIGHUP: Template re-rendered',
      );
    },
  );
});
