/**
 * `drover job init` and the legacy top-level verbs, the way a new user meets them: init writes the example job,
 * refuses to overwrite it, and the file runs on a dev agent (docker, with a locally built image: no registry);
 * `drover run`, `status`, `plan`, `stop`, `node-status` and `server-members` still work, with a deprecation
 * warning naming the command to use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

const IMAGE = 'drover-test/busybox:latest';
const haveImage = (() => {
  try {
    execFileSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('drover job init and the legacy verbs on a dev agent', () => {
  const agent = new TestAgent();
  const dir = mkdtempSync(join(tmpdir(), 'drover-kv-init-'));
  beforeAll(async () => {
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the example job, refuses to overwrite it, and -short writes the short one', () => {
    const file = join(dir, 'example.nomad.hcl');
    const init = agent.cli(['job', 'init', file]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toBe(`Example job file written to ${file}\n`);
    const first = readFileSync(file, 'utf8');
    expect(first).toMatch(/^# This is Drover's example job/);
    const again = agent.cli(['job', 'init', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`Job '${file}' already exists`);
    expect(readFileSync(file, 'utf8')).toBe(first);
    const short = join(dir, 'short.nomad.hcl');
    expect(agent.cli(['job', 'init', '-short', short]).code).toBe(0);
    expect(readFileSync(short, 'utf8')).not.toContain('#');
    expect(agent.cli(['job', 'validate', short]).code).toBe(0);
  });

  it.skipIf(!haveImage)('runs the example with the legacy verbs, each warning once, and serves its page', async () => {
    const file = join(dir, 'example.nomad.hcl');
    const run = agent.cli(['run', '-var', `image=${IMAGE}`, file]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).toContain(
      'WARNING! The "drover run" command is deprecated. Please use "drover job run" instead.',
    );
    const alloc = await agent.waitFor('the example allocation to run', async () => {
      const r = await agent.api<Array<{ ID: string; ClientStatus: string }>>('/v1/job/example/allocations');
      return r.body.find((a) => a.ClientStatus === 'running');
    });
    const full = await agent.api<{
      AllocatedResources: { Shared: { Ports: Array<{ Label: string; Value: number }> } };
    }>(`/v1/allocation/${alloc.ID}`);
    const port = full.body.AllocatedResources.Shared.Ports.find((p) => p.Label === 'http')!.Value;
    const page = await agent.waitFor('httpd to answer', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/index.html`).catch(() => null);
      return r?.ok ? r.text() : null;
    });
    expect(page.trim()).toBe(`hello from ${alloc.ID}`);

    const status = agent.cli(['status', 'example']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/ID\s+= example/);
    expect(status.stderr).toContain('Please use "drover job status" instead.');
    const plan = agent.cli(['plan', '-var', `image=${IMAGE}`, file]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stderr).toContain('Please use "drover job plan" instead.');
    const nodes = agent.cli(['node-status']);
    expect(nodes.code).toBe(0);
    expect(nodes.stdout).toMatch(/ready/);
    expect(nodes.stderr).toContain('The "drover node-status" command is deprecated');
    const members = agent.cli(['server-members']);
    expect(members.code).toBe(0);
    expect(members.stdout).toMatch(/alive/);
    expect(members.stderr).toContain('Please use "drover server members" instead.');
    const stop = agent.cli(['stop', '-purge', 'example']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).toContain('Please use "drover job stop" instead.');
  });
});
