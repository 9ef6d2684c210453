/**
 * examples/multi-dc: runs the README's three commands (free ports swapped in): the script starts one region
 * with datacenters europe-west1 and france, the app lands once on each "data" node of france on its static
 * port, the dashboard renders datacenters, nodes and `service "app@france"`, a third instance does not fit,
 * the rolling update keeps one instance answering at every moment, and the JSON job posted with curl runs too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DROVER, ROOT, TestAgent, killProcessesUnder } from './harness/agent.js';
import {
  freePort,
  freePortRun,
  readmeCommands,
  runLine,
  runningAllocs,
  stopScript,
} from './fixtures/examples-support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'drover-exa-multi-dc-'));
const lines = readmeCommands('multi-dc');

/** GET with a short deadline: the body of a 200, else undefined. */
async function page(url: string): Promise<string | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}

describe('examples/multi-dc', () => {
  let script: ChildProcess | undefined;
  let port = 0;
  /** The app's and the dashboard's static port (on 127.0.0.2/.3 and on 127.0.0.1). */
  let appPort = 0;
  /** The server, through TestAgent's API and CLI helpers (not started by it: the script runs it). */
  const server = new TestAgent({ dataDir: join(dataDir, 'unused') });
  const env = () => ({ NOMAD_VAR_port: String(appPort) });
  const withPort = (l: string) => l.replaceAll('4646', String(port));
  const app = (ip: string) => page(`http://${ip}:${appPort}/`);

  beforeAll(async () => {
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/&$/);
    port = await freePortRun(4);
    appPort = await freePort();
    server.address = `http://127.0.0.1:${port}`;
    script = spawn('sh', ['-c', lines[0]!.replace(/&$/, '')], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), DATA_DIR: dataDir },
      stdio: 'ignore',
      detached: true,
    });
    await vi.waitFor(
      async () => {
        const r = await server.api<Array<{ Status: string }>>('/v1/nodes');
        expect(Array.isArray(r.body) ? r.body.filter((n) => n.Status === 'ready').length : 0).toBe(3);
      },
      { timeout: 120_000, interval: 500 },
    );
  }, 150_000);

  afterAll(async () => {
    for (const job of ['app', 'dashboard'])
      await fetch(`http://127.0.0.1:${port}/v1/job/${job}?purge=true`, { method: 'DELETE' }).catch(() => undefined);
    await stopScript(script);
    killProcessesUnder(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('places the app once on each data node of france, on its static port', async () => {
    const r = runLine(withPort(lines[1]!), env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expect
      .poll(async () => (await runningAllocs(server, 'app')).map((a) => a.NodeName).sort(), { timeout: 60_000 })
      .toEqual(['ovh-1', 'ovh-2']);
    await expect
      .poll(() => app('127.0.0.2'), { timeout: 30_000 })
      .toBe(`app 1.0 on ovh-1 in france (class data) at 127.0.0.2:${appPort}\n`);
    await expect
      .poll(() => app('127.0.0.3'), { timeout: 30_000 })
      .toBe(`app 1.0 on ovh-2 in france (class data) at 127.0.0.3:${appPort}\n`);
  }, 120_000);

  it('renders the dashboard from datacenters, nodes and service "app@france"', async () => {
    const r = runLine(withPort(lines[2]!), env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const p = appPort;
    const instances = `(  127\\.0\\.0\\.2:${p}\\n  127\\.0\\.0\\.3:${p}|  127\\.0\\.0\\.3:${p}\\n  127\\.0\\.0\\.2:${p})`;
    // The instances come in consul-template's order (by node ID, then service ID): either one first.
    const want = new RegExp(
      '^datacenters: europe-west1 france\\nnodes:\\n  gce-1 127\\.0\\.0\\.1 europe-west1\\n' +
        `  ovh-1 127\\.0\\.0\\.2 france\\n  ovh-2 127\\.0\\.0\\.3 france\\napp@france:\\n${instances}\\n$`,
    );
    await expect.poll(() => page(`http://127.0.0.1:${p}/`), { timeout: 60_000 }).toMatch(want);
  }, 120_000);

  it('refuses a third instance in the plan: the static port is taken on both data nodes', () => {
    const file = join('examples', 'multi-dc', 'app.nomad.hcl');
    const r = runLine(`bin/drover job plan -address http://127.0.0.1:${port} -var count=3 ${file}`, env());
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/Task Group "app" \(failed to place 1 allocation\)/);
    expect(r.stdout).toMatch(/Constraint "\$\{node\.class\} = data": 1 nodes excluded by filter/);
    expect(r.stdout).toMatch(/Dimension "network: port collision" exhausted on 2 nodes/);
  });

  it('rolls a new version out one node at a time, one instance answering at every moment', async () => {
    const samples: Array<[string | undefined, string | undefined]> = [];
    let done = false;
    const version = (s: string | undefined) => /^app (\S+) /.exec(s ?? '')?.[1];
    const sampler = (async () => {
      // Bounded: at most 600 pairs (about two minutes), whatever happens to the rollout.
      for (let i = 0; i < 600 && !done; i++) {
        samples.push([version(await app('127.0.0.2')), version(await app('127.0.0.3'))]);
        await new Promise((res) => setTimeout(res, 200));
      }
    })();
    const file = join('examples', 'multi-dc', 'app.nomad.hcl');
    const update = spawn(DROVER, ['job', 'run', '-address', `http://127.0.0.1:${port}`, '-var', 'version=2.0', file], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    update.stdout.on('data', (b: Buffer) => (out += b.toString()));
    update.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((res) => update.once('exit', res));
    try {
      expect(code, out).toBe(0);
      expect(out).toMatch(/Deployment completed successfully/);
      await expect
        .poll(async () => [version(await app('127.0.0.2')), version(await app('127.0.0.3'))], { timeout: 30_000 })
        .toEqual(['2.0', '2.0']);
    } finally {
      done = true;
      await sampler;
    }
    expect(samples.length).toBeGreaterThan(5);
    // Never both down, and a moment with one instance on each version: max_parallel = 1 at work.
    expect(samples.filter(([a, b]) => a === undefined && b === undefined)).toEqual([]);
    expect(samples.some(([a, b]) => (a === '1.0' && b === '2.0') || (a === '2.0' && b === '1.0'))).toBe(true);
  }, 180_000);

  it('runs the same job posted as JSON with curl', async () => {
    const before = new Set((await runningAllocs(server, 'app')).map((a) => a.ID));
    expect(before.size).toBe(2);
    const del = await server.api('/v1/job/app?purge=true', { method: 'DELETE' });
    expect(del.status).toBe(200);
    await expect.poll(async () => (await runningAllocs(server, 'app')).length, { timeout: 60_000 }).toBe(0);
    // The README's curl line, with the JSON's static port moved to this test's free one.
    const json = join(dataDir, 'app.json');
    const text = readFileSync(join(ROOT, 'examples', 'multi-dc', 'app.json'), 'utf8');
    expect(text).toContain('"Value": 8081');
    writeFileSync(json, text.replace('"Value": 8081', `"Value": ${appPort}`));
    const readmeCurl = 'curl -fsS -X PUT --data @examples/multi-dc/app.json http://127.0.0.1:4646/v1/jobs';
    expect(readFileSync(join(ROOT, 'examples', 'multi-dc', 'README.md'), 'utf8')).toContain(readmeCurl);
    const line = withPort(readmeCurl);
    const r = runLine(line.replace('@examples/multi-dc/app.json', `@${json}`), {});
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ EvalID: expect.any(String) });
    await expect
      .poll(
        async () =>
          (await runningAllocs(server, 'app'))
            .filter((a) => !before.has(a.ID))
            .map((a) => a.NodeName)
            .sort(),
        { timeout: 60_000 },
      )
      .toEqual(['ovh-1', 'ovh-2']);
    await expect.poll(() => app('127.0.0.2'), { timeout: 30_000 }).toMatch(/^app 1\.0 on ovh-1 in france/);
    await expect.poll(() => app('127.0.0.3'), { timeout: 30_000 }).toMatch(/^app 1\.0 on ovh-2 in france/);
  }, 150_000);
});
