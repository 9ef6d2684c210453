/**
 * examples/cd: runs the README's commands (on free ports, in a temporary directory instead of /tmp/drover-cd):
 * the registry and the file server as Drover jobs on host volumes, then the pipeline. It checks what the README
 * and docs/cd.md promise: build → push → plan gate → deploy → smoke test through the gateway, the image pulled
 * from the local registry with progress in the task events, the stats API shipped by `artifact`; a new commit
 * and a broken one rolled out under load with no failed request, the broken one reverted automatically; a
 * registry that is down, a tag that does not exist, an artifact whose checksum does not match, a wrong registry
 * password: each a clear task event and a failed deployment; the registry's images surviving `job stop -purge`
 * and a re-run with basic auth turned on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TestAgent, type CliResult } from './harness/agent.js';
import { Load } from './harness/load.js';
import { freePort, readmeCommands } from './fixtures/examples-support.js';

const EXAMPLE = join(ROOT, 'examples', 'cd');
/**
 * How long one request through the gateway may take before it counts as failed. Longer than the harness's 5 s:
 * the pipeline's docker build and push run on the same (shared, two-core) machine during the rollout.
 */
const LOAD_TIMEOUT_MS = 30_000;
const work = mkdtempSync(join(tmpdir(), 'drover-exb-cd-'));

/** Runs a command without blocking the event loop (a load loop may be running); bounded. */
function runAsync(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 150_000): Promise<CliResult> {
  const p = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  return new Promise((res) =>
    p.once('exit', (code) => {
      clearTimeout(timer);
      res({ code: code ?? -1, stdout, stderr });
    }),
  );
}

interface TaskEventJSON {
  Type: string;
  DisplayMessage?: string;
  Message?: string;
  DriverError?: string;
  DownloadError?: string;
}
interface AllocJSON {
  ID: string;
  TaskGroup: string;
  JobVersion: number;
  ClientStatus: string;
  DesiredStatus: string;
  TaskStates?: Record<string, { Events: TaskEventJSON[] | null }>;
}

/** One line per event: type and every message field, to match on. */
const eventText = (e: TaskEventJSON) =>
  [e.Type, e.DisplayMessage, e.Message, e.DriverError, e.DownloadError].filter(Boolean).join(' | ');

/** A throwaway job for the bad-input cases: one docker group, or one artifact group; no restarts. */
function badJob(
  name: string,
  group: 'docker' | 'artifact',
  opts: { image?: string; auth?: string; url?: string; sha?: string },
) {
  const body =
    group === 'docker'
      ? `task "web" {
      driver = "docker"
      config {
        image        = "${opts.image}"
        network_mode = "host"
        args         = ["node", "-e", "setInterval(() => {}, 1000)"]
        ${opts.auth ?? ''}
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }`
      : `task "stats" {
      driver = "raw_exec"
      artifact {
        source      = "${opts.url}"
        destination = "local/stats"
        options {
          checksum = "sha256:${opts.sha}"
        }
      }
      config {
        command = "node"
        args    = ["local/stats/stats.js"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }`;
  return `job "${name}" {
  datacenters = ["dc1"]
  update {
    max_parallel      = 1
    min_healthy_time  = "1s"
    healthy_deadline  = "30s"
    progress_deadline = "60s"
  }
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    ${body}
  }
}`;
}

describe('examples/cd', () => {
  const agent = new TestAgent({ args: ['-config', join(work, 'agent.hcl')] });
  const lines = readmeCommands('cd');
  let regPort = 0;
  let filesPort = 0;
  let gateway = '';
  let registry = '';
  let pipelineEnv: Record<string, string> = {};

  const allocs = async (job: string) => (await agent.api<AllocJSON[]>(`/v1/job/${job}/allocations`)).body;
  const allocEvents = async (id: string) => {
    const a = (await agent.api<AllocJSON>(`/v1/allocation/${id}`)).body;
    return Object.values(a.TaskStates ?? {}).flatMap((t) => (t.Events ?? []).map(eventText));
  };
  const pipeline = (env: Record<string, string>) =>
    runAsync('sh', ['-c', lines[4]!], { ...pipelineEnv, ...env, NO_COLOR: '1' });
  /** A copy of the app's sources, as a later commit would have them. */
  const appCommit = (name: string, edit: (src: string) => string = (s) => s) => {
    const dir = join(work, `app-${name}`);
    cpSync(join(EXAMPLE, 'app'), dir, { recursive: true });
    const file = join(dir, 'server.js');
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    return dir;
  };
  /** Runs a bad-input job, expects its deployment to fail, returns the events of its allocations; purges it. */
  const failingJob = async (name: string, hcl: string) => {
    const file = join(work, `${name}.nomad.hcl`);
    writeFileSync(file, hcl);
    const run = await runAsync(join(ROOT, 'bin', 'drover'), ['job', 'run', file], {
      DROVER_ADDR: agent.address,
      NO_COLOR: '1',
    });
    const as = await allocs(name);
    const events = (await Promise.all(as.map((a) => allocEvents(a.ID)))).flat();
    const statuses = as.map((a) => a.ClientStatus);
    agent.cli(['job', 'stop', '-purge', name]);
    return { run, events, statuses };
  };

  beforeAll(async () => {
    const images = spawnSync(join(ROOT, 'scripts', 'build-test-images.sh'), ['busybox', 'node'], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(images.status, images.stderr).toBe(0);
    expect(lines).toHaveLength(5);
    // 1. the host volumes' directories
    const mk = spawnSync('sh', ['-c', lines[0]!.replaceAll('/tmp/drover-cd', work)], { encoding: 'utf8' });
    expect(mk.status, mk.stderr).toBe(0);
    // 2. the dev agent with the example's config (free ports instead of 4646 and 8080)
    expect(lines[1]).toBe('bin/drover agent -dev -config examples/cd/agent.hcl &');
    writeFileSync(
      join(work, 'agent.hcl'),
      readFileSync(join(EXAMPLE, 'agent.hcl'), 'utf8').replaceAll('/tmp/drover-cd', work),
    );
    await agent.start();
    gateway = agent.gatewayAddress;
    expect(gateway).not.toBe('');
    // 3, 4. the registry and the file server, on free ports instead of 5000 and 5080
    regPort = await freePort();
    filesPort = await freePort();
    registry = `127.0.0.1:${regPort}`;
    for (const [line, port] of [
      [lines[2]!, regPort],
      [lines[3]!, filesPort],
    ] as const) {
      const r = await runAsync('sh', ['-c', line.replace('job run ', `job run -var port=${port} `)], {
        DROVER_ADDR: agent.address,
        NO_COLOR: '1',
      });
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    pipelineEnv = {
      DROVER_ADDR: agent.address,
      REGISTRY: registry,
      FILES_URL: `http://127.0.0.1:${filesPort}`,
      RELEASES_DIR: join(work, 'releases'),
      GATEWAY: gateway,
    };
  }, 240_000);

  afterAll(async () => {
    await agent.stop();
    // Every image of this test's registry, tagged or left untagged by a forced removal while a container used it.
    const images = spawnSync('docker', ['images', '--format', '{{.ID}} {{.Repository}}'], { encoding: 'utf8' });
    const ids = new Set(
      images.stdout
        .split('\n')
        .map((l) => l.split(' '))
        .filter(([, repo]) => registry !== '' && repo?.startsWith(`${registry}/`))
        .map(([id]) => id!),
    );
    if (ids.size > 0) spawnSync('docker', ['rmi', '-f', ...ids]);
    rmSync(work, { recursive: true, force: true });
  });

  it('builds, pushes, deploys and smoke-tests a commit; the image is pulled from the registry with progress events', async () => {
    const r = await pipeline({ COMMIT: 'c1' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`==> push ${registry}/cd-app:c1`);
    expect(r.stdout).toMatch(/✓ Deployment "[0-9a-f]{8}" successful/);
    expect(r.stdout).toContain(`==> deployed c1: ${gateway}/cd/ answers 'cd-app c1'`);
    expect(await (await fetch(`${gateway}/cd/`)).text()).toBe('cd-app c1\n');
    const stats = (await (await fetch(`${gateway}/cd-stats/stats`)).json()) as { version: string };
    expect(stats.version).toBe('c1');

    const as = (await allocs('cd-app')).filter((a) => a.ClientStatus === 'running');
    const web = as.filter((a) => a.TaskGroup === 'web');
    expect(web).toHaveLength(2);
    // Both instances start from the image pulled from the registry (the pipeline removed its local tag); the
    // pull that fetched it ends with a layer count (the other may find it already pulled).
    const webEvents = await Promise.all(web.map((a) => allocEvents(a.ID)));
    for (const events of webEvents) expect(events).toContain(`Driver | Pulling Image ${registry}/cd-app:c1`);
    const pulled = new RegExp(`^Driver \\| Pulled image ${registry}/cd-app:c1: downloaded [1-9]\\d* of \\d+ layers$`);
    expect(webEvents.flat().filter((e) => pulled.test(e)).length).toBeGreaterThan(0);
    const statsAlloc = as.find((a) => a.TaskGroup === 'stats')!;
    expect((await allocEvents(statsAlloc.ID)).some((e) => e.startsWith('Downloading Artifacts'))).toBe(true);

    // The same commit again: the plan gate finds nothing to do.
    const again = await pipeline({ COMMIT: 'c1' });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('==> nothing to deploy: the running job already is c1');
  }, 200_000);

  it('rolls a new commit out under load through the gateway with no failed request', async () => {
    const load = new Load(`${gateway}/cd/`, 50, 120_000, LOAD_TIMEOUT_MS);
    let r: CliResult;
    try {
      r = await pipeline({ COMMIT: 'c2', APP_DIR: appCommit('c2') });
      await new Promise((res) => setTimeout(res, 1000));
    } finally {
      await load.stop();
    }
    process.stdout.write(`${load.summary('cd rollout')}\n`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`==> deployed c2: ${gateway}/cd/ answers 'cd-app c2'`);
    expect(load.total).toBeGreaterThan(50);
    expect(load.failures).toEqual([]);
    expect([...load.answers.keys()].sort()).toEqual(['cd-app c1\n', 'cd-app c2\n']);
  }, 200_000);

  it('reverts a broken commit automatically while the running version keeps serving every request', async () => {
    const broken = appCommit('c3', (s) => s.replace("process.env.HEALTHY !== 'false'", 'false'));
    expect(readFileSync(join(broken, 'server.js'), 'utf8')).toContain('const healthy = false;');
    const load = new Load(`${gateway}/cd/`, 50, 120_000, LOAD_TIMEOUT_MS);
    let r: CliResult;
    try {
      r = await pipeline({ COMMIT: 'c3', APP_DIR: broken });
      await agent.waitFor(
        'the reverted version to be stable with both web instances on c2',
        async () => {
          const j = (await agent.api<{ Version: number; Stable: boolean }>('/v1/job/cd-app')).body;
          const live = (await allocs('cd-app')).filter(
            (a) => a.TaskGroup === 'web' && a.DesiredStatus === 'run' && a.ClientStatus === 'running',
          );
          return j.Version === 3 && j.Stable && live.length === 2 && live.every((a) => a.JobVersion === 3);
        },
        60_000,
      );
      await new Promise((res) => setTimeout(res, 1000));
    } finally {
      await load.stop();
    }
    process.stdout.write(`${load.summary('cd auto-revert')}\n`);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/! Deployment "[0-9a-f]{8}" failed/);
    expect(r.stdout).toMatch(/rolling back to job version 1/);
    expect(r.stderr).toContain('pipeline: deployment of c3 failed (see above); the last stable version keeps running');
    expect(await (await fetch(`${gateway}/cd/`)).text()).toBe('cd-app c2\n');
    expect(load.total).toBeGreaterThan(50);
    expect(load.failures).toEqual([]);
    expect([...load.answers.keys()]).toEqual(['cd-app c2\n']);
  }, 200_000);

  it('stops at the push step when the registry is down, and deploys nothing', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const before = (await agent.api<{ Version: number }>('/v1/job/cd-app')).body.Version;
    const r = await pipeline({ COMMIT: 'c4', REGISTRY: down });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`pipeline: push of ${down}/cd-app:c4 to ${down} failed`);
    expect(r.stderr).toMatch(/connection refused/);
    expect((await agent.api<{ Version: number }>('/v1/job/cd-app')).body.Version).toBe(before);
  }, 120_000);

  it('fails the deployment with a clear task event for a missing tag, a registry that is down and a bad checksum', async () => {
    const downPort = await freePort();
    const url = `http://127.0.0.1:${filesPort}/stats-c1.tar.gz`;
    // Three independent jobs, failing at once.
    const [missing, down, bad] = await Promise.all([
      failingJob('cd-bad-tag', badJob('cd-bad-tag', 'docker', { image: `${registry}/cd-app:no-such-tag` })),
      failingJob('cd-bad-down', badJob('cd-bad-down', 'docker', { image: `127.0.0.1:${downPort}/cd-app:c1` })),
      failingJob('cd-bad-sum', badJob('cd-bad-sum', 'artifact', { url, sha: '0'.repeat(64) })),
    ]);
    for (const r of [missing, down, bad]) {
      expect(r.run.code, r.run.stdout).not.toBe(0);
      expect(r.run.stdout).toMatch(/! Deployment "[0-9a-f]{8}" failed/);
      expect(r.statuses).toEqual(['failed']);
    }
    expect(missing.events.join('\n')).toMatch(
      new RegExp(`image ${registry}/cd-app:no-such-tag not found locally and could not be pulled: .*manifest unknown`),
    );
    expect(down.events.join('\n')).toMatch(
      new RegExp(
        `image 127.0.0.1:${downPort}/cd-app:c1 not found locally and could not be pulled: .*connection refused`,
      ),
    );
    expect(bad.events.join('\n')).toMatch(
      /Failed Artifact Download .*checksums did not match: expected sha256:0{64}, got [0-9a-f]{64}/,
    );
  }, 200_000);

  it('keeps its images across job stop -purge and a re-run with basic auth; pulls need the right password', async () => {
    const htpasswd = spawnSync('htpasswd', ['-Bbn', 'drover', 's3cret'], { encoding: 'utf8' });
    expect(htpasswd.status, htpasswd.stderr).toBe(0);
    const put = agent.cli(['var', 'put', 'nomad/jobs/registry', `htpasswd=${htpasswd.stdout.trim()}`]);
    expect(put.code, put.stderr).toBe(0);
    const stop = agent.cli(['job', 'stop', '-purge', 'registry']);
    expect(stop.code, stop.stderr).toBe(0);
    await agent.waitFor('the registry to stop', async () => {
      try {
        await fetch(`http://${registry}/v2/`);
        return false;
      } catch {
        return true;
      }
    });
    const run = await runAsync(
      join(ROOT, 'bin', 'drover'),
      [
        'job',
        'run',
        '-var',
        `port=${regPort}`,
        '-var',
        'htpasswd_var=nomad/jobs/registry',
        join(EXAMPLE, 'registry.nomad.hcl'),
      ],
      { DROVER_ADDR: agent.address, NO_COLOR: '1' },
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((await fetch(`http://${registry}/v2/`)).status).toBe(401);
    const basic = `Basic ${Buffer.from('drover:s3cret').toString('base64')}`;
    const tags = await (
      await fetch(`http://${registry}/v2/cd-app/tags/list`, { headers: { authorization: basic } })
    ).json();
    expect((tags as { tags: string[] }).tags.sort()).toEqual(['c1', 'c2', 'c3']);

    const image = `${registry}/cd-app:c1`;
    const auth = (password: string) => `auth {
          username = "drover"
          password = "${password}"
        }`;
    // No local copy, so each job has to pull.
    spawnSync('docker', ['image', 'rm', '-f', image]);
    const [none, wrong] = await Promise.all([
      failingJob('cd-noauth', badJob('cd-noauth', 'docker', { image })),
      failingJob('cd-wrongpw', badJob('cd-wrongpw', 'docker', { image, auth: auth('wrong') })),
    ]);
    for (const r of [none, wrong]) {
      expect(r.run.stdout).toMatch(/! Deployment "[0-9a-f]{8}" failed/);
      expect(r.statuses).toEqual(['failed']);
    }
    expect(none.events.join('\n')).toMatch(
      new RegExp(`image ${image} not found locally and could not be pulled: .*no basic auth credentials`),
    );
    expect(wrong.events.join('\n')).toMatch(
      new RegExp(`image ${image} not found locally and could not be pulled: .*(unauthorized|authentication required)`),
    );

    const file = join(work, 'cd-auth.nomad.hcl');
    writeFileSync(file, badJob('cd-auth', 'docker', { image, auth: auth('s3cret') }));
    const ok = await runAsync(join(ROOT, 'bin', 'drover'), ['job', 'run', file], {
      DROVER_ADDR: agent.address,
      NO_COLOR: '1',
    });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const [a] = await allocs('cd-auth');
    const events = await allocEvents(a!.ID);
    expect(events).toContain(`Driver | Pulling Image ${image}`);
    expect(events.some((e) => e.startsWith('Started'))).toBe(true);
  }, 200_000);
});
