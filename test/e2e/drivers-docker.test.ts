/**
 * The docker driver end to end, through a dev agent and locally built images (nothing pulled):
 * the memory limit is the job's (docker inspect) and enforced (OOM kill as a task event, restarts per the
 * policy), a missing image fails the task with an event naming it, and `alloc logs -f` follows stdout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestImages, TEST_IMAGES } from '../images/index.js';
import { TestAgent } from './harness/agent.js';
import {
  alloc,
  containersOf,
  docker,
  eventTypes,
  jobFile,
  runJob,
  singleTaskJob,
  stopAndClean,
  waitRunning,
} from './fixtures/drivers-support.js';

const busybox = (cmd: string) =>
  `        image   = "${TEST_IMAGES.busybox}"\n        command = "/bin/sh"\n        args    = ["-c", ${JSON.stringify(cmd)}]`;

describe('docker tasks on a dev agent', () => {
  const agent = new TestAgent();
  const seen = new Set<string>();

  beforeAll(async () => {
    await ensureTestImages();
    await agent.start();
  });
  afterAll(async () => {
    await stopAndClean(agent, seen);
  });

  /** Waits for the only allocation of `job` to have a dead task `t`. */
  const deadTask = (job: string, timeoutMs = 60_000) =>
    agent.waitFor(
      `task t of ${job} to be dead`,
      async () => {
        const [a] = (await agent.api<Array<{ ID: string }>>(`/v1/job/${job}/allocations`)).body;
        if (!a) return null;
        seen.add(a.ID);
        const t = (await alloc(agent, a.ID)).TaskStates?.['t'];
        return t?.State === 'dead' ? { id: a.ID, t } : null;
      },
      timeoutMs,
    );

  it("sets the container's hard memory limit to the job's memory", async () => {
    runJob(
      agent,
      jobFile('mem', singleTaskJob({ job: 'mem', driver: 'docker', memory: 48, config: busybox('exec sleep 3600') })),
    );
    const [a] = await waitRunning(agent, 'mem');
    seen.add(a!.ID);
    const [id] = containersOf(a!.ID);
    expect(Number(docker(['inspect', '--format', '{{.HostConfig.Memory}}', id!]))).toBe(48 * 1024 * 1024);
    expect(docker(['inspect', '--format', '{{index .Config.Labels "com.hashicorp.nomad.task_name"}}', id!])).toBe('t');
    expect(agent.cli(['job', 'stop', '-purge', 'mem']).code).toBe(0);
  });

  it('OOM-kills a container past its limit, with the task event, and restarts it per its policy', async () => {
    runJob(
      agent,
      jobFile(
        'docker-oom',
        singleTaskJob({
          job: 'docker-oom',
          driver: 'docker',
          memory: 16,
          attempts: 1,
          config: `        image   = "${TEST_IMAGES.busybox}"\n        command = "/bin/dd"\n        args    = ["if=/dev/zero", "of=/dev/null", "bs=64M", "count=4"]`,
        }),
      ),
    );
    const { id, t } = await deadTask('docker-oom');
    const types = eventTypes(t);
    // Every run ended in an OOM kill reported once: one "OOM Killed" per "Terminated" (events keep the last 10).
    const ooms = types.filter((x) => x === 'OOM Killed').length;
    expect(ooms, types.join(', ')).toBeGreaterThanOrEqual(1);
    expect(ooms, types.join(', ')).toBe(types.filter((x) => x === 'Terminated').length);
    expect(types).toContain('Restarting');
    expect(types.at(-1)).toBe('Not Restarting');
    expect(t.Restarts).toBe(1);
    expect(t.Failed).toBe(true);
    expect(t.Events.filter((e) => e.Type === 'Terminated').at(-1)!.DisplayMessage).toMatch(
      /Exit Code: 137.*OOM Killed/,
    );
    expect(agent.cli(['alloc', 'status', id]).stdout).toMatch(/OOM Killed/);
    // Each exited container was removed by the driver.
    expect(containersOf(id)).toEqual([]);
  });

  it('fails a task whose image is missing with a task event naming the image', async () => {
    const image = 'drover-test/does-not-exist:0.0.1';
    runJob(
      agent,
      jobFile(
        'noimage',
        singleTaskJob({
          job: 'noimage',
          driver: 'docker',
          config: `        image              = "${image}"\n        image_pull_timeout = "20s"`,
        }),
      ),
    );
    const { id, t } = await deadTask('noimage', 90_000);
    expect(t.Failed).toBe(true);
    const failure = t.Events.find((e) => e.Type === 'Driver Failure');
    expect(failure?.DisplayMessage, JSON.stringify(t.Events)).toContain(image);
    expect(failure!.DisplayMessage).toMatch(/not found locally and could not be pulled/);
    // The pull attempt itself was reported by the driver as it happened.
    expect(
      t.Events.some((e) => e.Type === 'Driver' && (e.DisplayMessage ?? '').includes(`Pulling Image ${image}`)),
    ).toBe(true);
    const status = agent.cli(['alloc', 'status', id]);
    expect(status.stdout).toContain(image);
    expect(containersOf(id)).toEqual([]);
  });

  it("follows a docker task's stdout with alloc logs -f", async () => {
    runJob(
      agent,
      jobFile(
        'ticker',
        singleTaskJob({
          job: 'ticker',
          driver: 'docker',
          config: busybox('i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.3; done'),
        }),
      ),
    );
    const [a] = await waitRunning(agent, 'ticker');
    seen.add(a!.ID);
    await agent.waitFor('a first tick in the logs', async () =>
      /tick 1\b/.test(agent.cli(['alloc', 'logs', a!.ID, 't']).stdout),
    );
    const child = agent.cliAsync(['alloc', 'logs', '-f', a!.ID, 't']);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    try {
      // Lines written after -f started arrive on its stdout: the tick count keeps growing while we watch.
      const firstSeen = await agent.waitFor(
        'followed output',
        async () => {
          const m = [...out.matchAll(/tick (\d+)/g)];
          return m.length > 0 ? Number(m.at(-1)![1]) : null;
        },
        20_000,
        100,
      );
      const later = await agent.waitFor(
        'new lines while following',
        async () => {
          const m = [...out.matchAll(/tick (\d+)/g)];
          const last = Number(m.at(-1)![1]);
          return last >= firstSeen + 5 ? last : null;
        },
        20_000,
        100,
      );
      expect(later).toBeGreaterThanOrEqual(firstSeen + 5);
      expect(child.exitCode).toBeNull();
      // Consecutive: nothing lost or doubled between the start and the end of what we followed.
      const nums = [...out.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
      for (let i = 1; i < nums.length; i++) expect(nums[i]).toBe(nums[i - 1]! + 1);
    } finally {
      child.kill('SIGTERM');
    }
    expect(agent.cli(['job', 'stop', '-purge', 'ticker']).code).toBe(0);
  });
});
