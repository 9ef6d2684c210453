import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { MemoryBackend } from './backend.js';
import { computeJobStatus, jobSpecChanged, refreshJobStatus, updateJobInPlace, upsertJob } from './job-ops.js';
import { upsertAllocs, upsertEvals } from './alloc-ops.js';
import { StateStore } from './store.js';
import { build } from '../testing/builders.js';

const open = () => StateStore.open({ backend: new MemoryBackend(), logger: nullLogger });

describe('jobSpecChanged', () => {
  it('ignores the fields the server sets and treats null, undefined and missing alike', () => {
    const a = build.job({ ID: 'web', Version: 1, ModifyIndex: 3, Status: 'running', Meta: null });
    const b = build.job({ ID: 'web', Version: 4, ModifyIndex: 9, Status: 'dead', SubmitTime: 7 });
    expect(jobSpecChanged(a, b)).toBe(false);
    expect(jobSpecChanged(a, { ...b, Priority: 51 })).toBe(true);
    expect(jobSpecChanged(a, { ...b, Stop: true })).toBe(true);
  });

  it('sees a change in a nested field, a key only one side has, and a list of another length', () => {
    const a = build.job({ ID: 'web', Meta: { a: '1' } });
    expect(jobSpecChanged(a, { ...a, Meta: { a: '2' } })).toBe(true);
    expect(jobSpecChanged(a, { ...a, Meta: { a: '1', b: '' } })).toBe(true);
    expect(jobSpecChanged({ ...a, Meta: { a: '1', b: null } } as never, a)).toBe(false);
    expect(jobSpecChanged(a, { ...a, Datacenters: [...a.Datacenters, 'dc2'] })).toBe(true);
    expect(jobSpecChanged(a, { ...a, Meta: { a: '1' } })).toBe(false);
  });
});

describe('upsertJob', () => {
  it('keeps the newest stable version when the history is trimmed', async () => {
    const s = await open();
    await s.write((tx) => upsertJob(tx, build.job({ ID: 'web', Priority: 1 }), { nowNs: 0, trackedVersions: 3 }));
    await s.write((tx) => updateJobInPlace(tx, { ...tx.jobByID('default', 'web')!, Stable: true }));
    for (let p = 2; p <= 5; p++)
      await s.write((tx) => upsertJob(tx, build.job({ ID: 'web', Priority: p }), { nowNs: 0, trackedVersions: 3 }));
    expect(
      s
        .snapshot()
        .jobVersions('default', 'web')
        .map((j) => j.Version),
    ).toEqual([4, 3, 0]);
  });

  it('trims the history as the sorted rule does, whichever versions are stable', async () => {
    // Model: the rule on a list sorted newest first (keep the newest `keep`, and the newest stable one in place
    // of the last kept when it is older). The store takes a one-pass path when one version over the cap.
    const trim = (vs: { v: number; stable: boolean }[], keep: number) => {
      const all = [...vs].sort((a, b) => b.v - a.v);
      if (all.length <= keep) return all;
      const kept = all.slice(0, keep);
      const stable = all.find((x) => x.stable);
      if (stable != null && !kept.includes(stable)) kept[keep - 1] = stable;
      return kept;
    };
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 20; round++) {
      const s = await open();
      let model: { v: number; stable: boolean }[] = [];
      for (let p = 1; p <= 12; p++) {
        const keep = p > 8 && round % 2 === 1 ? 2 : 4; // odd rounds lower the cap: several versions go at once
        await s.write((tx) =>
          upsertJob(tx, build.job({ ID: 'web', Priority: p }), { nowNs: 0, trackedVersions: keep }),
        );
        model = trim([...model, { v: p - 1, stable: false }], keep);
        if (rand() < 0.3) {
          await s.write((tx) => updateJobInPlace(tx, { ...tx.jobByID('default', 'web')!, Stable: true }));
          model = model.map((x) => (x.v === p - 1 ? { ...x, stable: true } : x));
        }
        const got = s
          .snapshot()
          .jobVersions('default', 'web')
          .map((j) => j.Version);
        expect(got, `round ${round}, version ${p - 1}`).toEqual(model.map((x) => x.v).sort((a, b) => b - a));
      }
    }
  });

  it('sets CreateIndex once and JobModifyIndex only when the spec changes', async () => {
    const s = await open();
    const r1 = await s.write((tx) => upsertJob(tx, build.job({ ID: 'web' }), { nowNs: 0 }));
    const r2 = await s.write((tx) => upsertJob(tx, build.job({ ID: 'web' }), { nowNs: 0 }));
    expect(r2.result.specChanged).toBe(false);
    expect(r2.result.job).toMatchObject({
      CreateIndex: r1.index,
      ModifyIndex: r2.index,
      JobModifyIndex: r1.index,
      Version: 0,
    });
  });
});

describe('computeJobStatus', () => {
  it('is pending with an open eval, running with a live alloc, dead when all are terminal', async () => {
    const s = await open();
    const job = build.job({ ID: 'web' });
    const ev = build.eval({ Job: job });
    await s.write((tx) => {
      upsertJob(tx, job, { nowNs: 0 });
      upsertEvals(tx, [ev], 0);
    });
    expect(computeJobStatus(s.snapshot(), s.snapshot().jobByID('default', 'web')!)).toBe('pending');
    const a = build.alloc({ Job: job, NodeID: 'n1' });
    await s.write((tx) => upsertAllocs(tx, [a], 0));
    expect(s.snapshot().jobByID('default', 'web')!.Status).toBe('running');
    await s.write((tx) => {
      upsertEvals(tx, [{ ...ev, Status: 'complete' }], 0);
      upsertAllocs(tx, [{ ...a, DesiredStatus: 'stop' }], 0);
    });
    expect(s.snapshot().jobByID('default', 'web')!.Status).toBe('dead');
  });
});

describe('refreshJobStatus after a register', () => {
  it('keeps a running job running when only its evals changed, and computes the rest', async () => {
    const s = await open();
    const job = build.job({ ID: 'web' });
    await s.write((tx) => upsertJob(tx, job, { nowNs: 0 }));
    await s.write((tx) => upsertAllocs(tx, [build.alloc({ Job: job, NodeID: 'n1' })], 0));
    expect(s.snapshot().jobByID('default', 'web')!.Status).toBe('running');
    await s.write((tx) => {
      upsertJob(tx, { ...job, Priority: 60 }, { nowNs: 0 });
      upsertEvals(tx, [build.eval({ Job: job })], 0);
      refreshJobStatus(tx, 'default', 'web', { allocsUnchanged: true });
    });
    expect(s.snapshot().jobByID('default', 'web')!.Status).toBe('running');
    // A dead job registered again is pending: the hint does not apply to a job that was not running.
    const other = build.job({ ID: 'batch' });
    const ev = build.eval({ Job: other });
    await s.write((tx) => {
      upsertJob(tx, other, { nowNs: 0 });
      upsertEvals(tx, [{ ...ev, Status: 'complete' }], 0);
      refreshJobStatus(tx, 'default', 'batch');
    });
    expect(s.snapshot().jobByID('default', 'batch')!.Status).toBe('dead');
    await s.write((tx) => {
      upsertEvals(tx, [build.eval({ Job: other })], 0);
      refreshJobStatus(tx, 'default', 'batch', { allocsUnchanged: true });
    });
    expect(s.snapshot().jobByID('default', 'batch')!.Status).toBe('pending');
  });
});

describe('the open-evals index behind the job status', () => {
  it("holds a job's pending and blocked evals only, and follows them to a terminal status", async () => {
    const s = await open();
    const job = build.job({ ID: 'web' });
    const [a, b] = [build.eval({ Job: job }), { ...build.eval({ Job: job }), Status: 'blocked' }];
    await s.write((tx) => {
      upsertJob(tx, job, { nowNs: 0 });
      upsertEvals(tx, [a, b, { ...build.eval({ Job: job }), Status: 'complete' }], 0);
    });
    const openEvals = () => s.snapshot().tables.countByIndex('evals', 'open_job', 'default\u0000web');
    expect(s.snapshot().evalsByJob('default', 'web')).toHaveLength(3);
    expect(openEvals()).toBe(2);
    await s.write((tx) => upsertEvals(tx, [{ ...a, Status: 'complete' }], 0));
    expect(openEvals()).toBe(1);
    expect(s.snapshot().jobByID('default', 'web')!.Status).toBe('pending');
    await s.write((tx) => upsertEvals(tx, [{ ...b, Status: 'canceled' }], 0));
    expect(openEvals()).toBe(0);
    expect(s.snapshot().jobByID('default', 'web')!.Status).toBe('dead');
  });
});
