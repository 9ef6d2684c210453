/**
 * The scriptable mock driver, as Nomad's `mock_driver`: the task `config` says how the "task" behaves, so client,
 * server and scheduler tests run without processes. Name `mock_driver`; `mock` is accepted as an alias.
 *
 *   startTask ─(start_block_for)─► start_error? ──► throw (recoverable or not)
 *                                      └─► running ─(run_for elapses)─► exited {exit_code, exit_signal, exit_err_msg}
 *                                             └─stopTask/signal─(kill_after, capped by the kill timeout)─► exited {signal}
 *
 * Config keys: run_for, exit_code, exit_signal, exit_err_msg, start_error, start_error_recoverable,
 * start_block_for, kill_after, stdout_string, stdout_repeat, stdout_repeat_duration, signal_error, and for tests
 * stderr_string, echo_env (list of env names printed as NAME=value on stdout), touch_file (a file created in the task
 * dir, its "working dir"),
 * stats_rss (bytes), stats_cpu_percent. A missing run_for runs until stopped.
 * The fake PID and the timings live in the handle, so a new driver instance recovers the task (agent restart).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  DriverCapabilities,
  DriverFingerprint,
  ExecResult,
  ExitResult,
  TaskConfig,
  TaskDriver,
  TaskHandle,
  TaskResourceUsage,
} from '../types.js';
import { DroverError } from '../../errors/index.js';
import { driverError, emptyUsage, parseDurationMs, signalNumber, sleep, taskNotFound } from '../shared/index.js';
import { TaskTable } from '../shared/task-table.js';

export interface MockDriverOptions {
  /** Clock in unix ms, injectable for tests. */
  now?: () => number;
  /** Node attributes reported by fingerprint; `healthy: false` makes the driver unhealthy. */
  healthy?: boolean;
}

interface MockState {
  pid: number;
  startedAtMs: number;
  runForMs: number;
  exitCode: number;
  exitSignal: number;
  exitErrMsg: string;
  killAfterMs: number;
  rss: number;
  cpuPercent: number;
  signalError: string;
}

interface RunningTask {
  cfg: TaskConfig;
  state: MockState;
  exit?: ExitResult;
  done: Promise<ExitResult>;
  finish: (r: ExitResult) => void;
  timers: NodeJS.Timeout[];
  killing: boolean;
}

const MOCK_KEYS = new Set([
  'run_for',
  'exit_code',
  'exit_signal',
  'exit_err_msg',
  'start_error',
  'start_error_recoverable',
  'start_block_for',
  'kill_after',
  'stdout_string',
  'stdout_repeat',
  'stdout_repeat_duration',
  'signal_error',
  'stderr_string',
  'echo_env',
  'touch_file',
  'stats_rss',
  'stats_cpu_percent',
]);

let nextPid = 100_000;

export class MockDriver implements TaskDriver {
  readonly name = 'mock_driver';
  readonly capabilities: DriverCapabilities = { sendSignals: true, exec: true, fsIsolation: 'none' };
  private readonly tasks = new TaskTable<RunningTask>();
  private readonly now: () => number;
  healthy: boolean;

  constructor(opts: MockDriverOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.healthy = opts.healthy ?? true;
  }

  async fingerprint(): Promise<DriverFingerprint> {
    return this.healthy
      ? { health: 'healthy', healthDescription: 'Healthy', attributes: { 'driver.mock_driver': '1' } }
      : { health: 'unhealthy', healthDescription: 'mock driver set unhealthy', attributes: {} };
  }

  validateConfig(config: Record<string, unknown>): string[] {
    const problems: string[] = [];
    for (const k of Object.keys(config)) if (!MOCK_KEYS.has(k)) problems.push(`unknown mock_driver config key "${k}"`);
    for (const k of ['run_for', 'start_block_for', 'kill_after', 'stdout_repeat_duration']) {
      try {
        parseDurationMs(config[k]);
      } catch (e) {
        problems.push(`${k}: ${(e as Error).message}`);
      }
    }
    return problems;
  }

  async startTask(cfg: TaskConfig, signal?: AbortSignal): Promise<{ handle: TaskHandle }> {
    const c = cfg.config;
    const blockMs = parseDurationMs(c.start_block_for);
    if (blockMs > 0) await sleep(blockMs, signal);
    if (typeof c.start_error === 'string' && c.start_error !== '')
      throw driverError(c.start_error, c.start_error_recoverable === true);
    const state: MockState = {
      pid: nextPid++,
      startedAtMs: this.now(),
      runForMs: c.run_for === undefined ? -1 : parseDurationMs(c.run_for),
      exitCode: Number(c.exit_code ?? 0),
      exitSignal: c.exit_signal === undefined ? 0 : signalNumber(c.exit_signal as string | number),
      exitErrMsg: String(c.exit_err_msg ?? ''),
      killAfterMs: parseDurationMs(c.kill_after),
      rss: Number(c.stats_rss ?? 1024 * 1024),
      cpuPercent: Number(c.stats_cpu_percent ?? 1),
      signalError: String(c.signal_error ?? ''),
    };
    this.writeOutput(cfg);
    const handle: TaskHandle = {
      driver: this.name,
      version: 1,
      config: cfg,
      state: 'running',
      driverState: { ...state },
      startedAt: state.startedAtMs,
    };
    this.track(cfg, state, 0, true);
    return { handle };
  }

  private writeOutput(cfg: TaskConfig): void {
    const c = cfg.config;
    const lines: string[] = [];
    if (Array.isArray(c.echo_env)) for (const k of c.echo_env) lines.push(`${String(k)}=${cfg.env[String(k)] ?? ''}\n`);
    if (typeof c.touch_file === 'string') writeFileSync(join(cfg.dirs.dir, c.touch_file), '');
    if (lines.length > 0) appendFileSync(cfg.stdoutPath, lines.join(''));
    if (typeof c.stderr_string === 'string') appendFileSync(cfg.stderrPath, c.stderr_string);
  }

  /** Starts the timers of a task that began `elapsedMs` ago (0 for a fresh start, more after recovery). */
  private track(cfg: TaskConfig, state: MockState, elapsedMs: number, fresh: boolean): void {
    let finish!: (r: ExitResult) => void;
    const done = new Promise<ExitResult>((resolve) => (finish = resolve));
    const t: RunningTask = { cfg, state, done, finish: () => {}, timers: [], killing: false };
    t.finish = (r) => {
      if (t.exit) return;
      t.exit = r;
      for (const tm of t.timers) clearTimeout(tm);
      finish(r);
    };
    this.tasks.set(cfg.id, t);
    const out = cfg.config.stdout_string;
    if (typeof out === 'string' && fresh) {
      const repeat = Number(cfg.config.stdout_repeat ?? 0);
      const every = parseDurationMs(cfg.config.stdout_repeat_duration);
      appendFileSync(cfg.stdoutPath, out);
      // One interval, not one timer per line: a repeat of a million made a million timers (450 MB of heap).
      if (repeat >= 1) {
        let written = 0;
        const tick = setInterval(() => {
          appendFileSync(cfg.stdoutPath, out);
          if (++written >= repeat) clearInterval(tick);
        }, every);
        t.timers.push(tick);
      }
    }
    if (state.runForMs >= 0) {
      const left = Math.max(0, state.runForMs - elapsedMs);
      const result: ExitResult = {
        exitCode: state.exitCode,
        signal: state.exitSignal,
        oomKilled: false,
        ...(state.exitErrMsg ? { err: state.exitErrMsg } : {}),
      };
      t.timers.push(setTimeout(() => t.finish(result), left));
    }
  }

  waitTask(taskID: string, signal?: AbortSignal): Promise<ExitResult> {
    return this.tasks.wait(taskID, signal);
  }

  async stopTask(taskID: string, timeoutMs: number, killSignal = 'SIGTERM'): Promise<void> {
    const t = this.tasks.must(taskID);
    if (t.exit) return;
    const sig = signalNumber(killSignal);
    // The task "takes" kill_after to honour the signal; past the kill timeout it is SIGKILLed, as a real process.
    const delay = Math.min(t.state.killAfterMs, timeoutMs);
    const by = t.state.killAfterMs > timeoutMs ? 9 : sig;
    if (!t.killing) {
      t.killing = true;
      t.timers.push(setTimeout(() => t.finish({ exitCode: 128 + by, signal: by, oomKilled: false }), delay));
    }
    await t.done;
  }

  async destroyTask(taskID: string, force: boolean): Promise<void> {
    const t = this.tasks.get(taskID);
    if (!t) return;
    if (!t.exit) {
      if (!force) throw new DroverError('DriverError', `task "${taskID}" is still running`);
      t.finish({ exitCode: 137, signal: 9, oomKilled: false });
    }
    this.tasks.delete(taskID);
  }

  async signalTask(taskID: string, sig: string): Promise<void> {
    const t = this.tasks.must(taskID);
    if (t.state.signalError) throw new DroverError('DriverError', t.state.signalError);
    signalNumber(sig);
  }

  async execTask(taskID: string, cmd: string[]): Promise<ExecResult> {
    this.tasks.must(taskID);
    return { stdout: `${cmd.join(' ')}\n`, stderr: '', exitCode: 0 };
  }

  async taskStats(taskID: string): Promise<TaskResourceUsage> {
    const t = this.tasks.must(taskID);
    const u = emptyUsage(this.now() * 1e6);
    u.memory = { ...u.memory, rss: t.state.rss, usage: t.state.rss, measured: ['RSS'] };
    u.cpu = {
      ...u.cpu,
      percent: t.state.cpuPercent,
      totalTicks: t.state.cpuPercent,
      measured: ['Percent', 'Total Ticks'],
    };
    return u;
  }

  async recoverTask(handle: TaskHandle): Promise<void> {
    if (this.tasks.has(handle.config.id)) return;
    const s = handle.driverState as unknown as MockState;
    if (typeof s?.pid !== 'number') throw taskNotFound(handle.config.id);
    this.track(handle.config, s, this.now() - s.startedAtMs, false);
  }

  async shutdown(): Promise<void> {
    // Tasks of a mock "survive" the agent only through their handle; drop the timers.
    for (const t of this.tasks.values()) for (const tm of t.timers) clearTimeout(tm);
    this.tasks.clear();
  }
}
