/**
 * TCP routes on the Node plane: `urlprefix-:5432 proto=tcp` opens a listener on the gateway's address and
 * balances connections over the route's healthy instances; `urlprefix-db.example.com:5433 proto=tcp+sni` shares
 * a port between host names and passes TLS through by the ClientHello's server name.
 *
 *   table change --route with instances, port not open--> listen --EADDRINUSE--> route.error, others go on
 *        |--route gone or no healthy instance--> close the listener (open connections finish on their own)
 *   connection --allow/deny--> (tcp+sni: read ClientHello, pick route by name) --> pick instance --> connect
 *        --refused--> next instance (ejection as for HTTP) --> pipe both ways until either side ends
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../logging/index.js';
import { pickBackend, type Backend } from './backend.js';
import { listen } from './listen.js';
import { cidrList, inCidrs } from './route-options.js';
import { readSni } from './sni.js';
import type { LiveRoute } from './table.js';

const HELLO_TIMEOUT_MS = 5000;
const HELLO_MAX_BYTES = 16 * 1024 + 5;

interface PortState {
  server: Server;
  /** Routes on this port: one for proto=tcp (key ''), one per host for tcp+sni. */
  routes: Map<string, LiveRoute>;
  sni: boolean;
  ready: Promise<string | undefined>;
}

export class TcpListeners {
  private readonly ports = new Map<number, PortState>();
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly host: string,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** Opens, re-points and closes listeners for the TCP routes of a new table; sets `error` on failed routes. */
  async update(routes: readonly LiveRoute[]): Promise<void> {
    const want = new Map<number, { sni: boolean; routes: Map<string, LiveRoute> }>();
    for (const r of routes) {
      const port = r.spec.listenPort;
      if (port === undefined || r.error !== undefined || r.backends.length === 0) continue;
      const sni = r.spec.proto === 'tcp+sni';
      const entry = want.get(port) ?? { sni, routes: new Map() };
      if (entry.sni !== sni) {
        r.error = `port ${port} is already used by a ${sni ? 'proto=tcp' : 'proto=tcp+sni'} route`;
        continue;
      }
      if (!sni && entry.routes.size > 0) {
        r.error = `port ${port} already carries route ${[...entry.routes.values()][0]!.name}`;
        continue;
      }
      entry.routes.set(sni ? r.spec.host : '', r);
      want.set(port, entry);
    }
    for (const [port, st] of this.ports)
      if (!want.has(port) || want.get(port)!.sni !== st.sni) {
        this.ports.delete(port);
        st.server.close();
        this.logger.info('TCP route listener closed', { port });
      }
    await Promise.all(
      [...want].map(async ([port, w]) => {
        let st = this.ports.get(port);
        if (st === undefined) {
          st = this.open(port, w.sni, w.routes);
          this.ports.set(port, st);
        }
        st.routes = w.routes;
        const failed = await st.ready;
        if (failed !== undefined) {
          if (this.ports.get(port) === st) this.ports.delete(port);
          for (const r of w.routes.values()) r.error = failed;
        }
      }),
    );
  }

  private open(port: number, sni: boolean, routes: Map<string, LiveRoute>): PortState {
    const server = createServer({ pauseOnConnect: sni }, (s) => this.accept(st, s));
    const st: PortState = { server, routes, sni, ready: Promise.resolve(undefined) };
    st.ready = listen(server, this.host, port).then(
      () => {
        this.logger.info('TCP route listening', { address: `${this.host}:${port}`, sni });
        return undefined;
      },
      (err: NodeJS.ErrnoException) => {
        const why = `cannot listen on ${this.host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is already in use' : err.message}`;
        this.logger.error('TCP route not served', { port, error: why });
        return why;
      },
    );
    return st;
  }

  private accept(st: PortState, client: Socket): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (!st.sni) {
      const route = st.routes.get('');
      if (route === undefined) client.destroy();
      else this.forward(route, client, []);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => client.destroy(), HELLO_TIMEOUT_MS);
    client.once('close', () => clearTimeout(timer));
    const onData = (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      const hello = readSni(Buffer.concat(chunks));
      if (hello === 'more' && size < HELLO_MAX_BYTES) return;
      clearTimeout(timer);
      client.off('data', onData);
      client.pause();
      const route = typeof hello === 'object' ? st.routes.get(hello.name) : undefined;
      if (route === undefined) client.destroy();
      else this.forward(route, client, chunks);
    };
    client.on('data', onData);
    client.resume();
  }

  private forward(route: LiveRoute, client: Socket, head: Buffer[]): void {
    route.metrics.requests++;
    if (!allowed(route, client.remoteAddress ?? '')) {
      route.metrics.error('forbidden');
      client.destroy();
      return;
    }
    const tried: Backend[] = [];
    const attempt = () => {
      const b = pickBackend(route, this.now(), tried);
      if (b === undefined) {
        route.metrics.error(tried.length === 0 ? 'no_instance' : 'upstream_failed');
        client.destroy();
        return;
      }
      tried.push(b);
      const upstream = connect({ host: b.host, port: b.port });
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        b.succeeded();
        b.acquire();
        upstream.once('close', () => b.release());
        for (const c of head) upstream.write(c);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on('error', () => {
        if (connected) {
          client.destroy();
          return;
        }
        if (b.failed()) route.metrics.ejections++;
        if (!client.destroyed) attempt();
      });
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => {
        if (connected) client.destroy();
      });
    };
    attempt();
  }

  /** Closes every listener and connection. */
  close(): void {
    for (const st of this.ports.values()) st.server.close();
    this.ports.clear();
    for (const s of this.sockets) s.destroy();
  }
}

const allowCache = new WeakMap<LiveRoute, (addr: string) => boolean>();

function allowed(route: LiveRoute, addr: string): boolean {
  let check = allowCache.get(route);
  if (check === undefined) {
    const deny = route.spec.deny ? cidrList(route.spec.deny) : undefined;
    const allow = route.spec.allow ? cidrList(route.spec.allow) : undefined;
    check = (a) => !(deny && inCidrs(deny, a)) && !(allow && !inCidrs(allow, a));
    allowCache.set(route, check);
  }
  return check(addr);
}
