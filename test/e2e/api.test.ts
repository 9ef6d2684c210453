/** The HTTP API as curl users and scripts see it: Nomad's paths, JSON, index headers and error statuses. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

const mockJob = (id: string, count = 1, runFor = '1h') => ({
  Job: {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['dc1'],
    TaskGroups: [
      {
        Name: 'g',
        Count: count,
        Tasks: [
          {
            Name: 't',
            Driver: 'mock_driver',
            Config: { run_for: runFor, stdout_string: 'tick\n', stdout_repeat: 50, stdout_repeat_duration: '100ms' },
            Resources: { CPU: 50, MemoryMB: 32 },
          },
        ],
      },
    ],
  },
});

describe('the HTTP API', () => {
  const agent = new TestAgent();
  beforeAll(async () => {
    await agent.start();
    await agent.waitFor('a ready node', async () =>
      (await agent.api<Array<{ Status: string }>>('/v1/nodes')).body.some((n) => n.Status === 'ready'),
    );
  });
  afterAll(() => agent.stop());

  it('registers a JSON job and answers with an evaluation ID and the index header', async () => {
    const r = await agent.api<{ EvalID: string; JobModifyIndex: number }>('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify(mockJob('api-a', 2)),
    });
    expect(r.status).toBe(200);
    expect(r.body.EvalID).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(r.headers.get('x-nomad-index'))).toBeGreaterThan(0);
    const ev = await agent.waitFor('the eval to complete', async () => {
      const e = await agent.api<{ Status: string }>(`/v1/evaluation/${r.body.EvalID}`);
      return e.body.Status === 'complete' ? e.body : null;
    });
    expect(ev.Status).toBe('complete');
    const job = await agent.api<{ ID: string; TaskGroups: Array<{ RestartPolicy: { Attempts: number } }> }>(
      '/v1/job/api-a',
    );
    expect(job.body.ID).toBe('api-a');
    // Defaults are filled on register, as Nomad does.
    expect(job.body.TaskGroups[0]?.RestartPolicy.Attempts).toBe(2);
  });

  it('parses HCL through /v1/jobs/parse', async () => {
    const hcl =
      'job "p" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config { command = "/bin/true" }\n    }\n  }\n}\n';
    const r = await agent.api<{ ID: string; TaskGroups: Array<{ Tasks: Array<{ Config: { command: string } }> }> }>(
      '/v1/jobs/parse',
      { method: 'PUT', body: JSON.stringify({ JobHCL: hcl }) },
    );
    expect(r.status).toBe(200);
    expect(r.body.ID).toBe('p');
    expect(r.body.TaskGroups[0]?.Tasks[0]?.Config.command).toBe('/bin/true');
  });

  it("lists allocations in Nomad's shape, with resources=true and task_states=false as Nomad reads them", async () => {
    type Stub = {
      ID: string;
      JobID: string;
      ClientStatus: string;
      TaskStates: unknown;
      AllocatedResources: { Tasks: Record<string, unknown> } | null;
    };
    // Both running, so that nothing of api-a still moves when the next test parks a blocking query.
    const stubs = await agent.waitFor("api-a's allocations running", async () => {
      const r = await agent.api<Stub[]>('/v1/allocations');
      const mine = r.body.filter((a) => a.JobID === 'api-a');
      return mine.length === 2 && mine.every((a) => a.ClientStatus === 'running' && a.TaskStates != null) ? mine : null;
    });
    expect(stubs.every((a) => a.AllocatedResources === null)).toBe(true);
    const full = (await agent.api<Stub[]>('/v1/job/api-a/allocations?resources=true')).body;
    expect(full).toHaveLength(2);
    expect(full.every((a) => a.AllocatedResources?.Tasks['t'] != null && a.TaskStates != null)).toBe(true);
    const lean = (await agent.api<Stub[]>('/v1/allocations?task_states=false&resources=true')).body.filter(
      (a) => a.JobID === 'api-a',
    );
    expect(lean.every((a) => a.TaskStates === null && a.AllocatedResources != null)).toBe(true);
    const bad = await agent.api<string>('/v1/allocations?task_states=nope');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/task_states/);
  });

  it('answers a malformed body with 400 and a message naming the problem', async () => {
    const r = await agent.api<string>('/v1/jobs', { method: 'POST', body: '{"Job": {"ID": "x",' });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/JSON/);
    const r2 = await agent.api<string>('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ Job: { ID: 'x', TaskGroups: [{ Name: 'g', Count: 'three' }] } }),
    });
    expect(r2.status).toBe(400);
    expect(r2.body).toMatch(/Count/);
  });

  it('admits a job alike for validate, plan and register: every problem with its path, a warning per ignored block', async () => {
    const bad = mockJob('api-admit');
    Object.assign(bad.Job, { Priority: 500 });
    bad.Job.TaskGroups[0]!.Count = -1;
    const v = await agent.api<{ DriverConfigValidated: boolean; ValidationErrors: string[] }>('/v1/validate/job', {
      method: 'POST',
      body: JSON.stringify(bad),
    });
    expect(v.status).toBe(200);
    expect(v.body.DriverConfigValidated).toBe(false);
    expect(v.body.ValidationErrors.join('\n')).toMatch(/Priority/);
    expect(v.body.ValidationErrors.join('\n')).toMatch(/TaskGroups\[0\]\.Count/);
    for (const path of ['/v1/job/api-admit/plan', '/v1/jobs']) {
      const r = await agent.api<string>(path, {
        method: path === '/v1/jobs' ? 'POST' : 'PUT',
        body: JSON.stringify(bad),
      });
      expect(r.status, path).toBe(400);
      expect(r.body, path).toMatch(/Priority/);
      expect(r.body, path).toMatch(/TaskGroups\[0\]\.Count/);
    }
    expect((await agent.api('/v1/job/api-admit')).status).toBe(404);

    // A ui block is parsed but not acted on by this build: each entry point says so.
    const withUi = mockJob('api-admit');
    Object.assign(withUi.Job, { UI: { Description: 'shown in the UI of Nomad, not of Drover yet' } });
    const ok = await agent.api<{ Warnings: string }>('/v1/validate/job', {
      method: 'POST',
      body: JSON.stringify(withUi),
    });
    expect(ok.body.Warnings).toMatch(/"ui" block/);
    const plan = await agent.api<{ Warnings: string }>('/v1/job/api-admit/plan', {
      method: 'PUT',
      body: JSON.stringify(withUi),
    });
    expect(plan.body.Warnings).toMatch(/"ui" block/);
    const reg = await agent.api<{ Warnings: string }>('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify(withUi),
    });
    expect(reg.status).toBe(200);
    expect(reg.body.Warnings).toMatch(/"ui" block/);
  });

  it('answers an unknown ID with 404', async () => {
    for (const path of [
      '/v1/job/nope',
      '/v1/allocation/00000000-0000-0000-0000-000000000000',
      '/v1/evaluation/00000000-0000-0000-0000-000000000000',
      '/v1/node/00000000-0000-0000-0000-000000000000',
    ]) {
      const r = await agent.api(path);
      expect(r.status, path).toBe(404);
    }
  });

  it('answers an oversized body with 413', async () => {
    const big = 'x'.repeat(17 * 1024 * 1024);
    const r = await agent.api('/v1/jobs', { method: 'POST', body: JSON.stringify({ Job: { ID: big } }) });
    expect(r.status).toBe(413);
  });

  it('holds a blocking query until the index moves', async () => {
    const first = await agent.api<unknown[]>('/v1/jobs');
    const index = Number(first.headers.get('x-nomad-index'));
    const t0 = Date.now();
    const blocked = agent.api<Array<{ ID: string }>>(`/v1/jobs?index=${index}&wait=20s`);
    await new Promise((r) => setTimeout(r, 500));
    await agent.api('/v1/jobs', { method: 'POST', body: JSON.stringify(mockJob('api-b')) });
    const r = await blocked;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(Number(r.headers.get('x-nomad-index'))).toBeGreaterThan(index);
    expect(r.body.map((j) => j.ID)).toContain('api-b');
    // With nothing changing, it returns at the wait time with the same index.
    const idle = Number(r.headers.get('x-nomad-index'));
    const t1 = Date.now();
    const r2 = await agent.api(`/v1/job/api-b?index=${idle + 1000}&wait=1s`);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(900);
    expect(r2.status).toBe(200);
  });

  it('follows task logs with alloc logs -f', async () => {
    const allocs = await agent.waitFor('an allocation of api-a running', async () => {
      const r = await agent.api<Array<{ ID: string; ClientStatus: string }>>('/v1/job/api-a/allocations');
      return r.body.find((a) => a.ClientStatus === 'running');
    });
    const p = agent.cliAsync(['alloc', 'logs', '-f', allocs.ID, 't']);
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await agent.waitFor('several log lines to stream in', async () => out.split('tick').length > 5, 20_000, 100);
    p.kill('SIGINT');
    const plain = await fetch(`${agent.address}/v1/client/fs/logs/${allocs.ID}?task=t&type=stdout&plain=true`);
    expect(plain.status).toBe(200);
    expect(await plain.text()).toMatch(/tick/);
  });

  it('reports the leader and the agent itself', async () => {
    const leader = await agent.api<string>('/v1/status/leader');
    expect(leader.body).toMatch(/127\.0\.0\.1:\d+/);
    const self = await agent.api<{ config: { Region: string; Datacenter: string } }>('/v1/agent/self');
    expect(self.body.config.Region).toBe('global');
    expect(self.body.config.Datacenter).toBe('dc1');
  });
});
