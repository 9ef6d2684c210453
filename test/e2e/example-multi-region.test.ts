/**
 * examples/multi-region: runs the README's three commands as written (ports swapped for free ones): the script
 * starts two federated regions on loopback, the job file submitted to region us runs in europe on the data
 * node, and the same job as JSON posted with curl is accepted too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT, killProcessesUnder } from './harness/agent.js';

const dataDir = mkdtempSync(join(tmpdir(), 'drover-rg-example-'));

function readmeLines(): string[] {
  const readme = readFileSync(join(ROOT, 'examples', 'multi-region', 'README.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Two consecutive free loopback ports (a server's and its client's). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => res(port));
      });
    });
    if (p >= 65535) continue;
    const next = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(p + 1, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (next) return p;
  }
  throw new Error('no free port pair on 127.0.0.1');
}

async function getJSON<T>(url: string): Promise<T | undefined> {
  try {
    const r = await fetch(url);
    return r.ok ? ((await r.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

interface Alloc {
  ID: string;
  ClientStatus: string;
  NodeName: string;
}

describe('examples/multi-region', () => {
  let script: ChildProcess | undefined;
  let us = 0;
  let eu = 0;
  const lines = readmeLines();
  const withPorts = (l: string) => l.replaceAll('4646', String(us)).replaceAll('4656', String(eu));
  const run = (l: string) =>
    spawnSync('sh', ['-c', withPorts(l)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: process.env });
  const europeAllocs = async () =>
    (await getJSON<Alloc[]>(`http://127.0.0.1:${eu}/v1/job/redis/allocations`)) ?? ([] as Alloc[]);

  beforeAll(async () => {
    us = await freePortPair();
    eu = await freePortPair();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/&$/);
    script = spawn('sh', ['-c', lines[0]!.replace(/&$/, '')], {
      cwd: ROOT,
      env: { ...process.env, US_PORT: String(us), EU_PORT: String(eu), DATA_DIR: dataDir },
      stdio: 'ignore',
      detached: true,
    });
    await vi.waitFor(
      async () => {
        expect(await getJSON<string[]>(`http://127.0.0.1:${us}/v1/regions`)).toEqual(['europe', 'us']);
        const nodes = (await getJSON<Array<{ Status: string }>>(`http://127.0.0.1:${eu}/v1/nodes`)) ?? [];
        expect(nodes.filter((n) => n.Status === 'ready')).toHaveLength(1);
      },
      { timeout: 90_000, interval: 500 },
    );
  }, 150_000);

  afterAll(async () => {
    await fetch(`http://127.0.0.1:${eu}/v1/job/redis?purge=true`, { method: 'DELETE' }).catch(() => undefined);
    if (script?.pid) {
      try {
        process.kill(-script.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      await new Promise((r) => (script!.exitCode !== null ? r(undefined) : script!.once('exit', r)));
    }
    killProcessesUnder(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the job file submitted to region us in europe, on the data node in france', async () => {
    const r = run(lines[1]!);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    await expect
      .poll(async () => (await europeAllocs()).filter((a) => a.ClientStatus === 'running').map((a) => a.NodeName), {
        timeout: 60_000,
      })
      .toEqual(['eu-data']);
    expect((await fetch(`http://127.0.0.1:${us}/v1/job/redis`)).status).toBe(404);
    const st = spawnSync(
      'bin/drover',
      ['-address', `http://127.0.0.1:${us}`, '-region', 'europe', 'job', 'status', 'redis'],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/running/);
  });

  it('accepts the same job as JSON posted with curl to region us', async () => {
    const before = new Set((await europeAllocs()).map((a) => a.ID));
    expect(before.size).toBeGreaterThan(0);
    const del = await fetch(`http://127.0.0.1:${eu}/v1/job/redis?purge=true`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const r = run(lines[2]!);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ EvalID: expect.any(String) });
    // A new allocation, not the purged job's one still stopping.
    const fresh = async () =>
      (await europeAllocs()).filter((a) => a.ClientStatus === 'running' && !before.has(a.ID)).map((a) => a.NodeName);
    await expect
      .poll(fresh, {
        timeout: 60_000,
      })
      .toEqual(['eu-data']);
  });
});
