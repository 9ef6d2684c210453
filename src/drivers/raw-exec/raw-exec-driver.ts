/**
 * raw_exec: runs `command` with `args` as the agent's user, without isolation, as Nomad's raw_exec.
 *
 *   startTask ──► sh wrapper (own session + process group) ──exec-like──► command
 *                    │  stdout/stderr: the task's log files opened O_APPEND, never a pipe to the agent
 *                    └─ when the command ends: writes its status to `<task dir>/.raw_exec-<id>.exit`, exits
 *   waitTask: the agent that started it listens for the wrapper's exit; an agent that recovered it polls /proc
 *   stopTask: kill_signal to the whole group ─(kill_timeout)─► SIGKILL to the whole group
 *
 * Why a wrapper: after an agent restart the agent is no longer the task's parent, so it cannot wait() for it. The
 * tiny `sh` wrapper stays the task's parent and records the exit status in a file, which the recovering agent
 * reads once the PID (checked against its /proc start time, so a reused PID is never adopted) is gone. The
 * wrapper traps the catchable signals (sent to the whole group) so that it outlives the task and records its
 * status; the command itself gets default dispositions because trapped signals are reset on exec. Cost: one `sh`
 * process per task; a status above 128 is read as "killed by signal status-128" (an explicit `exit 130` looks the
 * same, as in any shell).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type {
  DriverCapabilities,
  DriverFingerprint,
  ExecResult,
  ExecSession,
  ExecStreamRequest,
  ExitResult,
  TaskConfig,
  TaskDriver,
  TaskHandle,
  TaskResourceUsage,
} from '../types.js';
import { DroverError } from '../../errors/index.js';
import { driverError, emptyUsage, signalNumber, taskNotFound } from '../shared/index.js';
import { TaskTable, timedOutWaiting } from '../shared/task-table.js';
import { spawnExecSession } from '../shared/exec-session.js';
import { PAGE_SIZE, processAlive, processGroup, readProcStat, uptimeTicks } from '../shared/proc.js';

export interface RawExecOptions {
  /** raw_exec is off unless enabled (Nomad: `plugin "raw_exec" { config { enabled = true } }`; on in -dev). */
  enabled?: boolean;
  /** How often a recovered task's PID is checked, in ms. */
  pollIntervalMs?: number;
}

const WRAPPER = [
  'f=$1; shift',
  "trap 'true' HUP INT QUIT TERM USR1 USR2 ALRM",
  '"$@"',
  's=$?',
  'echo $s > "$f"',
  'exit $s',
].join('\n');

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface RawExecState {
  pid: number;
  startTime: number;
  exitFile: string;
}

interface Tracked {
  cfg: TaskConfig;
  st: RawExecState;
  child?: ChildProcess;
  exit?: ExitResult;
  done: Promise<ExitResult>;
  finish: (r: ExitResult) => void;
  poll?: NodeJS.Timeout;
  lastCpu?: { ticks: number; user: number; system: number; atTicks: number };
}

export class RawExecDriver implements TaskDriver {
  readonly name: string = 'raw_exec';
  readonly capabilities: DriverCapabilities = { sendSignals: true, exec: true, fsIsolation: 'none' };
  private readonly tasks = new TaskTable<Tracked>();
  private readonly enabled: boolean;
  private readonly pollMs: number;

  constructor(opts: RawExecOptions = {}) {
    this.enabled = opts.enabled ?? false;
    this.pollMs = opts.pollIntervalMs ?? 250;
  }

  async fingerprint(): Promise<DriverFingerprint> {
    if (!this.enabled) return { health: 'undetected', healthDescription: 'disabled', attributes: {} };
    return { health: 'healthy', healthDescription: 'Healthy', attributes: { 'driver.raw_exec': '1' } };
  }

  validateConfig(config: Record<string, unknown>): string[] {
    const problems: string[] = [];
    if (typeof config.command !== 'string' || config.command === '')
      problems.push('command: a non-empty string is required');
    if (config.args !== undefined && !(Array.isArray(config.args) && config.args.every((a) => typeof a === 'string')))
      problems.push('args: must be a list of strings');
    for (const k of Object.keys(config))
      if (
        !['command', 'args', 'cgroup_v2_override', 'cgroup_v1_override', 'oom_score_adj', 'denied_envvars'].includes(k)
      )
        problems.push(`unknown raw_exec config key "${k}"`);
    return problems;
  }

  async startTask(cfg: TaskConfig, signal?: AbortSignal): Promise<{ handle: TaskHandle }> {
    if (!this.enabled)
      throw driverError(
        'raw_exec is disabled on this client (enable it with plugin "raw_exec" { config { enabled = true } })',
        false,
      );
    if (signal?.aborted) throw signal.reason;
    const problems = this.validateConfig(cfg.config);
    if (problems.length > 0) throw driverError(`invalid raw_exec config: ${problems.join('; ')}`, false);
    // A client killed after the spawn but before the handle was persisted starts the task again under a new task
    // ID: the start record (named after the task, not the start) lets this start adopt that process, not run two.
    const record = startRecordPath(cfg);
    const running = readStartRecord(record);
    if (running && processAlive(running.pid, running.startTime)) {
      this.adopt(cfg, running);
      return { handle: this.handleOf(cfg, running) };
    }
    const command = resolveCommand(String(cfg.config.command), cfg.dirs.dir, cfg.env.PATH ?? DEFAULT_PATH);
    const args = (cfg.config.args as string[] | undefined) ?? [];
    const exitFile = resolve(cfg.dirs.dir, `.raw_exec-${cfg.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.exit`);
    rmSync(exitFile, { force: true });
    const out = openSync(cfg.stdoutPath, 'a');
    const err = openSync(cfg.stderrPath, 'a');
    let child: ChildProcess;
    try {
      const [bin, ...argv] = inNetns(cfg, ['/bin/sh', '-c', WRAPPER, 'drover-raw-exec', exitFile, command, ...args]);
      child = spawn(bin!, argv, {
        cwd: cfg.dirs.dir,
        env: cfg.env,
        detached: true,
        stdio: ['ignore', out, err],
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const pid = child.pid;
    if (pid === undefined) throw driverError(`failed to start ${command}`, true);
    // The child exists (at worst as an unreaped zombie) until libuv reaps it, so its start time is readable now.
    const startTime = readProcStat(pid)?.startTime ?? 0;
    child.unref();
    const st: RawExecState = { pid, startTime, exitFile };
    writeStartRecord(record, st);
    const t = this.track(cfg, st);
    t.child = child;
    child.once('exit', (code, sig) => t.finish(this.exitResult(st, code, sig ? signalNumber(sig) : 0)));
    child.once('error', (e) => t.finish({ exitCode: -1, signal: 0, oomKilled: false, err: e.message }));
    return { handle: this.handleOf(cfg, st) };
  }

  private handleOf(cfg: TaskConfig, st: RawExecState): TaskHandle {
    return {
      driver: this.name,
      version: 1,
      config: cfg,
      state: 'running',
      driverState: { ...st },
      startedAt: Date.now(),
    };
  }

  /** Tracks a process this agent did not spawn (recovered or adopted): its end is seen by polling /proc. */
  private adopt(cfg: TaskConfig, st: RawExecState): void {
    const t = this.track(cfg, st);
    const check = () => {
      if (!processAlive(st.pid, st.startTime)) t.finish(this.exitResult(st, null, 0));
    };
    if (!processAlive(st.pid, st.startTime)) return check();
    t.poll = setInterval(check, this.pollMs);
    t.poll.unref();
  }

  private track(cfg: TaskConfig, st: RawExecState): Tracked {
    let resolveDone!: (r: ExitResult) => void;
    const done = new Promise<ExitResult>((r) => (resolveDone = r));
    const t: Tracked = { cfg, st, done, finish: () => {} };
    t.finish = (r) => {
      if (t.exit) return;
      t.exit = r;
      if (t.poll) clearInterval(t.poll);
      resolveDone(r);
    };
    this.tasks.set(cfg.id, t);
    return t;
  }

  /** The wrapper's status file is the truth; the wrapper's own exit says what happened when it was killed too. */
  private exitResult(st: RawExecState, code: number | null, sig: number): ExitResult {
    const recorded = readExitFile(st.exitFile);
    if (recorded !== undefined) return decodeStatus(recorded);
    if (sig > 0) return { exitCode: 128 + sig, signal: sig, oomKilled: false };
    if (code !== null) return decodeStatus(code);
    return { exitCode: -1, signal: 0, oomKilled: false, err: 'task exited without a recorded status' };
  }

  waitTask(taskID: string, signal?: AbortSignal): Promise<ExitResult> {
    return this.tasks.wait(taskID, signal);
  }

  async stopTask(taskID: string, timeoutMs: number, killSignal = 'SIGTERM'): Promise<void> {
    const t = this.tasks.must(taskID);
    if (!t.exit) {
      killGroup(t.st.pid, signalNumber(killSignal));
      const timedOut = await timedOutWaiting(t.done, timeoutMs);
      if (timedOut) killGroup(t.st.pid, 9);
      await t.done;
    }
    // Whatever the task left behind in its group goes too, as Nomad's executor does.
    killGroup(t.st.pid, 9);
  }

  async destroyTask(taskID: string, force: boolean): Promise<void> {
    const t = this.tasks.get(taskID);
    if (!t) return;
    if (!t.exit) {
      if (!force) throw new DroverError('DriverError', `task "${taskID}" is still running`);
      await this.stopTask(taskID, 0, 'SIGKILL');
    }
    killGroup(t.st.pid, 9);
    rmSync(t.st.exitFile, { force: true });
    this.tasks.delete(taskID);
  }

  async signalTask(taskID: string, sig: string): Promise<void> {
    const t = this.tasks.must(taskID);
    if (t.exit) throw new DroverError('DriverError', `task "${taskID}" is not running`);
    killGroup(t.st.pid, signalNumber(sig));
  }

  execTask(taskID: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const t = this.tasks.must(taskID);
    const [bin, ...args] = cmd;
    if (!bin) return Promise.reject(new DroverError('BadRequest', 'exec: empty command'));
    const [file, ...argv] = inNetns(t.cfg, [
      resolveCommand(bin, t.cfg.dirs.dir, t.cfg.env.PATH ?? DEFAULT_PATH),
      ...args,
    ]);
    return new Promise((res) => {
      execFile(
        file!,
        argv,
        {
          cwd: t.cfg.dirs.dir,
          env: t.cfg.env,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: 4 * 1024 * 1024,
          encoding: 'utf8',
        },
        (error, stdout, stderr) => {
          const code = error
            ? typeof error.code === 'number'
              ? error.code
              : error.signal
                ? 128 + signalNumber(error.signal)
                : 1
            : 0;
          res({ stdout, stderr, exitCode: code });
        },
      );
    });
  }

  /** `alloc exec`: the command runs as the task does (the agent's user, the task's env, its task dir as cwd). */
  async execStreaming(taskID: string, req: ExecStreamRequest): Promise<ExecSession> {
    const t = this.tasks.must(taskID);
    if (t.exit) throw new DroverError('BadRequest', `task "${t.cfg.name}" is not running`);
    const [bin, ...args] = req.cmd;
    if (!bin) throw new DroverError('BadRequest', 'exec: empty command');
    let file: string;
    try {
      file = resolveCommand(bin, t.cfg.dirs.dir, t.cfg.env.PATH ?? DEFAULT_PATH);
    } catch (e) {
      throw new DroverError('BadRequest', `exec: ${(e as Error).message}`, { cause: e });
    }
    // In the allocation's network namespace, as the task runs (bridge mode), not the host's.
    const [netFile, ...netArgs] = inNetns(t.cfg, [file, ...args]);
    return spawnExecSession(netFile!, netArgs, { cwd: t.cfg.dirs.dir, env: t.cfg.env, tty: req.tty }, req);
  }

  async taskStats(taskID: string): Promise<TaskResourceUsage> {
    const t = this.tasks.must(taskID);
    const now = uptimeTicks();
    const procs = processGroup(t.st.pid);
    let user = 0;
    let system = 0;
    let rss = 0;
    for (const p of procs) {
      user += p.utime;
      system += p.stime;
      rss += p.rssPages * PAGE_SIZE;
    }
    const prev = t.lastCpu ?? { ticks: 0, user: 0, system: 0, atTicks: t.st.startTime };
    const elapsed = Math.max(1, now - prev.atTicks);
    const pct = (v: number) => Math.max(0, (v * 100) / elapsed);
    t.lastCpu = { ticks: user + system, user, system, atTicks: now };
    const u = emptyUsage(Date.now() * 1e6);
    u.memory = { ...u.memory, rss, usage: rss, measured: ['RSS'] };
    u.cpu = {
      ...u.cpu,
      percent: pct(user + system - prev.ticks),
      userMode: pct(user - prev.user),
      systemMode: pct(system - prev.system),
      measured: ['System Mode', 'User Mode', 'Percent'],
    };
    return u;
  }

  async recoverTask(handle: TaskHandle): Promise<void> {
    if (this.tasks.has(handle.config.id)) return;
    const st = handle.driverState as unknown as RawExecState;
    if (typeof st?.pid !== 'number' || typeof st.exitFile !== 'string') throw taskNotFound(handle.config.id);
    if (!processAlive(st.pid, st.startTime) && readExitFile(st.exitFile) === undefined)
      throw taskNotFound(handle.config.id);
    this.adopt(handle.config, st);
  }

  async shutdown(): Promise<void> {
    // Tasks keep running: they belong to their allocations, not to this driver instance.
    for (const t of this.tasks.values()) if (t.poll) clearInterval(t.poll);
    this.tasks.clear();
  }
}

/** `<task dir>/.raw_exec-<task>.start`: the process of the task's latest start, written right after the spawn. */
function startRecordPath(cfg: TaskConfig): string {
  return resolve(cfg.dirs.dir, `.raw_exec-${cfg.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.start`);
}

function writeStartRecord(path: string, st: RawExecState): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(st));
  renameSync(`${path}.tmp`, path);
}

function readStartRecord(path: string): RawExecState | undefined {
  try {
    const st = JSON.parse(readFileSync(path, 'utf8')) as Partial<RawExecState>;
    if (typeof st.pid !== 'number' || typeof st.startTime !== 'number' || typeof st.exitFile !== 'string') return;
    return st as RawExecState;
  } catch {
    return undefined;
  }
}

/**
 * A command line run inside the allocation's network namespace when the group has one: nsenter enters it and
 * execs the command, so the PID the driver tracks is the command's own.
 */
export function inNetns(cfg: TaskConfig, argv: string[]): string[] {
  return cfg.netnsPath ? ['nsenter', `--net=${cfg.netnsPath}`, '--', ...argv] : argv;
}

/** Nomad resolves a relative command against the task dir first, then PATH. */
export function resolveCommand(command: string, taskDir: string, path: string): string {
  if (isAbsolute(command)) {
    if (!existsSync(command)) throw driverError(`command "${command}" not found`, false);
    return command;
  }
  if (command.includes('/')) {
    const p = resolve(taskDir, command);
    if (!existsSync(p)) throw driverError(`command "${command}" not found in the task dir`, false);
    return p;
  }
  const local = join(taskDir, command);
  if (existsSync(local) && statSync(local).isFile()) return local;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, command);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  throw driverError(`command "${command}" not found in the task dir or in PATH`, false);
}

function readExitFile(path: string): number | undefined {
  try {
    const s = readFileSync(path, 'utf8').trim();
    return /^\d+$/.test(s) ? Number(s) : undefined;
  } catch {
    return undefined;
  }
}

function decodeStatus(status: number): ExitResult {
  if (status > 128 && status <= 128 + 64) return { exitCode: status, signal: status - 128, oomKilled: false };
  return { exitCode: status, signal: 0, oomKilled: false };
}

function killGroup(pid: number, sig: number): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}
