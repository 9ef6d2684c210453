/**
 * The mesh between two "hosts": two network namespaces the test creates, joined by a veth pair (192.0.2.1 and
 * 192.0.2.2, TEST-NET-1, reachable only between them). Host B runs the `db` service on its own 127.0.0.1 and
 * the inbound sidecar (dist/mesh/sidecar.js, the process the connect_proxy driver starts) on 192.0.2.2; host A
 * runs the outbound sidecar with an upstream `db` on its 127.0.0.1:7000. A request on host A reaches the service
 * on host B over mutual TLS; a connection to B's mesh port without a certificate, or with one another CA
 * signed, is refused. Sidecars and certificates are the real ones; no agent runs here (the agents' part, leaves
 * and upstream instances written into the sidecar's config, is covered by connect-mesh.test.ts).
 *
 * Traffic goes only inside the two namespaces. Names carry this suite's prefix and the test's pid.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundConfig, outboundConfig, testPKI } from '../../src/mesh/testing/fixtures.js';

const isRoot = process.getuid?.() === 0;
const haveOpenSSL = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();
const SIDECAR = fileURLToPath(new URL('../../dist/mesh/sidecar.js', import.meta.url));
const tag = String(process.pid % 100_000);
const NS_A = `drm2h-a-${tag}`;
const NS_B = `drm2h-b-${tag}`;
const VETH_A = `dm2a${tag}`;
const VETH_B = `dm2b${tag}`;
const ADDR_A = '192.0.2.1';
const ADDR_B = '192.0.2.2';
const MESH_PORT = 20_000;

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });

/** Runs `node -e script` inside a namespace; resolves its stdout. */
function nodeIn(ns: string, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeout: 20_000 }, (err, out, se) =>
      err ? reject(new Error(`${err.message}: ${se}`)) : resolve(out.trim()),
    );
  });
}

/** One HTTP request from host A through its upstream port: the body, or the error. */
const REQUEST = `require('http').get({host:'127.0.0.1',port:7000,agent:false},(r)=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>console.log(b))}).on('error',(e)=>console.log('error '+e.code))`;

/** A TLS connection from host A straight to B's mesh port: 'refused' when nothing but a close comes back. */
const tlsProbe = (opts: Record<string, string>) =>
  `const s=require('tls').connect({host:'${ADDR_B}',port:${MESH_PORT},rejectUnauthorized:false,...${JSON.stringify(opts)}});` +
  `let got='';s.on('secureConnect',()=>s.write('GET / HTTP/1.0\\r\\n\\r\\n'));s.on('data',d=>got+=d);s.on('error',()=>{});` +
  `s.on('close',()=>console.log(got===''?'refused':got));setTimeout(()=>s.destroy(),5000)`;

describe.skipIf(!isRoot || !haveOpenSSL || !existsSync(SIDECAR))(
  'the mesh between two hosts (root, openssl, npm run build)',
  () => {
    const procs: ChildProcess[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'drover-mesh2h-'));
    let foreign: { CertPEM: string; KeyPEM: string };

    const start = (ns: string, args: string[]) => {
      const p = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      p.stderr?.resume();
      procs.push(p);
    };

    beforeAll(async () => {
      sh('ip', ['netns', 'add', NS_A]);
      sh('ip', ['netns', 'add', NS_B]);
      sh('ip', ['link', 'add', VETH_A, 'type', 'veth', 'peer', 'name', VETH_B]);
      sh('ip', ['link', 'set', VETH_A, 'netns', NS_A]);
      sh('ip', ['link', 'set', VETH_B, 'netns', NS_B]);
      for (const [ns, dev, addr] of [
        [NS_A, VETH_A, ADDR_A],
        [NS_B, VETH_B, ADDR_B],
      ] as const) {
        sh('ip', ['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', dev]);
        sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
        sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      }
      const pki = await testPKI();
      foreign = await (await testPKI()).material('web');
      const inCfg = inboundConfig(await pki.material('db'), 6000);
      inCfg.Inbound = { BindAddress: ADDR_B, Port: MESH_PORT, LocalServicePort: 6000 };
      const outCfg = outboundConfig(await pki.material('web'), 'db', [{ Address: ADDR_B, Port: MESH_PORT }]);
      outCfg.Upstreams[0]!.LocalBindPort = 7000;
      writeFileSync(join(dir, 'in.json'), JSON.stringify(inCfg));
      writeFileSync(join(dir, 'out.json'), JSON.stringify(outCfg));
      start(NS_B, ['-e', "require('http').createServer((q,s)=>s.end('db on host B')).listen(6000,'127.0.0.1')"]);
      start(NS_B, [SIDECAR, join(dir, 'in.json')]);
      start(NS_A, [SIDECAR, join(dir, 'out.json')]);
    }, 60_000);

    afterAll(() => {
      for (const p of procs) p.kill('SIGKILL');
      for (const ns of [NS_A, NS_B]) if (existsSync(`/var/run/netns/${ns}`)) sh('ip', ['netns', 'del', ns]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('carries a request from a sidecar on one host to the service on the other over mutual TLS', async () => {
      let got = '';
      const deadline = Date.now() + 60_000;
      while (got !== 'db on host B' && Date.now() < deadline) {
        got = await nodeIn(NS_A, REQUEST);
        if (got !== 'db on host B') await new Promise((r) => setTimeout(r, 500));
      }
      expect(got).toBe('db on host B');
      // Nothing else answers on B: the service listens on B's own loopback only, reached through the mesh port.
      expect(await nodeIn(NS_A, REQUEST.replace("host:'127.0.0.1',port:7000", `host:'${ADDR_B}',port:6000`))).toBe(
        'error ECONNREFUSED',
      );
    });

    it('refuses a connection to the mesh port without a certificate, or with one another CA signed', async () => {
      expect(await nodeIn(NS_A, tlsProbe({}))).toBe('refused');
      expect(await nodeIn(NS_A, tlsProbe({ cert: foreign.CertPEM, key: foreign.KeyPEM }))).toBe('refused');
      // The mesh port itself is up and answering TLS for a valid caller: the request of the test above still passes.
      expect(await nodeIn(NS_A, REQUEST)).toBe('db on host B');
    });
  },
);
