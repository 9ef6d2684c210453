/**
 * The gateway's default data plane, as a user of `drover agent -dev` meets it: with an haproxy binary on PATH the
 * agent runs HAProxy, says so in its start-up banner and in /v1/agent/self, and routes a service registered by a
 * job; with no haproxy binary it runs the Node plane, says that, and logs a warning naming what to do.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeWebJob, allocAnswerScript } from './fixtures/node-web-job.js';
import { TestAgent } from './harness/agent.js';

const JOB = nodeWebJob({ name: 'perf-gw-default', tags: ['urlprefix-/hello'], script: allocAnswerScript() });

interface AgentSelf {
  config: { Gateway?: { Enabled: boolean; Address: string; DataPlane: string } };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the default gateway data plane of a dev agent', () => {
  const agent = new TestAgent();
  afterAll(async () => {
    await agent.stop();
  });

  it('is HAProxy when an haproxy binary is on PATH, named in the banner, and routes a job', async () => {
    await agent.start();
    expect(agent.output).toMatch(/Gateway at http:\/\/127\.0\.0\.1:\d+ \(data plane: haproxy\)/);
    const self = await agent.api<AgentSelf>('/v1/agent/self');
    expect(self.body.config.Gateway).toMatchObject({ Enabled: true, DataPlane: 'haproxy' });

    const dir = mkdtempSync(join(tmpdir(), 'perf-gw-default-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'job.hcl'), JOB);
    const run = agent.cli(['job', 'run', '-detach', join(dir, 'job.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    const body = await agent.waitFor('the service through the gateway', async () => {
      const res = await fetch(`${agent.gatewayAddress}/hello`, { signal: AbortSignal.timeout(5_000) });
      const text = await res.text();
      return res.status === 200 && text.startsWith('alloc ') ? text : undefined;
    });
    const allocs = await agent.api<Array<{ ID: string }>>('/v1/job/perf-gw-default/allocations');
    expect(body).toBe(`alloc ${allocs.body[0]!.ID}`);
  });
});

describe('a dev agent with no haproxy binary on PATH', () => {
  // PATH holds `node` only, so bin/drover starts but finds no haproxy.
  const bin = mkdtempSync(join(tmpdir(), 'perf-gw-nohaproxy-'));
  dirs.push(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const agent = new TestAgent({ env: { PATH: bin } });
  afterAll(async () => {
    await agent.stop();
  });

  it('falls back to the Node plane, says so in the banner and warns', async () => {
    await agent.start();
    expect(agent.output).toMatch(/Gateway at http:\/\/127\.0\.0\.1:\d+ \(data plane: node\)/);
    // The warning goes to stderr and the banner to stdout: start() returns once stdout shows the banner, and
    // the stderr pipe may not have been read yet (it always was when the agent's docker fingerprint, with a
    // dockerd running, put a few ms between the two; without one they arrive together), so wait for it.
    await expect
      .poll(() => agent.output, { timeout: 10_000 })
      .toMatch(/no haproxy binary on PATH: the gateway runs on the Node data plane/);
    const self = await agent.api<AgentSelf>('/v1/agent/self');
    expect(self.body.config.Gateway).toMatchObject({ Enabled: true, DataPlane: 'node' });
    const res = await fetch(`${agent.gatewayAddress}/_drover/gateway/routes`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);

    // A job routed by the Node plane: GETs take its raw-socket fast path, a request with a body node:http's.
    const dir = mkdtempSync(join(tmpdir(), 'perf-gw-node-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'job.hcl'), JOB);
    const run = agent.cli(['job', 'run', '-detach', join(dir, 'job.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    const body = await agent.waitFor('the service through the Node plane', async () => {
      const r = await fetch(`${agent.gatewayAddress}/hello`, { signal: AbortSignal.timeout(5_000) });
      const text = await r.text();
      return r.status === 200 && text.startsWith('alloc ') ? text : undefined;
    });
    const allocs = await agent.api<Array<{ ID: string }>>('/v1/job/perf-gw-default/allocations');
    expect(body).toBe(`alloc ${allocs.body[0]!.ID}`);
    const posted = await fetch(`${agent.gatewayAddress}/hello`, {
      method: 'POST',
      body: 'x'.repeat(1000),
      signal: AbortSignal.timeout(5_000),
    });
    expect([posted.status, await posted.text()]).toEqual([200, body]);
  });
});
