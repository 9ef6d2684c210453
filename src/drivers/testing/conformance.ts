/**
 * The driver conformance suite: one set of cases run against every driver (mock, raw_exec, exec, docker), as
 * Hono runs one router suite against all its routers. A driver file calls `runDriverConformance` once:
 *
 *   runDriverConformance('raw_exec', () => new RawExecDriver({ enabled: true }), { taskConfigFor: (c) => ... })
 *
 * Each case says what the task must do (see CASE_CONTRACT); `taskConfigFor(case)` gives the driver `config` that
 * makes the driver's task do it. Every skip carries its reason, and under CI=true a skip fails the test.
 */
import { mkdirSync, mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskConfig, TaskDriver } from '../types.js';

export type ConformanceCase =
  | 'start'
  | 'exitCode'
  | 'stopSignal'
  | 'stopTimeout'
  | 'envArgs'
  | 'workingDir'
  | 'logs'
  | 'stats'
  | 'recover'
  | 'destroy';

/** What the task configured for each case must do. */
export const CASE_CONTRACT: Record<ConformanceCase, string> = {
  start: 'run until stopped (at least 30 s)',
  exitCode: 'exit by itself within 5 s with exit code 3',
  stopSignal: 'run until stopped; die on SIGTERM',
  stopTimeout: 'run until stopped; ignore SIGTERM (so only SIGKILL ends it)',
  envArgs: `print "DROVER_CONF_VAR=<value of env DROVER_CONF_VAR>" and "args=arg-one arg-two" (its args) on stdout, then exit 0`,
  workingDir:
    'create an empty file named "drover-cwd-marker" relative to its working dir (the task dir or its local/ dir), then exit 0',
  logs: 'print "to-stdout" on stdout and "to-stderr" on stderr, then exit 0',
  stats: 'run until stopped, using some memory',
  recover: 'print "started" once on stdout when it starts, then run until stopped',
  destroy: 'run until stopped',
};

export const CONFORMANCE_ENV_VALUE = 'conformance value';

export interface ConformanceOptions {
  /** Cases this driver cannot pass, each with the reason. Under CI=true a skipped case fails. */
  skip?: Partial<Record<ConformanceCase, string>>;
  /** The driver `config` that makes the task do what CASE_CONTRACT[case] says. */
  taskConfigFor(c: ConformanceCase, task: TaskConfig): Record<string, unknown>;
  /** When the driver cannot run here at all (dockerd down, no runc), the reason; every case is skipped with it. */
  unavailable?: () => Promise<string | undefined>;
  /** Time limit per case; container drivers need more. Default 20 s. */
  caseTimeoutMs?: number;
  /** Extra env for every task. */
  env?: Record<string, string>;
  /** Adjusts the TaskConfig (user, resources, mounts) before start. */
  adjustTask?(task: TaskConfig): void;
}

const ALL_CASES = Object.keys(CASE_CONTRACT) as ConformanceCase[];

/** A TaskConfig with a fresh alloc dir layout under `root`. */
export function conformanceTask(root: string, name: string, env: Record<string, string> = {}): TaskConfig {
  const allocID = `conf-${Math.random().toString(16).slice(2, 10)}`;
  const allocDir = join(root, allocID);
  const taskDir = join(allocDir, name);
  const dirs = {
    sharedAllocDir: join(allocDir, 'alloc'),
    dir: taskDir,
    localDir: join(taskDir, 'local'),
    secretsDir: join(taskDir, 'secrets'),
    logDir: join(allocDir, 'alloc', 'logs'),
  };
  for (const d of [dirs.sharedAllocDir, dirs.localDir, dirs.secretsDir, dirs.logDir, join(taskDir, 'tmp')])
    mkdirSync(d, { recursive: true });
  return {
    id: `${allocID}/${name}/${Math.random().toString(16).slice(2, 10)}`,
    name,
    allocID,
    jobName: 'conformance',
    jobID: 'conformance',
    taskGroupName: 'group',
    namespace: 'default',
    config: {},
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DROVER_CONF_VAR: CONFORMANCE_ENV_VALUE, ...env },
    user: '',
    dirs,
    stdoutPath: join(dirs.logDir, `.${name}.stdout.live`),
    stderrPath: join(dirs.logDir, `.${name}.stderr.live`),
    resources: { cpuShares: 100, memoryMB: 128, memoryMaxMB: 0, cores: 0 },
    ports: [],
    networkMode: 'host',
    mounts: [],
  };
}

const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');

/** Resolves to 'pending' if `p` has not settled after `ms`. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<'pending'>((r) => (t = setTimeout(() => r('pending'), ms)));
  try {
    return await Promise.race([p, timer]);
  } finally {
    clearTimeout(t);
  }
}

/** Registers the shared driver conformance cases in a vitest `describe` named after the driver. */
export function runDriverConformance(
  name: string,
  makeDriver: () => TaskDriver | Promise<TaskDriver>,
  opts: ConformanceOptions,
): void {
  const root = mkdtempSync(join(tmpdir(), `drover-conf-${name.replace(/\W/g, '_')}-`));
  const drivers: TaskDriver[] = [];
  const started: Array<{ driver: TaskDriver; id: string }> = [];
  const timeout = opts.caseTimeoutMs ?? 20_000;

  const newDriver = async () => {
    const d = await makeDriver();
    drivers.push(d);
    return d;
  };
  const start = async (d: TaskDriver, c: ConformanceCase) => {
    const task = conformanceTask(root, `t-${c.toLowerCase()}`, opts.env);
    task.config = opts.taskConfigFor(c, task);
    opts.adjustTask?.(task);
    const { handle } = await d.startTask(task);
    started.push({ driver: d, id: task.id });
    return { task, handle };
  };

  describe(`driver conformance: ${name}`, () => {
    afterAll(async () => {
      for (const s of started) await s.driver.destroyTask(s.id, true).catch(() => {});
      for (const d of drivers) await d.shutdown?.().catch(() => {});
      rmSync(root, { recursive: true, force: true });
    });

    const body: Record<ConformanceCase, () => Promise<void>> = {
      start: async () => {
        const d = await newDriver();
        const fp = await d.fingerprint();
        expect(fp.health).toBe('healthy');
        const { task, handle } = await start(d, 'start');
        expect(handle.driver).toBe(d.name);
        expect(handle.config.id).toBe(task.id);
        expect(JSON.parse(JSON.stringify(handle))).toEqual(handle);
        expect(await settledWithin(d.waitTask(task.id), 500)).toBe('pending');
        await d.stopTask(task.id, 5_000);
        await d.destroyTask(task.id, false);
      },
      exitCode: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'exitCode');
        const r = await d.waitTask(task.id);
        expect(r.exitCode).toBe(3);
        expect(r.signal).toBe(0);
        expect(await d.waitTask(task.id)).toEqual(r);
        await d.destroyTask(task.id, false);
      },
      stopSignal: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'stopSignal');
        await new Promise((r) => setTimeout(r, 300));
        const t0 = Date.now();
        await d.stopTask(task.id, 8_000, 'SIGTERM');
        expect(Date.now() - t0).toBeLessThan(6_000);
        const r = await d.waitTask(task.id);
        expect(r.signal === 15 || r.exitCode === 143).toBe(true);
      },
      stopTimeout: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'stopTimeout');
        await new Promise((r) => setTimeout(r, 500));
        const t0 = Date.now();
        await d.stopTask(task.id, 1_000, 'SIGTERM');
        const took = Date.now() - t0;
        expect(took).toBeGreaterThanOrEqual(900);
        expect(took).toBeLessThan(1_000 + 8_000);
        const r = await d.waitTask(task.id);
        expect(r.signal === 9 || r.exitCode === 137).toBe(true);
      },
      envArgs: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'envArgs');
        expect((await d.waitTask(task.id)).exitCode).toBe(0);
        await expect.poll(() => read(task.stdoutPath).includes('args='), { timeout: 3_000 }).toBe(true);
        const out = read(task.stdoutPath);
        expect(out).toContain(`DROVER_CONF_VAR=${CONFORMANCE_ENV_VALUE}`);
        expect(out).toContain('args=arg-one arg-two');
      },
      workingDir: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'workingDir');
        expect((await d.waitTask(task.id)).exitCode).toBe(0);
        const where = [join(task.dirs.dir, 'drover-cwd-marker'), join(task.dirs.localDir, 'drover-cwd-marker')];
        expect(where.some((p) => existsSync(p))).toBe(true);
      },
      logs: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'logs');
        expect((await d.waitTask(task.id)).exitCode).toBe(0);
        await expect
          .poll(() => read(task.stdoutPath).includes('to-stdout') && read(task.stderrPath).includes('to-stderr'), {
            timeout: 3_000,
          })
          .toBe(true);
        expect(read(task.stdoutPath)).not.toContain('to-stderr');
        expect(read(task.stderrPath)).not.toContain('to-stdout');
      },
      stats: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'stats');
        await new Promise((r) => setTimeout(r, 500));
        const u = await d.taskStats(task.id);
        expect(u.timestamp).toBeGreaterThan(0);
        expect(Math.max(u.memory.rss, u.memory.usage)).toBeGreaterThan(0);
        expect(u.memory.measured.length).toBeGreaterThan(0);
        expect(u.cpu.percent).toBeGreaterThanOrEqual(0);
        await d.stopTask(task.id, 5_000);
      },
      recover: async () => {
        const first = await newDriver();
        const { task, handle } = await start(first, 'recover');
        await expect.poll(() => read(task.stdoutPath).includes('started'), { timeout: 5_000 }).toBe(true);
        // The agent restarts: the old driver instance goes away, a new one adopts the task from its persisted handle.
        await first.shutdown?.();
        const second = await newDriver();
        await second.recoverTask(JSON.parse(JSON.stringify(handle)));
        started.push({ driver: second, id: task.id });
        expect(await settledWithin(second.waitTask(task.id), 500)).toBe('pending');
        expect(read(task.stdoutPath).match(/started/g)?.length).toBe(1);
        await second.stopTask(task.id, 5_000);
        await second.waitTask(task.id);
        await second.destroyTask(task.id, false);
      },
      destroy: async () => {
        const d = await newDriver();
        const { task } = await start(d, 'destroy');
        await new Promise((r) => setTimeout(r, 200));
        await expect(d.destroyTask(task.id, false)).rejects.toThrow();
        await d.destroyTask(task.id, true);
        await expect(d.taskStats(task.id)).rejects.toThrow();
        await d.destroyTask(task.id, true);
      },
    };

    for (const c of ALL_CASES) {
      const title = `${c}: ${CASE_CONTRACT[c]}`;
      const reason = opts.skip?.[c];
      if (reason !== undefined) {
        if (process.env.CI === 'true') it(title, () => expect.fail(`case skipped under CI=true: ${reason}`));
        else it.skip(`${title} (skipped: ${reason})`, () => {});
        continue;
      }
      it(
        title,
        async (ctx) => {
          const why = await opts.unavailable?.();
          if (why !== undefined) {
            if (process.env.CI === 'true') expect.fail(`driver unavailable under CI=true: ${why}`);
            ctx.skip(why);
          }
          await body[c]();
        },
        timeout,
      );
    }
  });
}
