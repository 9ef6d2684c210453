#!/usr/bin/env node
/* global process, console, performance */
// Benchmark "net-setup": how long does an allocation's network take to build in bridge mode? For N allocations
// (50; 10 with --quick) one after the other, the client's own AllocNetworks builds the namespace and runs the
// CNI chain (loopback, bridge + host-local, firewall, portmap with two mapped ports), as the alloc runner does
// before the first task starts; then every namespace is torn down. The reference is the bare namespace
// (`ip netns add` + `ip netns del`) measured in the same run. Goal: set-up p99 < 200 ms.
// Checks that work was done: every set-up returns an address in the subnet, and nothing is left afterwards.
//
// Usage: node bench/net-setup/net-setup.bench.mjs [--quick] [--allocs 50]
// Needs root, `npm run build` and containernetworking-plugins (/usr/lib/cni); otherwise prints SKIP and exits 3.
// Uses its own bridge (drbench0) and subnet (172.26.81.0/24); no traffic is sent.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { dist, parseArgs, quantile, resultLine } from '../lib/common.mjs';

const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const n = Number(args.allocs ?? (quick ? 10 : 50));

if (process.getuid?.() !== 0) {
  console.log('SKIP net-setup needs root (network namespaces, iptables)');
  process.exit(3);
}
if (!existsSync('/usr/lib/cni/bridge')) {
  console.log('SKIP net-setup needs containernetworking-plugins in /usr/lib/cni');
  process.exit(3);
}

const { AllocNetworks, DEFAULT_BRIDGE, bridgeProblems } = await import(dist('client/index.js'));
const { nullLogger } = await import(dist('logging/index.js'));

const settings = { ...DEFAULT_BRIDGE, bridgeName: 'drbench0', subnet: '172.26.81.0/24' };
const problems = bridgeProblems(settings);
if (problems.length > 0) throw new Error(problems.join('; '));
const dataDir = mkdtempSync(join(tmpdir(), 'drover-bench-net-'));
// The profile: how long each step of a set-up took (namespace, each plugin's ADD; DEL on teardown).
const steps = new Map();
const onStep = (step, ms) => {
  if (!steps.has(step)) steps.set(step, []);
  steps.get(step).push(ms);
};
const networks = new AllocNetworks(settings, dataDir, nullLogger, { onStep });

// The floor: a bare namespace, created and removed.
const bare = [];
for (let i = 0; i < n; i++) {
  const name = `drbench-${process.pid}-${i}`;
  const t = performance.now();
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['netns', 'del', name]);
  bare.push(performance.now() - t);
}

const ids = [];
const setup = [];
const teardown = [];
try {
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    ids.push(id);
    const ports = [
      { label: 'http', value: 47000 + i, to: 8080, hostIP: '127.0.0.1' },
      { label: 'admin', value: 47500 + i, to: 9090, hostIP: '127.0.0.1' },
    ];
    const t = performance.now();
    const st = await networks.setup(id, 'bridge', ports);
    setup.push(performance.now() - t);
    if (!st.ip.startsWith('172.26.81.')) throw new Error(`allocation ${id} got address "${st.ip}"`);
  }
} finally {
  for (const id of ids) {
    const t = performance.now();
    await networks.teardown(id);
    teardown.push(performance.now() - t);
  }
  rmSync(dataDir, { recursive: true, force: true });
}
const left = ids.filter((id) => existsSync(`/var/run/netns/drover-${id}`));
if (left.length > 0) throw new Error(`${left.length} namespaces left after teardown`);

const ms = (v) => `${v.toFixed(1)} ms`;
console.log(`net-setup: ${n} allocations in bridge mode, 2 mapped ports each`);
console.log(`  set-up    p50 ${ms(quantile(setup, 0.5))}  p99 ${ms(quantile(setup, 0.99))}`);
console.log(`  teardown  p50 ${ms(quantile(teardown, 0.5))}  p99 ${ms(quantile(teardown, 0.99))}`);
console.log(`  bare netns add+del  p50 ${ms(quantile(bare, 0.5))}  p99 ${ms(quantile(bare, 0.99))}`);
console.log('  profile (p50 / p99 per step):');
for (const [step, v] of steps) console.log(`    ${step.padEnd(14)} ${ms(quantile(v, 0.5))} / ${ms(quantile(v, 0.99))}`);
console.log(
  `  load average while measured: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${availableParallelism()} cores`,
);
console.log(
  resultLine({
    name: 'net_setup_p50',
    value: quantile(setup, 0.5),
    unit: 'ms',
    ref: quantile(bare, 0.5),
    goal: 'info',
  }),
);
console.log(
  resultLine({
    name: 'net_setup_p99',
    value: quantile(setup, 0.99),
    unit: 'ms',
    ref: quantile(bare, 0.99),
    goal: '<200',
  }),
);
console.log(
  resultLine({
    name: 'net_teardown_p99',
    value: quantile(teardown, 0.99),
    unit: 'ms',
    ref: quantile(bare, 0.99),
    goal: 'info',
  }),
);
