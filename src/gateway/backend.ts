/**
 * One instance behind the gateway, with its keep-alive pool and its passive-health state, and the balancers
 * that choose among them.
 *
 *   admitted --N consecutive connect failures--> ejected --backoff elapsed--> admitted (on probation)
 *      ^                                                                        | success: failures and backoff reset
 *      +------------------------------------------------------------------------+
 *   any state --removed from the catalog--> draining (no new requests) --last request done--> closed
 *
 * Backends outlive routing tables: the registry hands the same object to every table that still lists the
 * instance, so in-flight counts and ejection survive a table swap.
 */
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayInstance, LoadBalancing, RouteTargetInfo } from './types.js';

export interface BackendSettings {
  ejectAfter: number;
  ejectForMs: number;
  maxIdleSockets: number;
  now: () => number;
}

/** Longest backoff, as a multiple of `ejectForMs`, for an instance ejected again and again. */
const MAX_BACKOFF_FACTOR = 8;

export class Backend {
  readonly instance: GatewayInstance;
  readonly host: string;
  readonly port: number;
  readonly agent: Agent;
  /** Requests (and WebSocket tunnels) in flight. */
  active = 0;
  failures = 0;
  ejections = 0;
  ejectedUntil = 0;
  draining = false;
  closed = false;
  /** The fast path's idle keep-alive connections to this instance (raw sockets, LIFO). */
  readonly fastIdle: { close(): void }[] = [];

  constructor(
    instance: GatewayInstance,
    private readonly settings: BackendSettings,
  ) {
    this.instance = instance;
    this.host = instance.Address;
    this.port = instance.Port;
    // LIFO keeps a few sockets hot instead of cycling through all of them, so idle ones time out naturally.
    this.agent = new InstanceAgent({ keepAlive: true, maxFreeSockets: settings.maxIdleSockets, scheduling: 'lifo' });
  }

  private tls: HttpsAgent | undefined;

  /** Most idle keep-alive connections kept per pool. */
  get maxIdle(): number {
    return this.settings.maxIdleSockets;
  }

  /** The keep-alive pool for proto=https routes, made on first use (most instances never need one). */
  tlsAgent(skipVerify: boolean): HttpsAgent {
    if (this.tls === undefined || this.tls.options.rejectUnauthorized === skipVerify) {
      this.tls?.destroy();
      this.tls = new InstanceHttpsAgent({
        keepAlive: true,
        maxFreeSockets: this.settings.maxIdleSockets,
        scheduling: 'lifo',
        rejectUnauthorized: !skipVerify,
      });
    }
    return this.tls;
  }

  available(now: number): boolean {
    return !this.draining && this.ejectedUntil <= now;
  }

  acquire(): void {
    this.active++;
  }

  release(): void {
    this.active--;
    if (this.draining && this.active === 0) this.close();
  }

  /** A response arrived: the instance is reachable again. */
  succeeded(): void {
    this.failures = 0;
    this.ejections = 0;
  }

  /** Connecting failed. Returns true when this failure ejected the instance. */
  failed(): boolean {
    this.failures++;
    if (this.failures < this.settings.ejectAfter) return false;
    this.failures = 0;
    this.ejections = Math.min(this.ejections + 1, MAX_BACKOFF_FACTOR);
    this.ejectedUntil = this.settings.now() + this.settings.ejectForMs * this.ejections;
    return true;
  }

  /** No new requests; the pool closes once the last in-flight request is done. */
  drain(): void {
    this.draining = true;
    if (this.active === 0) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.agent.destroy();
    this.tls?.destroy();
    for (const c of this.fastIdle.splice(0)) c.close();
  }

  info(): RouteTargetInfo {
    return targetInfo(this.instance, this.active, this.ejectedUntil > this.settings.now() ? this.ejectedUntil : 0);
  }
}

const PARKED = Symbol('parked');
type PoolSocket = Socket & { [PARKED]?: boolean };

/**
 * The keep-alive pools to instances (node:http's Agent, and https's for proto=https routes) with two fixes for
 * the node:http path (the fast path does the same on its own sockets): a pooled socket on which the instance
 * sends bytes nobody asked for is out of step and is closed (the Agent drops them and would reuse it), and the
 * instance's `Keep-Alive: timeout=N` closes the socket N-1 s into its idle time (node's Agent applies the hint
 * only with a `timeout` option of its own). `keep`: the Agent's own verdict, from its keepSocketAlive.
 */
function keepPooled(socket: PoolSocket, keep: boolean): boolean {
  if (!keep || socket.readableLength > 0) return false;
  if (socket[PARKED] === undefined)
    socket.on('data', () => {
      if (socket[PARKED] === true) socket.destroy();
    });
  socket[PARKED] = true;
  const hint = (socket as { _httpMessage?: { res?: { headers: Record<string, unknown> } } })._httpMessage?.res?.headers[
    'keep-alive'
  ];
  const limit = typeof hint === 'string' ? pooledIdleLimitMs(hint) : undefined;
  if (limit === 0) return false;
  // The Agent destroys a pooled socket whose idle timer fires.
  if (limit !== undefined) socket.setTimeout(limit);
  return true;
}

/** A pooled socket taken for a request: no longer parked, and no idle timer. */
function unpark(socket: PoolSocket): void {
  socket[PARKED] = false;
  if (socket.timeout !== undefined && socket.timeout > 0) socket.setTimeout(0);
}

/**
 * An Agent class (node:http's, or node:https's for proto=https routes) with keepPooled: one definition for both, so
 * the two pools cannot drift apart.
 */
function withPoolChecks<B extends new (...args: any[]) => Agent>(Base: B) {
  return class extends Base {
    override keepSocketAlive(duplex: Duplex): boolean {
      const socket = duplex as PoolSocket;
      return keepPooled(socket, super.keepSocketAlive(socket) as unknown as boolean);
    }

    override reuseSocket(duplex: Duplex, req: Parameters<Agent['reuseSocket']>[1]): void {
      unpark(duplex as PoolSocket);
      super.reuseSocket(duplex, req);
    }
  };
}

const InstanceAgent = withPoolChecks(Agent);
const InstanceHttpsAgent = withPoolChecks(HttpsAgent);

/** The longest idle time a Keep-Alive hint sets on a pooled connection. */
const MAX_POOLED_IDLE_MS = 3_600_000;

/**
 * How long an instance connection may idle in a pool after a response with `Keep-Alive: timeout=N`: a second less
 * than the instance's own limit (as node's Agent), so it is closed before the instance closes it under a request;
 * 0 (not pooled) for N <= 1, at most an hour (a timer's limit is about 24 days). undefined: no hint, no limit but
 * the instance closing it.
 */
export function pooledIdleLimitMs(keepAlive: string): number | undefined {
  const m = /(?:^|[\s,;])timeout\s*=\s*"?(\d{1,9})/i.exec(keepAlive);
  return m === null ? undefined : Math.min(MAX_POOLED_IDLE_MS, Math.max(0, (Number(m[1]) - 1) * 1000));
}

/** One instance behind a route as the admin API shows it, for either data plane. */
export function targetInfo(i: GatewayInstance, active: number, ejectedUntil: number): RouteTargetInfo {
  return {
    ID: i.ID,
    ServiceName: i.ServiceName,
    AllocID: i.AllocID,
    NodeID: i.NodeID,
    Address: i.Address,
    Port: i.Port,
    Active: active,
    EjectedUntil: ejectedUntil,
  };
}

/** Identity of an instance for reuse across tables: a re-registration at a new address is a new backend. */
export function backendKey(i: GatewayInstance): string {
  return `${i.ID}\u0000${i.Address}\u0000${i.Port}`;
}

/** Keeps one Backend per live instance across catalog changes. */
export class BackendRegistry {
  private live = new Map<string, Backend>();

  constructor(private readonly settings: BackendSettings) {}

  /**
   * Returns the backends for the new instance set, reusing existing ones, and drains those that are gone.
   * The caller swaps its routing table right after, so nothing picks a drained backend afterwards.
   */
  update(instances: readonly GatewayInstance[]): Map<string, Backend> {
    const next = new Map<string, Backend>();
    for (const inst of instances) {
      const key = backendKey(inst);
      if (next.has(key)) continue;
      next.set(key, this.live.get(key) ?? new Backend(inst, this.settings));
    }
    for (const [key, b] of this.live) if (!next.has(key)) b.drain();
    this.live = next;
    return next;
  }

  closeAll(): void {
    for (const b of this.live.values()) b.close();
    this.live.clear();
  }
}

/** The per-route balancing state: the list of backends and the round-robin cursor. */
export interface Pool {
  readonly backends: readonly Backend[];
  readonly lb: LoadBalancing;
  cursor: number;
}

/**
 * Picks an available backend not in `tried`. Round robin walks the cursor; least connections takes the fewest
 * in-flight requests, breaking ties from the cursor so equal instances still share the load.
 */
export function pickBackend(pool: Pool, now: number, tried?: readonly Backend[]): Backend | undefined {
  const list = pool.backends;
  const n = list.length;
  if (n === 0) return undefined;
  const start = pool.cursor++ % n;
  if (pool.cursor > 0x3fffffff) pool.cursor = 0;
  let best: Backend | undefined;
  for (let k = 0; k < n; k++) {
    const b = list[(start + k) % n]!;
    if (!b.available(now) || (tried !== undefined && tried.includes(b))) continue;
    if (pool.lb === 'round_robin') return b;
    if (best === undefined || b.active < best.active) best = b;
  }
  return best;
}
