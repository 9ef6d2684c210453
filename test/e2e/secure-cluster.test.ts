/**
 * Issue 12's acceptance for a cluster of separate agent processes with ACLs on: a server agent and client agents
 * that register over the internal endpoints.
 *
 * Without TLS: a client agent with no token is refused registration (a log error saying what to give it); with a
 * node:write token it registers, and once that token is deleted its node secret alone keeps it working (it runs an
 * allocation whose logs the CLI reads through the server, the client agent resolving the user's token at it).
 *
 * With TLS (http + rpc, verify_https_client, verify_server_hostname): a client agent registers with its
 * certificate; logs reach the CLI through the server, which forwards over mutual TLS as itself; the client agent
 * refuses a "forwarded" request from a certificate that is not a server's; a client with a certificate of another
 * CA is refused; a server posing with a client certificate is refused by verify_server_hostname.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DROVER, killProcessesUnder } from './harness/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-e2e-secure2-cluster-'));
const procs: ChildProcess[] = [];
/** The test's environment without a token, so an agent gets one only where a test gives it. */
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'DROVER_TOKEN' && k !== 'NOMAD_TOKEN'),
) as Record<string, string>;

interface Started {
  api: string;
  output: () => string;
  proc: ChildProcess;
}

function drover(args: string[]): { code: number; out: string; stdout: string } {
  const r = spawnSync(DROVER, args, { encoding: 'utf8', timeout: 30_000, env: ENV });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

/** Starts an agent from an HCL config; resolves once it prints its API address, rejects with its output if it exits. */
function startAgent(name: string, hcl: string, env: Record<string, string> = {}): Promise<Started> {
  const file = join(dir, `${name}.hcl`);
  writeFileSync(file, `data_dir = "${join(dir, `${name}-data`)}"\nbind_addr = "127.0.0.1"\n${hcl}`);
  const proc = spawn(DROVER, ['agent', '-config', file, '-http-port', '0', '-dns-port', '0', '-log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...ENV, ...env },
  });
  procs.push(proc);
  let output = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} did not start in 30s:\n${output}`)), 30_000);
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = /API at (https?:\/\/[\d.]+:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        res({ api: m[1]!, output: () => output, proc });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`${name} exited with ${code}:\n${output}`));
    });
  });
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

afterAll(async () => {
  for (const p of procs) await stop(p);
  // Tasks outlive their agent by design: the ones started from this test's data dirs go too.
  killProcessesUnder(dir);
  rmSync(dir, { recursive: true, force: true });
});

const RAW_EXEC = `plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n`;
/** A client agent of `api`'s server; it checks the tokens of the requests it answers itself (ACLs on). */
const clientHCL = (api: string, extra = '') =>
  `client {\n  enabled = true\n  servers = ["${api.replace(/^https?:\/\//, '')}"]\n}\nacl {\n  enabled = true\n}\n${RAW_EXEC}${extra}`;

function writeJob(name: string, word: string): string {
  const file = join(dir, `${name}.hcl`);
  writeFileSync(
    file,
    `job "${name}" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${word}; exec sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
      kill_timeout = "1s"
    }
  }
}
`,
  );
  return file;
}

/** Bootstraps ACLs with the CLI and returns the management secret. */
function bootstrap(conn: string[]): string {
  const r = drover(['acl', 'bootstrap', '-json', ...conn]);
  expect(r.code, r.out).toBe(0);
  return (JSON.parse(r.stdout) as { SecretID: string }).SecretID;
}

/** Runs the job with the CLI and returns its running allocation's ID, read from the API as `conn` reaches it. */
async function runningAlloc(conn: string[], job: string, api: { base: string; token: string; tls?: UndiciAgent }) {
  const run = drover(['job', 'run', '-detach', ...conn, job]);
  expect(run.code, run.out).toBe(0);
  const name = /job "([^"]+)"/.exec(readFileSync(job, 'utf8'))![1]!;
  let id = '';
  await expect
    .poll(
      async () => {
        const res = await undiciFetch(`${api.base}/v1/job/${name}/allocations`, {
          headers: { 'X-Nomad-Token': api.token },
          ...(api.tls ? { dispatcher: api.tls } : {}),
        });
        const allocs = (await res.json()) as Array<{ ID: string; ClientStatus: string }>;
        id = allocs.find((a) => a.ClientStatus === 'running')?.ID ?? '';
        return allocs.map((a) => a.ClientStatus);
      },
      { timeout: 60_000, interval: 500 },
    )
    .toEqual(['running']);
  return id;
}

const readyNodes = (conn: string[]) => {
  const r = drover(['node', 'status', '-json', ...conn]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Array<{ Name: string; Status: string }>).map((n) => n.Status) : r.out;
};

describe('client agents with ACLs on, without TLS', () => {
  let server: Started;
  let root = '';
  const conn = () => ['-address', server.api, '-token', root];

  beforeAll(async () => {
    server = await startAgent('acl-server', `server {\n  enabled = true\n}\nacl {\n  enabled = true\n}\n`);
    root = bootstrap(['-address', server.api]);
  }, 60_000);

  it('refuses to register a client agent without a token, and says in its log what to give it', async () => {
    const anon = await startAgent('acl-anon-client', clientHCL(server.api));
    await expect
      .poll(() => anon.output(), { timeout: 30_000, interval: 250 })
      .toContain('the servers refused to register this node: with ACLs on, give the client agent a token');
    expect(readyNodes(conn())).toEqual([]);
    await stop(anon.proc);
  });

  it('registers a client agent with a node:write token, which then keeps working on its node secret alone', async () => {
    const policy = join(dir, 'node-write.hcl');
    writeFileSync(policy, 'node {\n  policy = "write"\n}\n');
    expect(drover(['acl', 'policy', 'apply', ...conn(), 'node-writer', policy]).code).toBe(0);
    const created = drover(['acl', 'token', 'create', '-json', '-name', 'client', '-policy', 'node-writer', ...conn()]);
    expect(created.code, created.out).toBe(0);
    const token = JSON.parse(created.stdout) as { SecretID: string; AccessorID: string };
    const client = await startAgent('acl-client', clientHCL(server.api), { DROVER_TOKEN: token.SecretID });
    await expect.poll(() => readyNodes(conn()), { timeout: 30_000, interval: 500 }).toEqual(['ready']);

    // From here on only the node secret speaks for the client: watching, updates, heartbeats.
    expect(drover(['acl', 'token', 'delete', ...conn(), token.AccessorID]).code).toBe(0);
    const alloc = await runningAlloc(conn(), writeJob('acl-hello', 'hello-acl-client'), {
      base: server.api,
      token: root,
    });
    // Through the server, which forwards to the client agent; that one asks the server who the token is.
    await expect
      .poll(() => drover(['alloc', 'logs', ...conn(), alloc, 't']).stdout, { timeout: 30_000, interval: 500 })
      .toContain('hello-acl-client');
    // Without a token the same logs are refused.
    expect(drover(['alloc', 'logs', '-address', server.api, alloc, 't']).code).not.toBe(0);
    expect(readyNodes(conn())).toEqual(['ready']);
    expect(client.output()).not.toContain('the servers refused to register this node');
  }, 120_000);
});

describe('client agents with ACLs and mutual TLS on', () => {
  const pki = join(dir, 'pki');
  const otherPki = join(dir, 'other-pki');
  const ca = join(pki, 'drover-agent-ca.pem');
  let server: Started;
  let client: Started;
  let root = '';
  const certs = (d = pki) => [
    '-ca-cert',
    ca,
    '-client-cert',
    join(d, 'global-cli-drover.pem'),
    '-client-key',
    join(d, 'global-cli-drover-key.pem'),
  ];
  const conn = () => ['-address', server.api, '-token', root, ...certs()];

  function makePki(d: string): void {
    for (const args of [
      ['tls', 'ca', 'create'],
      ['tls', 'cert', 'create', '-server'],
      ['tls', 'cert', 'create', '-client'],
      ['tls', 'cert', 'create', '-cli'],
    ]) {
      const r = drover([
        ...args,
        '-dir',
        d,
        ...(args[1] === 'cert'
          ? ['-ca', join(d, 'drover-agent-ca.pem'), '-key', join(d, 'drover-agent-ca-key.pem')]
          : []),
      ]);
      expect(r.code, r.out).toBe(0);
    }
  }

  /** A tls block with `role`'s certificate from `from` (ca_file is always the cluster's own CA). */
  const tlsBlock = (role: string, from = pki) => `tls {
  http = true
  rpc = true
  ca_file = "${ca}"
  cert_file = "${join(from, `global-${role}-drover.pem`)}"
  key_file = "${join(from, `global-${role}-drover-key.pem`)}"
  verify_server_hostname = true
  verify_https_client = true
}
`;

  let cliDispatcher: UndiciAgent;
  afterAll(() => cliDispatcher?.close());

  beforeAll(async () => {
    makePki(pki);
    makePki(otherPki);
    cliDispatcher = new UndiciAgent({
      connect: {
        ca: readFileSync(ca, 'utf8'),
        cert: readFileSync(join(pki, 'global-cli-drover.pem'), 'utf8'),
        key: readFileSync(join(pki, 'global-cli-drover-key.pem'), 'utf8'),
      },
    });
    server = await startAgent(
      'tls-server',
      `server {\n  enabled = true\n}\nacl {\n  enabled = true\n}\n${tlsBlock('server')}`,
    );
    root = bootstrap(['-address', server.api, ...certs()]);
    // No token: with mutual TLS its verified client certificate is the credential for the first registration.
    client = await startAgent('tls-client', clientHCL(server.api, tlsBlock('client')));
    await vi.waitFor(() => expect(readyNodes(conn())).toEqual(['ready']), { timeout: 30_000, interval: 500 });
  }, 90_000);

  it('streams logs through the server, which forwards to the client agent over mutual TLS as itself', async () => {
    const alloc = await runningAlloc(conn(), writeJob('tls-hello', 'hello-tls-client'), {
      base: server.api,
      token: root,
      tls: cliDispatcher,
    });
    await expect
      .poll(() => drover(['alloc', 'logs', ...conn(), alloc, 't']).stdout, { timeout: 30_000, interval: 500 })
      .toContain('hello-tls-client');
    // The user's ACL still applies at the server: no token, no logs.
    expect(drover(['alloc', 'logs', '-address', server.api, ...certs(), alloc, 't']).code).not.toBe(0);
    // Straight at the client agent, the token is resolved at the servers over TLS.
    await expect
      .poll(() => drover(['alloc', 'logs', '-address', client.api, '-token', root, ...certs(), alloc, 't']).stdout, {
        timeout: 30_000,
        interval: 500,
      })
      .toContain('hello-tls-client');

    // A CLI certificate claiming to be a forwarding server is not one: no token, no answer.
    const res = await undiciFetch(`${client.api}/v1/client/fs/logs/${alloc}?task=t&type=stdout&plain=true`, {
      headers: { 'X-Drover-Forwarded': '1' },
      dispatcher: cliDispatcher,
    });
    expect(res.status).toBe(403);
  }, 120_000);

  it('refuses a client agent whose certificate comes from another CA', async () => {
    const foreign = await startAgent('tls-foreign-client', clientHCL(server.api, tlsBlock('client', otherPki)));
    await expect
      .poll(() => foreign.output(), { timeout: 30_000, interval: 250 })
      .toMatch(/heartbeat failed|refused to register/);
    expect(readyNodes(conn())).toEqual(['ready']);
    await stop(foreign.proc);
  });

  it('refuses, with verify_server_hostname, a server that presents a client certificate', async () => {
    const poser = await startAgent('tls-poser', `server {\n  enabled = true\n}\n${tlsBlock('client')}`);
    const victim = await startAgent('tls-victim-client', clientHCL(poser.api, tlsBlock('client')));
    await expect
      .poll(() => victim.output(), { timeout: 30_000, interval: 250 })
      .toContain('is not a server certificate of region');
    const nodes = drover(['node', 'status', '-json', '-address', poser.api, ...certs()]);
    expect(nodes.code, nodes.out).toBe(0);
    expect(JSON.parse(nodes.stdout)).toEqual([]);
    await stop(victim.proc);
    await stop(poser.proc);
  });
});
