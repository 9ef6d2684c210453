/**
 * Starts real `bin/drover agent` processes for e2e tests, on a free port with their own data dir, and runs
 * the real CLI against them. Everything a test starts is stopped by `stop()` (tasks included).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const DROVER = join(ROOT, 'bin', 'drover');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface AgentOptions {
  args?: string[];
  dataDir?: string;
  env?: Record<string, string>;
}

export class TestAgent {
  proc: ChildProcess | null = null;
  address = '';
  /** The gateway's URL from "Gateway at" in the agent output ('' when it has none). */
  gatewayAddress = '';
  output = '';
  readonly dataDir: string;

  constructor(private readonly opts: AgentOptions = {}) {
    this.dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'drover-e2e-'));
  }

  /** Starts the agent and waits until its API answers. */
  async start(): Promise<void> {
    const args = [
      'agent',
      '-dev',
      '-data-dir',
      this.dataDir,
      '-http-port',
      '0',
      '-dns-port',
      '0',
      '-gateway-port',
      '0',
      '-log-level',
      'debug',
      ...(this.opts.args ?? []),
    ];
    const proc = spawn(DROVER, args, { env: { ...process.env, ...this.opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.output = '';
    const addr = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`agent did not start in 30s:\n${this.output}`)), 30_000);
      const onData = (b: Buffer) => {
        this.output += b.toString();
        const m = /API at (http:\/\/[\d.]+:\d+)/.exec(this.output);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', (b: Buffer) => {
        this.output += b.toString();
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        rej(new Error(`agent exited with ${code}:\n${this.output}`));
      });
    });
    this.address = addr;
    // "Gateway at" follows "API at" and may arrive in a later chunk; an agent without one prints none.
    for (let i = 0; i < 20 && !this.gatewayAddress; i++) {
      const g = /Gateway at (http:\/\/[\d.]+:\d+)/.exec(this.output);
      if (g) this.gatewayAddress = g[1]!;
      else if (/Drover agent started/.test(this.output)) break;
      else await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Runs the real CLI against this agent. */
  cli(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): CliResult {
    const r = spawnSync(DROVER, args, {
      env: { ...process.env, DROVER_ADDR: this.address, NO_COLOR: '1', ...opts.env },
      input: opts.input,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 120_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs the CLI asynchronously (for `-f` follow and monitors). */
  cliAsync(args: string[], env: Record<string, string> = {}): ChildProcess {
    return spawn(DROVER, args, {
      env: { ...process.env, DROVER_ADDR: this.address, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  async api<T = unknown>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T; headers: Headers }> {
    const res = await fetch(this.address + path, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* plain-text error bodies stay text */
    }
    return { status: res.status, body: body as T, headers: res.headers };
  }

  /** Polls `fn` until it returns a truthy value (bounded). */
  async waitFor<T>(
    what: string,
    fn: () => Promise<T | undefined | null | false>,
    timeoutMs = 60_000,
    everyMs = 250,
  ): Promise<T> {
    const until = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < until) {
      try {
        const v = await fn();
        if (v) return v;
        last = v;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(
      `timed out waiting for ${what} (last: ${String(last)})\nagent output tail:\n${this.output.slice(-4000)}`,
    );
  }

  /** SIGKILL: no cleanup at all, as a crash. Tasks keep running. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  /** Graceful stop of the agent process (tasks keep running). */
  async stopAgent(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }

  /** Stops every job (so tasks end), the agent, and anything left that was started from the data dir. */
  async stop(): Promise<void> {
    const allocIDs: string[] = [];
    if (this.proc && this.proc.exitCode === null) {
      try {
        const a = await this.api<Array<{ ID: string }>>('/v1/allocations?namespace=*');
        if (Array.isArray(a.body)) allocIDs.push(...a.body.map((x) => x.ID));
      } catch {
        /* the agent may already be gone */
      }
      try {
        const jobs = await this.api<Array<{ ID: string; Namespace: string }>>('/v1/jobs?namespace=*');
        if (Array.isArray(jobs.body)) {
          for (const j of jobs.body)
            await this.api(`/v1/job/${encodeURIComponent(j.ID)}?purge=true&namespace=${j.Namespace}`, {
              method: 'DELETE',
            });
          await this.waitFor(
            'allocations to stop',
            async () => {
              const a = await this.api<Array<{ ClientStatus: string }>>('/v1/allocations?namespace=*');
              return (
                Array.isArray(a.body) &&
                a.body.every((x) => x.ClientStatus !== 'running' && x.ClientStatus !== 'pending')
              );
            },
            30_000,
          ).catch(() => undefined);
        }
      } catch {
        /* the agent may already be gone */
      }
      await this.stopAgent();
    }
    // Whatever still runs from this data dir (tasks of a killed agent) goes too.
    killProcessesUnder(this.dataDir);
    for (const id of allocIDs)
      spawnSync('sh', [
        '-c',
        `docker ps -aq --filter label=com.hashicorp.nomad.alloc_id=${id} | xargs -r docker rm -f`,
      ]);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** SIGKILLs every process whose command line or environment mentions `dir` (task processes of an agent). */
export function killProcessesUnder(dir: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmd.includes(dir) || env.includes(dir)) {
        process.kill(Number(pid), 'SIGKILL');
        n++;
      }
    } catch {
      /* gone, or not ours to read */
    }
  }
  return n;
}
