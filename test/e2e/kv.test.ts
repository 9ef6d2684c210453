/**
 * The Consul-compatible KV store end to end: a real dev agent, the real CLI and plain HTTP as curl sends it.
 * Seed 003's `curl -X PUT -d 'this is a test' .../v1/kv/msg1` works unchanged, and a running task's template
 * reading `key`, `keyOrDefault` and `tree` renders once its key exists and re-renders after `drover kv put`.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TestAgent } from './harness/agent.js';

const FIX = join(ROOT, 'test', 'e2e', 'fixtures');

interface AllocStub {
  ID: string;
  ClientStatus: string;
  DesiredStatus: string;
  TaskStates: Record<string, { State: string; Restarts: number; Events: Array<{ DisplayMessage: string }> }> | null;
}

describe('the KV store on a dev agent', () => {
  const agent = new TestAgent();
  beforeAll(async () => {
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
  });

  it("answers seed 003's curl PUT and a ?raw GET, and the CLI reads what curl wrote", async () => {
    // What `curl -X PUT -d 'this is a test' http://127.0.0.1:4646/v1/kv/msg1` sends.
    const put = await fetch(`${agent.address}/v1/kv/msg1`, {
      method: 'PUT',
      body: 'this is a test',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(put.status).toBe(200);
    expect(await put.text()).toBe('true');
    const raw = await fetch(`${agent.address}/v1/kv/msg1?raw`);
    expect(await raw.text()).toBe('this is a test');
    const got = agent.cli(['kv', 'get', 'msg1']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe('this is a test\n');
    const del = agent.cli(['kv', 'delete', 'msg1']);
    expect(del.stdout).toBe('Success! Deleted key: msg1\n');
    expect((await fetch(`${agent.address}/v1/kv/msg1`)).status).toBe(404);
  });

  it('holds a task until its key exists, then re-renders and restarts it after drover kv put', async () => {
    expect(agent.cli(['kv', 'put', 'app/db/user', 'app']).code).toBe(0);
    const run = agent.cli(['job', 'run', '-detach', join(FIX, 'tpl-kv.nomad.hcl')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const allocOf = async () =>
      (await agent.api<AllocStub[]>('/v1/job/tplkv/allocations')).body.find((a) => a.DesiredStatus === 'run');
    const logs = (id: string) => agent.cli(['alloc', 'logs', id, 't']).stdout;
    const waiting = await agent.waitFor('the template to report the missing key', async () => {
      const a = await allocOf();
      return a?.TaskStates?.t?.Events.some((e) => /Missing: kv\.block\(app\/greeting\)/.test(e.DisplayMessage))
        ? a
        : null;
    });
    expect(waiting.TaskStates!.t!.State).toBe('pending');

    expect(agent.cli(['kv', 'put', 'app/greeting', 'hello']).code).toBe(0);
    const a = await agent.waitFor('the task to start with the rendered file', async () => {
      const x = await allocOf();
      return x?.TaskStates?.t?.State === 'running' && /start: greeting=hello port=8080 db.user=app/.test(logs(x.ID))
        ? x
        : null;
    });
    expect(a.TaskStates!.t!.Restarts).toBe(0);

    // A write to a key the template does not read is no change for it.
    expect(agent.cli(['kv', 'put', 'unrelated', 'x']).code).toBe(0);
    expect(agent.cli(['kv', 'put', 'app/port', '9090']).code).toBe(0);
    const after = await agent.waitFor('the restart with the new port', async () => {
      const x = await allocOf();
      // The log line is read from the file at once; the restart count comes with the client's next update.
      const t = x?.TaskStates?.t;
      return t?.State === 'running' && (t.Restarts ?? 0) > 0 && /start: greeting=hello port=9090/.test(logs(x!.ID))
        ? x
        : null;
    });
    expect(after.TaskStates!.t!.Restarts).toBe(1);
    expect(after.TaskStates!.t!.Events.map((e) => e.DisplayMessage)).toContain(
      'Template with change_mode restart re-rendered',
    );
    agent.cli(['job', 'stop', '-purge', 'tplkv']);
  });
});
