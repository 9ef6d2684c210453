import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../testing/builders.js';
import { newDesiredUpdates, type Job } from '../structs/index.js';
import { annotateJobDiff, jobDiff } from './job-diff.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

function edit(j: Job, f: (j: Job) => void): Job {
  const c = structuredClone(j);
  f(c);
  return c;
}

describe('jobDiff', () => {
  it('says None for the same job, ignoring the fields the server manages', () => {
    const a = build.job({ ID: 'web', Version: 0, ModifyIndex: 5, Status: 'running', SubmitTime: 1 });
    const b = build.job({ ID: 'web', Version: 3, ModifyIndex: 9, Status: 'pending', SubmitTime: 2 });
    const d = jobDiff(a, b, true);
    expect(d.Type).toBe('None');
    expect(d.TaskGroups?.map((g) => g.Type)).toEqual(['None']);
  });

  it('says Added for a new job with every field as Added', () => {
    const d = jobDiff(null, build.job({ ID: 'web' }), false);
    expect(d.Type).toBe('Added');
    expect(d.Fields?.find((f) => f.Name === 'Priority')).toMatchObject({ Type: 'Added', Old: '', New: '50' });
    expect(d.TaskGroups?.[0]?.Type).toBe('Added');
  });

  it('reports a count change on the group with Old and New, annotated as forcing creation', () => {
    const a = build.job({ ID: 'web' });
    const b = edit(a, (j) => (j.TaskGroups[0]!.Count = 3));
    const d = jobDiff(a, b, false);
    expect(d.Type).toBe('Edited');
    const g = d.TaskGroups![0]!;
    expect(g.Fields).toEqual([{ Type: 'Edited', Name: 'Count', Old: '1', New: '3', Annotations: null }]);
    annotateJobDiff(d, {
      DesiredTGUpdates: { web: newDesiredUpdates({ Ignore: 1, Place: 2 }) },
    });
    expect(g.Fields![0]?.Annotations).toEqual(['forces create']);
    expect(g.Updates).toEqual({ ignore: 1, create: 2 });
  });

  it('marks a driver config change as a destructive update of the task', () => {
    const a = build.job({ ID: 'web' });
    const b = edit(a, (j) => (j.TaskGroups[0]!.Tasks[0]!.Config = { run_for: '20s' }));
    const d = jobDiff(a, b, false);
    annotateJobDiff(d, null);
    const t = d.TaskGroups![0]!.Tasks![0]!;
    expect(t.Type).toBe('Edited');
    expect(t.Objects).toEqual([
      {
        Type: 'Edited',
        Name: 'Config',
        Fields: [{ Type: 'Edited', Name: 'run_for', Old: '10s', New: '20s', Annotations: null }],
        Objects: null,
      },
    ]);
    expect(t.Annotations).toEqual(['forces create/destroy update']);
  });

  it('marks a kill timeout change as an in-place update', () => {
    const a = build.job({ ID: 'web' });
    const b = edit(a, (j) => (j.TaskGroups[0]!.Tasks[0]!.KillTimeout = 5e9));
    const d = jobDiff(a, b, false);
    annotateJobDiff(d, null);
    expect(d.TaskGroups![0]?.Tasks![0]?.Annotations).toEqual(['forces in-place update']);
  });

  it('lists the unchanged fields of a changed object as None when contextual', () => {
    const a = build.job({ ID: 'web' });
    const b = edit(a, (j) => (j.TaskGroups[0]!.Tasks[0]!.Resources.CPU = 200));
    const res = jobDiff(a, b, true).TaskGroups![0]!.Tasks![0]!.Objects!.find((o) => o.Name === 'Resources')!;
    expect(res.Fields).toEqual([
      { Type: 'Edited', Name: 'CPU', Old: '100', New: '200', Annotations: null },
      { Type: 'None', Name: 'MemoryMB', Old: '64', New: '64', Annotations: null },
    ]);
  });

  it('diffs datacenters as a set and env and meta as inline fields', () => {
    const a = build.job({ ID: 'web', Meta: { team: 'a' } });
    const b = edit(a, (j) => {
      j.Datacenters = ['dc1', 'dc2'];
      j.Meta = { team: 'b' };
      j.TaskGroups[0]!.Tasks[0]!.Env = { FOO: 'bar' };
    });
    const d = jobDiff(a, b, false);
    expect(d.Objects).toEqual([
      {
        Type: 'Edited',
        Name: 'Datacenters',
        Fields: [{ Type: 'Added', Name: 'Datacenters', Old: '', New: 'dc2', Annotations: null }],
        Objects: null,
      },
    ]);
    expect(d.Fields).toEqual([{ Type: 'Edited', Name: 'Meta[team]', Old: 'a', New: 'b', Annotations: null }]);
    expect(d.TaskGroups![0]?.Tasks![0]?.Fields).toEqual([
      { Type: 'Added', Name: 'Env[FOO]', Old: '', New: 'bar', Annotations: null },
    ]);
  });

  it('sees no change in networks and templates that differ only in the order of their keys', () => {
    // The JSON and HCL paths build the same blocks with their keys in a different order.
    const reversed = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).reverse()) as T;
    const a = edit(build.job({ ID: 'web' }), (j) => {
      const g = j.TaskGroups[0]!;
      g.Networks = [{ Mode: '', ReservedPorts: [{ Label: 'http', Value: 8081, To: 0, HostNetwork: '' }] }] as never;
      g.Tasks[0]!.Templates = [
        { EmbeddedTmpl: 'x', DestPath: 'local/x', ChangeMode: 'restart', Perms: '0644' },
      ] as never;
    });
    const b = edit(a, (j) => {
      const g = j.TaskGroups[0]!;
      g.Networks = g.Networks!.map((n) => reversed({ ...n, ReservedPorts: n.ReservedPorts!.map(reversed) }));
      g.Tasks[0]!.Templates = g.Tasks[0]!.Templates!.map(reversed);
    });
    const d = jobDiff(a, b, false);
    annotateJobDiff(d, null);
    expect(d.Type).toBe('None');
    expect(
      d.TaskGroups?.map((g) => [g.Type, g.Objects, g.Tasks?.map((t) => [t.Type, t.Objects, t.Annotations])]),
    ).toEqual([['None', null, [['None', null, null]]]]);
  });

  it('annotates the tasks of an added group as forcing creation', () => {
    const a = build.job({ ID: 'web' });
    const b = edit(a, (j) => j.TaskGroups.push({ ...structuredClone(j.TaskGroups[0]!), Name: 'api' }));
    const d = jobDiff(a, b, false);
    annotateJobDiff(d, null);
    const api = d.TaskGroups!.find((g) => g.Name === 'api')!;
    expect(api.Type).toBe('Added');
    expect(api.Tasks![0]?.Annotations).toEqual(['forces create']);
  });
});

describe('Server jobPlan', () => {
  let s: Server | undefined;
  afterEach(async () => {
    await s?.stop();
  });

  it('shows no change when the same job is planned after it runs, and the diff and updates after an edit', async () => {
    s = await testServer();
    await s.start();
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const job = build.job({ ID: 'web' });
    const fresh = await s.jobs.plan(job, true);
    expect(fresh.Diff?.Type).toBe('Added');
    expect(fresh.Annotations?.DesiredTGUpdates.web?.Place).toBe(1);
    expect(fresh.JobModifyIndex).toBe(0);
    const r = await s.jobs.register(job);
    await expect
      .poll(async () => (await s!.evals.get(r.EvalID)).value.Status === 'complete', { timeout: 3_000 })
      .toBeTruthy();
    const same = await s.jobs.plan(job, true);
    expect(same.Diff?.Type).toBe('None');
    expect(same.JobModifyIndex).toBe(r.JobModifyIndex);
    expect(same.Diff?.TaskGroups?.[0]?.Updates).toEqual({ ignore: 1 });
    const changed = await s.jobs.plan(
      edit(job, (j) => (j.TaskGroups[0]!.Tasks[0]!.Config = { run_for: '1m' })),
      true,
    );
    expect(changed.Diff?.Type).toBe('Edited');
    expect(changed.Diff?.TaskGroups?.[0]?.Updates).toEqual({ 'create/destroy update': 1 });
    // Planning changes nothing.
    expect((await s.jobs.get('default', 'web')).value.Version).toBe(0);
    expect((await s.jobs.allocations('default', 'web', true)).value).toHaveLength(1);
  });

  it('reports the groups that cannot be placed', async () => {
    s = await testServer();
    const plan = await s.jobs.plan(build.job({ ID: 'web' }), false);
    expect(plan.Diff).toBeNull();
    expect(Object.keys(plan.FailedTGAllocs ?? {})).toEqual(['web']);
  });
});
