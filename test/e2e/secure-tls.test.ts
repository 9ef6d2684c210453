/**
 * Issue 12's TLS acceptance with real agent processes: a server and a client agent with certificates from
 * `drover tls`, mutual TLS on the API; the CLI works with its certificate, and is refused without one or with
 * one from another CA; a truncated certificate stops the agent at start with a clear error.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROVER } from './harness/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-e2e-secure-tls-'));
const pki = join(dir, 'pki');
const otherPki = join(dir, 'other-pki');
const procs: ChildProcess[] = [];

function drover(args: string[]): { code: number; out: string } {
  const r = spawnSync(DROVER, args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

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

const tlsBlock = (role: string, certFile = join(pki, `global-${role}-drover.pem`)) => `tls {
  http = true
  rpc = true
  ca_file = "${join(pki, 'drover-agent-ca.pem')}"
  cert_file = "${certFile}"
  key_file = "${join(pki, `global-${role}-drover-key.pem`)}"
  verify_server_hostname = true
  verify_https_client = true
}
`;

/** Starts an agent from an HCL config; resolves with its API address, or rejects with its output if it exits. */
function startAgent(name: string, hcl: string): Promise<string> {
  const file = join(dir, `${name}.hcl`);
  writeFileSync(file, `data_dir = "${join(dir, `${name}-data`)}"\nbind_addr = "127.0.0.1"\n${hcl}`);
  const proc = spawn(DROVER, ['agent', '-config', file, '-http-port', '0', '-dns-port', '0', '-log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let output = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} did not start in 30s:\n${output}`)), 30_000);
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = /API at (https:\/\/[\d.]+:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
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

describe('agents with TLS', () => {
  let api = '';
  const cliCert = (d = pki) => [
    '-ca-cert',
    join(pki, 'drover-agent-ca.pem'),
    '-client-cert',
    join(d, 'global-cli-drover.pem'),
    '-client-key',
    join(d, 'global-cli-drover-key.pem'),
  ];

  beforeAll(async () => {
    makePki(pki);
    makePki(otherPki);
    api = await startAgent('server', `server {\n  enabled = true\n}\n${tlsBlock('server')}`);
    await startAgent(
      'client',
      `client {\n  enabled = true\n  servers = ["${api.replace('https://', '')}"]\n}\n${tlsBlock('client')}`,
    );
  }, 90_000);
  afterAll(async () => {
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets the CLI with its certificate see the client agent registered over mutual TLS', async () => {
    await expect
      .poll(
        () => {
          const r = drover(['node', 'status', '-json', '-address', api, ...cliCert()]);
          return r.code === 0 ? (JSON.parse(r.out) as Array<{ Status: string }>).map((n) => n.Status) : r.out;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toEqual(['ready']);
  });

  it('refuses the CLI without a client certificate, and with one from another CA', () => {
    const bare = drover(['node', 'status', '-address', api, '-ca-cert', join(pki, 'drover-agent-ca.pem')]);
    expect(bare.code).not.toBe(0);
    const foreign = drover(['node', 'status', '-address', api, ...cliCert(otherPki)]);
    expect(foreign.code).not.toBe(0);
    // Plain HTTP to the TLS port gets nowhere either.
    expect(drover(['node', 'status', '-address', api.replace('https://', 'http://')]).code).not.toBe(0);
  });

  it('refuses to start with a truncated certificate, naming the file', async () => {
    const cut = join(dir, 'truncated.pem');
    const pem = readFileSync(join(pki, 'global-server-drover.pem'), 'utf8');
    writeFileSync(cut, pem.slice(0, Math.floor(pem.length / 2)));
    await expect(startAgent('broken', `server {\n  enabled = true\n}\n${tlsBlock('server', cut)}`)).rejects.toThrow(
      `cert_file ${cut} is not a complete PEM certificate (truncated?)`,
    );
  });
});
