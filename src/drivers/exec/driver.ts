/**
 * The exec task driver: an isolated process without Docker, run by Debian's runc.
 *
 * Why runc rather than `unshare` + chroot + cgroup files of our own: runc already does namespaces, the
 * chroot (pivot_root), read-only bind mounts, the user switch and cgroup limits for v1 and v2, reports stats
 * in one JSON shape (`runc events --stats`), and kills a whole container. We only write its config.json.
 *
 * The task must outlive the agent and we must learn its exit code after an agent restart, which a detached
 * runc (`run --detach`) cannot tell (the container is reparented away from us). So each task runs under a
 * small shell shim in its own session:
 *
 *   sh (setsid) ── runc run --keep <id> ── tini -g ── the task      stdio: the client's log files (O_APPEND)
 *    └─ on exit: echo $? > <bundle>/exit
 *
 *   startTask ─► chroot + config.json ─► spawn shim ─► runc state "running" ─► watch
 *   watch: poll <bundle>/exit ─► read oom_kill from the kept cgroup ─► runc delete ─► done
 *   stopTask: runc kill <sig> (tini forwards it to the task's process group) ─(timeout)─► runc kill --all KILL
 *   recoverTask: runc state / <bundle>/exit ─► watch again (same PIDs; nothing restarted)
 *
 * tini as PID 1 means a task ignoring SIGTERM does not hang a stop past its timeout, and orphans are reaped.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../../errors/index.js';
import { type Logger, nullLogger } from '../../logging/index.js';
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
import {
  driverError,
  emptyUsage,
  signalName,
  signalNumber,
  sleep,
  taskNotFound,
  taskPolicyFrom,
  taskPolicyProblems,
  withAbort,
  type TaskPolicy,
} from '../shared/index.js';
import { TaskTable, timedOutWaiting } from '../shared/task-table.js';
import { spawnExecSession } from '../shared/exec-session.js';
import { oomKillCount } from './cgroups.js';
import { Runc, type RuncStats } from './runc.js';
import { DEFAULT_CAPS, DEFAULT_CHROOT_ENV, lookupUser, ociSpec, prepareChroot } from './spec.js';

export interface ExecDriverOptions {
  /** Bundles and runc state live here; keep it across agent restarts (recovery reads it). */
  dataDir?: string;
  runcPath?: string;
  /** An init for PID 1, as a path that exists inside the chroot (the host's, through chroot_env). */
  initPath?: string;
  chrootEnv?: Record<string, string>;
  /** cgroup parent of every task's cgroup. */
  cgroupParent?: string;
  /** User for tasks that name none; Nomad uses nobody on Linux. */
  defaultUser?: string;
  /** Users, capabilities and host namespaces tasks may ask for (plugin config; safe defaults). */
  policy?: TaskPolicy;
  logger?: Logger;
  onEvent?: (taskID: string, type: string, message: string) => void;
  nowNs?: () => number;
  /** How often the exit file is checked. */
  pollMs?: number;
}

interface Tracked {
  cfg: TaskConfig;
  cid: string;
  bundle: string;
  cgroupsPath: string;
  done: Promise<ExitResult>;
  result?: ExitResult;
  stopWatching: AbortController;
  prevCpu?: { total: number; atNs: number };
}

const HANDLE_VERSION = 1;

const SHIM = `"$0" --root "$1" run --keep --bundle "$2" "$3"
code=$?
echo $code > "$2/exit.tmp" && mv "$2/exit.tmp" "$2/exit"`;

export class ExecDriver implements TaskDriver {
  readonly name = 'exec';
  readonly capabilities: DriverCapabilities = { sendSignals: true, exec: true, fsIsolation: 'chroot' };
  private readonly runc: Runc;
  private readonly dataDir: string;
  private readonly initPath: string;
  private readonly chrootEnv: Record<string, string>;
  private readonly log: Logger;
  private readonly tasks = new TaskTable<Tracked>();
  private readonly nowNs: () => number;

  constructor(private readonly options: ExecDriverOptions = {}) {
    this.dataDir = options.dataDir ?? '/run/drover/exec';
    this.runc = new Runc(options.runcPath ?? 'runc', join(this.dataDir, 'runc'));
    this.initPath = options.initPath ?? (existsSync('/usr/bin/tini-static') ? '/usr/bin/tini-static' : '/usr/bin/tini');
    this.chrootEnv = options.chrootEnv ?? DEFAULT_CHROOT_ENV;
    this.log = (options.logger ?? nullLogger).child({ driver: 'exec' });
    this.nowNs = options.nowNs ?? (() => Date.now() * 1e6);
  }

  async fingerprint(): Promise<DriverFingerprint> {
    const undetected = (why: string): DriverFingerprint => ({
      health: 'undetected',
      healthDescription: why,
      attributes: {},
    });
    if (process.platform !== 'linux') return undetected('exec needs Linux');
    if (process.getuid?.() !== 0) return undetected('exec needs the client to run as root');
    if (!existsSync(this.initPath)) return undetected(`no init at ${this.initPath} (install tini)`);
    try {
      const r = await this.runc.run(['--version'], 5000);
      const version = /runc version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
      return {
        health: 'healthy',
        healthDescription: 'Healthy',
        attributes: { 'driver.exec': '1', 'driver.exec.runc_version': version },
      };
    } catch (err) {
      return undetected(`runc is not usable: ${String(err)}`);
    }
  }

  validateConfig(config: Record<string, unknown>): string[] {
    const problems: string[] = [];
    if (typeof config.command !== 'string' || config.command === '') problems.push('command is required');
    if (config.args !== undefined && !Array.isArray(config.args)) problems.push('args must be a list of strings');
    for (const k of Object.keys(config)) {
      if (!['command', 'args', 'pid_mode', 'ipc_mode', 'cap_add', 'cap_drop', 'work_dir'].includes(k))
        problems.push(`unknown exec config key "${k}"`);
    }
    return problems;
  }

  /**
   * The container is named after the allocation and the task, not after this start's task ID (which has a random
   * part): a client killed after runc started the container but before the handle was persisted starts the task
   * again with a new task ID, and must find and adopt that container rather than run a second one.
   */
  private ids(cfg: TaskConfig): { cid: string; bundle: string; cgroupsPath: string } {
    // Task names may hold characters a container ID may not: a digest of the name keeps two tasks apart.
    const task = createHash('sha256').update(cfg.name).digest('hex').slice(0, 16);
    const cid = `drover-${cfg.allocID.replace(/[^\w.-]/g, '_')}-${task}`;
    return {
      cid,
      bundle: join(this.dataDir, 'bundles', cid),
      cgroupsPath: `/${this.options.cgroupParent ?? 'drover'}/${cid}`,
    };
  }

  async startTask(cfg: TaskConfig, signal?: AbortSignal): Promise<{ handle: TaskHandle }> {
    const problems = this.validateConfig(cfg.config);
    if (problems.length > 0) throw driverError(`invalid exec config: ${problems.join('; ')}`, false);
    const { cid, bundle, cgroupsPath } = this.ids(cfg);
    const state = await this.runc.state(cid);
    if (state?.status === 'running') {
      // Never a duplicate: this task's container already runs (a start retried after a lost answer).
      this.log.info('adopting the running container of this task', { container: cid });
      return { handle: this.track(cfg, bundle, cgroupsPath, cid, state.pid) };
    }
    if (state) await this.runc.delete(cid);

    let user;
    try {
      user = lookupUser(cfg.user || this.options.defaultUser || 'nobody');
    } catch (err) {
      throw driverError(`cannot run task ${cfg.name}: ${(err as Error).message}`, false, err);
    }
    const refused = taskPolicyProblems(
      this.options.policy ?? taskPolicyFrom({}, DEFAULT_CAPS),
      cfg.user || this.options.defaultUser || 'nobody',
      cfg.config,
      user.uid,
    );
    if (refused.length > 0) throw driverError(`task ${cfg.name} refused: ${refused.join('; ')}`, false);
    try {
      prepareChroot(cfg, this.chrootEnv, user);
    } catch (err) {
      throw driverError(`cannot prepare the chroot of task ${cfg.name}: ${(err as Error).message}`, false, err);
    }
    rmSync(bundle, { recursive: true, force: true });
    mkdirSync(bundle, { recursive: true });
    const args = [String(cfg.config.command), ...((cfg.config.args as unknown[] | undefined) ?? []).map(String)];
    const spec = ociSpec(cfg, { chrootEnv: this.chrootEnv, user, initPath: this.initPath, cgroupsPath, args });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

    const out = openSync(cfg.stdoutPath, 'a');
    const err = openSync(cfg.stderrPath, 'a');
    try {
      const shim = spawn('/bin/sh', ['-c', SHIM, this.runc.binary, this.runc.root, bundle, cid], {
        detached: true,
        stdio: ['ignore', out, err],
      });
      shim.on('error', (e) => this.log.error('exec shim failed to spawn', { container: cid, err: String(e) }));
      shim.unref();
    } finally {
      closeSync(out);
      closeSync(err);
    }
    let pid: number;
    try {
      pid = await this.waitRunning(cid, bundle, signal);
    } catch (err) {
      // Aborted or stuck: leave no container behind that nobody tracks.
      await this.runc.kill(cid, 'KILL', true).catch(() => {});
      throw err;
    }
    return { handle: this.track(cfg, bundle, cgroupsPath, cid, pid) };
  }

  /** Waits until runc reports the container running (or it already exited); returns the init's host PID. */
  private async waitRunning(cid: string, bundle: string, signal?: AbortSignal): Promise<number> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const s = await this.runc.state(cid);
      if (s && s.status !== 'creating' && s.status !== 'created') return s.pid;
      if (existsSync(join(bundle, 'exit'))) return 0;
      await sleep(50, signal);
    }
    throw driverError(`container ${cid} did not start within 15s`, true);
  }

  private track(cfg: TaskConfig, bundle: string, cgroupsPath: string, cid: string, pid: number): TaskHandle {
    this.tasks.get(cfg.id)?.stopWatching.abort();
    const t: Tracked = {
      cfg,
      cid,
      bundle,
      cgroupsPath,
      stopWatching: new AbortController(),
      done: undefined as unknown as Promise<ExitResult>,
    };
    t.done = this.watch(t).then((r) => {
      t.result = r;
      if (r.oomKilled) this.options.onEvent?.(cfg.id, 'OOM Killed', 'OOM Killed');
      return r;
    });
    t.done.catch(() => {});
    this.tasks.set(cfg.id, t);
    return {
      driver: this.name,
      version: HANDLE_VERSION,
      config: cfg,
      state: 'running',
      driverState: { containerID: cid, bundle, cgroupsPath, pid },
      startedAt: Date.now(),
    };
  }

  /** Resolves with the exit once the shim wrote it; cleans the container up (after reading its OOM count). */
  private async watch(t: Tracked): Promise<ExitResult> {
    const exitFile = join(t.bundle, 'exit');
    let unknownFor = 0;
    for (;;) {
      if (existsSync(exitFile)) break;
      // Neither an exit file nor a container: the shim died with it (host reboot, kill -9 of the shim).
      if (!(await this.runc.state(t.cid))) {
        if (++unknownFor >= 10 && !existsSync(exitFile))
          return { exitCode: -1, signal: 0, oomKilled: false, err: 'task exited without a recorded status' };
      } else unknownFor = 0;
      await sleep(this.options.pollMs ?? 200, t.stopWatching.signal);
    }
    const status = Number(readFileSync(exitFile, 'utf8').trim());
    const oomKilled = (oomKillCount(t.cgroupsPath) ?? 0) > 0;
    await this.runc
      .delete(t.cid)
      .catch((e) => this.log.warn('runc delete failed', { container: t.cid, err: String(e) }));
    if (status > 128 && status <= 128 + 64) return { exitCode: status, signal: status - 128, oomKilled };
    return { exitCode: status, signal: 0, oomKilled };
  }

  waitTask(taskID: string, signal?: AbortSignal): Promise<ExitResult> {
    return this.tasks.wait(taskID, signal);
  }

  async stopTask(taskID: string, timeoutMs: number, killSignal = 'SIGTERM'): Promise<void> {
    const t = this.tasks.must(taskID);
    if (t.result) return;
    await this.runc.kill(t.cid, signalName(signalNumber(killSignal)));
    const timedOut = await timedOutWaiting(t.done, timeoutMs);
    if (timedOut) await this.runc.kill(t.cid, 'KILL', true);
    await t.done;
  }

  async destroyTask(taskID: string, force: boolean): Promise<void> {
    const t = this.tasks.get(taskID);
    if (!t) return;
    if (!t.result) {
      if (!force)
        throw new DroverError('Conflict', `task "${taskID}" is still running; stop it first or destroy with force`);
      await this.runc.kill(t.cid, 'KILL', true);
      await withAbort(t.done, AbortSignal.timeout(10_000)).catch(() => {});
    }
    t.stopWatching.abort();
    await this.runc.delete(t.cid);
    rmSync(t.bundle, { recursive: true, force: true });
    this.tasks.delete(taskID);
  }

  async signalTask(taskID: string, sig: string): Promise<void> {
    const t = this.tasks.must(taskID);
    await this.runc.kill(t.cid, signalName(signalNumber(sig)));
  }

  async execTask(taskID: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const t = this.tasks.must(taskID);
    // runc exec starts from the container's process spec: same user, env, chroot and cgroup as the task.
    const r = await this.runc.run(['exec', t.cid, ...cmd], timeoutMs);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.code };
  }

  /**
   * `alloc exec`: `runc exec` starts the command from the container's process spec, so it runs with the task's
   * user, env, chroot, namespaces and cgroup. A command missing in the chroot ends with runc's own error on stderr.
   */
  async execStreaming(taskID: string, req: ExecStreamRequest): Promise<ExecSession> {
    const t = this.tasks.must(taskID);
    if (req.cmd.length === 0) throw new DroverError('BadRequest', 'exec: empty command');
    const runcExec = ['--root', this.runc.root, 'exec'];
    return spawnExecSession(
      this.runc.binary,
      [...runcExec, t.cid, ...req.cmd],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
        tty: req.tty,
        // runc exec hands its command pipes, not its own stdio: the terminal is made inside, by the chroot's
        // `script` (util-linux, bind-mounted from the host by chroot_env) on the container's devpts.
        wrapScript: {
          command: req.cmd,
          wrap: (script) => [
            this.runc.binary,
            // By path: the task's PATH may not name /usr/bin, where Debian's util-linux puts it.
            [
              ...runcExec,
              '--env',
              'TERM=xterm',
              '--env',
              'SHELL=/bin/sh',
              t.cid,
              '/usr/bin/script',
              ...script.slice(1),
            ],
          ],
        },
      },
      req,
    );
  }

  async taskStats(taskID: string): Promise<TaskResourceUsage> {
    const t = this.tasks.must(taskID);
    let s = await this.runc.stats(t.cid);
    let now = this.nowNs();
    if (!t.prevCpu) {
      // A percent needs two samples; the first call takes both.
      t.prevCpu = { total: s.cpu?.usage?.total ?? 0, atNs: now };
      await sleep(100);
      s = await this.runc.stats(t.cid);
      now = this.nowNs();
    }
    const usage = runcStatsToUsage(s, t.prevCpu, now);
    t.prevCpu = { total: s.cpu?.usage?.total ?? 0, atNs: now };
    return usage;
  }

  async recoverTask(handle: TaskHandle): Promise<void> {
    const cfg = handle.config;
    if (this.tasks.has(cfg.id)) return;
    const ids = this.ids(cfg);
    const cid = typeof handle.driverState.containerID === 'string' ? handle.driverState.containerID : ids.cid;
    const bundle = typeof handle.driverState.bundle === 'string' ? handle.driverState.bundle : ids.bundle;
    const cgroupsPath =
      typeof handle.driverState.cgroupsPath === 'string' ? handle.driverState.cgroupsPath : ids.cgroupsPath;
    const state = await this.runc.state(cid);
    if (!state && !existsSync(join(bundle, 'exit'))) throw taskNotFound(cfg.id);
    this.log.info('recovered exec task', { container: cid, pid: state?.pid, status: state?.status ?? 'exited' });
    this.track(cfg, bundle, cgroupsPath, cid, state?.pid ?? 0);
  }

  /** The init's host PID of a running task (tests and diagnostics). */
  async taskPid(taskID: string): Promise<number | undefined> {
    return (await this.runc.state(this.tasks.must(taskID).cid))?.pid;
  }

  async shutdown(): Promise<void> {
    for (const t of this.tasks.values()) t.stopWatching.abort();
    this.tasks.clear();
  }
}

export function runcStatsToUsage(
  s: RuncStats,
  prev: { total: number; atNs: number },
  nowNs: number,
): TaskResourceUsage {
  const u = emptyUsage(nowNs);
  const total = s.cpu?.usage?.total ?? 0;
  const wall = nowNs - prev.atNs;
  u.cpu.percent = wall > 0 && total >= prev.total ? ((total - prev.total) / wall) * 100 : 0;
  u.cpu.totalTicks = u.cpu.percent;
  u.cpu.throttledPeriods = s.cpu?.throttling?.throttledPeriods ?? 0;
  u.cpu.throttledTime = s.cpu?.throttling?.throttledTime ?? 0;
  u.cpu.measured = ['Throttled Periods', 'Throttled Time', 'Percent'];
  const raw = s.memory?.raw ?? {};
  u.memory.rss = raw.total_rss ?? raw.rss ?? raw.anon ?? 0;
  u.memory.cache = s.memory?.cache ?? raw.total_cache ?? raw.file ?? 0;
  u.memory.usage = s.memory?.usage?.usage ?? 0;
  u.memory.maxUsage = s.memory?.usage?.max ?? 0;
  u.memory.kernelUsage = s.memory?.kernel?.usage ?? 0;
  u.memory.swap = Math.max(0, (s.memory?.swap?.usage ?? 0) - u.memory.usage);
  u.memory.measured = ['RSS', 'Cache', 'Swap', 'Usage', 'Max Usage', 'Kernel Usage'];
  return u;
}
