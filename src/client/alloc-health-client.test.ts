import { afterEach, describe, expect, it } from 'vitest';
import type { TaskGroup } from '../structs/index.js';
import { type Client } from './index.js';
import { FakeServer, startTestClient, testAlloc, testJob, testTask } from './testing/index.js';
import { build } from '../testing/builders.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startClient(server: FakeServer): Promise<Client> {
  return startTestClient(cleanups, server, { nodeName: 'node-1' });
}

const update = (over: Partial<NonNullable<TaskGroup['Update']>>): TaskGroup['Update'] =>
  build.update({
    HealthCheck: 'task_states',
    MinHealthyTime: 300e6,
    HealthyDeadline: 10e9,
    ProgressDeadline: 60e9,
    ...over,
  });

function deploymentAlloc(
  client: Client,
  config: Record<string, unknown>,
  over: Partial<NonNullable<TaskGroup['Update']>> = {},
) {
  const job = testJob([
    testTask('main', 'mock_driver', config, { RestartPolicy: { Attempts: 0, Interval: 60e9, Delay: 0, Mode: 'fail' } }),
  ]);
  job.TaskGroups[0]!.Update = update(over);
  return { ...testAlloc(job, client.nodeID), DeploymentID: 'dep-1' };
}

describe('client allocation health', () => {
  it('reports a deployment allocation healthy after min_healthy_time of running, and not before', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const a = server.place(deploymentAlloc(client, {}));
    await expect
      .poll(() => server.updates.some((u) => u.ID === a.ID && u.ClientStatus === 'running'), { timeout: 5_000 })
      .toBe(true);
    const early = server.updates.filter((u) => u.ID === a.ID);
    expect(early.every((u) => u.DeploymentStatus === null)).toBe(true);
    await expect
      .poll(() => server.updates.some((u) => u.ID === a.ID && u.DeploymentStatus?.Healthy === true), { timeout: 5_000 })
      .toBe(true);
  });

  it('reports a deployment allocation unhealthy when its task fails', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const a = server.place(deploymentAlloc(client, { run_for: '50ms', exit_code: 1 }, { MinHealthyTime: 5e9 }));
    await expect
      .poll(() => server.updates.some((u) => u.ID === a.ID && u.DeploymentStatus?.Healthy === false), {
        timeout: 5_000,
      })
      .toBe(true);
  });

  it('sends no deployment status for an allocation outside any deployment', async () => {
    const server = new FakeServer();
    const client = await startClient(server);
    const a = server.place(testAlloc(testJob([testTask('main', 'mock_driver', {})]), client.nodeID));
    await expect
      .poll(() => server.updates.some((u) => u.ID === a.ID && u.ClientStatus === 'running'), { timeout: 5_000 })
      .toBe(true);
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 200));
    expect(server.updates.filter((u) => u.ID === a.ID).every((u) => !('DeploymentStatus' in u))).toBe(true);
  });
});
