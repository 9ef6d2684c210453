import { beforeEach, describe, expect, it } from 'vitest';
import { allocation, allocStub, evaluation, job, jobStub } from '../testing/fixtures.js';
import { withFakeNomad } from '../testing/run-cli.js';

const nomad = withFakeNomad();
const cli = (argv: string[], ask?: (q: string) => Promise<string | undefined>) => nomad.cli(argv, ask ? { ask } : {});
beforeEach(() => {
  nomad.fake.on('GET', '/v1/allocations', { index: 5, body: [allocStub()] });
  nomad.fake.on('GET', `/v1/allocation/${ALLOC}`, { index: 5, body: allocation() });
});

const ALLOC = 'a1a1a1a1-0000-4000-8000-000000000001';
const EVAL = 'e1e1e1e1-0000-4000-8000-000000000001';

const sent = (path: string) => nomad.fake.requests.find((r) => r.path === path && r.method !== 'GET');

describe('drover alloc restart, signal and stop', () => {
  it('restarts one task named by argument or -task, or all tasks', async () => {
    nomad.fake.on('POST', `/v1/client/allocation/${ALLOC}/restart`, { body: {} });
    expect((await cli(['alloc', 'restart', 'a1a1', 'srv'])).code).toBe(0);
    expect(sent(`/v1/client/allocation/${ALLOC}/restart`)!.body).toEqual({ TaskName: 'srv', AllTasks: false });
    nomad.fake.requests.length = 0;
    expect((await cli(['alloc', 'restart', '-all-tasks', 'a1a1'])).code).toBe(0);
    expect(sent(`/v1/client/allocation/${ALLOC}/restart`)!.body).toEqual({ TaskName: '', AllTasks: true });
  });

  it('refuses an unknown task before asking the agent, and -all-tasks with a task', async () => {
    const r = await cli(['alloc', 'restart', 'a1a1', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Could not find task named: nope; allocation "a1a1a1a1" has: srv');
    const both = await cli(['alloc', 'restart', '-all-tasks', '-task', 'srv', 'a1a1']);
    expect(both.stderr).toContain('-all-tasks option cannot be used with a task name');
    expect(nomad.fake.requests.some((q) => q.path.endsWith('/restart'))).toBe(false);
  });

  it("prints the agent's error when the restart fails", async () => {
    nomad.fake.on('POST', `/v1/client/allocation/${ALLOC}/restart`, {
      status: 400,
      body: 'task "srv" in allocation is not running (state "dead")',
    });
    const r = await cli(['alloc', 'restart', 'a1a1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Failed to restart allocation:\n\ntask "srv" in allocation is not running (state "dead")\n');
  });

  it('sends SIGKILL unless -s names another signal', async () => {
    nomad.fake.on('POST', `/v1/client/allocation/${ALLOC}/signal`, { body: {} });
    await cli(['alloc', 'signal', 'a1a1']);
    expect(sent(`/v1/client/allocation/${ALLOC}/signal`)!.body).toEqual({ Task: '', Signal: 'SIGKILL' });
    nomad.fake.requests.length = 0;
    await cli(['alloc', 'signal', '-s', 'sigusr1', '-task', 'srv', 'a1a1']);
    expect(sent(`/v1/client/allocation/${ALLOC}/signal`)!.body).toEqual({ Task: 'srv', Signal: 'SIGUSR1' });
  });

  it('stops an allocation and prints the evaluation ID with -detach', async () => {
    nomad.fake.on('POST', `/v1/allocation/${ALLOC}/stop`, { body: { EvalID: EVAL, Index: 9 } });
    const r = await cli(['alloc', 'stop', '-detach', '-no-shutdown-delay', 'a1a1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${EVAL}\n`);
    expect(sent(`/v1/allocation/${ALLOC}/stop`)!.query.get('no_shutdown_delay')).toBe('true');
  });

  it('monitors the stop evaluation without -detach', async () => {
    nomad.fake.on('POST', `/v1/allocation/${ALLOC}/stop`, { body: { EvalID: EVAL, Index: 9 } });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 12,
      body: evaluation({ Status: 'complete', TriggeredBy: 'alloc-stop' }),
    });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [] });
    const r = await cli(['alloc', 'stop', 'a1a1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('==> Monitoring evaluation "e1e1e1e1"');
    expect(r.stdout).toContain('finished with status "complete"');
  });
});

describe('drover job restart', () => {
  beforeEach(() => {
    nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub()] });
    nomad.fake.on('GET', '/v1/job/web', { index: 5, body: job() });
  });

  it('names an unknown group or task of the job before restarting anything', async () => {
    const g = await cli(['job', 'restart', '-group', 'api', 'web']);
    expect(g.code).toBe(1);
    expect(g.stderr).toContain('group "api" not found in job "web" (groups: web)');
    const t = await cli(['job', 'restart', '-task', 'nope', 'web']);
    expect(t.stderr).toContain('task "nope" not found in job "web"');
  });

  it('needs a terminal, a duration or -yes for -batch-wait ask', async () => {
    const r = await cli(['job', 'restart', '-batch-wait', 'ask', 'web']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('-batch-wait=ask needs a terminal');
  });

  it('says so when the job has no running allocation', async () => {
    nomad.fake.on('GET', '/v1/job/web/allocations', {
      index: 5,
      body: [allocStub({ ClientStatus: 'complete', DesiredStatus: 'stop' })],
    });
    const r = await cli(['job', 'restart', 'web']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('No allocations to restart\n');
  });
});
