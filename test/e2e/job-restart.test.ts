/**
 * `job restart`, `alloc restart|signal|stop` against a real dev agent. Every task is a raw_exec shell that logs
 * its own lifecycle to a shared file ("start <alloc> <pid> <ns>", "stop <alloc> <ns>", "usr1 <alloc>"), so the
 * test sees the real processes come and go, not only what the API says about them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

interface TaskStateJSON {
  State: string;
  Restarts: number;
  Failed: boolean;
  Events: { Type: string; DisplayMessage: string }[];
}
interface AllocJSON {
  ID: string;
  Name: string;
  DesiredStatus: string;
  ClientStatus: string;
  TaskStates: Record<string, TaskStateJSON> | null;
}

const dir = mkdtempSync(join(tmpdir(), 'drover-job-restart-'));
const EVENTS = join(dir, 'events');

const SCRIPT = [
  `echo "start $NOMAD_ALLOC_ID $$ $(date +%s%N)" >> ${EVENTS}`,
  `trap 'echo "usr1 $NOMAD_ALLOC_ID" >> ${EVENTS}' USR1`,
  `trap 'echo "stop $NOMAD_ALLOC_ID $(date +%s%N)" >> ${EVENTS}; exit 0' TERM`,
  'while true; do sleep 0.1; done',
].join('; ');

// One restart allowed by the policy: a user restart that counted against it would make the next crash fatal.
const JOB = `job "web" {
  datacenters = ["dc1"]
  group "g" {
    count = 5
    restart {
      attempts = 1
      interval = "10m"
      delay    = "500ms"
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      kill_timeout = "3s"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(SCRIPT)}]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

interface Line {
  kind: string;
  alloc: string;
  pid?: number;
  ns?: bigint;
}
const lines = (): Line[] =>
  readFileSync(EVENTS, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [kind, alloc, a, b] = l.split(' ');
      if (kind === 'start') return { kind, alloc: alloc!, pid: Number(a), ns: BigInt(b!) };
      if (kind === 'stop') return { kind, alloc: alloc!, ns: BigInt(a!) };
      return { kind: kind!, alloc: alloc! };
    });

/** The most allocations that were down (stopped, not yet started again) at the same moment. */
function maxConcurrentlyDown(ls: Line[]): number {
  const points: [bigint, number][] = [];
  const downSince = new Map<string, bigint>();
  for (const l of ls) {
    if (l.kind === 'stop') downSince.set(l.alloc, l.ns!);
    if (l.kind === 'start' && downSince.has(l.alloc)) {
      points.push([downSince.get(l.alloc)!, 1], [l.ns!, -1]);
      downSince.delete(l.alloc);
    }
  }
  points.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let now = 0;
  let max = 0;
  for (const [, d] of points) max = Math.max(max, (now += d));
  return max;
}

describe('job restart and the allocation lifecycle commands', () => {
  const agent = new TestAgent();

  const allocs = async (): Promise<AllocJSON[]> => {
    const r = await agent.api<AllocJSON[]>('/v1/job/web/allocations');
    return Array.isArray(r.body) ? r.body : [];
  };
  const running = async () => (await allocs()).filter((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running');
  const full = async (id: string) => (await agent.api<AllocJSON>(`/v1/allocation/${id}`)).body;

  beforeAll(async () => {
    writeFileSync(EVENTS, '');
    await agent.start();
    writeFileSync(join(dir, 'web.nomad.hcl'), JOB);
    const r = agent.cli(['job', 'run', '-detach', join(dir, 'web.nomad.hcl')]);
    expect(r.code, r.stderr).toBe(0);
    await agent.waitFor(
      '5 running allocations',
      async () => (await running()).length === 5 && lines().filter((l) => l.kind === 'start').length === 5,
    );
  }, 90_000);
  afterAll(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts every allocation in place, at most 2 at a time, keeping IDs and the restart policy', async () => {
    const before = (await running()).map((a) => a.ID).sort();
    const r = agent.cli(['job', 'restart', '-batch-size', '2', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/==> \S+: Restarting 5 allocations\n/);
    expect(r.stdout).toMatch(/==> \S+: Restarting 1st batch of 2 allocations\n/);
    expect(r.stdout).toMatch(/==> \S+: Restarting 3rd batch of 1 allocation\n/);
    expect(r.stdout.match(/Restarting running tasks in allocation "[0-9a-f]{8}" for group "g"/g)).toHaveLength(5);
    expect(r.stdout).toMatch(/==> \S+: Finished job restart\n\nAll allocations restarted successfully!/);

    const after = await running();
    expect(after.map((a) => a.ID).sort()).toEqual(before);
    for (const a of after) {
      const t = (await full(a.ID)).TaskStates!.t!;
      expect(t.Restarts).toBe(1);
      expect(t.Events.map((e) => e.DisplayMessage)).toContain('User requested restart');
    }
    const ls = lines();
    for (const id of before) expect(ls.filter((l) => l.kind === 'start' && l.alloc === id)).toHaveLength(2);
    expect(maxConcurrentlyDown(ls)).toBeGreaterThan(0);
    expect(maxConcurrentlyDown(ls)).toBeLessThanOrEqual(2);

    // The policy's single attempt is untouched: a crash now is restarted, and the task runs again.
    const victim = before[0]!;
    const pid = ls.filter((l) => l.kind === 'start' && l.alloc === victim).at(-1)!.pid!;
    process.kill(pid, 'SIGKILL');
    const t = await agent.waitFor('the crashed task to run again', async () => {
      const s = (await full(victim)).TaskStates!.t!;
      return s.Restarts === 2 && s.State === 'running' ? s : undefined;
    });
    expect(t.Failed).toBe(false);
    expect(t.Events.map((e) => e.Type)).toContain('Restarting');
  }, 120_000);

  it('delivers a signal to a task that traps it', async () => {
    const [a] = await running();
    const r = agent.cli(['alloc', 'signal', '-s', 'SIGUSR1', a!.ID.slice(0, 8)]);
    expect(r.code, r.stderr).toBe(0);
    await agent.waitFor('the task to record SIGUSR1', async () =>
      lines().some((l) => l.kind === 'usr1' && l.alloc === a!.ID),
    );
    expect((await full(a!.ID)).TaskStates!.t!.State).toBe('running');
  }, 60_000);

  it('stops one allocation with alloc stop and the scheduler replaces it', async () => {
    const [victim] = await running();
    const r = agent.cli(['alloc', 'stop', victim!.ID]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('==> Monitoring evaluation');
    const replacement = await agent.waitFor('a running replacement', async () =>
      (await running()).find((a) => a.Name === victim!.Name && a.ID !== victim!.ID),
    );
    expect(replacement).toBeDefined();
    await agent.waitFor(
      'the stopped allocation to finish',
      async () => (await full(victim!.ID)).ClientStatus === 'complete',
    );
    expect(await running()).toHaveLength(5);
  }, 60_000);

  it('reschedules every allocation through the scheduler with -reschedule, the job staying at its count', async () => {
    const before = new Set((await running()).map((a) => a.ID));
    const r = agent.cli(['job', 'restart', '-reschedule', '-batch-size', '3', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/Rescheduling allocation "[0-9a-f]{8}" for group "g"/g)).toHaveLength(5);
    expect(r.stdout).toMatch(/Restarting 2nd batch of 2 allocations/);
    const after = await agent.waitFor('5 running allocations', async () => {
      const xs = await running();
      return xs.length === 5 ? xs : undefined;
    });
    for (const a of after) expect(before.has(a.ID)).toBe(false);
  }, 120_000);

  it('answers bad input with clear errors', async () => {
    const [a] = await running();
    const unknownAlloc = agent.cli(['alloc', 'restart', '00000000']);
    expect(unknownAlloc.code).toBe(1);
    expect(unknownAlloc.stderr).toContain('No allocation(s) with prefix or id "00000000" found');
    const api404 = await agent.api<string>('/v1/client/allocation/00000000-0000-4000-8000-000000000000/restart', {
      method: 'POST',
    });
    expect(api404.status).toBe(404);
    expect(api404.body).toContain('allocation "00000000-0000-4000-8000-000000000000" not found');

    const unknownTask = agent.cli(['alloc', 'restart', a!.ID, 'nope']);
    expect(unknownTask.code).toBe(1);
    expect(unknownTask.stderr).toContain('Could not find task named: nope');
    const api400 = await agent.api<string>(`/v1/client/allocation/${a!.ID}/restart`, {
      method: 'POST',
      body: JSON.stringify({ TaskName: 'nope' }),
    });
    expect(api400.status).toBe(400);
    expect(api400.body).toContain('task "nope" not found in allocation');

    const zero = agent.cli(['job', 'restart', '-batch-size', '0', 'web']);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain('Invalid -batch-size value "0": it must be greater than zero');
    const abc = agent.cli(['job', 'restart', '-batch-size', 'abc', 'web']);
    expect(abc.code).toBe(1);
    expect(abc.stderr).toContain('Invalid -batch-size value "abc"');
    const badSignal = agent.cli(['alloc', 'signal', '-s', 'SIGNOPE', a!.ID]);
    expect(badSignal.code).toBe(1);
    expect(badSignal.stderr).toContain('failed to parse signal: invalid signal "SIGNOPE" - valid signals are [');
  }, 60_000);
});
