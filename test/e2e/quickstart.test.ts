/**
 * The README's quick start: exactly two command lines, and the first works on a fresh clone (it installs,
 * builds and starts the dev agent on 127.0.0.1:4646). The second is the test command this suite runs under,
 * so it is checked to be the same command `.ci/run` calls.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, killProcessesUnder } from './harness/agent.js';

function quickStartLines(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Quick start$/m)[1]!;
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

describe("the README's quick start", () => {
  let agent: ChildProcess | undefined;
  const clone = mkdtempSync(join(tmpdir(), 'drover-clone-'));

  afterAll(() => {
    if (agent?.pid) {
      try {
        process.kill(-agent.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    killProcessesUnder(clone);
    rmSync(clone, { recursive: true, force: true });
  });

  it('has exactly two command lines, the second being the command CI runs', () => {
    const lines = quickStartLines();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('npm test');
    expect(readFileSync(join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/^npm test$/m);
  });

  it('starts the dev agent on 127.0.0.1:4646 from a fresh clone with the first line', async () => {
    const free = await fetch('http://127.0.0.1:4646/v1/agent/self').then(
      () => false,
      () => true,
    );
    expect(free, 'port 4646 must be free for this test').toBe(true);
    const c = spawnSync('git', ['clone', '-q', ROOT, clone], { encoding: 'utf8' });
    expect(c.status, c.stderr).toBe(0);
    const [first] = quickStartLines();
    let out = '';
    agent = spawn('bash', ['-c', first!], {
      cwd: clone,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '' },
    });
    agent.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    agent.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const until = Date.now() + 400_000;
    let self: { config?: { Datacenter: string; Region: string } } | undefined;
    while (Date.now() < until && agent.exitCode === null) {
      self = await fetch('http://127.0.0.1:4646/v1/agent/self')
        .then((r) => r.json() as Promise<typeof self>)
        .catch(() => undefined);
      if (self) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(self, `agent did not come up:\n${out.slice(-3000)}`).toBeDefined();
    expect(self!.config!.Region).toBe('global');
    expect(self!.config!.Datacenter).toBe('dc1');
    // Its own client registers as a node of the default pool, and the example job the README runs next works.
    const until2 = Date.now() + 30_000;
    let nodes: Array<{ NodePool: string; Status: string }> = [];
    while (Date.now() < until2 && !nodes.some((n) => n.Status === 'ready')) {
      nodes = await fetch('http://127.0.0.1:4646/v1/nodes').then((r) => r.json() as Promise<typeof nodes>);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(nodes.map((n) => n.NodePool)).toEqual(['default']);
    const run = spawnSync(join(clone, 'bin', 'drover'), ['job', 'run', 'examples/hello/hello.nomad.hcl'], {
      cwd: clone,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const stop = spawnSync(join(clone, 'bin', 'drover'), ['job', 'stop', '-purge', 'hello'], {
      cwd: clone,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(stop.status, stop.stdout + stop.stderr).toBe(0);
  }, 600_000);
});
