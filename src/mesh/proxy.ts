/**
 * Drover's built-in sidecar proxy (Consul once shipped one too): one per Connect service, inside the
 * allocation's network namespace.
 *
 *   outbound (one listener per upstream, 127.0.0.1:<local_bind_port>):
 *     app connects ─► pick an instance (round robin, ejected ones skipped) ─► mTLS to its mesh port
 *       (its leaf must name the destination service) ─► wait for the inbound's verdict byte:
 *         READY  ─► pipe both ways
 *         DENIED ─► close the app's connection (an intention said no; no other instance would say yes)
 *         closed / error / timeout ─► eject the instance for a while, try the next one (at most 3)
 *     The app's bytes wait (socket paused) until READY; after it they are kept until the first byte comes back,
 *     so a connection the instance resets before answering (it is stopping) is replayed to the next instance.
 *   inbound (the service's mesh port, every address of the namespace):
 *     mTLS (the caller's leaf must chain to the mesh CA) ─► the caller's SPIFFE ID ─► intentions, checked on
 *     every connection against the current config (no restart) ─► DENIED, or dial the local service
 *     ─► READY and pipe both ways (the local service refusing: close, so the caller retries elsewhere)
 *   The verdict byte is sent only when the caller offered VERDICT_ALPN (another Node sidecar; an HAProxy one
 *   does not).
 *
 * The outbound keeps each instance's TLS session (a TLS 1.3 ticket) and resumes it on the next connection: an app
 * that opens a connection per request then pays an abbreviated handshake (no certificate signing or chain
 * verification) instead of a full one. Only a session whose handshake passed both checks is kept; resuming it
 * proves the far side is the same holder of that session; new material (rotation) forgets every session, and the
 * inbound then changes its ticket keys so no caller resumes a session its old certificate opened.
 *
 * Certificates, roots, intentions and upstream instances come from `update()`: the client agent rewrites the
 * sidecar's config file (sidecar.ts) and the proxy swaps them in live.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import {
  connect as tlsConnect,
  createSecureContext,
  createServer as createTLSServer,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import { intentionAllows, meshSpiffeID, parseMeshSpiffeID, type MeshSidecarMaterial } from '../structs/index.js';
import type { Logger } from '../logging/index.js';

export const VERDICT_READY = 0x01;
export const VERDICT_DENIED = 0x02;
/**
 * The ALPN name of the verdict byte: a Node outbound offers it and a Node inbound selects it, so the byte is
 * sent only between two Node sidecars. The HAProxy sidecar (haproxy-sidecar.ts) neither offers nor selects it:
 * a Node inbound then sends no verdict (a denied caller is just closed) and a Node outbound takes the finished
 * handshake as READY, so the two data planes carry each other's traffic.
 */
export const VERDICT_ALPN = 'drover-mesh-verdict';

export interface UpstreamConfig {
  DestinationName: string;
  DestinationNamespace: string;
  LocalBindAddress: string;
  LocalBindPort: number;
  /** Healthy mesh addresses of the destination (its sidecars' inbound ports). */
  Instances: Array<{ Address: string; Port: number }>;
}

export interface SidecarConfig {
  Service: string;
  Namespace: string;
  /** The inbound side: the mesh port inside the namespace, and the local service's port. */
  Inbound?: { BindAddress: string; Port: number; LocalServicePort: number };
  Upstreams: UpstreamConfig[];
  Material: MeshSidecarMaterial;
}

const EJECT_MS = 10_000;
const MAX_TRIES = 3;
const HANDSHAKE_TIMEOUT_MS = 5_000;
/** The most a caller may send before the first answer for its connection to be replayed elsewhere. */
const REPLAY_MAX = 64 * 1024;
/** How long a session ticket the inbound issues may be resumed (Node's default is 300 s). */
const SESSION_TIMEOUT_S = 60;
/** Sessions kept for resumption, one per instance; past this many (instances churned) they are all dropped. */
const SESSIONS_MAX = 1024;

function spiffeOf(sock: TLSSocket): string | undefined {
  // The X509Certificate form parses only what is asked (getPeerCertificate() builds every field and three
  // fingerprints on each connection).
  const san = sock.getPeerX509Certificate()?.subjectAltName ?? '';
  for (const part of san.split(/,\s*/)) if (part.startsWith('URI:')) return part.slice(4);
  return undefined;
}

interface Listener {
  key: string;
  server: Server;
  next: number;
  ejected: Map<string, number>;
  upstream: UpstreamConfig;
}

export class SidecarProxy {
  private cfg: SidecarConfig | undefined;
  private ctx: SecureContext | undefined;
  private inbound: { key: string; server: Server } | undefined;
  private readonly upstreams = new Map<string, Listener>();
  private readonly sockets = new Set<Socket>();
  /** TLS sessions to resume, by instance address and the identity its certificate was checked against. */
  private readonly sessions = new Map<string, Buffer>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Applies a config: new certificates and intentions at once; listeners opened or closed as they changed. */
  async update(cfg: SidecarConfig): Promise<void> {
    const m = cfg.Material;
    const prev = this.cfg?.Material;
    // Upstream and intention changes keep the sessions; only new certificates or roots forget them.
    const rotated =
      prev === undefined || prev.CertPEM !== m.CertPEM || prev.KeyPEM !== m.KeyPEM || prev.RootsPEM !== m.RootsPEM;
    if (rotated) {
      this.ctx = createSecureContext({ cert: m.CertPEM, key: m.KeyPEM, ca: m.RootsPEM });
      // A session resumed skips verification: none may outlive the roots and leaf it was verified with.
      this.sessions.clear();
    }
    this.cfg = cfg;
    await this.updateInbound(cfg, rotated);
    const want = new Set<string>();
    for (const u of cfg.Upstreams) {
      const key = `${u.LocalBindAddress || '127.0.0.1'}:${u.LocalBindPort}`;
      want.add(key);
      const l = this.upstreams.get(key);
      if (l) l.upstream = u;
      else await this.listenUpstream(key, u);
    }
    for (const [key, l] of this.upstreams)
      if (!want.has(key)) {
        this.upstreams.delete(key);
        l.server.close();
      }
  }

  /** The bound port of the inbound listener (tests and benchmarks bind port 0). */
  inboundPort(): number {
    const a = this.inbound?.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  upstreamPort(localBindPort: number, address = '127.0.0.1'): number {
    const a = this.upstreams.get(`${address}:${localBindPort}`)?.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async close(): Promise<void> {
    const servers = [...this.upstreams.values()].map((l) => l.server);
    if (this.inbound) servers.push(this.inbound.server);
    this.upstreams.clear();
    this.inbound = undefined;
    for (const s of this.sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private async updateInbound(cfg: SidecarConfig, rotated: boolean): Promise<void> {
    const ib = cfg.Inbound;
    const key = ib ? `${ib.BindAddress}:${ib.Port}` : '';
    if (this.inbound && this.inbound.key === key) {
      if (!rotated) return;
      const server = this.inbound.server as ReturnType<typeof createTLSServer>;
      server.setSecureContext({ cert: cfg.Material.CertPEM, key: cfg.Material.KeyPEM, ca: cfg.Material.RootsPEM });
      // setSecureContext keeps the ticket keys: a caller would resume a session its old certificate opened,
      // skipping the check against the new roots (a removed CA's leaves would still get in). New keys void
      // every ticket issued before the rotation.
      server.setTicketKeys(randomBytes(48));
      return;
    }
    if (this.inbound) {
      this.inbound.server.close();
      this.inbound = undefined;
    }
    if (!ib) return;
    const server = createTLSServer(
      {
        cert: cfg.Material.CertPEM,
        key: cfg.Material.KeyPEM,
        ca: cfg.Material.RootsPEM,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ALPNProtocols: [VERDICT_ALPN],
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        sessionTimeout: SESSION_TIMEOUT_S,
      },
      (sock) => this.onInbound(sock),
    );
    server.on('tlsClientError', (e) => this.log.debug('mesh: inbound TLS refused', { err: e.message }));
    await listen(server, ib.Port, ib.BindAddress);
    this.inbound = { key, server };
  }

  private onInbound(sock: TLSSocket): void {
    this.track(sock);
    sock.on('error', () => sock.destroy());
    const cfg = this.cfg!;
    const verdict = sock.alpnProtocol === VERDICT_ALPN;
    const caller = parseMeshSpiffeID(spiffeOf(sock) ?? '');
    const allowed =
      caller !== undefined &&
      intentionAllows(cfg.Material.Intentions, cfg.Material.DefaultAction, caller, {
        namespace: cfg.Namespace,
        service: cfg.Service,
      });
    if (!allowed) {
      this.log.info('mesh: connection denied by intentions', { source: caller?.service ?? '(no identity)' });
      if (verdict) sock.end(Buffer.from([VERDICT_DENIED]));
      else sock.destroy();
      return;
    }
    sock.pause();
    sock.setNoDelay(true);
    const local = netConnect({ host: '127.0.0.1', port: cfg.Inbound!.LocalServicePort, noDelay: true });
    this.track(local);
    local.once('connect', () => {
      if (verdict) sock.write(Buffer.from([VERDICT_READY]));
      sock.pipe(local);
      local.pipe(sock);
      sock.resume();
    });
    local.on('error', () => {
      local.destroy();
      sock.destroy();
    });
    sock.once('close', () => local.destroy());
    local.once('close', () => sock.end());
  }

  private async listenUpstream(key: string, u: UpstreamConfig): Promise<void> {
    const l: Listener = { key, server: createServer(), next: 0, ejected: new Map(), upstream: u };
    l.server.on('connection', (app) => this.onOutbound(l, app));
    await listen(l.server, u.LocalBindPort, u.LocalBindAddress || '127.0.0.1');
    this.upstreams.set(key, l);
  }

  /** Instances to try, in order: round robin over those not ejected (all of them when every one is). */
  private candidates(l: Listener): Array<{ Address: string; Port: number }> {
    const all = l.upstream.Instances;
    if (all.length === 0) return [];
    const start = l.next++ % all.length;
    const ordered = [...all.slice(start), ...all.slice(0, start)];
    const t = this.now();
    const live = ordered.filter((i) => (l.ejected.get(`${i.Address}:${i.Port}`) ?? 0) <= t);
    return (live.length > 0 ? live : ordered).slice(0, MAX_TRIES);
  }

  private onOutbound(l: Listener, app: Socket): void {
    this.track(app);
    app.setNoDelay(true);
    app.pause();
    app.on('error', () => app.destroy());
    const tries = this.candidates(l);
    // What the app sent before any byte came back: replayed to the next instance when this one fails first.
    const sent: Replay = { chunks: [], bytes: 0, ended: false };
    const attempt = (i: number): void => {
      const inst = tries[i];
      if (!inst || app.destroyed) {
        if (!inst)
          this.log.warn('mesh: no instance of the upstream answered', { upstream: l.upstream.DestinationName });
        app.destroy();
        return;
      }
      this.dial(l.upstream, inst, app, sent, (outcome) => {
        if (outcome === 'retry') {
          l.ejected.set(`${inst.Address}:${inst.Port}`, this.now() + EJECT_MS);
          attempt(i + 1);
        }
      });
    };
    attempt(0);
  }

  /**
   * One mTLS connection to an instance. `done('retry')` when it failed before any byte of the far side came
   * back (before the inbound's READY, or after it while the service had not answered yet: an instance stopping
   * under load resets the connections it had just accepted) and what the app sent can still be replayed.
   *
   *   dialing ─READY─► sent (app bytes forwarded and kept, ≤ REPLAY_MAX) ─first byte back─► piped
   *      └─ close/error/timeout ─► retry        └─ close/error ─► retry (replay) or, past REPLAY_MAX, close app
   */
  private dial(
    u: UpstreamConfig,
    inst: { Address: string; Port: number },
    app: Socket,
    sent: Replay,
    done: (o: 'ok' | 'denied' | 'retry') => void,
  ): void {
    const cfg = this.cfg!;
    const want = meshSpiffeID(u.DestinationNamespace || cfg.Namespace, u.DestinationName);
    let settled = false;
    const settle = (o: 'ok' | 'denied' | 'retry') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(o);
    };
    const sessionKey = `${inst.Address}:${inst.Port} ${want}`;
    const tls = tlsConnect({
      host: inst.Address,
      port: inst.Port,
      secureContext: this.ctx,
      session: this.sessions.get(sessionKey),
      servername: undefined,
      minVersion: 'TLSv1.2',
      ALPNProtocols: [VERDICT_ALPN],
      // The server's identity is its SPIFFE ID, not a host name.
      checkServerIdentity: (_host, cert) =>
        (cert.subjectaltname ?? '').split(/,\s*/).includes(`URI:${want}`)
          ? undefined
          : new Error(`the instance's certificate is not ${want}`),
    });
    tls.setNoDelay(true);
    this.track(tls);
    const ctx = this.ctx;
    tls.on('session', (session: Buffer) => {
      // Sent by the server after the handshake: kept only when the handshake verified the far side, and not
      // when the material changed meanwhile.
      if (!tls.authorized || ctx !== this.ctx) return;
      if (this.sessions.size >= SESSIONS_MAX) this.sessions.clear();
      this.sessions.set(sessionKey, session);
    });
    let phase: 'dialing' | 'sent' | 'piped' = 'dialing';
    const onAppClose = () => tls.destroy();
    app.once('close', onAppClose);
    const onAppData = (d: Buffer) => {
      sent.bytes += d.length;
      if (sent.bytes <= REPLAY_MAX) sent.chunks.push(d);
      else sent.chunks = [];
      if (!tls.write(d)) {
        app.pause();
        tls.once('drain', () => app.resume());
      }
    };
    const onAppEnd = () => {
      sent.ended = true;
      tls.end();
    };
    const unhook = () => {
      app.off('close', onAppClose);
      app.off('data', onAppData);
      app.off('end', onAppEnd);
    };
    const fail = () => {
      tls.destroy();
      if (phase === 'dialing') this.sessions.delete(sessionKey);
      if (settled && phase !== 'sent') return;
      unhook();
      if (phase === 'sent') {
        phase = 'dialing';
        settled = false;
        app.pause();
      }
      // The caller hanging up says nothing about the instance: not retried, not ejected. Nor is a request
      // too large to replay.
      if (app.destroyed || sent.bytes > REPLAY_MAX) {
        app.destroy();
        settle('denied');
        return;
      }
      settle('retry');
    };
    const timer = setTimeout(fail, HANDSHAKE_TIMEOUT_MS);
    tls.on('error', fail);
    tls.once('close', () => {
      if (phase === 'piped') app.end();
      else fail();
    });
    const onFirstBytes = (chunk: Buffer) => {
      // The far side answered: from now on the two sockets are piped together and nothing is replayed.
      tls.off('data', onFirstBytes);
      unhook();
      app.once('close', onAppClose);
      phase = 'piped';
      tls.pause();
      app.write(chunk);
      if (!sent.ended) app.pipe(tls);
      tls.pipe(app);
      tls.resume();
      app.resume();
    };
    const onVerdict = (chunk: Buffer) => {
      tls.off('data', onVerdict);
      if (app.destroyed || chunk[0] !== VERDICT_READY) {
        settle('denied');
        tls.destroy();
        app.destroy();
        return;
      }
      settle('ok');
      phase = 'sent';
      for (const c of sent.chunks) tls.write(c);
      if (sent.ended) tls.end();
      else {
        app.on('data', onAppData);
        app.once('end', onAppEnd);
        app.resume();
      }
      tls.on('data', onFirstBytes);
      const rest = chunk.subarray(1);
      if (rest.length > 0) onFirstBytes(rest);
    };
    tls.on('data', onVerdict);
    // An inbound that did not select the verdict's ALPN (the HAProxy sidecar) sends none: its handshake is READY.
    tls.once('secureConnect', () => {
      if (tls.alpnProtocol !== VERDICT_ALPN) {
        tls.off('data', onVerdict);
        onVerdict(Buffer.from([VERDICT_READY]));
      }
    });
  }
}

interface Replay {
  chunks: Buffer[];
  bytes: number;
  ended: boolean;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
