import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { conformanceTask } from '../testing/index.js';
import type { TaskConfig } from '../types.js';
import { CONTAINER_LABELS, DockerClient, DockerDriver } from './index.js';
import { TEST_IMAGES, dockerUnavailable } from './test-support.js';
import { freePort } from '../../lib/net.js';

const root = mkdtempSync(join(tmpdir(), 'drover-docker-accept-'));
const docker = new DockerClient();
const events: Array<{ taskID: string; type: string; message: string }> = [];
const drivers: DockerDriver[] = [];
const started: string[] = [];

function newDriver(): DockerDriver {
  const d = new DockerDriver({ onEvent: (taskID, type, message) => events.push({ taskID, type, message }) });
  drivers.push(d);
  return d;
}

function task(name: string, script: string, memoryMB = 64): TaskConfig {
  const t = conformanceTask(root, name, { PATH: '/bin' });
  t.config = { image: TEST_IMAGES.busybox, command: '/bin/sh', args: ['-c', script] };
  t.resources.memoryMB = memoryMB;
  started.push(t.id);
  return t;
}

const out = (t: TaskConfig) => (existsSync(t.stdoutPath) ? readFileSync(t.stdoutPath, 'utf8') : '');

async function requireDocker(ctx: { skip: (why: string) => void }): Promise<void> {
  const why = await dockerUnavailable();
  if (why === undefined) return;
  if (process.env.CI === 'true') expect.fail(`docker unavailable under CI=true: ${why}`);
  ctx.skip(why);
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end();
  });
}

describe('docker driver against the real Docker Engine', () => {
  afterAll(async () => {
    const d = drivers[drivers.length - 1];
    for (const id of started) await d?.destroyTask(id, true).catch(() => {});
    for (const x of drivers) await x.shutdown();
    rmSync(root, { recursive: true, force: true });
  });

  it('fingerprints the engine as healthy with its version', async (ctx) => {
    await requireDocker(ctx);
    const fp = await newDriver().fingerprint();
    expect(fp.health).toBe('healthy');
    expect(fp.attributes['driver.docker']).toBe('1');
    expect(fp.attributes['driver.docker.version']).toMatch(/^\d+\.\d+/);
  });

  it('reports docker as undetected when no engine answers on the socket', async () => {
    const fp = await new DockerDriver({ socketPath: join(root, 'no-such.sock') }).fingerprint();
    expect(fp.health).toBe('undetected');
    expect(fp.attributes).toEqual({});
  });

  it('enforces the memory limit: docker inspect shows it, and a task exceeding it is OOM-killed', async (ctx) => {
    await requireDocker(ctx);
    const d = newDriver();
    // dockerd itself sometimes misses the kernel's OOM event of a container that exits at once (its State.OOMKilled
    // stays false; seen once in CI under load), so a run it misreports is tried again, at most three times: the
    // driver must report the kill from what dockerd says, and the task must never survive its limit.
    let reported = false;
    for (let attempt = 0; attempt < 3 && !reported; attempt++) {
      const t = task(`oom${attempt}`, 'sleep 1; x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived', 32);
      const { handle } = await d.startTask(t);
      const info = await docker.json<{ HostConfig: { Memory: number; MemorySwap: number } }>({
        path: `/containers/${String(handle.driverState.containerID)}/json`,
      });
      expect(info.HostConfig.Memory).toBe(32 * 1024 * 1024);
      const r = await d.waitTask(t.id);
      expect(out(t)).not.toContain('survived');
      reported = r.oomKilled;
      if (reported) expect(events).toContainEqual({ taskID: t.id, type: 'OOM Killed', message: 'OOM Killed' });
    }
    expect(reported).toBe(true);
  });

  it('reports non-zero memory usage in its stats', async (ctx) => {
    await requireDocker(ctx);
    const d = newDriver();
    const t = task('stats', 'head -c 8000000 /dev/zero > /dev/shm/fill; sleep 60');
    await d.startTask(t);
    await vi.waitFor(async () => expect((await d.taskStats(t.id)).memory.usage).toBeGreaterThan(4_000_000), {
      timeout: 8000,
    });
    await d.destroyTask(t.id, true);
  });

  it('keeps the same container after a new driver instance recovers it, without a duplicate start or log line', async (ctx) => {
    await requireDocker(ctx);
    const first = newDriver();
    const t = task('recover', 'echo started; sleep 1.5; echo while-down; trap "exit 0" TERM; sleep 60 & wait');
    const { handle } = await first.startTask(t);
    const id = String(handle.driverState.containerID);
    await vi.waitFor(async () => expect(out(t)).toContain('started'), { timeout: 3000 });
    await first.shutdown();
    // The agent is down while the container logs another line (it does so on a timer of its own; no event
    // outside the container marks it, so this wait is fixed on purpose).
    await new Promise((r) => setTimeout(r, 2000));
    expect(out(t)).not.toContain('while-down');

    const second = newDriver();
    await second.recoverTask(JSON.parse(JSON.stringify(handle)));
    // Starting the same task again (a retried start) adopts the running container instead of duplicating it.
    await second.startTask(t);
    const filters = JSON.stringify({ label: [`${CONTAINER_LABELS.drover}=${t.id}`] });
    const list = await docker.json<Array<{ Id: string }>>({ path: '/containers/json', query: { all: 1, filters } });
    expect(list.map((c) => c.Id)).toEqual([id]);
    await vi.waitFor(async () => expect(out(t)).toContain('while-down'), { timeout: 3000 });
    expect(out(t).match(/started/g)).toHaveLength(1);
    expect(out(t).match(/while-down/g)).toHaveLength(1);
    await second.stopTask(t.id, 5000);
    expect((await second.waitTask(t.id)).exitCode).toBe(0);
  });

  it('removes an exited container it no longer tracks when its task is destroyed (alloc collected after a restart)', async (ctx) => {
    await requireDocker(ctx);
    const first = newDriver();
    const t = task('collect', 'exit 0');
    const { handle } = await first.startTask(t);
    await first.waitTask(t.id);
    await first.shutdown();
    const later = newDriver();
    await later.destroyTask(t.id, false);
    await expect(
      docker.json({ path: `/containers/${String(handle.driverState.containerID)}/json` }),
    ).rejects.toMatchObject({ statusCode: 404 });
  });

  it('publishes a group port on 127.0.0.1, mapped to the container port', async (ctx) => {
    await requireDocker(ctx);
    const d = newDriver();
    const port = await freePort();
    const t = task('http', 'mkdir -p /www && echo hello-from-httpd > /www/index.html && exec httpd -f -p 8080 -h /www');
    t.ports = [{ label: 'http', value: port, to: 8080, hostIP: '127.0.0.1' }];
    t.config.ports = ['http'];
    await d.startTask(t);
    const r = await vi.waitFor(() => get(`http://127.0.0.1:${port}/`), { timeout: 5000 });
    expect(r).toEqual({ status: 200, body: 'hello-from-httpd\n' });
    await d.stopTask(t.id, 2000);
  });

  it('fails a task whose image is missing and cannot be pulled, naming the image', async (ctx) => {
    await requireDocker(ctx);
    const d = newDriver();
    const t = task('missing', 'true');
    t.config = { image: 'drover-test/does-not-exist:1', image_pull_timeout: '5s' };
    const t0 = Date.now();
    await expect(d.startTask(t)).rejects.toThrow(
      /image drover-test\/does-not-exist:1 not found locally and could not be pulled/,
    );
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(events).toContainEqual({
      taskID: t.id,
      type: 'Driver',
      message: 'Pulling Image drover-test/does-not-exist:1',
    });
  });

  it('runs commands inside the container with execTask', async (ctx) => {
    await requireDocker(ctx);
    const d = newDriver();
    const t = task('exec', 'sleep 60');
    await d.startTask(t);
    const r = await d.execTask(t.id, ['/bin/sh', '-c', 'echo out; echo err >&2; exit 5'], 5000);
    expect(r).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 5 });
    await d.destroyTask(t.id, true);
  });
});
