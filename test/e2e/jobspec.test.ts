/**
 * Job files through the real agent: Nomad's conformance cases through
 * `PUT /v1/jobs/parse`, `job plan` on Nomad's e2e job files, and a 0.8-style job file that runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runJobspecConformance } from '../../src/jobspec/testing/index.js';
import { conformancePath } from '../../src/testing/conformance-data.js';
import { itConformance } from '../../src/testing/describe-conformance.js';
import { ensureTestImages } from '../images/index.js';
import { TestAgent, ROOT } from './harness/agent.js';

const E2E_JOBS = conformancePath('e2e-jobs');

describe('job files through the dev agent', () => {
  const agent = new TestAgent();
  beforeAll(async () => {
    await ensureTestImages();
    await agent.start();
    await agent.waitFor('a ready node', async () =>
      (await agent.api<Array<{ Status: string }>>('/v1/nodes')).body.some((n) => n.Status === 'ready'),
    );
  });
  afterAll(() => agent.stop());

  itConformance("decodes Nomad's conformance cases through PUT /v1/jobs/parse", async () => {
    const report = await runJobspecConformance(async (req) => {
      const r = await agent.api('/v1/jobs/parse', {
        method: 'PUT',
        body: JSON.stringify({ JobHCL: req.JobHCL, Variables: req.Variables, Canonicalize: req.Canonicalize }),
      });
      return { status: r.status, body: typeof r.body === 'string' ? { message: r.body } : r.body };
    });
    console.log(`${report.summary} (through PUT /v1/jobs/parse)`);
    for (const r of report.results.filter((x) => !x.ok))
      console.log(`  ${r.group}/${r.name}: ${r.reasons.slice(0, 4).join('; ')}`);
    expect(report.core.passed).toBe(28);
    expect(report.extra.passed).toBeGreaterThanOrEqual(84);
  });

  itConformance("gives a sensible job plan for each of Nomad's 24 e2e job files", () => {
    const files = readdirSync(E2E_JOBS).filter((f) => /\.(nomad|hcl)$/.test(f));
    expect(files).toHaveLength(24);
    for (const f of files) {
      const vars = f === 'jobsubmissions__xyz.hcl' ? ['-var', 'X=baz', '-var', 'Y=50', '-var', 'Z=true'] : [];
      const r = agent.cli(['job', 'plan', ...vars, join(E2E_JOBS, f)]);
      const out = r.stdout + r.stderr;
      // A new job always plans as a change (exit 1); 255 would mean the file or the plan failed.
      expect(r.code, `${f}:\n${out}`).toBe(1);
      expect(out, f).toMatch(/\+ Job: /);
      // Either every task group placed, or the dry run says why not.
      expect(out, f).toMatch(
        /All tasks successfully allocated|failed to place|WARNING: Failed to place|Scheduler dry-run/,
      );
    }
  });

  it('runs a Nomad 0.8-style job file with port_map and a task-level network', async () => {
    const run = agent.cli(['job', 'run', join(ROOT, 'test', 'e2e', 'fixtures', 'legacy-08.nomad.hcl')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const alloc = await agent.waitFor('the legacy allocation to run', async () => {
      const r = await agent.api<Array<{ ID: string; ClientStatus: string }>>('/v1/job/legacy/allocations');
      return r.body.find((a) => a.ClientStatus === 'running');
    });
    const full = await agent.api<{
      AllocatedResources: { Shared: { Ports: Array<{ Label: string; Value: number; HostIP: string }> } };
    }>(`/v1/allocation/${alloc.ID}`);
    const port = full.body.AllocatedResources.Shared.Ports.find((p) => p.Label === 'http')!.Value;
    const body = await agent.waitFor('httpd to answer through the mapped port', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/index.html`);
      return r.ok ? r.text() : null;
    });
    expect(body.trim()).toBe('legacy-ok');
    const job = await agent.api<{ TaskGroups: Array<{ Update: { Stagger: number } }> }>('/v1/job/legacy');
    expect(job.body.TaskGroups[0]?.Update.Stagger).toBe(10_000_000_000);
  });
});
