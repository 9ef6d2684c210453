import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { conformanceTask } from '../testing/index.js';
import { isRecoverable } from '../shared/index.js';
import { RawExecDriver } from './raw-exec-driver.js';
import { processAlive, processTree } from '../shared/proc.js';

const root = mkdtempSync(join(tmpdir(), 'drover-rawexec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const task = (script: string) => {
  const t = conformanceTask(root, 'web');
  t.config = { command: '/bin/sh', args: ['-c', script] };
  return t;
};

describe('raw_exec driver', () => {
  it('is disabled unless enabled, and says so in its fingerprint and start error', async () => {
    const d = new RawExecDriver();
    expect((await d.fingerprint()).health).toBe('undetected');
    const err = await d.startTask(task('true')).catch((e: unknown) => e);
    expect(String(err)).toContain('disabled');
    expect(isRecoverable(err)).toBe(false);
  });

  it('fails a task whose command does not exist with an unrecoverable error', async () => {
    const d = new RawExecDriver({ enabled: true });
    const t = conformanceTask(root, 'web');
    t.config = { command: 'no-such-command-drover' };
    const err = await d.startTask(t).catch((e: unknown) => e);
    expect(String(err)).toContain('not found');
    expect(isRecoverable(err)).toBe(false);
  });

  it('adopts the same process after an agent restart and reads its exit code once it ends', async () => {
    const first = new RawExecDriver({ enabled: true, pollIntervalMs: 50 });
    const t = task('sleep 0.8; exit 4');
    const { handle } = await first.startTask(t);
    const pid = handle.driverState.pid as number;
    await first.shutdown();
    const second = new RawExecDriver({ enabled: true, pollIntervalMs: 50 });
    await second.recoverTask(JSON.parse(JSON.stringify(handle)));
    expect(processAlive(pid, handle.driverState.startTime as number)).toBe(true);
    await expect.poll(() => processTree(pid).length, { timeout: 1_000, interval: 10 }).toBeGreaterThanOrEqual(2);
    const r = await second.waitTask(t.id);
    expect(r).toMatchObject({ exitCode: 4, signal: 0 });
    await second.destroyTask(t.id, false);
  });

  it('adopts the running process of the same task when started again under a new task ID, and starts nothing new', async () => {
    // A client SIGKILLed right after the spawn, before the handle was persisted, starts the task again with a
    // fresh task ID: the start must adopt the running process, and a start after it ended must run anew.
    const first = new RawExecDriver({ enabled: true, pollIntervalMs: 50 });
    const t = task('echo started; sleep 0.8; exit 4');
    const { handle } = await first.startTask(t);
    await first.shutdown();
    const second = new RawExecDriver({ enabled: true, pollIntervalMs: 50 });
    const again = { ...t, id: `${t.allocID}/${t.name}/another-start` };
    const adopted = await second.startTask(again);
    expect(adopted.handle.driverState.pid).toBe(handle.driverState.pid);
    expect(await second.waitTask(again.id)).toMatchObject({ exitCode: 4, signal: 0 });
    expect(readFileSync(t.stdoutPath, 'utf8').match(/started/g)).toHaveLength(1);
    const third = { ...t, id: `${t.allocID}/${t.name}/after-exit` };
    const fresh = await second.startTask(third);
    expect(fresh.handle.driverState.pid).not.toBe(handle.driverState.pid);
    await second.waitTask(third.id);
    expect(readFileSync(t.stdoutPath, 'utf8').match(/started/g)).toHaveLength(2);
  });

  it('learns how a task ended while the agent was down from the recorded status', async () => {
    const first = new RawExecDriver({ enabled: true });
    const t = task('exit 9');
    const { handle } = await first.startTask(t);
    await first.waitTask(t.id);
    const second = new RawExecDriver({ enabled: true });
    await second.recoverTask(handle);
    expect(await second.waitTask(t.id)).toMatchObject({ exitCode: 9, signal: 0 });
  });

  it('refuses to adopt a PID whose start time differs (the PID was reused)', async () => {
    const d = new RawExecDriver({ enabled: true });
    const t = task('sleep 5');
    const { handle } = await d.startTask(t);
    const forged = {
      ...handle,
      config: { ...handle.config, id: 'other' },
      driverState: { ...handle.driverState, startTime: 1, exitFile: '/nonexistent/x' },
    };
    await expect(new RawExecDriver({ enabled: true }).recoverTask(forged)).rejects.toThrow(/not found/);
    await d.destroyTask(t.id, true);
  });

  it('reports a task killed with SIGKILL from outside as signal 9', async () => {
    const d = new RawExecDriver({ enabled: true });
    const t = task('sleep 5');
    const { handle } = await d.startTask(t);
    await expect
      .poll(() => processTree(handle.driverState.pid as number).length, { timeout: 1_000, interval: 10 })
      .toBeGreaterThanOrEqual(2);
    const child = processTree(handle.driverState.pid as number).find((p) => p.pid !== handle.driverState.pid)!;
    process.kill(child.pid, 'SIGKILL');
    expect(await d.waitTask(t.id)).toMatchObject({ exitCode: 137, signal: 9 });
  });

  it('runs a command in the task environment and directory with execTask', async () => {
    const d = new RawExecDriver({ enabled: true });
    const t = task('sleep 5');
    await d.startTask(t);
    const r = await d.execTask(t.id, ['/bin/sh', '-c', 'echo "$DROVER_CONF_VAR"; pwd; exit 2'], 5_000);
    expect(r).toEqual({ stdout: `conformance value\n${t.dirs.dir}\n`, stderr: '', exitCode: 2 });
    await d.destroyTask(t.id, true);
  });
});
