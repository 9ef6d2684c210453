/**
 * The HAProxy sidecar against a real HAProxy (skipped without the binary): started as the connect_proxy driver
 * starts it (master-worker, foreground, sockets relative to its working directory), changed only through
 * HaproxySidecar.apply, and talking mTLS with the Node sidecar both ways.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../lib/haproxy/binary.js';
import { freePort } from '../lib/net.js';
import { nullLogger } from '../logging/index.js';
import { HaproxySidecar, intentionEntries } from './haproxy-sidecar.js';
import { SidecarProxy, type SidecarConfig } from './proxy.js';
import { intention, testPKI, type TestPKI } from './testing/fixtures.js';
import { call, echo } from './testing/net.js';

const HAPROXY = findExecutable('haproxy');

/** The serial of the certificate a TLS port serves, or the error. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    s.once('secureConnect', () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.on('error', (e) => resolve(String(e)));
  });
}

/** Polls `f` until it returns `want` (HAProxy applies checks and reloads on its own time), at most 10 s. */
async function until<T>(f: () => Promise<T>, want: T): Promise<T> {
  const deadline = Date.now() + 10_000;
  let last = await f();
  while (last !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    last = await f();
  }
  return last;
}

describe('intention map entries', () => {
  it('decides every key as intentionAllows does, most specific source first', () => {
    const m = {
      DefaultAction: 'deny' as const,
      Intentions: [
        intention('web', 'db', 'allow'),
        { ...intention('*', 'db', 'allow'), SourceNS: 'ops' },
        { ...intention('admin', 'db', 'deny'), SourceNS: '*' },
      ],
    };
    expect(new Map(intentionEntries(m, { namespace: 'default', service: 'db' }))).toEqual(
      new Map([
        ['default/admin', 'deny'],
        ['default/web', 'allow'],
        ['default/*', 'deny'],
        ['ops/admin', 'deny'],
        ['ops/web', 'allow'],
        ['ops/*', 'allow'],
        ['*/admin', 'deny'],
        ['*/web', 'deny'],
        ['*', 'deny'],
      ]),
    );
  });
});

describe.skipIf(!HAPROXY)('the HAProxy sidecar (haproxy binary)', () => {
  let pki: TestPKI;
  let dir = '';
  let child: ChildProcess | undefined;
  const servers: Server[] = [];
  const nodes: SidecarProxy[] = [];

  beforeAll(async () => {
    pki = await testPKI();
    dir = mkdtempSync(join(tmpdir(), 'drover-hasc-'));
  });
  afterAll(async () => {
    child?.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.close()));
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries mTLS both ways with the Node sidecar, and applies intentions, instances and certificates live', async () => {
    const db = await echo('db');
    servers.push(db.server);
    const [meshPort, upPort] = [await freePort(), await freePort()];
    let material = await pki.material('db');
    // One HAProxy sidecar for "db": inbound to the echo service, and an upstream to db's own inbound.
    const cfg = (over: Partial<SidecarConfig> = {}): SidecarConfig => ({
      Service: 'db',
      Namespace: 'default',
      Inbound: { BindAddress: '127.0.0.1', Port: meshPort, LocalServicePort: db.port },
      Upstreams: [
        {
          DestinationName: 'db',
          DestinationNamespace: 'default',
          LocalBindAddress: '127.0.0.1',
          LocalBindPort: upPort,
          Instances: [{ Address: '127.0.0.1', Port: meshPort }],
        },
      ],
      Material: material,
      ...over,
    });
    const sidecar = new HaproxySidecar(join(dir, 'secrets', 'haproxy'), dir, nullLogger, HAPROXY);
    sidecar.prepare(cfg());
    child = spawn(HAPROXY!, ['-W', '-db', '-S', 'unix@secrets/haproxy/m.sock', '-f', sidecar.paths.cfg], {
      cwd: dir,
      stdio: 'ignore',
    });
    // HAProxy's own path: upstream port ─► its inbound ─► the service.
    expect(await until(() => call(upPort, 'a'), 'db:a')).toBe('db:a');

    // A Node outbound calling the HAProxy inbound (no verdict byte), as "web".
    const web = new SidecarProxy(nullLogger);
    nodes.push(web);
    const webCfg = async (intentions = material.Intentions): Promise<SidecarConfig> => ({
      Service: 'web',
      Namespace: 'default',
      Upstreams: [
        {
          DestinationName: 'db',
          DestinationNamespace: 'default',
          LocalBindAddress: '127.0.0.1',
          LocalBindPort: 0,
          Instances: [{ Address: '127.0.0.1', Port: meshPort }],
        },
      ],
      Material: { ...(await pki.material('web')), Intentions: intentions },
    });
    await web.update(await webCfg());
    expect(await call(web.upstreamPort(0), 'b')).toBe('db:b');

    // Intentions: a deny closes web's call, an allow lets it in again; no restart.
    material = { ...material, Intentions: [intention('web', 'db', 'deny')] };
    await sidecar.apply(cfg());
    expect(await call(web.upstreamPort(0), 'c')).toBe('closed');
    material = { ...material, Intentions: [intention('web', 'db', 'allow')] };
    await sidecar.apply(cfg());
    expect(await call(web.upstreamPort(0), 'd')).toBe('db:d');

    // Callers from other namespaces, judged by their own namespace's rules: "evil" from any namespace is denied,
    // and so is every service of a namespace longer than an OU holds (its leaf names it by a hash).
    const longNs = `n${'x'.repeat(70)}`;
    const caller = async (service: string, namespace: string) => {
      const proxy = new SidecarProxy(nullLogger);
      nodes.push(proxy);
      const c = await webCfg();
      await proxy.update({
        ...c,
        Service: service,
        Namespace: namespace,
        Material: await pki.material(service, [], 'allow', namespace),
      });
      return proxy;
    };
    const evil = await caller('evil', 'other');
    const fromLong = await caller('web', longNs);
    const friend = await caller('friend', 'other');
    material = {
      ...material,
      DefaultAction: 'allow',
      Intentions: [
        { ...intention('evil', 'db', 'deny'), SourceNS: '*' },
        { ...intention('*', 'db', 'deny'), SourceNS: longNs },
      ],
    };
    await sidecar.apply(cfg());
    expect(await call(evil.upstreamPort(0), 'x')).toBe('closed');
    expect(await call(fromLong.upstreamPort(0), 'y')).toBe('closed');
    expect(await call(friend.upstreamPort(0), 'z')).toBe('db:z');
    expect(await call(web.upstreamPort(0), 'd2')).toBe('db:d2');
    material = { ...material, Intentions: [intention('web', 'db', 'allow')] };
    await sidecar.apply(cfg());

    // A connection without a certificate is refused.
    const bare = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: meshPort, rejectUnauthorized: false });
      let got = '';
      s.on('secureConnect', () => s.write('x'));
      s.on('data', (d) => (got += d.toString()));
      s.on('error', () => {});
      s.on('close', () => resolve(got === '' ? 'refused' : got));
    });
    expect(bare).toBe('refused');

    // A new leaf is served on the next handshake; requests keep passing.
    const before = await servedSerial(meshPort);
    material = { ...(await pki.material('db')), Intentions: material.Intentions };
    await sidecar.apply(cfg());
    expect(await servedSerial(meshPort)).not.toBe(before);
    expect(await call(upPort, 'e')).toBe('db:e');

    // HAProxy's outbound to a Node inbound (the verdict byte is not sent to it), as the upstream's only instance.
    const other = await echo('node-db');
    servers.push(other.server);
    const nodeDb = new SidecarProxy(nullLogger);
    nodes.push(nodeDb);
    await nodeDb.update({
      Service: 'db',
      Namespace: 'default',
      Inbound: { BindAddress: '127.0.0.1', Port: 0, LocalServicePort: other.port },
      Upstreams: [],
      Material: await pki.material('db'),
    });
    const [up] = cfg().Upstreams;
    await sidecar.apply(
      cfg({ Upstreams: [{ ...up!, Instances: [{ Address: '127.0.0.1', Port: nodeDb.inboundPort() }] }] }),
    );
    expect(await until(() => call(upPort, 'f'), 'node-db:f')).toBe('node-db:f');

    // New roots (a new CA): a seamless reload; the new leaf chains to them and requests pass.
    const pki2 = await testPKI();
    material = { ...(await pki2.material('db')), RootsPEM: `${pki.ca.certPEM}${pki2.ca.certPEM}` };
    await sidecar.apply(cfg());
    expect(await until(() => call(upPort, 'g'), 'db:g')).toBe('db:g');
    const w = await webCfg();
    await web.update({ ...w, Material: { ...w.Material, RootsPEM: material.RootsPEM } });
    expect(await call(web.upstreamPort(0), 'h')).toBe('db:h');
  });
});
