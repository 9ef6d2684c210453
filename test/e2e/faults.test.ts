/**
 * Fault tests of issue #13 against real agent processes: a SIGKILL during a register burst loses no
 * acknowledged write; a zero-length database and a WAL damaged in the middle make the agent refuse to start
 * with a message saying what is wrong, and `-recover` starts it anyway; a full disk fails writes (and health)
 * until space returns, then writes resume by themselves; a hung dockerd (a fake socket that never answers)
 * leaves the client responsive, docker marked unhealthy and raw_exec jobs running.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

function job(id: string): string {
  return JSON.stringify({
    Job: {
      ID: id,
      Name: id,
      Type: 'batch',
      Datacenters: ['dc1'],
      TaskGroups: [{ Name: 'g', Count: 0, Tasks: [{ Name: 't', Driver: 'mock_driver', Config: { run_for: '1s' } }] }],
    },
  });
}

const agents: TestAgent[] = [];
afterAll(async () => {
  for (const a of agents.reverse()) await a.stop().catch(() => undefined);
});

/** Registers jobs 8 at a time until `signal` aborts or `max` were sent; returns the IDs acknowledged with 200. */
async function burst(agent: TestAgent, prefix: string, max: number, signal: AbortSignal): Promise<string[]> {
  const acked: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < max && !signal.aborted) {
      const id = `${prefix}-${next++}`;
      try {
        const res = await fetch(`${agent.address}/v1/jobs`, { method: 'PUT', body: job(id), signal });
        if (res.status === 200) acked.push(id);
        await res.arrayBuffer();
      } catch {
        return; // the agent was killed mid-request: not acknowledged
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return acked;
}

async function jobIDs(agent: TestAgent): Promise<Set<string>> {
  const r = await agent.api<Array<{ ID: string }>>('/v1/jobs');
  return new Set(r.body.map((j) => j.ID));
}

describe('agent faults', () => {
  const agent = new TestAgent();
  agents.push(agent);

  it('keeps every acknowledged register across a SIGKILL in the middle of a burst', async () => {
    await agent.start();
    const ac = new AbortController();
    const running = burst(agent, 'burst', 2_000, ac.signal);
    await agent.waitFor('100 registers', async () => (await jobIDs(agent)).size >= 100, 60_000, 50);
    await agent.kill();
    ac.abort();
    const acked = await running;
    expect(acked.length).toBeGreaterThanOrEqual(100);
    await agent.start();
    const have = await jobIDs(agent);
    expect(acked.filter((id) => !have.has(id))).toEqual([]);
  }, 180_000);

  it('refuses to start on a WAL damaged in the middle, saying so, and starts with -recover', async () => {
    const ac = new AbortController();
    await burst(agent, 'wal', 60, ac.signal);
    await agent.kill();
    const wal = join(agent.dataDir, 'server', 'state.db-wal');
    const buf = readFileSync(wal);
    expect(buf.length).toBeGreaterThan(64 * 1024);
    buf.fill(0x5a, Math.floor(buf.length / 2), Math.floor(buf.length / 2) + 4096);
    writeFileSync(wal, buf);
    await expect(agent.start()).rejects.toThrow(/state\.db-wal is damaged.*refusing to start/s);

    const recovering = new TestAgent({ dataDir: agent.dataDir, args: ['-recover'] });
    await recovering.start();
    expect(recovering.output).toContain('state damage accepted by -recover');
    const res = await fetch(`${recovering.address}/v1/jobs`, { method: 'PUT', body: job('after-recover') });
    expect(res.status).toBe(200);
    await recovering.stopAgent();
  }, 180_000);

  it('refuses to start on a zero-length state.db when data existed, naming the file', async () => {
    truncateSync(join(agent.dataDir, 'server', 'state.db'), 0);
    rmSync(join(agent.dataDir, 'server', 'state.db-wal'), { force: true });
    rmSync(join(agent.dataDir, 'server', 'state.db-shm'), { force: true });
    await expect(agent.start()).rejects.toThrow(
      /state\.db is empty but the agent had acknowledged writes up to index \d+.*-recover/s,
    );
  }, 60_000);
});

/** Root can mount a small tmpfs to fill; elsewhere the disk-full test is skipped with this reason. */
const canMount = process.getuid?.() === 0;

describe('a full disk', () => {
  it.skipIf(!canMount)(
    'fails writes and health while the disk is full, and resumes writing within 5 s once space returns',
    async () => {
      const mnt = mkdtempSync(join(tmpdir(), 'drover-harden-diskfull-'));
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]).status).toBe(0);
      const dataDir = join(mnt, 'data');
      mkdirSync(dataDir);
      const agent = new TestAgent({ dataDir });
      try {
        await agent.start();
        expect((await fetch(`${agent.address}/v1/jobs`, { method: 'PUT', body: job('before-full') })).status).toBe(200);
        // Fill what is left (dd stops at ENOSPC).
        spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'fill')}`, 'bs=64k']);
        let failed: Response | undefined;
        for (let i = 0; i < 50 && failed === undefined; i++) {
          const r = await fetch(`${agent.address}/v1/jobs`, { method: 'PUT', body: job(`full-${i}`) });
          if (r.status >= 500) failed = r;
          else await r.arrayBuffer();
        }
        expect(failed?.status).toBe(500);
        expect(await failed!.text()).toMatch(/disk is full|disk I\/O error/);
        const sick = await agent.api<{ server: { ok: boolean; message: string } }>('/v1/agent/health');
        expect(sick.status).toBe(500);
        expect(sick.body.server.ok).toBe(false);
        // Reads keep working meanwhile.
        expect((await agent.api('/v1/job/before-full')).status).toBe(200);

        rmSync(join(mnt, 'fill'));
        const freed = Date.now();
        await agent.waitFor(
          'a write to succeed',
          async () =>
            (await fetch(`${agent.address}/v1/jobs`, { method: 'PUT', body: job('after-free') })).status === 200,
          5_000,
          100,
        );
        expect(Date.now() - freed).toBeLessThan(5_000);
        expect((await agent.api('/v1/agent/health')).status).toBe(200);
        expect((await agent.api('/v1/job/after-free')).status).toBe(200);
      } finally {
        await agent.stopAgent();
        spawnSync('umount', [mnt]);
        rmSync(mnt, { recursive: true, force: true });
      }
    },
    120_000,
  );
});

describe('a hung dockerd', () => {
  it('leaves the client responsive: docker is marked unhealthy, raw_exec jobs still run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-harden-hungdocker-'));
    const sock = join(dir, 'docker.sock');
    // Accepts every connection and never answers, as a wedged engine does. Never the real dockerd.
    const held = new Set<Socket>();
    const fake = createNetServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => fake.listen(sock, r));
    const cfg = join(dir, 'agent.hcl');
    writeFileSync(cfg, `plugin "docker" {\n  config {\n    endpoint = "unix://${sock}"\n  }\n}\n`);
    const agent = new TestAgent({ args: ['-config', cfg] });
    try {
      await agent.start();
      type NodeStub = { ID: string };
      type NodeFull = { Drivers: Record<string, { Healthy: boolean; Detected: boolean; HealthDescription: string }> };
      const nodeID = await agent.waitFor(
        'the node',
        async () => (await agent.api<NodeStub[]>('/v1/nodes')).body[0]?.ID,
      );
      const docker = await agent.waitFor(
        'docker to be marked unhealthy',
        async () => {
          const d = (await agent.api<NodeFull>(`/v1/node/${nodeID}`)).body.Drivers['docker'];
          return d && d.Healthy === false && d.Detected ? d : undefined;
        },
        60_000,
      );
      expect(docker.HealthDescription).toMatch(/unreachable|timed out/i);

      const started = Date.now();
      expect((await agent.api('/v1/agent/health')).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);

      const jobFile = join(dir, 'raw.nomad.hcl');
      writeFileSync(
        jobFile,
        'job "raw" {\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config {\n        command = "/bin/sleep"\n        args = ["30"]\n      }\n    }\n  }\n}\n',
      );
      const run = agent.cli(['job', 'run', '-detach', jobFile]);
      expect(run.code, run.stderr).toBe(0);
      type Stub = { ClientStatus: string };
      await agent.waitFor('the raw_exec allocation to run', async () =>
        (await agent.api<Stub[]>('/v1/job/raw/allocations')).body.some((a) => a.ClientStatus === 'running'),
      );
    } finally {
      await agent.stop();
      for (const s of held) s.destroy();
      await new Promise((r) => fake.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
