/* global process, setTimeout, clearTimeout */
// A real dev agent (`bin/drover agent -dev`) in its own process, as the api and time-to-running benchmarks
// start it: on a free HTTP port, quiet (-log-level warn), optionally with a CPU profile written at exit.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './common.mjs';

/** Resolves after `ms` without keeping the process alive once everything else is done. */
export function idle(ms) {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * Starts the agent and resolves once it prints its API address: `{ proc, base, stop }`. `profDir` adds
 * `--cpu-prof` (the profile is written when the agent exits, so call `stop()` before reading it); `nodeFlags`
 * go to node before the script (e.g. `--heapsnapshot-signal=SIGUSR2`).
 * `stop(graceMs)` sends SIGTERM, waits up to graceMs for a clean exit (tasks left running, state flushed),
 * then SIGKILLs.
 */
/** SIGTERM, then SIGKILL after `graceMs` (default 10 s) if the process has not exited: `stop(graceMs?)`. */
export function stopper(proc) {
  return async (graceMs = 10_000) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, idle(graceMs)]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
}

export async function startDevAgent({
  dataDir,
  cwd = dataDir,
  profDir,
  nodeFlags = [],
  args = [],
  startTimeoutMs = 30_000,
}) {
  const prof = [...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), ...nodeFlags];
  const proc = spawn(
    process.execPath,
    [
      ...prof,
      join(repoRoot, 'bin', 'drover'),
      'agent',
      '-dev',
      '-data-dir',
      dataDir,
      '-http-port',
      '0',
      '-log-level',
      'warn',
      ...args,
    ],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stop = stopper(proc);
  let out = '';
  proc.stderr.on('data', (d) => (out += d));
  const base = await new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`agent did not print its API address in ${startTimeoutMs / 1000} s:\n${out}`)),
      startTimeoutMs,
    );
    const onExit = (code) => {
      clearTimeout(t);
      reject(new Error(`agent exited with ${code}:\n${out}`));
    };
    proc.on('exit', onExit);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /API at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        proc.off('exit', onExit);
        // Keep draining its output so a chatty agent never blocks on a full pipe.
        proc.stdout.removeAllListeners('data');
        proc.stdout.resume();
        resolve(m[1]);
      }
    });
  }).catch(async (e) => {
    await stop(2_000);
    throw e;
  });
  return { proc, base, stop };
}
