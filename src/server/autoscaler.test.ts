/** The autoscaler against a real server and state store, with a fake clock and a scripted metric source. */
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../testing/builders.js';
import type { Job, ScalingEvent } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';
import { Autoscaler, MAX_TARGET } from './autoscaler.js';
import type { MetricQuery, MetricSource } from './autoscaler-sources.js';

let s: Server | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

/** A source answering `value` (or throwing it), counting its queries. */
class ScriptedSource implements MetricSource {
  value: number | Error | undefined = 0;
  queries: MetricQuery[] = [];
  query(q: MetricQuery): Promise<number | undefined> {
    this.queries.push(q);
    return this.value instanceof Error ? Promise.reject(this.value) : Promise.resolve(this.value);
  }
}

function scalingJob(policy: Record<string, unknown>, count = 2, max = 4): Job {
  const j = build.job({ ID: 'web' });
  const tg = j.TaskGroups[0]!;
  tg.Count = count;
  tg.Scaling = { Min: 2, Max: max, Enabled: true, Policy: policy };
  return j;
}

const cpuPolicy = {
  evaluation_interval: '2s',
  cooldown: '5s',
  check: [{ cpu: [{ source: 'nomad-apm', query: 'avg_cpu', strategy: [{ 'target-value': [{ target: 50 }] }] }] }],
};

async function setup(policy: Record<string, unknown> = cpuPolicy, max = 4) {
  const clock = { ms: 1_000_000, now: () => clock.ms };
  s = await testServer({ clock });
  await s.start();
  await s.nodeRegister(build.node({ ID: 'n1' }));
  await s.jobs.register(scalingJob(policy, 2, max));
  const source = new ScriptedSource();
  const scaler = new Autoscaler(s.ctx, { sources: { 'nomad-apm': source } });
  const signal = new AbortController().signal;
  const srv = s;
  return {
    clock,
    source,
    tick: () => scaler.tick(signal),
    count: async () => (await srv.jobs.get('default', 'web')).value.TaskGroups[0]!.Count,
    events: async (): Promise<ScalingEvent[]> =>
      (await srv.jobs.scaleStatus('default', 'web')).value.TaskGroups['web']!.Events ?? [],
  };
}

describe('Autoscaler', () => {
  it('scales up within max when the metric is over target, and the event says why with the metric', async () => {
    const t = await setup();
    t.source.value = 90;
    await t.tick();
    expect(await t.count()).toBe(4);
    const [ev] = await t.events();
    expect(ev).toMatchObject({ Count: 4, PreviousCount: 2, Error: false });
    expect(ev!.Message).toBe('scaled from 2 to 4: check "cpu": metric 90 is above target 50 (factor 1.80)');
    expect(ev!.EvalID).toBeTruthy();
    expect(ev!.Meta).toMatchObject({
      source: 'drover-autoscaler',
      checks: { cpu: { source: 'nomad-apm', query: 'avg_cpu', metric: 90, wanted: 4 } },
    });
  });

  it('never sets a count above its sanity cap, whatever max allows', async () => {
    const t = await setup(cpuPolicy, 1_000_000);
    t.source.value = 50_000_000;
    await t.tick();
    expect(await t.count()).toBe(MAX_TARGET);
    expect((await t.events())[0]!.Message).toMatch(/^scaled from 2 to 1000 \(capped at max 1000 \(wanted 2000000\)\)/);
  });

  it('evaluates a policy once per evaluation_interval', async () => {
    const t = await setup();
    t.source.value = 50;
    await t.tick();
    await t.tick();
    expect(t.source.queries).toHaveLength(1);
    t.clock.ms += 2000;
    await t.tick();
    expect(t.source.queries).toHaveLength(2);
    expect(await t.events()).toEqual([]);
  });

  it('waits out the cooldown after a change, then scales down and holds at min', async () => {
    const t = await setup();
    t.source.value = 90;
    await t.tick();
    expect(await t.count()).toBe(4);
    t.source.value = 0;
    t.clock.ms += 2000;
    await t.tick();
    expect(await t.count()).toBe(4);
    expect(t.source.queries).toHaveLength(1);
    t.clock.ms += 4000;
    await t.tick();
    expect(await t.count()).toBe(2);
    expect((await t.events())[0]!.Message).toBe(
      'scaled from 4 to 2 (held at min 2 (wanted 0)): check "cpu": metric 0 is below target 50 (factor 0)',
    );
  });

  it('refuses to scale during a deployment, once, and scales when it ends', async () => {
    const t = await setup();
    const dep = build.deployment({ JobID: 'web' });
    await s!.store.write((txn) => txn.put('deployments', { ...dep, CreateIndex: txn.writeIndex }));
    t.source.value = 90;
    await t.tick();
    t.clock.ms += 2000;
    await t.tick();
    expect(await t.count()).toBe(2);
    const events = await t.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ Count: null, Error: false });
    expect(events[0]!.Message).toMatch(
      new RegExp(`^not scaled to 4: deployment ${dep.ID.slice(0, 8)} is in progress; check "cpu": metric 90`),
    );
    await s!.store.write((txn) =>
      txn.put('deployments', { ...dep, Status: 'successful', ModifyIndex: txn.writeIndex }),
    );
    t.clock.ms += 2000;
    await t.tick();
    expect(await t.count()).toBe(4);
  });

  it('records once that the group is at max while the metric stays high', async () => {
    const t = await setup();
    t.source.value = 400;
    await t.tick();
    expect(await t.count()).toBe(4);
    for (let i = 0; i < 3; i++) {
      t.clock.ms += 6000;
      t.source.value = 400 + i;
      await t.tick();
    }
    expect(await t.count()).toBe(4);
    const events = await t.events();
    expect(events.map((e) => e.Count)).toEqual([null, 4]);
    expect(events[0]!.Message).toMatch(/^not scaled: capped at max 4 \(wanted \d+\); check "cpu"/);
  });

  it('records a failing source as an error event, once', async () => {
    const t = await setup();
    t.source.value = new Error('no running allocation to measure');
    await t.tick();
    t.clock.ms += 2000;
    await t.tick();
    const events = await t.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ Count: null, Error: true });
    expect(events[0]!.Message).toBe('not scaled: check "cpu" failed: no running allocation to measure');
  });

  it('records nothing while the source has no data yet', async () => {
    const t = await setup();
    t.source.value = undefined;
    await t.tick();
    expect(t.source.queries).toHaveLength(1);
    expect(await t.events()).toEqual([]);
    expect(await t.count()).toBe(2);
  });

  it('leaves alone a disabled policy', async () => {
    const t = await setup();
    t.source.value = 90;
    const job = (await s!.jobs.get('default', 'web')).value;
    await s!.jobs.register({
      ...job,
      TaskGroups: job.TaskGroups.map((g) => ({ ...g, Scaling: { ...g.Scaling, Enabled: false } })),
    });
    await t.tick();
    expect(t.source.queries).toHaveLength(0);
  });
});
