/* global process, setTimeout, clearTimeout, fetch, AbortSignal */
// A small cluster of real agent processes for the failover benchmark (the e2e tests have the same in
// test/e2e/harness/cluster.ts; benchmarks are plain JavaScript run against dist/, so this is its own copy):
// one server-only agent and client-only agents, each with its own data dir, node name and dynamic port range,
// all on 127.0.0.1. `stop()` purges jobs, stops every agent and kills whatever their tasks left behind.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, sleep } from '../lib/common.mjs';

const DROVER = join(repoRoot, 'bin', 'drover');

/** One agent process: waits for its `API at http://...` line. */
class AgentProcess {
  constructor(name, args) {
    this.name = name;
    this.args = args;
    this.dataDir = mkdtempSync(join(tmpdir(), `drover-failover-${name}-`));
    this.output = '';
    this.proc = null;
    this.address = '';
  }

  async start() {
    const args = [
      'agent',
      ...this.args,
      '-data-dir',
      this.dataDir,
      '-bind',
      '127.0.0.1',
      '-http-port',
      '0',
      '-dns-port',
      '0',
      '-log-level',
      'warn',
    ];
    const proc = spawn(DROVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.address = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent ${this.name} did not start in 30s:\n${this.output}`)),
        30_000,
      );
      proc.stdout.on('data', (b) => {
        // Keep only a tail: a benchmark runs long enough for logs to pile up.
        this.output = (this.output + b.toString()).slice(-20_000);
        const m = /API at (http:\/\/[\d.]+:\d+)/.exec(this.output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      proc.stderr.on('data', (b) => {
        this.output = (this.output + b.toString()).slice(-20_000);
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`agent ${this.name} exited (${code ?? signal}):\n${this.output}`));
      });
    });
  }

  get exited() {
    return !this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  /** SIGKILL the agent, then every process that carries its data dir (its tasks): a machine dying. */
  async killWithTasks() {
    if (!this.exited) {
      const gone = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGKILL');
      await gone;
    }
    return killProcessesUnder(this.dataDir);
  }

  async stop() {
    if (!this.exited) {
      const gone = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    killProcessesUnder(this.dataDir);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** SIGKILLs every process whose command line or environment mentions `dir`. */
export function killProcessesUnder(dir) {
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

export class Cluster {
  /** @param {{ clients: string[], minTTL?: string, grace?: string, gateway?: boolean }} opts */
  constructor(opts) {
    this.opts = opts;
    this.dir = mkdtempSync(join(tmpdir(), 'drover-failover-cfg-'));
    this.server = null;
    this.clients = new Map();
  }

  file(name, text) {
    const p = join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  async start() {
    // Heartbeat settings only when asked: by default the benchmark measures the agent's own defaults.
    const hb = this.opts.minTTL
      ? `  min_heartbeat_ttl = "${this.opts.minTTL}"\n  heartbeat_grace = "${this.opts.grace ?? '1s'}"\n`
      : '';
    // With `gateway`, the server agent runs the catalog-fed gateway on a free port (see gatewayAddress()).
    const gw = this.opts.gateway ? `gateway {\n  enabled = true\n  listen = "127.0.0.1:0"\n}\n` : '';
    const serverCfg = this.file('server.hcl', `server {\n  enabled = true\n${hb}}\n${gw}`);
    this.server = new AgentProcess('server', ['-server', '-config', serverCfg]);
    await this.server.start();
    let i = 0;
    for (const name of this.opts.clients) {
      const cfg = this.file(
        `client-${name}.hcl`,
        `client {\n  enabled = true\n  min_dynamic_port = ${23000 + i * 1000}\n  max_dynamic_port = ${23999 + i * 1000}\n}\n` +
          `plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n`,
      );
      i++;
      const c = new AgentProcess(name, [
        '-client',
        '-servers',
        this.server.address,
        '-dc',
        'dc1',
        '-node',
        name,
        '-config',
        cfg,
      ]);
      this.clients.set(name, c);
      await c.start();
    }
    await this.waitFor('every node ready', async () => {
      const nodes = await this.api('/v1/nodes');
      return nodes.filter((n) => n.Status === 'ready').length === this.opts.clients.length;
    });
  }

  /** The server agent's gateway URL, or undefined when it runs none (an agent built without one). */
  async gatewayAddress() {
    const self = await this.api('/v1/agent/self');
    const g = self?.config?.Gateway;
    return g?.Enabled && g.Address ? g.Address : undefined;
  }

  async api(path, init = {}) {
    const res = await fetch(this.server.address + path, {
      ...init,
      signal: init.signal ?? AbortSignal.timeout(35_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async waitFor(what, fn, timeoutMs = 60_000, everyMs = 200) {
    const until = Date.now() + timeoutMs;
    let last;
    while (Date.now() < until) {
      try {
        const v = await fn();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      await sleep(everyMs);
    }
    throw new Error(`timed out waiting for ${what} (${last ?? 'no error'})\n${this.server.output.slice(-2000)}`);
  }

  async stop() {
    if (this.server && !this.server.exited) {
      try {
        for (const j of await this.api('/v1/jobs'))
          await this.api(`/v1/job/${encodeURIComponent(j.ID)}?purge=true`, { method: 'DELETE' });
        await this.waitFor(
          'allocations to stop',
          async () =>
            (await this.api('/v1/allocations')).every(
              (a) => a.ClientStatus !== 'running' && a.ClientStatus !== 'pending',
            ),
          15_000,
        );
      } catch {
        /* best effort: processes are killed below either way */
      }
    }
    for (const c of this.clients.values()) await c.stop();
    await this.server?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
