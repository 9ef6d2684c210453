/**
 * Fault tests of issue #13 against real agent processes: a SIGKILL during a register burst loses no
 * acknowledged write; a zero-length database and a WAL damaged in the middle make the agent refuse to start
 * with a message saying what is wrong, and `-recover` starts it anyway; a full disk fails writes (and health)
 * until space returns, then writes resume by themselves.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
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
    await expect(agent.start()).rejects.toThrow(/state\.db is empty but the agent had acknowledged writes up to index \d+.*-recover/s);
  }, 60_000);
});

/** Root can mount a small tmpfs to fill; elsewhere the disk-full test is skipped with this reason. */
const canMount = process.getuid?.() === 0;

describe('a full disk', () => {
  it.skipIf(!canMount)('fails writes and health while the disk is full, and resumes writing within 5 s once space returns', async () => {
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
      await agent.waitFor('a write to succeed', async () => (await fetch(`${agent.address}/v1/jobs`, { method: 'PUT', body: job('after-free') })).status === 200, 5_000, 100);
      expect(Date.now() - freed).toBeLessThan(5_000);
      expect((await agent.api('/v1/agent/health')).status).toBe(200);
      expect((await agent.api('/v1/job/after-free')).status).toBe(200);
    } finally {
      await agent.stopAgent();
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  }, 120_000);
});
