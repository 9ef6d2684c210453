/**
 * The gateway with HAProxy as its data plane, fed by the same CatalogSource and tag routes as the Node plane.
 *
 *   catalog change --same routes, enough free slots--> runtime API: set server addr/port, state ready | maint
 *        |                                             (no reload; an instance put in maint finishes its requests)
 *        +--routes added/removed/changed, or a route outgrew its slots--> render config, `haproxy -c`, then
 *                                             `reload` on the master CLI: the new worker inherits the listening
 *                                             sockets (expose-fd listeners), old workers finish in-flight requests
 *
 * HAProxy runs in master-worker mode (-W -S master.sock) as a child of this process and stops with it.
 * Admin endpoints (/routes, /metrics) are served by Node, from HAProxy's `show stat`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PREFIX, createAdminHandler } from '../admin.js';
import { backendKey, targetInfo } from '../backend.js';
import { describeRoutes } from '../table.js';
import { MetricsRegistry } from '../metrics.js';
import { groupRoutes, routeLb, type RouteGroup } from '../routes.js';
import type { Gateway, GatewayInstance, GatewayOptions, LoadBalancing, RouteInfo } from '../types.js';
import {
  backendName,
  renderHaproxyConfig,
  safeForHaproxy,
  slotCount,
  type HaproxyConfigOptions,
  type HaproxyRoute,
} from './config.js';
import { haproxyCommand, parseShowStat } from '../../lib/haproxy/runtime.js';
import { serverWords } from './route-rules.js';
import { listen } from '../listen.js';
import { withAcmeChallenge } from '../tls/challenge.js';
import { HaproxyCerts } from '../tls/haproxy-certs.js';

export interface HaproxyGatewayOptions extends Pick<
  GatewayOptions,
  'listen' | 'admin' | 'source' | 'logger' | 'lb' | 'ejectAfter' | 'auth' | 'httpsPort' | 'tls' | 'tcpPorts'
> {
  /** Directory for the configuration and sockets; a fresh temporary one (removed on close) by default. */
  dir?: string;
  /** The haproxy executable. Default `haproxy`. */
  haproxyBin?: string;
  /** HAProxy threads. Default: HAProxy's own (one per core). */
  threads?: number;
  /** TCP check interval that re-admits ejected instances, in ms. Default 2000. */
  checkIntervalMs?: number;
}

/** Starts HAProxy and the admin listener; routes follow the source. */
export async function startHaproxyGateway(opts: HaproxyGatewayOptions): Promise<Gateway> {
  const plane = new HaproxyPlane(opts);
  try {
    await plane.start();
  } catch (e) {
    // Nothing half-started stays behind (admin listener, HAProxy child, temporary directory).
    await plane.gateway().close(0);
    throw e;
  }
  return plane.gateway();
}

class HaproxyPlane {
  private readonly logger;
  private readonly dir: string;
  private readonly ownDir: boolean;
  private readonly lb: LoadBalancing;
  private routesNow: HaproxyRoute[] = [];
  /** Routes listed but not rendered (bad tag, port taken): shown by `drover gateway routes` with their error. */
  private failedNow: HaproxyRoute[] = [];
  private lastInstances: GatewayInstance[] | undefined;
  private authKeyNow = '';
  private child: ChildProcess | undefined;
  private adminServer: Server | undefined;
  private port = 0;
  private adminPort = 0;
  private tlsPort: number | undefined;
  private certs: HaproxyCerts | undefined;
  private unsubscribeCerts: () => void = () => {};
  private readonly stop = new AbortController();
  private watching: Promise<void> = Promise.resolve();
  private markReady: () => void = () => {};
  private readonly readyPromise = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(private readonly opts: HaproxyGatewayOptions) {
    this.logger = opts.logger.child({ component: 'gateway', dataPlane: 'haproxy' });
    this.ownDir = opts.dir === undefined;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'drover-haproxy-'));
    this.lb = opts.lb ?? 'round_robin';
  }

  private get cfgPath() {
    return join(this.dir, 'haproxy.cfg');
  }
  private get statsSocket() {
    return join(this.dir, 'admin.sock');
  }
  private get masterSocket() {
    return join(this.dir, 'master.sock');
  }

  async start(): Promise<void> {
    const metrics = new MetricsRegistry();
    const admin = withAcmeChallenge(
      createAdminHandler(
        () => this.routeInfo(),
        metrics,
        this.opts.admin ? '' : ADMIN_PREFIX,
        () => this.certList(),
      ),
      this.opts.tls?.acmeChallenge,
    );
    this.adminServer = createServer((req, res) => {
      // Counters live in HAProxy: refresh them before answering.
      this.refreshMetrics(metrics).then(
        () => admin(req, res),
        () => admin(req, res),
      );
    });
    const adminAddr = this.opts.admin ?? { host: '127.0.0.1', port: 0 };
    await listen(this.adminServer, adminAddr.host, adminAddr.port);
    this.adminPort = (this.adminServer.address() as AddressInfo).port;
    // HAProxy cannot report an ephemeral port back; pick one here (a small race, acceptable for tests).
    this.port = this.opts.listen.port === 0 ? await freePort(this.opts.listen.host) : this.opts.listen.port;
    // A taken port fails here at once with EADDRINUSE, as with the Node plane, not as HAProxy's start timeout.
    if (this.opts.listen.port !== 0) await probePort(this.opts.listen.host, this.port);
    const tls = this.opts.tls;
    if (tls) {
      this.tlsPort = tls.listen.port === 0 ? await freePort(tls.listen.host) : tls.listen.port;
      if (tls.listen.port !== 0) await probePort(tls.listen.host, this.tlsPort);
      this.certs = new HaproxyCerts(this.dir, this.logger);
      this.certs.writeInitial(tls.certs.servingNow());
    }
    writeFileSync(this.cfgPath, this.render([]));
    await this.spawnHaproxy();
    if (tls && this.certs) {
      const certs = this.certs;
      const push = (serving: Parameters<HaproxyCerts['apply']>[0]) =>
        certs
          .apply(serving, (c) => haproxyCommand(this.statsSocket, c, this.stop.signal))
          .catch((err: unknown) => {
            if (!this.stop.signal.aborted)
              this.logger.error('could not load TLS certificates into HAProxy', { error: String(err) });
          });
      this.unsubscribeCerts = tls.certs.onChange((serving) => void push(serving));
      // Anything that changed between writing the files and HAProxy's start.
      await push(tls.certs.servingNow());
    }
    this.watching = (async () => {
      for await (const instances of this.opts.source.watch(this.stop.signal)) await this.queue(instances);
    })().catch((err: unknown) => {
      if (!this.stop.signal.aborted)
        this.logger.error('catalog source failed; routing table frozen', { error: String(err) });
    });
    this.unsubscribeAuth = this.opts.auth?.subscribe?.(() => this.authChanged());
    this.logger.info('gateway listening', {
      address: `${this.opts.listen.host}:${this.port}`,
      ...(this.tlsPort !== undefined ? { tls: `${this.opts.tls!.listen.host}:${this.tlsPort}` } : {}),
    });
  }

  private unsubscribeAuth: (() => void) | undefined;

  gateway(): Gateway {
    return {
      dataPlane: 'haproxy',
      port: this.port,
      adminPort: this.opts.admin ? this.adminPort : undefined,
      tlsPort: this.tlsPort,
      routes: () => this.routeInfo(),
      certs: () => this.certList(),
      ready: (signal?: AbortSignal) =>
        signal
          ? Promise.race([
              this.readyPromise,
              new Promise<void>((_, rej) => signal.addEventListener('abort', () => rej(signal.reason), { once: true })),
            ])
          : this.readyPromise,
      close: (graceMs = 5000) => this.close(graceMs),
    };
  }

  private certList() {
    return this.opts.tls?.certs.list() ?? [];
  }

  private render(routes: HaproxyRoute[]): string {
    const o: HaproxyConfigOptions = {
      listen: { host: this.opts.listen.host, port: this.port },
      statsSocket: this.statsSocket,
      threads: this.opts.threads,
      ejectAfter: this.opts.ejectAfter ?? 3,
      checkIntervalMs: this.opts.checkIntervalMs ?? 2000,
      admin: this.opts.admin ? undefined : { host: '127.0.0.1', port: this.adminPort, prefix: ADMIN_PREFIX },
      auth: this.opts.auth,
      httpsPort: this.opts.httpsPort,
      tls:
        this.opts.tls && this.certs && this.tlsPort !== undefined
          ? { host: this.opts.tls.listen.host, port: this.tlsPort, crtList: this.certs.crtList }
          : undefined,
      acme: this.opts.tls?.acmeChallenge
        ? { host: this.opts.admin?.host ?? '127.0.0.1', port: this.adminPort }
        : undefined,
    };
    return renderHaproxyConfig(routes, o);
  }

  /** Applies one catalog set: through the runtime API when possible, else by a seamless reload. */
  private async apply(instances: GatewayInstance[]): Promise<void> {
    this.lastInstances = instances;
    const all = groupRoutes(instances, undefined, this.opts.tcpPorts);
    for (const g of all)
      if (g.error === undefined && !safeForHaproxy(g.spec)) {
        g.error = 'the route has characters HAProxy cannot take';
        this.logger.warn('route skipped: characters HAProxy cannot take', { route: g.name });
      }
    this.failedNow = all.filter((g) => g.error !== undefined).map((g) => this.failedRoute(g, g.error!));
    const groups = all.filter((g) => g.error === undefined);
    try {
      const authKey = this.authKey(groups);
      const commands = authKey === this.authKeyNow ? this.incremental(groups) : undefined;
      this.authKeyNow = authKey;
      if (commands !== undefined) {
        if (commands.length > 0) {
          // One connection, commands separated by ';': applied back to back, in order.
          const answer = await haproxyCommand(this.statsSocket, commands.join(';'), this.stop.signal);
          if (/not found|error|unknown|invalid|require/i.test(answer))
            throw new Error(`HAProxy refused some of "${commands.join('; ')}": ${answer.trim()}`);
        }
      } else {
        await this.reload(groups);
      }
      this.markReady();
    } catch (err) {
      if (!this.stop.signal.aborted)
        this.logger.error('could not apply the routing table to HAProxy', { error: String(err) });
    }
  }

  /**
   * Runtime commands that turn the current slots into `groups`, updating `routesNow`; undefined when the change
   * needs a reload. A slot emptied now is not refilled in the same change, so requests still finishing on the
   * old instance never share a server entry with a new one.
   */
  private incremental(groups: RouteGroup[]): string[] | undefined {
    if (groups.length !== this.routesNow.length) return undefined;
    const byName = new Map(this.routesNow.map((r) => [r.name, r]));
    const commands: string[] = [];
    const next: HaproxyRoute[] = [];
    for (const g of groups) {
      const cur = byName.get(g.name);
      if (!cur || JSON.stringify(cur.spec) !== JSON.stringify(g.spec) || cur.lb !== routeLb(g.spec, this.lb))
        return undefined;
      // A TCP listener opens or closes with its instances: that needs a reload.
      if (JSON.stringify([...g.weights]) !== JSON.stringify([...(cur.weights ?? [])])) return undefined;
      if (g.spec.listenPort !== undefined && cur.slots.some((x) => x !== undefined) !== g.instances.length > 0)
        return undefined;
      const want = new Map(g.instances.map((i) => [backendKey(i), i]));
      const slots = [...cur.slots];
      const freedNow: number[] = [];
      slots.forEach((inst, i) => {
        if (inst !== undefined && !want.has(backendKey(inst))) freedNow.push(i);
        else if (inst !== undefined) want.delete(backendKey(inst));
      });
      // New instances are admitted before old ones leave, so a route is never empty in between.
      for (const inst of want.values()) {
        const free = slots.findIndex((s, i) => s === undefined && !freedNow.includes(i));
        if (free < 0) return undefined;
        slots[free] = inst;
        commands.push(
          `set server ${cur.backend}/s${free + 1} addr ${inst.Address} port ${inst.Port}`,
          `set server ${cur.backend}/s${free + 1} state ready`,
        );
      }
      for (const i of freedNow) {
        slots[i] = undefined;
        commands.push(`set server ${cur.backend}/s${i + 1} state maint`);
      }
      const route = { ...cur, services: g.services, slots };
      // A split's per-server weights follow the number of instances of each service.
      if (g.weights.size > 0)
        slots.forEach((inst, i) => {
          const w = inst === undefined ? undefined : /weight (\d+)/.exec(serverWords(route, inst))?.[1];
          if (w !== undefined) commands.push(`set weight ${cur.backend}/s${i + 1} ${w}`);
        });
      next.push(route);
    }
    this.routesNow = next;
    return commands;
  }

  private async reload(groups: RouteGroup[]): Promise<void> {
    const bound = new Set(
      this.routesNow
        .filter((r) => r.spec.listenPort !== undefined && r.slots.some((x) => x !== undefined))
        .map((r) => r.spec.listenPort),
    );
    const routes = groups.map((g, i): HaproxyRoute => {
      const slots: (GatewayInstance | undefined)[] = new Array(slotCount(g.instances.length)).fill(undefined);
      g.instances.forEach((inst, k) => (slots[k] = inst));
      return {
        name: g.name,
        spec: g.spec,
        lb: routeLb(g.spec, this.lb),
        services: g.services,
        backend: backendName(i),
        slots,
        weights: g.weights,
      };
    });
    // A TCP port HAProxy does not hold yet is tried first: a taken port fails that route, not the whole config.
    const ports = new Set<number>();
    for (const r of routes) {
      const port = r.spec.listenPort;
      if (port === undefined || !r.slots.some((x) => x !== undefined) || bound.has(port) || ports.has(port)) continue;
      ports.add(port);
      const why = await probePort(this.opts.listen.host, port).then(
        () => undefined,
        (e: NodeJS.ErrnoException) =>
          `cannot listen on ${this.opts.listen.host}:${port}: ${e.code === 'EADDRINUSE' ? 'the port is already in use' : e.message}`,
      );
      if (why !== undefined) {
        this.logger.error('TCP route not served', { port, error: why });
        for (const x of routes) if (x.spec.listenPort === port) x.error = why;
      }
    }
    const text = this.render(routes);
    const candidate = join(this.dir, 'haproxy.next.cfg');
    writeFileSync(candidate, text);
    await this.check(candidate);
    writeFileSync(this.cfgPath, text);
    const before = await this.workerPids();
    await haproxyCommand(this.masterSocket, 'reload', this.stop.signal);
    await this.waitFor(
      async () => (await this.workerPids()).some((p) => !before.includes(p)),
      'a new HAProxy worker after reload',
    );
    await this.waitFor(
      async () => (await haproxyCommand(this.statsSocket, 'show info').catch(() => '')).includes('Pid:'),
      'the stats socket after reload',
    );
    this.routesNow = routes.filter((r) => r.error === undefined);
    this.failedNow.push(...routes.filter((r) => r.error !== undefined));
    this.logger.info('HAProxy reloaded with a new routing table', { routes: routes.length });
  }

  private check(file: string): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(this.opts.haproxyBin ?? 'haproxy', ['-c', '-q', '-f', file], { timeout: 10_000 }, (err, _out, stderr) =>
        err ? reject(new Error(`HAProxy rejected the generated configuration: ${stderr.trim()}`)) : resolve(),
      );
    });
  }

  /**
   * HAProxy has no way to die with its parent, so it runs under a tiny shell that holds our pipe: when this
   * process closes the pipe (close(), or its own death), the shell soft-stops HAProxy. No orphan keeps the port.
   */
  private async spawnHaproxy(): Promise<void> {
    const script = '"$0" "$@" & hp=$!; trap \'kill -TERM $hp\' TERM; read -r _; kill -USR1 $hp; wait $hp';
    const args = [this.opts.haproxyBin ?? 'haproxy', '-W', '-S', `${this.masterSocket},mode,600`, '-f', this.cfgPath];
    const child = spawn('sh', ['-c', script, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      for (const line of d.split('\n')) {
        if (!/ALERT|WARNING/.test(line)) continue;
        // A reload's old worker reports each proxy stopping and its own clean exit: expected, not a warning.
        if (RELOAD_NOISE.test(line)) this.logger.debug('haproxy', { line: line.trim() });
        else this.logger.warn('haproxy', { line: line.trim() });
      }
    });
    child.once('exit', (code, sig) => {
      if (!this.stop.signal.aborted) this.logger.error('haproxy exited', { code, signal: sig });
    });
    await this.waitFor(
      async () => (await haproxyCommand(this.statsSocket, 'show info').catch(() => '')).includes('Pid:'),
      'HAProxy to start',
    );
  }

  private async workerPids(): Promise<number[]> {
    const text = await haproxyCommand(this.masterSocket, 'show proc').catch(() => '');
    return [...text.matchAll(/^(\d+)\s+worker\s/gm)].map((m) => Number(m[1]));
  }

  /** Polls a local condition during start or reload only (bounded), never the catalog. */
  private async waitFor(ok: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (this.stop.signal.aborted) throw new Error('aborted');
      if (this.child?.exitCode !== null && this.child?.exitCode !== undefined)
        throw new Error(`HAProxy exited with ${this.child.exitCode} while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Last `show stat` per server (`backend/sN`): sessions in flight and whether HAProxy marked it down. */
  private serverStats = new Map<string, { active: number; down: boolean }>();

  private failedRoute(g: RouteGroup, error: string): HaproxyRoute {
    return {
      name: g.name,
      spec: g.spec,
      lb: routeLb(g.spec, this.lb),
      services: g.services,
      backend: '',
      slots: [],
      weights: g.weights,
      error,
    };
  }

  /** The users of every auth name in use, as one string: a change re-renders the userlists. */
  private authKey(groups: RouteGroup[]): string {
    const names = [...new Set(groups.flatMap((g) => (g.spec.auth ? [g.spec.auth] : [])))].sort();
    return JSON.stringify(names.map((n) => [n, [...(this.opts.auth?.users(n) ?? [])]]));
  }

  /** Re-applies the last catalog set when an auth Variable changed (the userlists are in the config). */
  authChanged(): void {
    if (this.lastInstances === undefined || this.stop.signal.aborted) return;
    const groups = groupRoutes(this.lastInstances, undefined, this.opts.tcpPorts).filter((g) => g.error === undefined);
    if (this.authKey(groups) !== this.authKeyNow) void this.queue(this.lastInstances);
  }

  private applying: Promise<void> = Promise.resolve();

  /** Applies sets one after another (the catalog loop and auth changes both feed it). */
  private queue(instances: GatewayInstance[]): Promise<void> {
    this.applying = this.applying.then(() => this.apply(instances));
    return this.applying;
  }

  private routeInfo(): RouteInfo[] {
    return describeRoutes([...this.routesNow, ...this.failedNow], (r) =>
      r.slots.flatMap((i, k) => {
        if (i === undefined) return [];
        const st = this.serverStats.get(`${r.backend}/s${k + 1}`);
        // HAProxy re-admits a marked-down server at its next passing check: one interval is the best estimate.
        const ejectedUntil = st?.down ? Date.now() + (this.opts.checkIntervalMs ?? 2000) : 0;
        return [targetInfo(i, st?.active ?? 0, ejectedUntil)];
      }),
    );
  }

  /** Copies HAProxy's per-backend counters into the registry the admin endpoint renders. */
  private async refreshMetrics(metrics: MetricsRegistry): Promise<void> {
    const rows = parseShowStat(await haproxyCommand(this.statsSocket, 'show stat', this.stop.signal, 2000));
    const names = new Map(this.routesNow.map((r) => [r.backend, r.name]));
    const servers = new Map<string, { active: number; down: boolean }>();
    for (const row of rows) {
      const route = names.get(row['pxname'] ?? '');
      if (route === undefined) continue;
      if (row['svname'] !== 'BACKEND') {
        servers.set(`${row['pxname']}/${row['svname']}`, {
          active: Number(row['scur'] ?? 0),
          down: (row['status'] ?? '').startsWith('DOWN'),
        });
        continue;
      }
      const m = metrics.forRoute(route);
      m.requests = Number(row['req_tot'] ?? 0);
      for (const k of ['1xx', '2xx', '3xx', '4xx', '5xx'])
        m.codes.set(Number(k[0]) * 100, Number(row[`hrsp_${k}`] ?? 0));
      m.errors.set('upstream_failed', Number(row['econ'] ?? 0) + Number(row['eresp'] ?? 0));
      m.retries = Number(row['wretr'] ?? 0) + Number(row['wredis'] ?? 0);
    }
    this.serverStats = servers;
  }

  private async close(graceMs: number): Promise<void> {
    this.unsubscribeCerts();
    this.stop.abort();
    this.unsubscribeAuth?.();
    this.markReady();
    await this.watching;
    await this.applying;
    const child = this.child;
    if (child && child.exitCode === null) {
      // Closing the pipe makes the shell send SIGUSR1, HAProxy's soft stop: stop accepting, finish in-flight work.
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGTERM'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    if (this.adminServer)
      await new Promise<void>((resolve) => {
        this.adminServer!.close(() => resolve());
        this.adminServer!.closeAllConnections();
      });
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

const RELOAD_NOISE = /WARNING.*(?:Proxy \S+ stopped \(cumulated|Former worker \(\d+\) exited with code 0)/;

/** Rejects with the bind error (EADDRINUSE, EACCES) when `port` cannot be listened on now. */
async function probePort(host: string, port: number): Promise<void> {
  const s = createServer();
  await listen(s, host, port);
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

async function freePort(host: string): Promise<number> {
  const s = createServer();
  await listen(s, host, 0);
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
