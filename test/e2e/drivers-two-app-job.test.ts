/**
 * The example two-app job: examples/homework-app/homework-app.nomad.hcl, unchanged, run
 * with `drover job run` on a dev agent, both apps in locally built images on the docker driver with the job's
 * static ports 5000 and 5001.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { ensureTestImages } from '../images/index.js';
import { ROOT, TestAgent } from './harness/agent.js';
import {
  alloc,
  allocsOf,
  containersOf,
  docker,
  portFree,
  runJob,
  stopAndClean,
  waitRunning,
  type AllocStub,
} from './fixtures/drivers-support.js';

const JOB_FILE = join(ROOT, 'examples', 'homework-app', 'homework-app.nomad.hcl');
const JOBS_URL = 'http://127.0.0.1:5000/jobs';

const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

function call(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = token === undefined ? {} : { authorization: token };
    const r = request(url, { method: 'POST', agent: keepAlive, timeout: 5000, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`${url} timed out`)));
    r.on('error', reject);
    r.end();
  });
}

describe('the example two-app job (jobs app and auth app) on a dev agent', () => {
  const agent = new TestAgent();
  const seen = new Set<string>();
  let allocs: AllocStub[] = [];

  beforeAll(async () => {
    const busy = [];
    for (const p of [5000, 5001]) if (!(await portFree(p))) busy.push(p);
    if (busy.length > 0)
      throw new Error(
        `port(s) ${busy.join(', ')} on 127.0.0.1 are in use; the homework job needs them free (static ports)`,
      );
    await ensureTestImages();
    await agent.start();
  });
  afterAll(async () => {
    keepAlive.destroy();
    await stopAndClean(agent, seen);
  });

  it('runs both groups from the unchanged job file with drover job run', async () => {
    const out = runJob(agent, JOB_FILE, { monitor: true });
    expect(out).toMatch(/finished with status "complete"/);
    allocs = await waitRunning(agent, 'homework_app', 2);
    for (const a of allocs) seen.add(a.ID);
    expect(allocs.map((a) => a.TaskGroup).sort()).toEqual(['app_a', 'app_b']);
    for (const a of allocs) expect(containersOf(a.ID)).toHaveLength(1);
    const status = agent.cli(['job', 'status', 'homework_app']);
    expect(status.stdout).toMatch(/app_a\s+0\s+0\s+1\s+0\s+0\s+0/);
    expect(status.stdout).toMatch(/app_b\s+0\s+0\s+1\s+0\s+0\s+0/);
  });

  it('answers the job list for a good token, and 401 for a bad or missing one, on 127.0.0.1:5000', async () => {
    const good = await agent.waitFor('the jobs app to answer', async () => {
      const r = await call(JOBS_URL, 'mytoken');
      return r.status === 200 ? r : null;
    });
    expect(JSON.parse(good.body)).toEqual({ jobs: [{ title: 'Devops', description: 'Awesome' }] });
    expect((await call(JOBS_URL, 'not-a-token')).status).toBe(401);
    expect((await call(JOBS_URL)).status).toBe(401);
  });

  it('serves the auth app itself on 127.0.0.1:5001, with its tokens in SQLite', async () => {
    expect((await call('http://127.0.0.1:5001/auth', 'mytoken')).status).toBe(200);
    expect((await call('http://127.0.0.1:5001/auth', 'nope')).status).toBe(401);
  });

  it('answers 500 requests, 4 at a time, without a single error', async () => {
    let next = 0;
    const failures: string[] = [];
    const deadline = Date.now() + 60_000;
    const worker = async () => {
      while (next < 500 && Date.now() < deadline) {
        const i = next++;
        try {
          const r = await call(JOBS_URL, 'mytoken');
          if (r.status !== 200) failures.push(`#${i}: ${r.status} ${r.body}`);
        } catch (e) {
          failures.push(`#${i}: ${String(e)}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(next).toBe(500);
    expect(failures).toEqual([]);
  });

  it('shows real, non-zero memory for a docker task in alloc status -stats', async () => {
    const a = allocs.find((x) => x.TaskGroup === 'app_a')!;
    const out = await agent.waitFor('stats with memory', async () => {
      const r = agent.cli(['alloc', 'status', '-stats', a.ID]);
      return r.code === 0 && /Memory Stats/.test(r.stdout) ? r.stdout : null;
    });
    const used = /MHz\s+([\d.]+) (B|KiB|MiB|GiB)\/128 MiB/.exec(out);
    expect(used, out).not.toBeNull();
    expect(Number(used![1])).toBeGreaterThan(0);
    expect(used![2]).not.toBe('B');
    const stats = await agent.api<{
      ResourceUsage: { MemoryStats: { RSS: number; Usage: number } };
      Tasks: Record<string, { ResourceUsage: { MemoryStats: { RSS: number } } }>;
    }>(`/v1/client/allocation/${a.ID}/stats`);
    expect(stats.status).toBe(200);
    expect(stats.body.Tasks['app_a']?.ResourceUsage.MemoryStats.RSS).toBeGreaterThan(1024 * 1024);
    expect(stats.body.ResourceUsage.MemoryStats.Usage).toBeGreaterThan(0);
  });

  it("gives each container the job's memory as its hard limit", async () => {
    for (const a of allocs) {
      const [id] = containersOf(a.ID);
      expect(Number(docker(['inspect', '--format', '{{.HostConfig.Memory}}', id!]))).toBe(128 * 1024 * 1024);
      expect(docker(['inspect', '--format', '{{.HostConfig.NetworkMode}}', id!])).toBe('host');
    }
  });

  it('stops both containers with job stop', async () => {
    const stop = agent.cli(['job', 'stop', 'homework_app']);
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    await agent.waitFor('both allocations to stop', async () => {
      const as = await allocsOf(agent, 'homework_app');
      return as.every((x) => x.ClientStatus === 'complete') ? as : null;
    });
    for (const a of allocs) {
      expect((await alloc(agent, a.ID)).TaskStates!).toBeTruthy();
      const ids = containersOf(a.ID);
      for (const id of ids) expect(docker(['inspect', '--format', '{{.State.Running}}', id])).toBe('false');
    }
    expect(await portFree(5000)).toBe(true);
  });
});
