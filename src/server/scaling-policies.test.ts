import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../testing/builders.js';
import { isDroverError } from '../errors/index.js';
import type { Job } from '../structs/index.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';
import { scalingPolicyID } from './scaling-policies.js';

let s: Server | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

function job(id: string, namespace = 'default'): Job {
  const j = build.job({ ID: id, Namespace: namespace });
  j.TaskGroups[0]!.Scaling = { Min: 1, Max: 5, Policy: { cooldown: '1m' } };
  j.TaskGroups.push(build.taskGroup({ Name: 'plain' }));
  return j;
}

describe('scaling policies', () => {
  it("lists each group's scaling block with an ID that survives a new job version", async () => {
    s = await testServer();
    await s.start();
    await s.jobs.register(job('web'));
    await s.jobs.register(job('api'));
    const id = scalingPolicyID({ Namespace: 'default', Job: 'web', Group: 'web' }, 'horizontal');
    const list = (await s.jobs.scalingPolicies({})).value;
    expect(list.map((p) => p.Target.Job).sort()).toEqual(['api', 'web']);
    const web = list.find((p) => p.Target.Job === 'web')!;
    expect(web).toEqual({
      ID: id,
      Enabled: true,
      Type: 'horizontal',
      Target: { Namespace: 'default', Job: 'web', Group: 'web' },
      CreateIndex: expect.any(Number),
      ModifyIndex: expect.any(Number),
    });
    const v1 = (await s.jobs.get('default', 'web')).value;
    await s.jobs.register({ ...v1, Meta: { v: '2' } });
    const again = (await s.jobs.scalingPolicy(id)).value;
    expect(again).toMatchObject({ ID: id, Min: 1, Max: 5, Policy: { cooldown: '1m' }, Namespace: 'default' });
    expect(again.ModifyIndex).toBeGreaterThan(web.ModifyIndex);
  });

  it('filters by job, type and namespace, and answers NotFound for an unknown ID', async () => {
    s = await testServer();
    await s.start();
    await s.jobs.register(job('web'));
    expect((await s.jobs.scalingPolicies({ job: 'nope' })).value).toEqual([]);
    expect((await s.jobs.scalingPolicies({ type: 'vertical' })).value).toEqual([]);
    expect((await s.jobs.scalingPolicies({ type: 'horiz' })).value).toHaveLength(1);
    expect((await s.jobs.scalingPolicies({ namespace: 'other' })).value).toEqual([]);
    expect((await s.jobs.scalingPolicies({ namespace: '*' })).value).toHaveLength(1);
    const err = await s.jobs.scalingPolicy('00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(isDroverError(err) && err.code).toBe('NotFound');
  });

  it('refuses at register a policy the autoscaler could not read, naming the field', async () => {
    s = await testServer();
    await s.start();
    const j = job('web');
    j.TaskGroups[0]!.Scaling!.Policy = {
      check: [{ cpu: [{ query: 'avg_cpu', strategy: [{ 'target-value': [{}] }] }] }],
    };
    const err = await s.jobs.register(j).catch((e: unknown) => e);
    expect(isDroverError(err) && err.code).toBe('JobValidation');
    expect(String((err as Error).message)).toMatch(/target-value strategy needs a target/);
  });
});
