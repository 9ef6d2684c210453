/** scripts/api-smoke.mjs, the Go-client-shaped smoke test, passes against a real dev agent. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TestAgent } from './harness/agent.js';

describe('the API smoke script', () => {
  const agent = new TestAgent();
  beforeAll(async () => {
    await agent.start();
    await agent.waitFor('a ready node', async () =>
      (await agent.api<Array<{ Status: string }>>('/v1/nodes')).body.some((n) => n.Status === 'ready'),
    );
  }, 60_000);
  afterAll(() => agent.stop());

  it('drives plan, register, status, allocations, logs, fs, exec, stop, purge and events', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'api-smoke.mjs')], {
      env: { ...process.env, DROVER_ADDR: agent.address },
      encoding: 'utf8',
      timeout: 150_000,
    });
    expect(r.stdout + r.stderr).toMatch(/SMOKE OK/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('ok   exec: exit code 5');
    expect(r.stdout).toMatch(/ok {3}events: .*JobRegistered.*JobDeregistered|ok {3}events: .*JobDeregistered/);
  }, 180_000);
});
