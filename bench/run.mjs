#!/usr/bin/env node
/* global process, console, setTimeout, clearTimeout, setInterval, clearInterval */
// The benchmark runner: `npm run bench -- NAME [--quick] [options passed to the benchmark]`.
// `npm run bench -- all [--quick]` runs every benchmark that exists, one after the other, each in its own
// process, and ends with the RESULT lines of all of them. `npm run bench -- list` names them.
//
// Benchmarks import the compiled code in dist/: run `npm run build` first (the runner refuses to start
// when dist/ is missing). A benchmark that cannot run here (no docker, no wrk) prints `SKIP <reason>`
// and exits with code 3; under CI=true a skip fails `all`, as skipped tests do in scripts/test.sh.
// Nothing here asserts on wall-clock figures: a benchmark fails only when its run produced wrong work.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './lib/common.mjs';

/** name → script, in the order `all` runs them. Optional ones are included only when their file exists. */
const BENCHMARKS = [
  { name: 'scheduler', file: 'bench/scheduler/scheduler.bench.mjs' },
  { name: 'sim', file: 'bench/sim/sim.bench.mjs' },
  { name: 'api', file: 'bench/api/api.bench.mjs', fds: true },
  { name: 'time-to-running', file: 'bench/time-to-running/time-to-running.bench.mjs' },
  { name: 'gateway', file: 'bench/gateway/gateway.bench.mjs' },
  { name: 'failover', file: 'bench/failover/failover.bench.mjs' },
  { name: 'server-failover', file: 'bench/server-failover/server-failover.bench.mjs' },
  { name: 'follower-fanout', file: 'bench/follower-fanout/follower-fanout.bench.mjs', fds: true },
  { name: 'discovery', file: 'bench/discovery/discovery.bench.mjs' },
  { name: 'soak', file: 'bench/soak/soak.bench.mjs' },
  { name: 'events', file: 'bench/events/events.bench.mjs' },
  { name: 'net-setup', file: 'bench/net-setup/net-setup.bench.mjs' },
  { name: 'mesh', file: 'bench/mesh/mesh.bench.mjs' },
];
const SKIP_EXIT = 3;

const [name, ...rest] = process.argv.slice(2);
const available = BENCHMARKS.filter((b) => existsSync(join(repoRoot, b.file)));

if (!name || name === 'list' || name === '--help' || name === '-h') {
  console.log('usage: npm run bench -- NAME|all [--quick] [benchmark options]');
  console.log(`benchmarks: ${available.map((b) => b.name).join(', ')}`);
  process.exit(name ? 0 : 2);
}
if (!existsSync(join(repoRoot, 'dist', 'server', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}

const selected = name === 'all' ? available : available.filter((b) => b.name === name);
if (selected.length === 0) {
  console.error(`unknown benchmark "${name}"; known: ${available.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

const summary = [];
let failed = 0;
let skipped = 0;
// SIGTERM or SIGINT stops the benchmark in flight (its whole process group: the agents, etcd and proxies it
// started too, which would otherwise outlive it), skips the rest and exits 128 + signal number.
let stopping = null;
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => (stopping ??= sig));
for (const b of selected) {
  if (stopping) break;
  if (selected.length > 1) console.log(`\n==> ${b.name}`);
  const { code, results } = await runOne(b, rest);
  if (code === SKIP_EXIT) skipped++;
  else if (code !== 0) failed++;
  summary.push({ name: b.name, code, results });
}

if (selected.length > 1) {
  console.log('\n==> summary');
  for (const s of summary) {
    const state = s.code === 0 ? 'ok' : s.code === SKIP_EXIT ? 'SKIPPED' : `FAILED (exit ${s.code})`;
    console.log(`${s.name}: ${state}`);
  }
  for (const s of summary) for (const r of s.results) console.log(r);
}
if (stopping) {
  console.log(`stopped by ${stopping}`);
  process.exit(128 + osConstants.signals[stopping]);
}
const ciSkipFails = process.env.CI === 'true' && skipped > 0;
if (ciSkipFails) console.log('CI=true: a skipped benchmark fails the run');
process.exit(failed > 0 || ciSkipFails ? 1 : selected.length === 1 && skipped === 1 ? SKIP_EXIT : 0);

/**
 * Runs one benchmark script in its own Node process, streaming its output. Benchmarks holding many
 * sockets open go through `sh -c 'ulimit -n …'` so they get a high descriptor limit when the hard limit allows.
 * The child leads its own process group; on SIGINT/SIGTERM the runner sends the signal to that group, and
 * SIGKILL after 15 s if something in it is still there, so no agent it started is left behind.
 */
function runOne(b, args) {
  const script = join(repoRoot, b.file);
  const argv = [process.execPath, script, ...args];
  const [cmd, cmdArgs] = b.fds
    ? ['sh', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...argv]]
    : [argv[0], argv.slice(1)];
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const signalGroup = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        // the group is gone already
      }
    };
    const groupAlive = () => {
      try {
        process.kill(-child.pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    let escalate;
    const results = [];
    let buf = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('RESULT ')) results.push(line);
      }
    });
    const stop = (sig) => {
      signalGroup(sig);
      escalate ??= setTimeout(() => signalGroup('SIGKILL'), 15_000);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    child.on('error', (e) => {
      console.error(`${b.name}: ${e.message}`);
      resolve({ code: 1, results });
    });
    child.on('exit', (code, sig) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (buf.startsWith('RESULT ')) results.push(buf.trim());
      const done = () => {
        clearTimeout(escalate);
        resolve({ code: code ?? (sig ? 1 : 0), results });
      };
      if (!escalate) return done();
      // Stopped by a signal: the rest of its group (an agent shutting down) gets until the SIGKILL to exit.
      const poll = setInterval(() => {
        if (groupAlive()) return;
        clearInterval(poll);
        done();
      }, 100);
    });
  });
}
