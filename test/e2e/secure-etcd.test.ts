/**
 * Issue 12 on an etcd cluster: two server agents on one etcd with ACLs and mutual TLS on, given the same
 * key-encryption key (server.keyring_kek_file), share one keyring and one workload-identity signing key through
 * etcd, both stored wrapped with that KEK.
 *
 *   A and B on etcd ─► bootstrap through A, the token works at B (B answers `?stale` reads from its own replica)
 *   variable written through A ─► read at B ─► planted secret absent from every etcd value and etcd's files
 *   task on a client agent gets a JWT signed by the leader ─► verifies against B's JWKS, reads its variable at B
 *   keyring rotate -full through A ─► B still reads every variable; the old key can be removed
 *   a server on etcd with ACLs but no KEK refuses to start, naming keyring_kek_file
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { inflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DROVER, killProcessesUnder } from './harness/agent.js';
import { startEtcd, type TestEtcd } from './harness/etcd.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-e2e-sec3-etcd-'));
const procs: ChildProcess[] = [];
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'DROVER_TOKEN' && k !== 'NOMAD_TOKEN'),
) as Record<string, string>;
const pki = join(dir, 'pki');
const ca = join(pki, 'drover-agent-ca.pem');
const kekFile = join(dir, 'kek');

interface Started {
  api: string;
  output: () => string;
  proc: ChildProcess;
}

function drover(args: string[]): { code: number; out: string; stdout: string } {
  const r = spawnSync(DROVER, args, { encoding: 'utf8', timeout: 30_000, env: ENV });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function spawnAgent(name: string, hcl: string): { proc: ChildProcess; output: () => string } {
  const file = join(dir, `${name}.hcl`);
  writeFileSync(file, `data_dir = "${join(dir, `${name}-data`)}"\nbind_addr = "127.0.0.1"\n${hcl}`);
  const proc = spawn(DROVER, ['agent', '-config', file, '-http-port', '0', '-dns-port', '0', '-log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: ENV,
  });
  procs.push(proc);
  let output = '';
  proc.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  return { proc, output: () => output };
}

function startAgent(name: string, hcl: string): Promise<Started> {
  const { proc, output } = spawnAgent(name, hcl);
  return new Promise((res, rej) => {
    const timer = setInterval(() => {
      const m = /API at (https?:\/\/[\d.]+:\d+)/.exec(output());
      if (m) {
        clearInterval(timer);
        res({ api: m[1]!, output, proc });
      }
    }, 50);
    setTimeout(() => {
      clearInterval(timer);
      rej(new Error(`${name} did not start in 30s:\n${output()}`));
    }, 30_000);
    proc.once('exit', (code) => {
      clearInterval(timer);
      rej(new Error(`${name} exited with ${code}:\n${output()}`));
    });
  });
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

const tlsBlock = (role: string) => `tls {
  http = true
  rpc = true
  ca_file = "${ca}"
  cert_file = "${join(pki, `global-${role}-drover.pem`)}"
  key_file = "${join(pki, `global-${role}-drover-key.pem`)}"
  verify_server_hostname = true
  verify_https_client = true
}
`;

describe('two servers on one etcd with ACLs and mutual TLS on', () => {
  let etcd: TestEtcd;
  let a: Started;
  let b: Started;
  let root = '';
  let tls: UndiciAgent;
  const certs = ['-ca-cert', ca, '-client-cert', join(pki, 'global-cli-drover.pem')];
  certs.push('-client-key', join(pki, 'global-cli-drover-key.pem'));
  /** `drover <verbs> <connection flags> <rest>`: the CLI as a user runs it against `s` with the root token. */
  const cli = (s: Started, verbs: string[], rest: string[] = []) =>
    drover([...verbs, '-address', s.api, ...certs, '-token', root, ...rest]);
  const get = async (s: Started, path: string, token = root) => {
    const res = await undiciFetch(`${s.api}${path}`, {
      headers: token ? { 'X-Nomad-Token': token } : {},
      dispatcher: tls,
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as unknown };
  };

  beforeAll(async () => {
    for (const args of [
      ['tls', 'ca', 'create'],
      ['tls', 'cert', 'create', '-server'],
      ['tls', 'cert', 'create', '-client'],
      ['tls', 'cert', 'create', '-cli'],
    ]) {
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
    writeFileSync(kekFile, randomBytes(32).toString('base64') + '\n');
    chmodSync(kekFile, 0o600);
    etcd = await startEtcd({ members: 1 });
    const server = (kek: boolean) =>
      `server {\n  enabled = true\n${kek ? `  keyring_kek_file = "${kekFile}"\n` : ''}  etcd {\n    endpoints = ${JSON.stringify(etcd.endpoints)}\n  }\n}\nacl {\n  enabled = true\n}\n${tlsBlock('server')}`;
    a = await startAgent('sec3-a', server(true));
    b = await startAgent('sec3-b', server(true));
    // Both name one leader (the ACL bootstrap needs it).
    await vi.waitFor(
      async () => {
        const [la, lb] = [(await get(a, '/v1/status/leader', '')).text, (await get(b, '/v1/status/leader', '')).text];
        expect(la).not.toBe('""');
        expect(la).toBe(lb);
      },
      { timeout: 30_000, interval: 250 },
    );
    const boot = drover(['acl', 'bootstrap', '-json', '-address', a.api, ...certs]);
    expect(boot.code, boot.out).toBe(0);
    root = (JSON.parse(boot.stdout) as { SecretID: string }).SecretID;
  }, 120_000);

  afterAll(async () => {
    for (const p of procs.reverse()) await stop(p);
    killProcessesUnder(dir);
    await tls?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('refuses to start a server on etcd with ACLs on and no key-encryption key, naming the setting', async () => {
    const { proc, output } = spawnAgent(
      'sec3-nokek',
      `server {\n  enabled = true\n  etcd {\n    endpoints = ${JSON.stringify(etcd.endpoints)}\n  }\n}\nacl {\n  enabled = true\n}\n`,
    );
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    expect(code).not.toBe(0);
    expect(output()).toContain('server.keyring_kek_file is required with server.etcd');
  });

  it('resolves a token bootstrapped through A at B, from B’s own replica', async () => {
    // `?stale` is answered by a standby from its replica: the token is resolved there, not at the leader.
    await expect.poll(async () => (await get(b, '/v1/jobs?stale', root)).status, { timeout: 15_000 }).toBe(200);
    expect((await get(a, '/v1/jobs?stale', root)).status).toBe(200);
    expect((await get(b, '/v1/jobs?stale', '')).status).toBe(403);
    expect((await get(b, '/v1/jobs', '')).status).toBe(403);
    const self = await get(b, '/v1/acl/token/self', root);
    expect(self.status, self.text).toBe(200);
    expect((self.json() as { Type: string }).Type).toBe('management');
  });

  it('reads at B a variable written through A, and etcd holds no plaintext of it or of the keys', async () => {
    const planted = `sec3-planted-${Math.random().toString(36).slice(2)}`;
    for (let i = 0; i < 5; i++) {
      const r = cli(a, ['var', 'put'], [`app/db${i}`, `password=${planted}-${i}`]);
      expect(r.code, r.out).toBe(0);
    }
    await expect
      .poll(async () => (await get(b, '/v1/var/app/db3?stale', root)).text, { timeout: 15_000 })
      .toContain(`${planted}-3`);
    // What `etcdctl get --prefix /` shows: every key and value under the cluster's prefix.
    const res = await fetch(`${etcd.endpoints[0]}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({
        key: Buffer.from('\0').toString('base64'),
        range_end: Buffer.from('\0').toString('base64'),
      }),
    });
    const kvs = ((await res.json()) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
    // Drover's etcd log entries are a kind byte, then raw DEFLATE of JSON (state/etcd/codec.ts): read them decoded.
    const values = kvs
      .map((kv) => {
        const raw = Buffer.from(kv.value, 'base64');
        try {
          return inflateRawSync(raw.subarray(1)).toString('utf8');
        } catch {
          return raw.toString('latin1');
        }
      })
      .join('\n');
    // The decoding worked: the variables' rows and the wrapped keys are there, the secrets are not.
    expect(values).toContain('"app/db3"');
    expect(values).toContain('WrappedKey');
    expect(values).toContain('WrappedPrivateKey');
    expect(values).not.toContain(planted);
    expect(values).not.toContain('PRIVATE KEY');
    // And the members' files on disk (bbolt database and WAL).
    const files = (d: string): string[] =>
      readdirSync(d).flatMap((n) => {
        const p = join(d, n);
        return statSync(p).isDirectory() ? files(p) : [p];
      });
    for (const m of etcd.members)
      for (const f of files(m.dataDir)) expect(readFileSync(f).toString('latin1')).not.toContain(planted);
  });

  it('gives a task a workload identity signed by the leader that B verifies and honours', async () => {
    await startAgent(
      'sec3-client',
      `client {\n  enabled = true\n  servers = ["${a.api.replace(/^https:\/\//, '')}", "${b.api.replace(/^https:\/\//, '')}"]\n}\nacl {\n  enabled = true\n}\nplugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n${tlsBlock('client')}`,
    );
    expect(cli(a, ['var', 'put'], ['nomad/jobs/wi', 'mine=yes']).code).toBe(0);
    expect(cli(a, ['var', 'put'], ['nomad/jobs/other', 'theirs=no']).code).toBe(0);
    const jwtFile = join(dir, 'wi.jwt');
    const job = join(dir, 'wi.hcl');
    writeFileSync(
      job,
      `job "wi" {\n  datacenters = ["dc1"]\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      identity {\n        env = true\n      }\n      config {\n        command = "/bin/sh"\n        args = ["-c", "printf %s \\"$NOMAD_TOKEN\\" > ${jwtFile}.tmp && mv ${jwtFile}.tmp ${jwtFile}; exec sleep 3600"]\n      }\n      resources {\n        cpu = 20\n        memory = 16\n      }\n      kill_timeout = "1s"\n    }\n  }\n}\n`,
    );
    const run = cli(a, ['job', 'run', '-detach'], [job]);
    expect(run.code, run.out).toBe(0);
    await expect.poll(() => existsSync(jwtFile), { timeout: 60_000, interval: 500 }).toBe(true);
    const jwt = readFileSync(jwtFile, 'utf8').trim();
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const kid = (JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string }).kid;

    // Both servers publish the same key set; B's own replica holds the signing key's public half.
    const jwksA = (await get(a, '/.well-known/jwks.json', '')).json() as { keys: Array<Record<string, string>> };
    const jwksB = (await get(b, '/.well-known/jwks.json?stale', '')).json() as { keys: Array<Record<string, string>> };
    expect(jwksB).toEqual(jwksA);
    const jwk = jwksB.keys.find((k) => k['kid'] === kid)!;
    expect(jwk).toBeDefined();
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url'),
    );
    expect(ok).toBe(true);
    const own = await get(b, '/v1/var/nomad/jobs/wi?stale', jwt);
    expect(own.status, own.text).toBe(200);
    expect(own.text).toContain('mine');
    expect((await get(b, '/v1/var/nomad/jobs/other?stale', jwt)).status).toBe(403);
    expect((await get(b, '/v1/jobs?stale', jwt)).status).toBe(403);
  }, 120_000);

  it('rotates the keyring through A; B reads every variable and the old key is removed', async () => {
    const before = (await get(b, '/v1/operator/keyring/keys?stale', root)).json() as Array<{ KeyID: string }>;
    expect(before).toHaveLength(1);
    const rot = cli(a, ['operator', 'root', 'keyring', 'rotate', '-full']);
    expect(rot.code, rot.out).toBe(0);
    await expect
      .poll(
        async () =>
          ((await get(b, '/v1/operator/keyring/keys?stale', root)).json() as Array<{ KeyID: string; State: string }>)
            .filter((k) => k.State === 'active')
            .map((k) => k.KeyID),
        { timeout: 15_000 },
      )
      .not.toEqual([before[0]!.KeyID]);
    await expect
      .poll(() => cli(a, ['operator', 'root', 'keyring', 'remove'], [before[0]!.KeyID]).code, {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(0);
    for (let i = 0; i < 5; i++)
      await expect
        .poll(async () => (await get(b, `/v1/var/app/db${i}?stale`, root)).text, { timeout: 15_000 })
        .toMatch(new RegExp(`-${i}"`));
    const after = (await get(b, '/v1/operator/keyring/keys?stale', root)).json() as Array<{ KeyID: string }>;
    expect(after.map((k) => k.KeyID)).not.toContain(before[0]!.KeyID);
  });
});
