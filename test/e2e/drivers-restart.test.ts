/**
 * Agent restarts with running tasks: SIGKILL the agent while a docker task and an exec task run, start it
 * again on the same data dir, and the same container and the same process are adopted; nothing starts twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestImages, TEST_IMAGES } from '../images/index.js';
import { TestAgent } from './harness/agent.js';
import {
  alloc,
  containersOf,
  docker,
  jobFile,
  runcContainers,
  runJob,
  stopAndClean,
  waitRunning,
} from './fixtures/drivers-support.js';

const TICKER = 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.3; done';

const JOB = `job "adopt" {
  datacenters = ["dc1"]
  group "g" {
    task "d" {
      driver = "docker"
      config {
        image   = "${TEST_IMAGES.busybox}"
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(TICKER)}]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
    task "e" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(TICKER)}]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
`;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('an agent SIGKILLed while docker and exec tasks run', () => {
  const agent = new TestAgent();
  const seen = new Set<string>();
  let allocID = '';
  let containerID = '';
  let exec = { id: '', pid: 0 };

  beforeAll(async () => {
    await ensureTestImages();
    await agent.start();
  });
  afterAll(async () => {
    await stopAndClean(agent, seen);
  });

  const startedCount = async (task: string) =>
    ((await alloc(agent, allocID)).TaskStates?.[task]?.Events ?? []).filter((e) => e.Type === 'Started').length;
  const lastTick = (task: string) => {
    const m = [...agent.cli(['alloc', 'logs', allocID, task]).stdout.matchAll(/tick (\d+)/g)];
    return m.length > 0 ? Number(m.at(-1)![1]) : -1;
  };

  it('runs one container and one runc task for the allocation', async () => {
    runJob(agent, jobFile('adopt', JOB));
    const [a] = await waitRunning(agent, 'adopt');
    allocID = a!.ID;
    seen.add(allocID);
    const cs = containersOf(allocID);
    expect(cs).toHaveLength(1);
    containerID = cs[0]!;
    const rs = runcContainers(agent.dataDir);
    expect(rs).toHaveLength(1);
    expect(rs[0]?.status).toBe('running');
    exec = { id: rs[0]!.id, pid: rs[0]!.pid };
    expect(exec.id).toContain(allocID);
    expect(alive(exec.pid)).toBe(true);
    expect(await startedCount('d')).toBe(1);
    expect(await startedCount('e')).toBe(1);
  });

  it('leaves both tasks running when the agent is SIGKILLed', async () => {
    await agent.kill();
    await new Promise((r) => setTimeout(r, 1000));
    expect(docker(['inspect', '--format', '{{.State.Running}}', containerID])).toBe('true');
    expect(alive(exec.pid)).toBe(true);
  });

  it('adopts the same container and the same process after starting again, starting nothing twice', async () => {
    await agent.start();
    await waitRunning(agent, 'adopt');
    // Give the client time to recover its tasks and report; a duplicate start would show up by then.
    await new Promise((r) => setTimeout(r, 4000));
    expect(containersOf(allocID)).toEqual([containerID]);
    expect(docker(['inspect', '--format', '{{.State.Running}} {{.RestartCount}}', containerID])).toBe('true 0');
    const rs = runcContainers(agent.dataDir);
    expect(rs.map((r) => ({ id: r.id, pid: r.pid, status: r.status }))).toEqual([
      { id: exec.id, pid: exec.pid, status: 'running' },
    ]);
    const a = await alloc(agent, allocID);
    expect(a.ClientStatus).toBe('running');
    for (const task of ['d', 'e']) {
      expect(a.TaskStates![task]?.State).toBe('running');
      expect(a.TaskStates![task]?.Restarts).toBe(0);
      expect(await startedCount(task)).toBe(1);
    }
    const jobs = await agent.api<Array<{ ID: string }>>('/v1/job/adopt/allocations');
    expect(jobs.body).toHaveLength(1);
  });

  it('keeps following the adopted tasks: their logs grow and their stats are served', async () => {
    for (const task of ['d', 'e']) {
      const before = lastTick(task);
      await agent.waitFor(`${task}'s log to grow after adoption`, async () => lastTick(task) >= before + 3, 20_000);
      // What the task wrote while the agent was down is there once, and nothing was copied twice.
      const ticks = [...agent.cli(['alloc', 'logs', allocID, task]).stdout.matchAll(/tick (\d+)/g)].map((m) =>
        Number(m[1]),
      );
      expect(ticks.slice(0, 3), `${task}: ${ticks.slice(0, 20).join(' ')}`).toEqual([0, 1, 2]);
      const broken = ticks.findIndex((n, i) => i > 0 && n !== ticks[i - 1]! + 1);
      expect(broken, `${task}: ${ticks.slice(Math.max(0, broken - 3), broken + 3).join(' ')}`).toBe(-1);
    }
    const stats = await agent.waitFor('stats for both adopted tasks', async () => {
      const r = await agent.api<{ Tasks: Record<string, { ResourceUsage: { MemoryStats: { Usage: number } } }> }>(
        `/v1/client/allocation/${allocID}/stats`,
      );
      return r.status === 200 && r.body.Tasks['d'] && r.body.Tasks['e'] ? r.body : null;
    });
    expect(stats.Tasks['d']?.ResourceUsage.MemoryStats.Usage).toBeGreaterThan(0);
    expect(stats.Tasks['e']?.ResourceUsage.MemoryStats.Usage).toBeGreaterThan(0);
  });

  it('stops the adopted tasks for good with job stop', async () => {
    expect(agent.cli(['job', 'stop', 'adopt']).code).toBe(0);
    await agent.waitFor(
      'the allocation to complete',
      async () => (await alloc(agent, allocID)).ClientStatus === 'complete',
    );
    await agent.waitFor('the exec process to be gone', async () => !alive(exec.pid), 20_000);
    expect(runcContainers(agent.dataDir)).toEqual([]);
    for (const id of containersOf(allocID))
      expect(docker(['inspect', '--format', '{{.State.Running}}', id])).toBe('false');
  });
});
