import { createServer, connect, type Server } from 'node:net';
import { connect as tlsConnect, createServer as createTLSServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { SidecarProxy, VERDICT_ALPN, VERDICT_READY } from './proxy.js';
import { meshSpiffeID } from '../structs/index.js';
import { inboundConfig, intention, outboundConfig, testPKI, type TestPKI } from './testing/fixtures.js';
import { call, echo } from './testing/net.js';

describe('the sidecar proxy', () => {
  let pki: TestPKI;
  const proxies: SidecarProxy[] = [];
  const servers: Server[] = [];
  const proxy = () => {
    const p = new SidecarProxy(nullLogger);
    proxies.push(p);
    return p;
  };

  beforeAll(async () => {
    pki = await testPKI();
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    for (const s of servers) s.close();
  });

  it('carries a connection over mutual TLS from an upstream port to the service, balancing instances', async () => {
    const db1 = await echo('db1');
    const db2 = await echo('db2');
    servers.push(db1.server, db2.server);
    const in1 = proxy();
    const in2 = proxy();
    await in1.update(inboundConfig(await pki.material('db'), db1.port));
    await in2.update(inboundConfig(await pki.material('db'), db2.port));
    const out = proxy();
    await out.update(
      outboundConfig(await pki.material('web'), 'db', [
        { Address: '127.0.0.1', Port: in1.inboundPort() },
        { Address: '127.0.0.1', Port: in2.inboundPort() },
      ]),
    );
    const replies = new Set<string>();
    for (let i = 0; i < 4; i++) replies.add(await call(out.upstreamPort(0), 'hi'));
    expect([...replies].sort()).toEqual(['db1:hi', 'db2:hi']);
  });

  it('closes the whole path when the caller hangs up before the far side answers (a TCP probe leaks nothing)', async () => {
    const db = await echo('db');
    servers.push(db.server);
    const inbound = proxy();
    await inbound.update(inboundConfig(await pki.material('db'), db.port));
    const out = proxy();
    await out.update(
      outboundConfig(await pki.material('web'), 'db', [{ Address: '127.0.0.1', Port: inbound.inboundPort() }]),
    );
    expect(await call(out.upstreamPort(0), 'warm')).toBe('db:warm');
    const connections = () =>
      new Promise<number>((resolve, reject) => db.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    await expect.poll(connections, { timeout: 5_000 }).toBe(0);
    for (let i = 0; i < 5; i++) {
      const probe = connect(out.upstreamPort(0), '127.0.0.1');
      probe.on('error', () => {});
      await new Promise((r) => probe.once('connect', r));
      probe.destroy();
    }
    // Each probe may reach the service before its hang-up is seen; every such connection must then be closed.
    await expect.poll(connections, { timeout: 10_000 }).toBe(0);
    expect(await call(out.upstreamPort(0), 'after')).toBe('db:after');
  });

  it('refuses a caller an intention denies, and lets it in once allowed, without a restart', async () => {
    const db = await echo('db');
    servers.push(db.server);
    const dbMaterial = await pki.material('db', [intention('web', 'db', 'deny')]);
    const inbound = proxy();
    await inbound.update(inboundConfig(dbMaterial, db.port));
    const out = proxy();
    await out.update(
      outboundConfig(await pki.material('web'), 'db', [{ Address: '127.0.0.1', Port: inbound.inboundPort() }]),
    );
    expect(await call(out.upstreamPort(0), 'x')).toBe('closed');
    await inbound.update(inboundConfig({ ...dbMaterial, Intentions: [intention('web', 'db', 'allow')] }, db.port));
    expect(await call(out.upstreamPort(0), 'x')).toBe('db:x');
  });

  it('applies the default action when no intention matches', async () => {
    const db = await echo('db');
    servers.push(db.server);
    const inbound = proxy();
    await inbound.update(inboundConfig(await pki.material('db', [], 'deny'), db.port));
    const out = proxy();
    await out.update(
      outboundConfig(await pki.material('web'), 'db', [{ Address: '127.0.0.1', Port: inbound.inboundPort() }]),
    );
    expect(await call(out.upstreamPort(0), 'x')).toBe('closed');
  });

  it('retries another instance when one cannot reach its service', async () => {
    const db = await echo('alive');
    servers.push(db.server);
    const gone = await echo('gone');
    await new Promise((r) => gone.server.close(r));
    const deadPort = gone.port;
    const inDead = proxy();
    await inDead.update(inboundConfig(await pki.material('db'), deadPort));
    const inLive = proxy();
    await inLive.update(inboundConfig(await pki.material('db'), db.port));
    const out = proxy();
    await out.update(
      outboundConfig(await pki.material('web'), 'db', [
        { Address: '127.0.0.1', Port: inDead.inboundPort() },
        { Address: '127.0.0.1', Port: inLive.inboundPort() },
      ]),
    );
    for (let i = 0; i < 6; i++) expect(await call(out.upstreamPort(0), 'q')).toBe('alive:q');
  });

  it('refuses a TLS connection without a certificate, and one whose certificate another CA signed', async () => {
    const db = await echo('db');
    servers.push(db.server);
    const inbound = proxy();
    await inbound.update(inboundConfig(await pki.material('db'), db.port));
    const attempt = (opts: { cert?: string; key?: string }) =>
      new Promise<string>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: inbound.inboundPort(), rejectUnauthorized: false, ...opts });
        let got = '';
        s.on('data', (d) => (got += d.toString('hex')));
        s.on('secureConnect', () => s.write('hello'));
        s.on('error', () => {});
        s.on('close', () => resolve(got === '' ? 'refused' : got));
        setTimeout(() => s.destroy(), 5_000).unref();
      });
    expect(await attempt({})).toBe('refused');
    const other = await (await testPKI()).material('web');
    expect(await attempt({ cert: other.CertPEM, key: other.KeyPEM })).toBe('refused');
  });

  it('replays a request to another instance when one resets the connection before answering', async () => {
    const db = await echo('alive');
    servers.push(db.server);
    // Accepts (so the inbound says READY), reads the request, then drops the connection: a stopping instance.
    let dyingAccepted = 0;
    const dying = createServer((s) => {
      dyingAccepted++;
      s.once('data', () => s.resetAndDestroy());
    });
    await new Promise<void>((r) => dying.listen(0, '127.0.0.1', r));
    servers.push(dying);
    const dyingPort = (dying.address() as { port: number }).port;
    const inDying = proxy();
    await inDying.update(inboundConfig(await pki.material('db'), dyingPort));
    const inLive = proxy();
    await inLive.update(inboundConfig(await pki.material('db'), db.port));
    const out = proxy();
    await out.update(
      outboundConfig(await pki.material('web'), 'db', [
        { Address: '127.0.0.1', Port: inDying.inboundPort() },
        { Address: '127.0.0.1', Port: inLive.inboundPort() },
      ]),
    );
    for (let i = 0; i < 6; i++) expect(await call(out.upstreamPort(0), `q${i}`)).toBe(`alive:q${i}`);
    // The first call went to the dying instance (round robin starts there) and was replayed.
    expect(dyingAccepted).toBeGreaterThan(0);
  });

  it('does not replay a connection the service already answered on', async () => {
    // Answers once, then drops the connection on the next request: the caller sees the close, no replay.
    const once = createServer((s) => {
      let n = 0;
      s.on('data', () => (n++ === 0 ? s.write('first') : s.resetAndDestroy()));
    });
    await new Promise<void>((r) => once.listen(0, '127.0.0.1', r));
    servers.push(once);
    const db = await echo('other');
    servers.push(db.server);
    const inOnce = proxy();
    await inOnce.update(inboundConfig(await pki.material('db'), (once.address() as { port: number }).port));
    const inOther = proxy();
    await inOther.update(inboundConfig(await pki.material('db'), db.port));
    const out = proxy();
    await out.update(
      outboundConfig(await pki.material('web'), 'db', [
        { Address: '127.0.0.1', Port: inOnce.inboundPort() },
        { Address: '127.0.0.1', Port: inOther.inboundPort() },
      ]),
    );
    const got = await new Promise<string>((resolve) => {
      const s = connect(out.upstreamPort(0), '127.0.0.1');
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        if (buf === 'first') s.write('second');
      });
      s.on('error', () => {});
      s.on('close', () => resolve(buf));
      s.write('one');
      setTimeout(() => s.destroy(), 5_000).unref();
    });
    expect(got).toBe('first');
  });

  it('resumes the mTLS session on the next connection to an instance, keeping the caller identity, until new material', async () => {
    // A stand-in inbound that records, per connection, whether the session was resumed and whom it saw.
    const db = await pki.material('db');
    const seen: Array<{ resumed: boolean; caller: string }> = [];
    const inbound = createTLSServer(
      {
        cert: db.CertPEM,
        key: db.KeyPEM,
        ca: db.RootsPEM,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: [VERDICT_ALPN],
      },
      (s: TLSSocket) => {
        seen.push({ resumed: s.isSessionReused(), caller: s.getPeerCertificate().subjectaltname ?? '' });
        s.write(Buffer.from([VERDICT_READY]));
        s.on('data', (d) => s.write(`db:${d.toString()}`));
        s.on('error', () => {});
      },
    );
    await new Promise<void>((r) => inbound.listen(0, '127.0.0.1', r));
    servers.push(inbound);
    const out = proxy();
    const instances = [{ Address: '127.0.0.1', Port: (inbound.address() as { port: number }).port }];
    await out.update(outboundConfig(await pki.material('web'), 'db', instances));
    const web = await pki.material('web');
    await out.update(outboundConfig(web, 'db', instances));
    for (let i = 0; i < 3; i++) expect(await call(out.upstreamPort(0), `q${i}`)).toBe(`db:q${i}`);
    // An intention or instance change keeps the sessions: the certificates they were verified with are the same.
    await out.update(outboundConfig({ ...web, Intentions: [intention('db', 'web', 'deny')] }, 'db', [...instances]));
    expect(await call(out.upstreamPort(0), 'q3')).toBe('db:q3');
    // Rotation: the sessions verified with the old material are forgotten.
    await out.update(outboundConfig(await pki.material('web'), 'db', instances));
    expect(await call(out.upstreamPort(0), 'q4')).toBe('db:q4');
    expect(seen.map((c) => c.resumed)).toEqual([false, true, true, true, false]);
    for (const c of seen) expect(c.caller).toContain(`URI:${meshSpiffeID('default', 'web')}`);
  });

  it('refuses a caller resuming a session its certificate opened once the roots that signed it are gone', async () => {
    const db = await echo('db');
    servers.push(db.server);
    const inbound = proxy();
    await inbound.update(inboundConfig(await pki.material('db'), db.port));
    const web = await pki.material('web');
    /** One connection as `web`; what came back (hex) or 'refused', whether it resumed, and its session ticket. */
    const attempt = (session?: Buffer) =>
      new Promise<{ got: string; resumed: boolean; ticket?: Buffer }>((resolve) => {
        const s = tlsConnect({
          host: '127.0.0.1',
          port: inbound.inboundPort(),
          rejectUnauthorized: false,
          cert: web.CertPEM,
          key: web.KeyPEM,
          ALPNProtocols: [VERDICT_ALPN],
          session,
        });
        let got = '';
        let resumed = false;
        let ticket: Buffer | undefined;
        s.on('secureConnect', () => (resumed = s.isSessionReused()));
        s.on('session', (t: Buffer) => (ticket = t));
        s.on('data', (d) => {
          got += d.toString('hex');
          s.end();
        });
        s.on('error', () => {});
        s.on('close', () => resolve({ got: got === '' ? 'refused' : got, resumed, ticket }));
        setTimeout(() => s.destroy(), 5_000).unref();
      });
    const first = await attempt();
    expect(first.got).toBe('01');
    expect(first.ticket).toBeDefined();
    expect((await attempt(first.ticket)).resumed).toBe(true);
    // The CA rotates: web's leaf now chains to a root the inbound no longer trusts, and its ticket is void.
    await inbound.update(inboundConfig(await (await testPKI()).material('db'), db.port));
    const after = await attempt(first.ticket);
    expect(after.resumed).toBe(false);
    expect(after.got).toBe('refused');
  });

  it('talks to a sidecar without the verdict byte (the HAProxy plane) both ways', async () => {
    // Node outbound ─► an inbound that selects no ALPN and sends no verdict: the finished handshake is READY.
    const db = await pki.material('db');
    const plain = createTLSServer(
      { cert: db.CertPEM, key: db.KeyPEM, ca: db.RootsPEM, requestCert: true, rejectUnauthorized: true },
      (s: TLSSocket) => {
        s.on('data', (d) => s.write(`plain:${d.toString()}`));
        s.on('error', () => {});
      },
    );
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    servers.push(plain);
    const out = proxy();
    const port = (plain.address() as { port: number }).port;
    await out.update(outboundConfig(await pki.material('web'), 'db', [{ Address: '127.0.0.1', Port: port }]));
    expect(await call(out.upstreamPort(0), 'x')).toBe('plain:x');

    // A caller offering no ALPN ─► Node inbound: the service's bytes come first; a denied caller is just closed.
    const svc = await echo('svc');
    servers.push(svc.server);
    const inbound = proxy();
    const web = await pki.material('web');
    await inbound.update(inboundConfig(db, svc.port));
    const raw = () =>
      new Promise<string>((resolve) => {
        const s = tlsConnect({
          host: '127.0.0.1',
          port: inbound.inboundPort(),
          rejectUnauthorized: false,
          cert: web.CertPEM,
          key: web.KeyPEM,
        });
        let got = '';
        s.on('secureConnect', () => s.write('y'));
        s.on('data', (d) => {
          got += d.toString();
          s.end();
        });
        s.on('error', () => {});
        s.on('close', () => resolve(got === '' ? 'closed' : got));
        setTimeout(() => s.destroy(), 5_000).unref();
      });
    expect(await raw()).toBe('svc:y');
    await inbound.update(inboundConfig({ ...db, Intentions: [intention('web', 'db', 'deny')] }, svc.port));
    expect(await raw()).toBe('closed');
  });
});
