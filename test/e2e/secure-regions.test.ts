/**
 * Issue 12 across regions: two federated regions (one SQLite server each) with ACLs and mutual TLS on, their
 * certificates from one CA, each server's for its own region. Each region resolves tokens itself, so the
 * management token exists in both (both bootstrapped with the same BootstrapSecret, Nomad's way to provide one).
 *
 *   drover server join (with the token, over TLS) ─► federated both ways
 *   GET ?region=europe at the global server, with the token ─► answered by europe; without ─► 403 from europe
 *   a job with region = "europe" registered at the global server ─► forwarded with the token, lives in europe
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROVER, killProcessesUnder } from './harness/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-e2e-sec3-regions-'));
const procs: ChildProcess[] = [];
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'DROVER_TOKEN' && k !== 'NOMAD_TOKEN'),
) as Record<string, string>;
const pki = join(dir, 'pki');
const ca = join(pki, 'drover-agent-ca.pem');

function drover(args: string[]): { code: number; out: string; stdout: string } {
  const r = spawnSync(DROVER, args, { encoding: 'utf8', timeout: 30_000, env: ENV });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function startServer(region: string): Promise<{ api: string; output: () => string }> {
  const file = join(dir, `${region}.hcl`);
  writeFileSync(
    file,
    `data_dir = "${join(dir, `${region}-data`)}"\nbind_addr = "127.0.0.1"\nregion = "${region}"\n` +
      `server {\n  enabled = true\n}\nacl {\n  enabled = true\n}\ntls {\n  http = true\n  rpc = true\n  ca_file = "${ca}"\n` +
      `  cert_file = "${join(pki, `${region}-server-drover.pem`)}"\n  key_file = "${join(pki, `${region}-server-drover-key.pem`)}"\n` +
      `  verify_server_hostname = true\n  verify_https_client = true\n}\n`,
  );
  const proc = spawn(DROVER, ['agent', '-config', file, '-http-port', '0', '-dns-port', '0', '-log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: ENV,
  });
  procs.push(proc);
  let output = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${region} did not start in 30s:\n${output}`)), 30_000);
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = /API at (https:\/\/[\d.]+:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        res({ api: m[1]!, output: () => output });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`${region} exited with ${code}:\n${output}`));
    });
  });
}

describe('two federated regions with ACLs and mutual TLS on', () => {
  let global: { api: string; output: () => string };
  let europe: { api: string; output: () => string };
  let tls: UndiciAgent;
  const root = randomUUID();
  const certs = ['-ca-cert', ca, '-client-cert', join(pki, 'global-cli-drover.pem')];
  certs.push('-client-key', join(pki, 'global-cli-drover-key.pem'));
  const call = async (base: string, path: string, init: { method?: string; body?: string; token?: string } = {}) => {
    const res = await undiciFetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      ...(init.body ? { body: init.body } : {}),
      headers: init.token ? { 'X-Nomad-Token': init.token } : {},
      dispatcher: tls,
    });
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    const steps = [
      ['tls', 'ca', 'create'],
      ['tls', 'cert', 'create', '-server', '-region', 'global'],
      ['tls', 'cert', 'create', '-server', '-region', 'europe'],
      ['tls', 'cert', 'create', '-cli', '-region', 'global'],
    ];
    for (const args of steps) {
      const extra = args[1] === 'cert' ? ['-ca', ca, '-key', join(pki, 'drover-agent-ca-key.pem')] : [];
      const r = drover([...args, '-dir', pki, ...extra]);
      expect(r.code, r.out).toBe(0);
    }
    tls = new UndiciAgent({
      connect: {
        ca: readFileSync(ca, 'utf8'),
        cert: readFileSync(join(pki, 'global-cli-drover.pem'), 'utf8'),
        key: readFileSync(join(pki, 'global-cli-drover-key.pem'), 'utf8'),
      },
    });
    [global, europe] = await Promise.all([startServer('global'), startServer('europe')]);
    for (const s of [global, europe]) {
      const r = await call(s.api, '/v1/acl/bootstrap', {
        method: 'PUT',
        body: JSON.stringify({ BootstrapSecret: root }),
      });
      expect(r.status, r.text).toBe(200);
    }
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    killProcessesUnder(dir);
    await tls?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('federates over mutual TLS with the caller’s token; without a token the join is refused', async () => {
    const europeAddr = europe.api.replace('https://', '');
    const anon = drover(['server', 'join', '-address', global.api, ...certs, europeAddr]);
    expect(anon.code).not.toBe(0);
    const r = drover(['server', 'join', '-address', global.api, ...certs, '-token', root, europeAddr]);
    expect(r.code, r.out).toBe(0);
    expect(r.stdout).toMatch(/Joined 1 servers successfully/);
    expect((await call(global.api, '/v1/regions', { token: root })).text).toBe('["europe","global"]');
    // Joined back over TLS too: europe knows global.
    expect((await call(europe.api, '/v1/regions', { token: root })).text).toBe('["europe","global"]');
  });

  it('answers ?region=europe at the global server with the token, and refuses it without', async () => {
    const ok = await call(global.api, '/v1/agent/self?region=europe', { token: root });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.text).toContain('"Region":"europe"');
    const denied = await call(global.api, '/v1/jobs?region=europe');
    expect(denied.status).toBe(403);
    const bogus = await call(global.api, '/v1/jobs?region=europe', { token: randomUUID() });
    expect(bogus.status).toBe(403);
  });

  it('forwards a job of region europe registered at the global server, with the token only', async () => {
    const job = join(dir, 'eu.hcl');
    writeFileSync(
      job,
      `job "eu-web" {\n  region = "europe"\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config {\n        command = "sleep"\n        args = ["60"]\n      }\n    }\n  }\n}\n`,
    );
    const anon = drover(['job', 'run', '-detach', '-address', global.api, ...certs, job]);
    expect(anon.code).not.toBe(0);
    const run = drover(['job', 'run', '-detach', '-address', global.api, ...certs, '-token', root, job]);
    expect(run.code, run.out).toBe(0);
    const there = await call(global.api, '/v1/job/eu-web?region=europe', { token: root });
    expect(there.status, there.text).toBe(200);
    expect(there.text).toContain('"Region":"europe"');
    expect((await call(global.api, '/v1/job/eu-web', { token: root })).status).toBe(404);
  });
});
