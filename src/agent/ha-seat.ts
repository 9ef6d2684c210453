/**
 * A server agent in an etcd cluster: it campaigns for leadership and runs a Server only while it leads.
 *
 *   start(address) ──► campaign ──won──► createServer (state loaded from etcd, writes guarded by the
 *        ▲                               leader key's create revision) ──► leading: API answered here
 *        │                                          │ lease lost / resigned
 *        └──────────── server stopped at once ◄──────┘
 *
 * While standing by, the agent keeps a read-only replica of the state (a Server that is never started, its
 * store fed by a watch on etcd's state log) and answers `?stale` reads and blocking queries from it, as
 * Nomad's followers do; every other request goes to the leader (`forwardTo`), so a default read is always
 * current. Outside such a read, the Server handle it gives the HTTP API, DNS and a co-located client
 * (`proxy`) answers NotLeader. A new leader loads the state from etcd when elected, so failover takes the
 * lease TTL plus one load.
 *
 *   standing by: replica ◄── watch log/ ── etcd ◄── leader's writes     GET ?stale ──► answered from replica
 *                                                                      anything else ──► leader
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DroverError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { createServer, EtcdLeadership, etcdPrefix, type Server, type ServerOptions } from '../server/index.js';
import { EtcdBackend, EtcdClient, etcdFailure, prefixEnd } from '../state/index.js';
import type { ServerMember } from '../http/index.js';
import { sleepOrAborted as sleep } from '../lib/sleep.js';

const MEMBER_TTL_S = 10;
/**
 * Nomad's RPC hold: a request that arrives while this server has just won the election (its Server still
 * loading the state) or while no leader is elected waits this long for one, instead of failing at once.
 */
const LEADER_HOLD_MS = 5_000;
/**
 * Nomad gives 300 s. Drover's TTLs are seconds, a failover takes about 3 s and a client tries the next server
 * at once, so 30 s covers it without hiding for 5 minutes a node that died together with the leader.
 */
const FAILOVER_HEARTBEAT_TTL_MS = 30_000;

/** Paths every agent answers itself, leader or not. */
const LOCAL = /^\/v1\/(agent|status|client|regions)\b|^\/ui\b|^\/$/;

export class HaSeat {
  readonly leadership: EtcdLeadership;
  private current: Server | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private address = '';
  private readonly waiters = new Set<() => void>();
  private readonly prefix: string;
  private member: ServerMember | undefined;
  private memberLease: string | undefined;
  private readonly client: EtcdClient;
  /** The Server handle given to the rest of the agent: the leading Server, or NotLeader. */
  readonly proxy: Server;
  /** The read-only replica while standing by. */
  private replica: Server | undefined;
  private replicaStop: AbortController | undefined;
  /** When the replica was last proven current (every batch up to etcd's head applied). */
  private lastContact = 0;
  private identitySigner: Parameters<Server['setIdentitySigner']>[0] | undefined;
  /** Run each time this server starts leading (e.g. the ACL signing key made once per cluster); failures logged. */
  onLeading: (() => Promise<void>) | undefined;
  /** Set while a request this standby answers itself runs: the proxy reads the replica then. */
  private readonly localRead = new AsyncLocalStorage<boolean>();

  constructor(
    private readonly opts: ServerOptions & { etcd: NonNullable<ServerOptions['etcd']> },
    private readonly logger: Logger,
    leaseTTLSeconds = 2,
  ) {
    this.prefix = opts.etcd.prefix ?? etcdPrefix(opts.region);
    this.client = new EtcdClient({ endpoints: opts.etcd.endpoints });
    this.leadership = new EtcdLeadership({
      client: this.client,
      key: `${this.prefix}leader`,
      address: '',
      ttlSeconds: leaseTTLSeconds,
      logger: logger.child({ component: 'leadership' }),
    });
    this.proxy = new Proxy({} as Server, {
      get: (_t, prop) => {
        if (prop === 'leaderAddress') return () => this.leadership.leaderAddress.replace(/^https?:\/\//, '');
        if (prop === 'setAdvertiseAddress') return (a: string) => this.current?.setAdvertiseAddress(a);
        // Kept for every Server this seat will run: each term's Server signs workload identities alike.
        if (prop === 'setIdentitySigner')
          return (sign: Parameters<Server['setIdentitySigner']>[0]) => {
            this.identitySigner = sign;
            this.current?.setIdentitySigner(sign);
          };
        if (prop === 'stop') return () => this.stop();
        if (prop === 'then') return undefined;
        // An in-process client is trusted and presents no node secret (node identity guards the HTTP path only).
        if (prop === 'useNodeIdentity') return undefined;
        const s = this.current ?? (this.localRead.getStore() === true ? this.replica : undefined);
        if (!s) throw this.notLeader();
        const v = (s as unknown as Record<PropertyKey, unknown>)[prop];
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(s) : v;
      },
    });
  }

  /** Fails with the endpoints named when etcd cannot be reached, so a misconfigured agent does not start. */
  async check(): Promise<void> {
    try {
      await this.client.range(Buffer.from(`${this.prefix}leader`), {}, AbortSignal.timeout(10_000));
    } catch (e) {
      throw etcdFailure(e, `connection at start (server.etcd.endpoints)`);
    }
  }

  private notLeader(): DroverError {
    return new DroverError(
      'NotLeader',
      `this server is not the leader${this.leadership.leaderAddress ? ` (the leader is ${this.leadership.leaderAddress})` : ' and no leader is elected yet'}`,
    );
  }

  /**
   * The leader's URL for a request this standby must not answer itself; undefined: answer it here. A read
   * with `?stale` is answered from the replica, as Nomad's followers do; every other read goes to the leader.
   */
  forwardTo(method: string, path: string, query?: URLSearchParams): string | undefined {
    if (this.current || LOCAL.test(path)) return undefined;
    if (method === 'GET' && this.replica && query !== undefined && isStale(query)) return undefined;
    const leader = this.leadership.leaderAddress;
    return leader && leader !== this.address ? leader : undefined;
  }

  /**
   * Waits (up to LEADER_HOLD_MS, or until `signal` aborts) while a request could be answered by nobody: this
   * server won the election but its Server is not running yet, or no leader is elected. Returns at once when
   * this server leads, another server leads, or the request is one this agent answers itself.
   */
  async holdForLeader(
    method: string,
    path: string,
    query: URLSearchParams,
    clientGone: () => AbortSignal = () => this.abort.signal,
  ): Promise<void> {
    const deadline = Date.now() + LEADER_HOLD_MS;
    let gone: AbortSignal | undefined;
    while (Date.now() < deadline && !gone?.aborted && !this.abort.signal.aborted) {
      if (this.current || LOCAL.test(path)) return;
      if (method === 'GET' && this.replica && isStale(query)) return;
      const leader = this.leadership.leaderAddress;
      if (leader && leader !== this.address) return;
      gone ??= clientGone();
      const signal = gone;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 50);
        this.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
        const waiters = this.waiters;
        function done() {
          clearTimeout(t);
          waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
    }
  }

  /** Runs a request this agent answers itself; a read on a standby sees the replica. */
  answerLocally<T>(method: string, fn: () => Promise<T>): Promise<T> {
    // The leader's proxy reads its own Server: no context to carry (each context run costs async-hook work on
    // every promise the request makes).
    if (this.current) return fn();
    return this.localRead.run(method === 'GET' || method === 'HEAD', fn);
  }

  /**
   * The state to resolve ACL tokens from: the leader's, or this standby's replica (a request it answers itself,
   * e.g. `?stale` reads and `/v1/agent/*`); NotLeader before either exists.
   */
  readStore(): Server['store'] {
    const s = this.current ?? this.replica;
    if (!s) throw this.notLeader();
    return s.store;
  }

  /** X-Nomad-KnownLeader / X-Nomad-LastContact for a request answered here. */
  leaderContact(): { knownLeader: boolean; lastContactMs: number } {
    if (this.current) return { knownLeader: true, lastContactMs: 0 };
    return {
      knownLeader: this.leadership.leaderAddress !== '',
      lastContactMs: this.lastContact === 0 ? 0 : Math.max(0, Date.now() - this.lastContact),
    };
  }

  /** The replica's state index (a standby), for tests and `/v1/agent/self`. */
  get replicaIndex(): number | undefined {
    return this.replica?.store.latestIndex();
  }

  /**
   * Keeps a read-only replica while this server stands by: loaded from etcd, then fed by a watch of the state
   * log. Dropped when this server leads (the leader's own Server loads the state) and rebuilt after.
   */
  private async follow(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (this.current || this.leadership.isLeader) {
        await sleep(100, signal);
        continue;
      }
      const stop = new AbortController();
      this.replicaStop = stop;
      const both = AbortSignal.any([signal, stop.signal]);
      let replica: Server | undefined;
      try {
        const backend = new EtcdBackend({
          endpoints: this.opts.etcd.endpoints,
          prefix: this.prefix,
          logger: this.logger.child({ component: 'replica' }),
        });
        replica = await createServer({ ...this.opts, etcd: undefined, backend, start: false }, both);
        const store = replica.store;
        store.makeReplica(() => this.notLeader());
        // Elected while loading: the leader's own Server holds the state now.
        if (this.current || this.leadership.isLeader) stop.abort();
        if (!both.aborted) {
          this.replica = replica;
          this.lastContact = Date.now();
          this.logger.info('standing by: replica loaded', { index: store.latestIndex() });
          await backend.follow(
            (b) => store.replicate(b),
            () => {
              this.lastContact = Date.now();
            },
            both,
          );
        }
      } catch (e) {
        if (!both.aborted)
          this.logger.warn('replica lost; reloading it', { error: e instanceof Error ? e.message : String(e) });
      }
      this.replica = undefined;
      await replica?.stop().catch(() => undefined);
      if (!stop.signal.aborted) await sleep(500, signal);
    }
  }

  /**
   * Starts campaigning as `address` (this agent's `http://host:port`) and registers `member` under
   * `<prefix>members/` with a lease of its own; resolves once a leader is known.
   */
  async start(address: string, member: ServerMember, settleMs = 10_000): Promise<void> {
    this.address = address;
    this.leadership.address = address;
    this.member = member;
    this.loop = Promise.all([this.run(), this.register(), this.follow()]).then(() => undefined);
    const settled = new Promise<void>((resolve) => {
      const t = setTimeout(done, settleMs);
      const poll = setInterval(() => {
        // Another server leads (this one stands by); winning resolves through `waiters` once the server runs.
        if (this.leadership.leaderAddress && !this.leadership.isLeader) done();
      }, 50);
      const waiter = () => done();
      this.waiters.add(waiter);
      function done() {
        clearTimeout(t);
        clearInterval(poll);
        resolve();
      }
    });
    await settled;
  }

  /** Keeps this server's member key alive (10 s lease) until stopped; re-registers after losing it. */
  private async register(): Promise<void> {
    const signal = this.abort.signal;
    const key = Buffer.from(`${this.prefix}members/${this.address}`);
    while (!signal.aborted) {
      try {
        const lease = await this.client.leaseGrant(MEMBER_TTL_S, signal);
        this.memberLease = lease.id;
        await this.client.txn(
          [],
          [{ put: { key, value: Buffer.from(JSON.stringify(this.member)), lease: lease.id } }],
          [],
          signal,
        );
        while (!signal.aborted) {
          await sleep(MEMBER_TTL_S * 300, signal);
          if (signal.aborted || (await this.client.leaseKeepAlive(lease.id, signal)) <= 0) break;
        }
      } catch (e) {
        if (signal.aborted) break;
        this.logger.warn('server membership renewal failed', { error: e instanceof Error ? e.message : String(e) });
        await sleep(1000, signal);
      }
    }
  }

  /** The servers registered in etcd now. */
  async members(): Promise<ServerMember[]> {
    const p = Buffer.from(`${this.prefix}members/`);
    const r = await this.client.range(p, { rangeEnd: prefixEnd(p) });
    return r.kvs.map((kv) => JSON.parse(kv.value.toString('utf8')) as ServerMember);
  }

  /**
   * Servers join by sharing etcd endpoints, so `join` only checks: each address must answer as a server of
   * this region that is registered in this cluster's member list. Another region is refused (federation is
   * not built yet), as is a server with other endpoints.
   */
  async join(addresses: string[]): Promise<{ num_joined: number; error: string }> {
    const region = this.opts.region ?? 'global';
    const known = new Set((await this.members()).map((m) => `${m.Addr}:${m.Port}`));
    const errors: string[] = [];
    let joined = 0;
    for (const a of addresses) {
      const base = /^https?:\/\//.test(a) ? a : `http://${a}`;
      try {
        const self = (await (await fetch(`${base}/v1/agent/self`, { signal: AbortSignal.timeout(5000) })).json()) as {
          config?: { Region?: string; Server?: { Enabled?: boolean } };
        };
        const theirs = self.config?.Region ?? 'global';
        if (theirs !== region) errors.push(`${a} is a server of region "${theirs}", not of this region "${region}"`);
        else if (self.config?.Server?.Enabled !== true) errors.push(`${a} is not a server agent`);
        else if (!known.has(new URL(base).host))
          errors.push(
            `${a} is not registered in this cluster: give it the same server.etcd.endpoints (${this.opts.etcd.endpoints.join(', ')})`,
          );
        else joined++;
      } catch (e) {
        errors.push(`${a}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return { num_joined: joined, error: errors.join('; ') };
  }

  async forceLeave(node: string): Promise<void> {
    const p = Buffer.from(`${this.prefix}members/`);
    const r = await this.client.range(p, { rangeEnd: prefixEnd(p) });
    const hit = r.kvs.find((kv) => {
      const m = JSON.parse(kv.value.toString('utf8')) as ServerMember;
      return m.Name === node || m.Name === `${node}.${this.opts.region ?? 'global'}` || `${m.Addr}:${m.Port}` === node;
    });
    if (!hit) throw new DroverError('NotFound', `no server member named "${node}"`);
    await this.client.deleteRange(hit.key, undefined);
  }

  /** Nomad's raft configuration shape for the servers, plus the etcd members that hold the state. */
  async raftConfiguration(): Promise<unknown> {
    const leader = this.leadership.leaderAddress.replace(/^https?:\/\//, '');
    const servers = (await this.members()).map((m) => {
      const address = `${m.Addr}:${m.Port}`;
      return {
        ID: address,
        Node: m.Name,
        Address: address,
        Leader: address === leader,
        Voter: true,
        RaftProtocol: '3',
      };
    });
    const [etcdMembers, status] = await Promise.all([
      this.client.memberList(),
      this.client.call('/v3/maintenance/status', {}),
    ]);
    const etcdLeader = String(status['leader'] ?? '');
    return {
      Index: 0,
      Servers: servers,
      Etcd: etcdMembers.map((m) => ({
        ID: m.ID,
        Name: m.name,
        ClientURLs: m.clientURLs,
        PeerURLs: m.peerURLs,
        Leader: m.ID === etcdLeader,
      })),
    };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let term;
      try {
        term = await this.leadership.campaign(signal);
      } catch {
        return; // aborted
      }
      let server: Server | undefined;
      // The replica goes: the leader's Server loads the state itself, with the write guard.
      this.replicaStop?.abort();
      try {
        // Clients that were talking to the old leader need a moment to find this one: no node is marked
        // down for FAILOVER_HEARTBEAT_TTL_MS after a takeover.
        const failover = { failoverHeartbeatTTLms: this.opts.failoverHeartbeatTTLms ?? FAILOVER_HEARTBEAT_TTL_MS };
        // The backend is made here, so this seat sees when etcd refuses its writes for good (`deposed`).
        const backend = new EtcdBackend({
          endpoints: this.opts.etcd.endpoints,
          prefix: this.prefix,
          guard: () => this.leadership.guard(),
          logger: this.logger.child({ component: 'etcd' }),
        });
        server = await createServer({ ...this.opts, ...failover, backend }, term.signal);
        server.setAdvertiseAddress(this.address.replace(/^https?:\/\//, ''));
        if (this.identitySigner) server.setIdentitySigner(this.identitySigner);
        if (!term.signal.aborted) {
          this.current = server;
          this.logger.info('leading: server started', { address: this.address });
          for (const w of this.waiters) w();
          await this.onLeading?.().catch((e: unknown) =>
            this.logger.error('leading: start-of-term task failed', {
              error: e instanceof Error ? e.message : String(e),
            }),
          );
          await this.leadWhileWritable(backend, term.signal);
        }
      } catch (e) {
        this.logger.error('could not start the server after winning the election', {
          error: e instanceof Error ? e.message : String(e),
        });
        await this.leadership.resign();
        // Let another server try before this one campaigns again (etcd may be failing for it alone).
        await sleep(1000, signal);
      }
      // Stop acting at once: requests forward from now on, then the server winds down.
      this.current = undefined;
      await server?.stop().catch((e: unknown) =>
        this.logger.warn('server stop after losing leadership failed', {
          error: e instanceof Error ? e.message : String(e),
        }),
      );
      if (!signal.aborted) this.logger.warn('standing by: leadership lost');
    }
  }

  /**
   * Holds the term until it ends; steps down when etcd refused a commit for good (its head moved under this
   * leader, e.g. after a commit whose outcome was unknown did land): a fresh term reloads the state from etcd,
   * here or on another server, instead of a leader that can no longer write.
   */
  private async leadWhileWritable(backend: EtcdBackend, term: AbortSignal): Promise<void> {
    while (!term.aborted) {
      await sleep(250, term);
      if (!term.aborted && backend.deposed) {
        this.logger.error('stepping down: etcd refuses this server’s writes; a new term reloads the state');
        await this.leadership.resign();
        return;
      }
    }
  }

  async stop(): Promise<void> {
    // Resign first, so a standby takes over at once instead of waiting out the lease; leave the member list.
    await this.leadership.resign();
    if (this.memberLease)
      await this.client.leaseRevoke(this.memberLease, AbortSignal.timeout(2000)).catch(() => undefined);
    this.abort.abort();
    await this.loop;
    await this.leadership.close();
  }
}

/** Nomad's `?stale` (present, empty or true); a bad value is refused later by the query parser. */
function isStale(q: URLSearchParams): boolean {
  const v = q.get('stale');
  return v !== null && (v === '' || /^(1|t|true)$/i.test(v));
}
