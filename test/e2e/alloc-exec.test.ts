/**
 * `alloc exec` end to end (issue 15): the real CLI against a dev agent running raw_exec, exec and docker tasks,
 * over Nomad's websocket protocol: stdout, stderr, stdin piped, exit codes passed on, clear errors for a missing
 * command and an unknown task, the frames as a Go client reads them, and an agent with ACLs on refusing anonymous.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ensureTestImages, TEST_IMAGES } from '../images/index.js';
import { TestAgent } from './harness/agent.js';
import { jobFile, runJob, singleTaskJob, stopAndClean, waitRunning } from './fixtures/drivers-support.js';

const sleeper = () => `        command = "/bin/sh"\n        args    = ["-c", "echo started; exec sleep 3600"]`;

interface Frame {
  stdout?: { data: string };
  stderr?: { data: string };
  exited?: boolean;
  result?: { exit_code: number };
}

/** Speaks the protocol by hand, as Nomad's Go client does: collects frames until the close. */
function rawExec(
  address: string,
  allocID: string,
  q: { task: string; command: string[]; tty?: boolean; query?: string },
  input: object[] = [],
  headers: Record<string, string> = {},
): Promise<{ frames: Frame[]; code: number; reason: string; status?: number; body?: string }> {
  const url = `${address.replace(/^http/, 'ws')}/v1/client/allocation/${allocID}/exec?task=${q.task}&tty=${q.tty === true}&command=${encodeURIComponent(JSON.stringify(q.command))}${q.query ?? ''}`;
  const ws = new WebSocket(url, { headers });
  const frames: Frame[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('exec websocket did not finish in 30s'));
    }, 30_000);
    ws.on('unexpected-response', (_r, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ frames, code: 0, reason: '', status: res.statusCode, body });
      });
    });
    ws.on('open', () => {
      for (const f of input) ws.send(JSON.stringify(f));
    });
    ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as Frame));
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ frames, code, reason: reason.toString() });
    });
    ws.on('error', () => undefined);
  });
}

const text = (frames: Frame[], stream: 'stdout' | 'stderr') =>
  frames.map((f) => (f[stream] ? Buffer.from(f[stream].data, 'base64').toString() : '')).join('');

/** Host processes running exactly `sleep <marker>` (a command exec'd into a task, seen from the host). */
function sleepers(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[0]?.endsWith('sleep') && argv[1] === marker) out.push(Number(name));
  }
  return out;
}

/** Polls (bounded) until the terminal reports the size sent, then prints it: the resize is applied meanwhile. */
const PRINT_SIZE_ONCE_33X111 =
  'i=0; while [ $i -lt 100 ]; do s=$(stty size); [ "$s" = "33 111" ] && break; i=$((i+1)); sleep 0.1; done; echo "size $s"';

/** Starts `alloc exec ... sleep <marker>` with the CLI, kills the CLI, and waits for the sleep to be gone. */
async function execThenDropCaller(agent: TestAgent, allocID: string, marker: string, flags: string[] = []) {
  const cli = agent.cliAsync(['alloc', 'exec', ...flags, allocID, '/bin/sleep', marker]);
  try {
    await agent.waitFor(`sleep ${marker} running in the task`, () => Promise.resolve(sleepers(marker).length > 0));
  } finally {
    cli.kill('SIGKILL');
  }
  await agent.waitFor(`sleep ${marker} gone after its caller was killed`, () =>
    Promise.resolve(sleepers(marker).length === 0),
  );
  expect(sleepers(marker)).toEqual([]);
}

describe('alloc exec on a dev agent', () => {
  const agent = new TestAgent();
  const seen = new Set<string>();
  const allocs: Record<string, string> = {};

  beforeAll(async () => {
    await agent.start();
    for (const driver of ['raw_exec', 'exec']) {
      const job = `exec-${driver.replace('_', '-')}`;
      runJob(agent, jobFile(job, singleTaskJob({ job, driver, config: sleeper() })));
      const [a] = await waitRunning(agent, job);
      allocs[driver] = a!.ID;
      seen.add(a!.ID);
    }
  }, 180_000);
  afterAll(async () => {
    await stopAndClean(agent, seen);
  });

  for (const driver of ['raw_exec', 'exec']) {
    it(`runs a command in a ${driver} task and passes its exit code on`, () => {
      const r = agent.cli([
        'alloc',
        'exec',
        '-task',
        't',
        allocs[driver]!,
        '/bin/sh',
        '-c',
        'echo hi; echo oops >&2; exit 3',
      ]);
      expect(r.stdout).toBe('hi\n');
      expect(r.stderr).toContain('oops');
      expect(r.code).toBe(3);
    });

    it(`pipes stdin to a command in a ${driver} task`, () => {
      const r = agent.cli(['alloc', 'exec', '-i', allocs[driver]!, '/bin/sh', '-c', 'tr a-z A-Z'], {
        input: 'piped words\n',
      });
      expect(r.stdout).toBe('PIPED WORDS\n');
      expect(r.code).toBe(0);
    });
  }

  for (const [i, driver] of ['raw_exec', 'exec'].entries()) {
    it(`resizes the terminal of a command in a ${driver} task when the caller sends tty_size`, async () => {
      const r = await rawExec(
        agent.address,
        allocs[driver]!,
        { task: 't', command: ['/bin/sh', '-c', PRINT_SIZE_ONCE_33X111], tty: true },
        [{ tty_size: { height: 33, width: 111 } }],
      );
      expect(text(r.frames, 'stdout')).toContain('size 33 111');
      expect(r.frames.at(-1)).toEqual({ exited: true, result: { exit_code: 0 } });
    });

    it(`kills the command in a ${driver} task when the caller goes away`, async () => {
      await execThenDropCaller(agent, allocs[driver]!, `${7301 + i}`);
    });
  }

  it('kills a command on a terminal (its own session) when the caller goes away', async () => {
    await execThenDropCaller(agent, allocs.raw_exec!, '7311', ['-t', '-i=false']);
  });

  it('runs the command in the raw_exec task dir with the task env', () => {
    const r = agent.cli(['alloc', 'exec', allocs.raw_exec!, '/bin/sh', '-c', 'pwd; echo $NOMAD_TASK_NAME']);
    expect(r.stdout).toMatch(/\/t\nt\n$/);
  });

  it('runs the command inside the exec task chroot, seeing only its processes', () => {
    const r = agent.cli(['alloc', 'exec', allocs.exec!, '/bin/sh', '-c', 'ls /proc | grep -c "^[0-9]"']);
    expect(r.code).toBe(0);
    expect(Number(r.stdout.trim())).toBeLessThan(10);
  });

  it('runs a command on a terminal with -t', () => {
    const r = agent.cli([
      'alloc',
      'exec',
      '-t',
      '-i=false',
      allocs.raw_exec!,
      '/bin/sh',
      '-c',
      'test -t 1 && echo tty',
    ]);
    expect(r.stdout).toContain('tty');
    expect(r.code).toBe(0);
  });

  it('refuses a command that does not exist with a clear error', async () => {
    const r = agent.cli(['alloc', 'exec', allocs.raw_exec!, 'no-such-command-xyz']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"no-such-command-xyz" not found');
    const raw = await rawExec(agent.address, allocs.raw_exec!, { task: 't', command: ['no-such-command-xyz'] });
    expect(raw.status).toBe(400);
  });

  it('refuses an unknown task with a 400 naming it', async () => {
    const raw = await rawExec(agent.address, allocs.raw_exec!, { task: 'nope', command: ['/bin/true'] });
    expect(raw.status).toBe(400);
    expect(raw.body).toContain('task "nope" not found');
    const r = agent.cli(['alloc', 'exec', '-task', 'nope', allocs.raw_exec!, '/bin/true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('task "nope" not found');
  });

  it("answers a signal that does not exist with Nomad's 500 and words, leaving the task running", async () => {
    const r = await agent.api(`/v1/client/allocation/${allocs.raw_exec}/signal`, {
      method: 'PUT',
      body: JSON.stringify({ Task: 't', Signal: 'SIGNOPE' }),
    });
    expect(r.status).toBe(500);
    expect(String(r.body)).toMatch(
      /^failed to parse signal: invalid signal "SIGNOPE" - valid signals are \[.*"SIGTERM".*\]$/,
    );
    const a = await agent.api<{ TaskStates: Record<string, { State: string }> }>(`/v1/allocation/${allocs.raw_exec}`);
    expect(a.body.TaskStates.t!.State).toBe('running');
  });

  it('refuses a plain GET without the websocket upgrade', async () => {
    const r = await agent.api(`/v1/client/allocation/${allocs.raw_exec}/exec?task=t&command=["/bin/true"]`);
    expect(r.status).toBe(400);
    expect(String(r.body)).toContain('websocket');
  });

  it("speaks Nomad's frames: stdout and stderr data, stdin close, the exit frame, then close 1000", async () => {
    const r = await rawExec(
      agent.address,
      allocs.raw_exec!,
      { task: 't', command: ['/bin/sh', '-c', 'cat; echo err >&2; exit 7'] },
      [
        { tty_size: { height: 24, width: 80 } },
        { stdin: { data: Buffer.from('in\n').toString('base64') } },
        { stdin: { close: true } },
      ],
    );
    expect(text(r.frames, 'stdout')).toBe('in\n');
    expect(text(r.frames, 'stderr')).toBe('err\n');
    expect(r.frames.at(-1)).toEqual({ exited: true, result: { exit_code: 7 } });
    expect(r.code).toBe(1000);
  });

  it('closes with 1008 and the reason on a malformed frame, killing the command', async () => {
    const r = await rawExec(agent.address, allocs.raw_exec!, { task: 't', command: ['/bin/sleep', '30'] }, [
      { stdin: { data: 42 } },
    ]);
    expect(r.code).toBe(1008);
    expect(r.reason).toContain('stdin.data');
  });

  it('runs a command in a docker task', async () => {
    await ensureTestImages();
    const job = 'exec-docker';
    runJob(
      agent,
      jobFile(
        job,
        singleTaskJob({
          job,
          driver: 'docker',
          config: `        image   = "${TEST_IMAGES.busybox}"\n        command = "/bin/sh"\n        args    = ["-c", "exec sleep 3600"]`,
        }),
      ),
    );
    const [a] = await waitRunning(agent, job);
    seen.add(a!.ID);
    const r = agent.cli(['alloc', 'exec', a!.ID, 'echo', 'hi']);
    expect(r.stdout).toBe('hi\n');
    expect(r.code).toBe(0);
    const piped = agent.cli(['alloc', 'exec', a!.ID, '/bin/sh', '-c', 'read x; echo "got $x"; exit 4'], {
      input: 'line\n',
    });
    expect(piped.stdout).toBe('got line\n');
    expect(piped.code).toBe(4);
    const missing = agent.cli(['alloc', 'exec', a!.ID, 'no-such-command-xyz']);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout + missing.stderr).toMatch(/no-such-command-xyz.*not found|executable file not found/);
    const sized = await rawExec(
      agent.address,
      a!.ID,
      { task: 't', command: ['/bin/sh', '-c', PRINT_SIZE_ONCE_33X111], tty: true },
      [{ tty_size: { height: 33, width: 111 } }],
    );
    expect(text(sized.frames, 'stdout')).toContain('size 33 111');
    await execThenDropCaller(agent, a!.ID, '7321');
  }, 180_000);
});

describe('alloc exec with ACLs on', () => {
  const work = mkdtempSync(join(tmpdir(), 'drover-exec-acl-'));
  const cfg = join(work, 'acl.hcl');
  writeFileSync(cfg, 'acl { enabled = true }\n');
  const agent = new TestAgent({ args: ['-config', cfg] });
  let management = '';
  let allocID = '';

  beforeAll(async () => {
    await agent.start();
    const boot = await agent.api<{ SecretID: string }>('/v1/acl/bootstrap', { method: 'POST' });
    management = boot.body.SecretID;
    const file = jobFile('exec-acl', singleTaskJob({ job: 'exec-acl', driver: 'raw_exec', config: sleeper() }));
    const run = agent.cli(['job', 'run', '-detach', file], { env: { NOMAD_TOKEN: management } });
    expect(run.code, run.stderr).toBe(0);
    allocID = await agent.waitFor('the exec-acl allocation running', async () => {
      const list = await agent.api<Array<{ ID: string; JobID: string; ClientStatus: string }>>('/v1/allocations', {
        headers: { 'X-Nomad-Token': management },
      });
      return list.body.find((x) => x.JobID === 'exec-acl' && x.ClientStatus === 'running')?.ID;
    });
  }, 120_000);
  afterAll(async () => {
    await agent.api('/v1/job/exec-acl?purge=true', { method: 'DELETE', headers: { 'X-Nomad-Token': management } });
    await agent.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('denies anonymous and lets a management token exec', async () => {
    const anon = await rawExec(agent.address, allocID, { task: 't', command: ['/bin/true'] });
    expect(anon.status).toBe(403);
    const ok = await rawExec(agent.address, allocID, { task: 't', command: ['/bin/sh', '-c', 'echo ok'] }, [], {
      'X-Nomad-Token': management,
    });
    expect(text(ok.frames, 'stdout')).toBe('ok\n');
  });

  it('asks alloc-node-exec too for a raw_exec task, whose command runs on the host itself', async () => {
    const as = { env: { NOMAD_TOKEN: management } };
    const token = (name: string, rules: string) => {
      const file = join(work, `${name}.hcl`);
      writeFileSync(file, rules);
      expect(agent.cli(['acl', 'policy', 'apply', name, file], as).code).toBe(0);
      const created = agent.cli(['acl', 'token', 'create', '-json', '-name', name, '-policy', name], as);
      expect(created.code, created.stderr).toBe(0);
      return (JSON.parse(created.stdout) as { SecretID: string }).SecretID;
    };
    const execOnly = token('exec-only', 'namespace "default" {\n  capabilities = ["read-job", "alloc-exec"]\n}\n');
    const nodeExec = token(
      'node-exec',
      'namespace "default" {\n  capabilities = ["read-job", "alloc-exec", "alloc-node-exec"]\n}\n',
    );
    const cmd = { task: 't', command: ['/bin/sh', '-c', 'echo host'] };
    const denied = await rawExec(agent.address, allocID, cmd, [], { 'X-Nomad-Token': execOnly });
    expect(denied.status, denied.body).toBe(403);
    const ok = await rawExec(agent.address, allocID, cmd, [], { 'X-Nomad-Token': nodeExec });
    expect(text(ok.frames, 'stdout')).toBe('host\n');
  });

  it("takes the token from Nomad's ws_handshake frame, as a browser sends it", async () => {
    const cmd = { task: 't', command: ['/bin/sh', '-c', 'cat'], query: '&ws_handshake=true' };
    const stdin = [{ stdin: { data: Buffer.from('via handshake\n').toString('base64') } }, { stdin: { close: true } }];
    const ok = await rawExec(agent.address, allocID, cmd, [{ version: 1, auth_token: management }, ...stdin]);
    expect(text(ok.frames, 'stdout')).toBe('via handshake\n');
    expect(ok.code).toBe(1000);
  });

  it('closes with 1008 on a ws_handshake with a bad token, a wrong version or a bad flag', async () => {
    const cmd = { task: 't', command: ['/bin/sh', '-c', 'echo ran'] };
    const q = { ...cmd, query: '&ws_handshake=true' };
    const badToken = await rawExec(agent.address, allocID, q, [{ version: 1, auth_token: 'not-a-token' }]);
    expect(badToken.code).toBe(1008);
    expect(badToken.reason).toMatch(/Permission denied|token not found/i);
    expect(text(badToken.frames, 'stdout')).toBe('');
    const noToken = await rawExec(agent.address, allocID, q, [{ version: 1 }]);
    expect(noToken.code).toBe(1008);
    expect(noToken.reason).toMatch(/Permission denied/i);
    const version = await rawExec(agent.address, allocID, q, [{ version: 2, auth_token: management }]);
    expect([version.code, version.reason]).toEqual([1008, 'unexpected handshake value: 2']);
    const flag = await rawExec(agent.address, allocID, { ...cmd, query: '&ws_handshake=maybe' }, [
      { version: 1, auth_token: management },
    ]);
    expect(flag.code).toBe(1008);
    expect(flag.reason).toContain('ws_handshake value is not a boolean');
  });

  it('refuses a websocket opened by a page of another origin', async () => {
    const r = await rawExec(agent.address, allocID, { task: 't', command: ['/bin/true'] }, [], {
      'X-Nomad-Token': management,
      Origin: 'http://evil.example',
    });
    expect(r.status).toBe(403);
    expect(r.body).toContain('cross-origin');
  });
});
