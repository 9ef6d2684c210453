/**
 * The exec driver end to end, through a dev agent: the task sees only its own processes and its
 * chroot (busybox-style commands come from the host's /bin through chroot_env), reports real memory in
 * `alloc status -stats`, and past its memory limit is OOM-killed with the task event saying so, then restarted
 * per its restart policy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestAgent } from './harness/agent.js';
import {
  alloc,
  eventTypes,
  jobFile,
  runJob,
  singleTaskJob,
  stopAndClean,
  waitRunning,
} from './fixtures/drivers-support.js';

describe('exec tasks on a dev agent', () => {
  const agent = new TestAgent();
  const seen = new Set<string>();
  const secret = randomBytes(8).toString('hex');
  const rootMarker = `/root/drover-e2e-marker-${secret}`;
  let dataMarker = '';

  beforeAll(async () => {
    await agent.start();
    dataMarker = join(agent.dataDir, `marker-${secret}`);
    writeFileSync(rootMarker, `root-secret-${secret}\n`);
    writeFileSync(dataMarker, `data-secret-${secret}\n`);
  });
  afterAll(async () => {
    rmSync(rootMarker, { force: true });
    await stopAndClean(agent, seen);
  });

  const logs = (allocID: string, stderr = false) =>
    agent.cli(['alloc', 'logs', ...(stderr ? ['-stderr'] : []), allocID, 't']).stdout;

  it('runs the task in its own pid namespace and chroot: ps shows its processes only, host files are out of reach', async () => {
    const script = [
      'echo "== ps"; ps -e -o pid,comm',
      `echo "== root marker"; cat ${rootMarker} 2>&1 || echo "root marker: unreadable"`,
      `echo "== data marker"; cat ${dataMarker} 2>&1 || echo "data marker: unreadable"`,
      'echo "== root dir"; ls /',
      'echo "== done"; exec sleep 3600',
    ].join('; ');
    const file = jobFile(
      'iso',
      singleTaskJob({
        job: 'iso',
        driver: 'exec',
        config: `        command = "/bin/sh"\n        args    = ["-c", ${JSON.stringify(script)}]`,
      }),
    );
    runJob(agent, file);
    const [a] = await waitRunning(agent, 'iso');
    seen.add(a!.ID);
    const out = await agent.waitFor('the task to finish its checks', async () => {
      const o = logs(a!.ID);
      return o.includes('== done') ? o : null;
    });
    const ps = out
      .slice(out.indexOf('== ps'), out.indexOf('== root marker'))
      .split('\n')
      .slice(2)
      .filter((l) => l.trim());
    const commands = ps.map((l) => l.trim().split(/\s+/)[1]);
    // tini as PID 1, the shell, and ps itself: nothing of the host (no node, dockerd, drover, systemd).
    expect(commands.sort(), out).toEqual(['ps', 'sh', 'tini-static'].sort());
    expect(ps.find((l) => l.trim().startsWith('1 '))).toMatch(/tini/);
    expect(out).not.toContain(`root-secret-${secret}`);
    expect(out).toContain('root marker: unreadable');
    expect(out).not.toContain(`data-secret-${secret}`);
    expect(out).toContain('data marker: unreadable');
    // The chroot has the task dirs and the host's system dirs, and nothing like the host's /root or data dir.
    const rootDir = out.slice(out.indexOf('== root dir') + '== root dir'.length, out.indexOf('== done'));
    expect(rootDir).toMatch(/\blocal\b/);
    expect(rootDir).toMatch(/\bsecrets\b/);
    expect(rootDir).not.toMatch(/\broot\b/);
  });

  it('shows real, non-zero memory for an exec task in alloc status -stats', async () => {
    const [a] = await waitRunning(agent, 'iso');
    const out = await agent.waitFor('stats with memory', async () => {
      const r = agent.cli(['alloc', 'status', '-stats', a!.ID]);
      return r.code === 0 && /Memory Stats/.test(r.stdout) ? r.stdout : null;
    });
    const used = /MHz\s+([\d.]+) (B|KiB|MiB|GiB)\/64 MiB/.exec(out);
    expect(used, out).not.toBeNull();
    expect(Number(used![1])).toBeGreaterThan(0);
    const stats = await agent.api<{
      Tasks: Record<string, { ResourceUsage: { MemoryStats: { RSS: number; Usage: number } } }>;
    }>(`/v1/client/allocation/${a!.ID}/stats`);
    expect(stats.body.Tasks['t']?.ResourceUsage.MemoryStats.Usage).toBeGreaterThan(0);
    expect(stats.body.Tasks['t']?.ResourceUsage.MemoryStats.RSS).toBeGreaterThan(0);
    const stop = agent.cli(['job', 'stop', '-purge', 'iso']);
    expect(stop.code, stop.stderr).toBe(0);
  });

  it('OOM-kills a task past its memory limit, says so in its events, and restarts it per its policy', async () => {
    // dd's 64 MiB buffer is touched as it reads /dev/zero: far past the 16 MB limit.
    const file = jobFile(
      'exec-oom',
      singleTaskJob({
        job: 'exec-oom',
        driver: 'exec',
        memory: 16,
        attempts: 1,
        config: '        command = "/bin/dd"\n        args    = ["if=/dev/zero", "of=/dev/null", "bs=64M", "count=4"]',
      }),
    );
    runJob(agent, file);
    const state = await agent.waitFor(
      'the task to be OOM-killed, restarted once, and given up on',
      async () => {
        const [a] = (await agent.api<Array<{ ID: string }>>('/v1/job/exec-oom/allocations')).body;
        if (!a) return null;
        seen.add(a.ID);
        const t = (await alloc(agent, a.ID)).TaskStates?.['t'];
        return t?.State === 'dead' ? { id: a.ID, t } : null;
      },
      60_000,
    );
    const types = eventTypes(state.t);
    // Every run ended in an OOM kill reported once: one "OOM Killed" per "Terminated" (events keep the last 10).
    const ooms = types.filter((x) => x === 'OOM Killed').length;
    expect(ooms, types.join(', ')).toBeGreaterThanOrEqual(1);
    expect(ooms, types.join(', ')).toBe(types.filter((x) => x === 'Terminated').length);
    expect(types).toContain('Restarting');
    expect(types.at(-1)).toBe('Not Restarting');
    expect(state.t.Restarts).toBe(1);
    expect(state.t.Failed).toBe(true);
    const terminated = state.t.Events.filter((e) => e.Type === 'Terminated');
    expect(terminated.at(-1)!.DisplayMessage).toMatch(/OOM Killed/);
    const status = agent.cli(['alloc', 'status', state.id]);
    expect(status.stdout).toMatch(/OOM Killed/);
  });
});
