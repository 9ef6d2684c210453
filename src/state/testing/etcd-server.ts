/**
 * Real etcd members for tests: `startEtcd({ members: 3 })` runs that many `etcd` processes on free
 * loopback ports with temporary data dirs, waits until the cluster answers, and `stop()` kills them and
 * removes the dirs. Used by the etcd backend's conformance suite and by e2e tests (test/e2e/harness).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../lib/net.js';

export interface EtcdMemberProcess {
  name: string;
  clientURL: string;
  peerURL: string;
  dataDir: string;
  proc: ChildProcess | undefined;
  log: string[];
}

export interface TestEtcd {
  /** Client URLs of every member, e.g. `http://127.0.0.1:41234`. */
  endpoints: string[];
  members: EtcdMemberProcess[];
  /** SIGKILLs member `i` (it stays down until `restart(i)`). */
  kill(i: number): Promise<void>;
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  members?: number;
  /** Extra flags for every member, e.g. `['--quota-backend-bytes=1048576']`. */
  flags?: string[];
  /** Deadline for the cluster to answer (default 20 s). */
  readyTimeoutMs?: number;
  /** Another local address the members also take client requests on (e.g. a veth end toward a test netns). */
  alsoListenOn?: string;
}

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<TestEtcd> {
  const n = opts.members ?? 1;
  const root = mkdtempSync(join(tmpdir(), 'drover-etcd-'));
  const members: EtcdMemberProcess[] = [];
  for (let i = 0; i < n; i++) {
    members.push({
      name: `m${i}`,
      clientURL: `http://127.0.0.1:${await freePort()}`,
      peerURL: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(root, `m${i}`),
      proc: undefined,
      log: [],
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerURL}`).join(',');
  const token = `drover-test-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const launch = (m: EtcdMemberProcess) => {
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientURL}${opts.alsoListenOn ? `,${m.clientURL.replace('127.0.0.1', opts.alsoListenOn)}` : ''}`,
      `--advertise-client-urls=${m.clientURL}`,
      `--listen-peer-urls=${m.peerURL}`,
      `--initial-advertise-peer-urls=${m.peerURL}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      '--initial-cluster-state=new',
      // Faster elections than the defaults (100 ms / 1000 ms) so member failures are short in tests.
      '--heartbeat-interval=50',
      '--election-timeout=500',
      ...(opts.flags ?? []),
    ];
    const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.on('data', (d: Buffer) => {
      m.log.push(d.toString('utf8'));
      if (m.log.length > 200) m.log.shift();
    });
    proc.on('error', (e) => m.log.push(`spawn failed: ${e.message}`));
    m.proc = proc;
  };
  const killOne = async (m: EtcdMemberProcess) => {
    const p = m.proc;
    m.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  };
  const waitReady = async (m: EtcdMemberProcess) => {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
    for (;;) {
      try {
        const r = await fetch(`${m.clientURL}/v3/kv/range`, {
          method: 'POST',
          body: JSON.stringify({ key: 'AA==' }),
          signal: AbortSignal.timeout(1000),
        });
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`etcd member ${m.name} did not answer at ${m.clientURL}: ${m.log.join('').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const m of members) launch(m);
  const stop = async () => {
    await Promise.all(members.map(killOne));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map(waitReady));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    endpoints: members.map((m) => m.clientURL),
    members,
    kill: (i) => killOne(members[i]!),
    restart: async (i) => {
      const m = members[i]!;
      await killOne(m);
      launch(m);
      await waitReady(m);
    },
    stop,
  };
}
