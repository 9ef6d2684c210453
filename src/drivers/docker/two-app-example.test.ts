/**
 * The seeds' two apps (examples/homework-app) in their locally built images, run as the job file runs them:
 * docker driver, host networking, the auth app's address passed in through AUTH_URL. Ports are free high
 * ports here, not the job's static 5000/5001, so this test never collides with an agent running the job.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { conformanceTask } from '../testing/index.js';
import type { TaskConfig } from '../types.js';
import { DockerDriver } from './index.js';
import { TEST_IMAGES, dockerUnavailable } from './test-support.js';
import { REPO_ROOT } from '../../../test/images/index.js';
import { freePort } from '../../lib/net.js';

const root = mkdtempSync(join(tmpdir(), 'drover-homework-'));
const driver = new DockerDriver();
const tasks: TaskConfig[] = [];
let jobsURL = '';
let unavailable: string | undefined;

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function call(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(
      url,
      { method: 'POST', agent, timeout: 5000, headers: token === undefined ? {} : { authorization: token } },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end();
  });
}

async function start(name: string, image: string, env: Record<string, string>): Promise<TaskConfig> {
  const t = conformanceTask(root, name, env);
  delete t.env.PATH;
  t.config = { image, network_mode: 'host' };
  t.resources.memoryMB = 128;
  tasks.push(t);
  await driver.startTask(t);
  return t;
}

async function waitHealthy(url: string): Promise<void> {
  // Called from beforeAll, where expect.poll is not allowed.
  await vi.waitFor(
    async () => {
      if ((await call(url)).status !== 200) throw new Error(`${url} did not become healthy`);
    },
    { timeout: 15_000, interval: 100 },
  );
}

describe('the example two-app job (jobs app and auth app with SQLite) in docker', () => {
  beforeAll(async () => {
    unavailable = await dockerUnavailable();
    if (unavailable) return;
    const authPort = await freePort();
    const jobsPort = await freePort();
    await start('app_b', TEST_IMAGES.authApp, {
      PORT: String(authPort),
      HOST: '127.0.0.1',
      AUTH_TOKENS: 'mytoken,other',
    });
    await start('app_a', TEST_IMAGES.jobsApp, {
      PORT: String(jobsPort),
      HOST: '127.0.0.1',
      AUTH_URL: `http://127.0.0.1:${authPort}/auth`,
    });
    jobsURL = `http://127.0.0.1:${jobsPort}/jobs`;
    await waitHealthy(`http://127.0.0.1:${authPort}/health`);
    await waitHealthy(`http://127.0.0.1:${jobsPort}/health`);
  }, 120_000);

  afterAll(async () => {
    for (const t of tasks) await driver.destroyTask(t.id, true).catch(() => {});
    await driver.shutdown();
    agent.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  const requireDocker = (ctx: { skip: (why: string) => void }) => {
    if (unavailable === undefined) return;
    if (process.env.CI === 'true') expect.fail(`docker unavailable under CI=true: ${unavailable}`);
    ctx.skip(unavailable);
  };

  it('answers the job list for a token the auth app keeps', async (ctx) => {
    requireDocker(ctx);
    const r = await call(jobsURL, 'mytoken');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ jobs: [{ title: 'Devops', description: 'Awesome' }] });
  });

  it('answers 401, not 500, for a bad or a missing token', async (ctx) => {
    requireDocker(ctx);
    expect((await call(jobsURL, 'not-a-token')).status).toBe(401);
    expect((await call(jobsURL)).status).toBe(401);
    expect((await call(jobsURL, '')).status).toBe(401);
  });

  it('keeps its tokens in an SQLite database inside the auth container', async (ctx) => {
    requireDocker(ctx);
    const auth = tasks.find((t) => t.name === 'app_b')!;
    const query = [
      "const D = require('/app/node_modules/better-sqlite3');",
      "const db = new D('/tmp/auth/auth.db', { readonly: true, nativeBinding: '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node' });",
      "console.log(db.prepare('SELECT token FROM tokens ORDER BY token').all().map((r) => r.token).join(','));",
    ].join(' ');
    const r = await driver.execTask(auth.id, ['node', '-e', query], 15_000);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'mytoken,other\n' });
    expect((await call(jobsURL, 'other')).status).toBe(200);
  });

  it('answers 500 requests, 4 at a time, with no errors', async (ctx) => {
    requireDocker(ctx);
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (next < 500) {
        next++;
        const r = await call(jobsURL, 'mytoken').catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(failures).toEqual([]);
  }, 60_000);

  it('has a job file with two docker groups on static ports 5000 and 5001 using these images', () => {
    const hcl = readFileSync(join(REPO_ROOT, 'examples/homework-app/homework-app.nomad.hcl'), 'utf8');
    expect(hcl.match(/driver\s*=\s*"docker"/g)).toHaveLength(2);
    expect(hcl.match(/^\s*group "/gm)).toHaveLength(2);
    expect(hcl).toMatch(/static\s*=\s*5000/);
    expect(hcl).toMatch(/static\s*=\s*5001/);
    expect(hcl).toContain(TEST_IMAGES.jobsApp);
    expect(hcl).toContain(TEST_IMAGES.authApp);
  });
});
