/**
 * Job types and operations on the real dev agent with the real CLI: periodic launches and `job periodic
 * force`, dispatch with a payload and meta, `job scale` within and outside the scaling block, node
 * eligibility blocking and unblocking placement, batch and sysbatch jobs that run once to completion.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestAgent } from './harness/agent.js';

interface JobStub {
  ID: string;
  ParentID: string;
  Status: string;
}
interface AllocStub {
  ID: string;
  JobID: string;
  ClientStatus: string;
  DesiredStatus: string;
}
interface Evaluation {
  ID: string;
  Status: string;
  TriggeredBy: string;
  BlockedEval: string;
  FailedTGAllocs: Record<
    string,
    { NodesEvaluated: number; NodesFiltered: number; ConstraintFiltered: Record<string, number> | null }
  > | null;
}

const dir = mkdtempSync(join(tmpdir(), 'drover-jobtypes-'));
function jobFile(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const shTask = (script: string, extra = '') => `
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(script)}]
      }
      ${extra}
      resources {
        cpu    = 50
        memory = 32
      }
    }`;

describe('job types and operations on a dev agent', () => {
  const agent = new TestAgent();
  let nodeID = '';

  beforeAll(async () => {
    await agent.start();
    const nodes = await agent.waitFor('a ready node', async () => {
      const r = await agent.api<Array<{ ID: string; Status: string }>>('/v1/nodes');
      return r.body.length === 1 && r.body[0]!.Status === 'ready' ? r.body : null;
    });
    nodeID = nodes[0]!.ID;
  });
  afterAll(async () => {
    // A failed eligibility test must not leave the node closed to the tests after it.
    if (nodeID) agent.cli(['node', 'eligibility', '-enable', nodeID]);
    await agent.stop();
  });

  const children = async (parent: string) =>
    (await agent.api<JobStub[]>('/v1/jobs')).body.filter((j) => j.ParentID === parent);
  const allocs = async (job: string) =>
    (await agent.api<AllocStub[]>(`/v1/job/${encodeURIComponent(job)}/allocations`)).body;

  it('launches a periodic job on its 7-field (seconds) cron and at once with `job periodic force`', async () => {
    const f = jobFile(
      'tick.nomad.hcl',
      `job "tick" {
  type = "batch"
  periodic {
    crons            = ["*/3 * * * * * *"]
    prohibit_overlap = false
  }
  group "g" {${shTask('echo tick')}
  }
}`,
    );
    const run = agent.cli(['job', 'run', f]);
    expect(run.code, run.stderr).toBe(0);
    const parent = (await agent.api<{ Status: string; Periodic: { Enabled: boolean } }>('/v1/job/tick')).body;
    expect(parent.Status).toBe('running');
    expect((await agent.api<Evaluation[]>('/v1/job/tick/evaluations')).body).toEqual([]);
    const launched = await agent.waitFor(
      'two periodic children',
      async () => {
        const c = await children('tick');
        return c.length >= 2 ? c : null;
      },
      20_000,
    );
    for (const c of launched) {
      const m = /^tick\/periodic-(\d+)$/.exec(c.ID);
      expect(m, c.ID).not.toBeNull();
      expect(Number(m![1]) % 3).toBe(0);
    }
    await agent.waitFor(
      'a child completed',
      async () => (await allocs(launched[0]!.ID)).some((a) => a.ClientStatus === 'complete'),
      20_000,
    );
    // Stop the schedule, then force: exactly one more child, now.
    const st = agent.cli(['job', 'status', 'tick']);
    expect(st.stdout).toContain('Previously Launched Jobs');
    expect(st.stdout).toContain(launched[0]!.ID);
    const before = (await children('tick')).length;
    const force = agent.cli(['job', 'periodic', 'force', '-detach', 'tick']);
    expect(force.code, force.stderr).toBe(0);
    expect(force.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect((await children('tick')).length).toBeGreaterThan(before);
    const stop = agent.cli(['job', 'stop', '-detach', 'tick']);
    expect(stop.code, stop.stderr).toBe(0);
  });

  it('dispatches a parameterized job: the payload lands in local/ and the meta in the env', async () => {
    const f = jobFile(
      'resize.nomad.hcl',
      `job "resize" {
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["image"]
    meta_optional = ["quality"]
  }
  group "g" {${shTask('cat local/input.txt; echo; echo "image=$NOMAD_META_image quality=$NOMAD_META_QUALITY"', 'dispatch_payload {\n        file = "input.txt"\n      }')}
  }
}`,
    );
    expect(agent.cli(['job', 'run', f]).code).toBe(0);
    const input = join(dir, 'payload.txt');
    writeFileSync(input, 'the payload');
    const bad = agent.cli(['job', 'dispatch', '-detach', 'resize', input]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/missing required meta keys: image/);
    const unknown = agent.cli([
      'job',
      'dispatch',
      '-detach',
      '-meta',
      'image=a.png',
      '-meta',
      'color=red',
      'resize',
      input,
    ]);
    expect(unknown.stderr).toMatch(/does not allow: color/);
    const d = agent.cli(['job', 'dispatch', '-meta', 'image=a.png', '-meta', 'quality=high', 'resize', input]);
    expect(d.code, d.stderr + d.stdout).toBe(0);
    const id = /Dispatched Job ID = (\S+)/.exec(d.stdout)![1]!;
    expect(id).toMatch(/^resize\/dispatch-\d+-[0-9a-f]{8}$/);
    const done = await agent.waitFor(
      'dispatched alloc complete',
      async () => (await allocs(id)).find((a) => a.ClientStatus === 'complete'),
      30_000,
    );
    const logs = agent.cli(['alloc', 'logs', done.ID, 't']);
    expect(logs.stdout).toContain('the payload');
    expect(logs.stdout).toContain('image=a.png quality=high');
  });

  it('scales a group within its scaling block and refuses counts outside it', async () => {
    const f = jobFile(
      'scaled.nomad.hcl',
      `job "scaled" {
  group "g" {
    count = 1
    scaling {
      min = 1
      max = 3
    }
    # job run follows the deployment: healthy after 1 s of running, not the default 10 s.
    update {
      min_healthy_time = "1s"
    }${shTask('sleep 300')}
  }
}`,
    );
    expect(agent.cli(['job', 'run', f]).code).toBe(0);
    const up = agent.cli(['job', 'scale', 'scaled', 'g', '3']);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    await agent.waitFor(
      'three running',
      async () => (await allocs('scaled')).filter((a) => a.ClientStatus === 'running').length === 3,
      30_000,
    );
    const tooMany = agent.cli(['job', 'scale', 'scaled', 'g', '4']);
    expect(tooMany.code).not.toBe(0);
    expect(tooMany.stderr).toMatch(/greater than the scaling policy maximum 3/);
    const tooFew = agent.cli(['job', 'scale', 'scaled', '0']);
    expect(tooFew.stderr).toMatch(/less than the scaling policy minimum 1/);
    const status = (
      await agent.api<{
        TaskGroups: Record<string, { Desired: number; Events: Array<{ Count: number; PreviousCount: number }> }>;
      }>('/v1/job/scaled/scale')
    ).body;
    expect(status.TaskGroups.g!.Desired).toBe(3);
    expect(status.TaskGroups.g!.Events[0]).toMatchObject({ Count: 3, PreviousCount: 1 });
    const events = agent.cli(['job', 'scaling-events', 'scaled']);
    expect(events.stdout).toMatch(/^g\s+3\s+1\s+false\s/m);
    expect(agent.cli(['job', 'stop', '-detach', 'scaled']).code).toBe(0);
  });

  it('blocks a new job on an ineligible node with the reason, and places it once the node is eligible', async () => {
    const dis = agent.cli(['node', 'eligibility', '-disable', nodeID.slice(0, 8)]);
    expect(dis.code, dis.stderr).toBe(0);
    expect(dis.stdout).toContain('ineligible for scheduling');
    const f = jobFile('waiting.nomad.hcl', `job "waiting" {\n  group "g" {${shTask('sleep 300')}\n  }\n}`);
    const run = agent.cli(['job', 'run', '-detach', f]);
    expect(run.code, run.stderr).toBe(0);
    const ev = await agent.waitFor(
      'a finished eval with a failed placement',
      async () => {
        const evs = (await agent.api<Evaluation[]>('/v1/job/waiting/evaluations')).body;
        return evs.find((e) => e.Status === 'complete' && e.FailedTGAllocs != null);
      },
      20_000,
    );
    expect(ev.BlockedEval).not.toBe('');
    expect((await agent.api<Evaluation>(`/v1/evaluation/${ev.BlockedEval}`)).body.Status).toBe('blocked');
    const status = agent.cli(['job', 'status', 'waiting']);
    expect(status.stdout).toContain('Placement Failure');
    expect(status.stdout).toContain('No nodes were eligible for evaluation');
    expect((await allocs('waiting')).length).toBe(0);
    const en = agent.cli(['node', 'eligibility', '-enable', nodeID]);
    expect(en.code, en.stderr).toBe(0);
    await agent.waitFor(
      'placed once eligible',
      async () => (await allocs('waiting')).some((a) => a.ClientStatus === 'running'),
      30_000,
    );
    expect(agent.cli(['job', 'stop', '-detach', 'waiting']).code).toBe(0);
  });

  it('drains the node with `node drain` (followed to completion), then -disable makes it eligible again', async () => {
    const f = jobFile(
      'drained.nomad.hcl',
      `job "drained" {
  group "g" {
    migrate {
      max_parallel = 1
    }
    # job run follows the deployment: healthy after 1 s of running, not the default 10 s.
    update {
      min_healthy_time = "1s"
    }${shTask('sleep 300')}
  }
}`,
    );
    expect(agent.cli(['job', 'run', f]).code).toBe(0);
    await agent.waitFor(
      'running',
      async () => (await allocs('drained')).some((a) => a.ClientStatus === 'running'),
      30_000,
    );
    const drain = agent.cli(['node', 'drain', '-enable', '-deadline', '5s', '-yes', nodeID], { timeoutMs: 60_000 });
    expect(drain.code, drain.stderr + drain.stdout).toBe(0);
    expect(drain.stdout).toContain('drain strategy set');
    expect(drain.stdout).toContain('Drain complete for node');
    const node = (
      await agent.api<{ SchedulingEligibility: string; DrainStrategy: unknown; Events: Array<{ Message: string }> }>(
        `/v1/node/${nodeID}`,
      )
    ).body;
    expect(node.DrainStrategy).toBeNull();
    expect(node.SchedulingEligibility).toBe('ineligible');
    expect(node.Events.map((e) => e.Message)).toContain('Node drain complete');
    // The only node is closed: the migrated allocation stops and its replacement waits.
    await agent.waitFor(
      'old alloc stopped',
      async () => (await allocs('drained')).every((a) => a.DesiredStatus !== 'run' || a.ClientStatus === 'pending'),
      20_000,
    );
    const off = agent.cli(['node', 'drain', '-disable', nodeID]);
    expect(off.code, off.stderr).toBe(0);
    expect((await agent.api<{ SchedulingEligibility: string }>(`/v1/node/${nodeID}`)).body.SchedulingEligibility).toBe(
      'eligible',
    );
    await agent.waitFor(
      'running again',
      async () => (await allocs('drained')).some((a) => a.ClientStatus === 'running' && a.DesiredStatus === 'run'),
      30_000,
    );
    expect(agent.cli(['job', 'stop', '-detach', 'drained']).code).toBe(0);
  });

  it('runs a batch job to completion once and never re-runs it', async () => {
    const f = jobFile('once.nomad.hcl', `job "once" {\n  type = "batch"\n  group "g" {${shTask('echo done')}\n  }\n}`);
    const run = agent.cli(['job', 'run', f]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    await agent.waitFor(
      'complete',
      async () => (await allocs('once')).some((a) => a.ClientStatus === 'complete'),
      30_000,
    );
    await agent.waitFor(
      'job dead',
      async () => (await agent.api<{ Status: string }>('/v1/job/once')).body.Status === 'dead',
      10_000,
    );
    // Give the server time to (wrongly) reschedule, then check it did not.
    await new Promise((r) => setTimeout(r, 3000));
    const all = await allocs('once');
    expect(all).toHaveLength(1);
    expect(all[0]?.ClientStatus).toBe('complete');
  });

  it('runs a sysbatch job once on the node and a system job until stopped', async () => {
    const sb = jobFile('sb.nomad.hcl', `job "sb" {\n  type = "sysbatch"\n  group "g" {${shTask('echo sys')}\n  }\n}`);
    expect(agent.cli(['job', 'run', '-detach', sb]).code).toBe(0);
    await agent.waitFor(
      'sysbatch complete',
      async () => (await allocs('sb')).some((a) => a.ClientStatus === 'complete'),
      30_000,
    );
    const sys = jobFile('sys.nomad.hcl', `job "sys" {\n  type = "system"\n  group "g" {${shTask('sleep 300')}\n  }\n}`);
    expect(agent.cli(['job', 'run', '-detach', sys]).code).toBe(0);
    await agent.waitFor(
      'system running',
      async () => (await allocs('sys')).some((a) => a.ClientStatus === 'running'),
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(await allocs('sb')).toHaveLength(1);
    expect(await allocs('sys')).toHaveLength(1);
    expect(agent.cli(['job', 'stop', '-detach', 'sys']).code).toBe(0);
  });
});
