/**
 * Leader election through etcd: a lease plus a compare-and-swap on one leader key.
 *
 *   campaign() ──► lease(ttl) ──► txn [leader.create == 0] put leader=<address> with the lease
 *        │ lost the race: watch the key (remembering who leads; one watch for as long as the holder keeps it, the
 *        │ key read again every second in case the stream stalls; polled every `pollMs` when no watch can be
 *        │ opened) and try again when it is gone
 *        ▼ won: createRevision = the txn's revision; guard() = [leader.create == createRevision]
 *   keepalive every ttl/3 (in a worker thread: LeaseKeeper) ──► no renewal acknowledged for ttl − margin ──►
 *        lost (fired at once, before etcd expires the lease, so a deposed leader stops acting before anyone
 *        else can be elected)
 *   resign() ──► lease revoked: the key goes at once and a standby wins without waiting out the TTL
 *
 * Fencing: every write of the leader's state carries guard(); once another server holds the key its
 * create revision differs, so etcd refuses the deposed leader's writes whatever its clock says.
 */
import type { Logger } from '../logging/index.js';
import { nullLogger } from '../logging/index.js';
import { aborted } from '../errors/index.js';
import type { Compare, EtcdClient } from '../state/index.js';
import { sleepOrAborted as sleep } from '../lib/sleep.js';
import { LeaseKeeper } from './lease-keeper.js';

export interface LeadershipOptions {
  client: EtcdClient;
  /** The leader key, e.g. `/drover/global/leader`. */
  key: string;
  /** What this server writes as leader: the address other servers forward to. */
  address: string;
  /** Lease TTL in seconds (default 2, etcd's minimum with its default election timeout). */
  ttlSeconds?: number;
  /** How often a standby looks at the leader key when it cannot watch it (default 200 ms). */
  pollMs?: number;
  /** How often a standby reads the leader key while it watches it, in case the watch stalls (1 s). */
  recheckMs?: number;
  logger?: Logger;
}

export interface Term {
  /** The leader key's create revision for this term: the fencing token. */
  createRevision: number;
  /** Aborts when this term ends (lease lost, resigned or closed). */
  signal: AbortSignal;
}

export class EtcdLeadership {
  private readonly key: Buffer;
  private readonly ttl: number;
  private readonly pollMs: number;
  private readonly recheckMs: number;
  private readonly logger: Logger;
  private term: { createRevision: number; lease: string; ctl: AbortController } | undefined;
  private known: string | undefined;
  private keeperStarted: Promise<LeaseKeeper> | undefined;
  /** What this server writes as leader (settable until the first campaign: the HTTP port may be picked late). */
  address: string;

  constructor(private readonly opts: LeadershipOptions) {
    this.key = Buffer.from(opts.key);
    this.ttl = opts.ttlSeconds ?? 2;
    this.pollMs = opts.pollMs ?? 200;
    this.recheckMs = opts.recheckMs ?? 1_000;
    this.logger = opts.logger ?? nullLogger;
    this.address = opts.address;
  }

  /** True while this server holds the leader key with a lease it has renewed in time. */
  get isLeader(): boolean {
    return this.term !== undefined && !this.term.ctl.signal.aborted;
  }

  /** The current leader's address as last seen ('' when none is known). */
  get leaderAddress(): string {
    return this.isLeader ? this.address : (this.known ?? '');
  }

  /** The compare every write of this term must pass (none when not leader: such a write must fail). */
  guard(): Compare[] {
    const t = this.term;
    if (!t || t.ctl.signal.aborted) return [{ key: this.key, target: 'CREATE', createRevision: -1 }];
    return [{ key: this.key, target: 'CREATE', createRevision: t.createRevision }];
  }

  /** Resolves once this server is the leader; keeps the lease alive until the term ends. */
  async campaign(signal: AbortSignal): Promise<Term> {
    const c = this.opts.client;
    for (;;) {
      if (signal.aborted) throw aborted();
      try {
        const current = await c.range(this.key, {}, signal);
        const holder = current.kvs[0];
        if (holder) {
          this.known = holder.value.toString('utf8');
          await this.untilLeaderKeyChanges(current.revision, holder, signal);
          continue;
        }
        this.known = undefined;
        await this.keeper();
        const lease = await c.leaseGrant(this.ttl, signal);
        const granted = Date.now();
        const r = await c.txn(
          [{ key: this.key, target: 'CREATE', createRevision: 0 }],
          [{ put: { key: this.key, value: Buffer.from(this.address), lease: lease.id } }],
          [],
          signal,
        );
        if (!r.succeeded) {
          await c.leaseRevoke(lease.id, signal).catch(() => undefined);
          continue;
        }
        const ctl = new AbortController();
        this.term = { createRevision: r.revision, lease: lease.id, ctl };
        this.logger.info('elected leader', { create_revision: r.revision, ttl_s: lease.ttl });
        void this.keepAlive(lease.id, Math.min(lease.ttl, this.ttl), granted, ctl, signal);
        return { createRevision: r.revision, signal: ctl.signal };
      } catch (e) {
        if (signal.aborted) throw aborted();
        this.logger.warn('leader election: etcd request failed', { error: e instanceof Error ? e.message : String(e) });
        await sleep(this.pollMs, signal);
      }
    }
  }

  /**
   * Waits until the leader key changes after `revision`, the store revision it was read at (watched from there, not
   * from the key's own revision, which etcd's compaction may have dropped: the holder's lease expiring or a new leader
   * is seen at once, where polling every `pollMs` saw it 100 ms late on average, and the failover is the lease
   * TTL plus that). One watch stays open for as long as the holder keeps the key: every `recheckMs` the key is read
   * again (a stream that stalls without breaking must not hide a change for longer than that), and an unchanged
   * holder keeps the same watch instead of opening a new one. When the watch cannot be opened, `pollMs` as before.
   */
  private async untilLeaderKeyChanges(
    revision: number,
    holder: { createRevision: number; modRevision: number },
    signal: AbortSignal,
  ): Promise<void> {
    const c = this.opts.client;
    const done = new AbortController();
    const both = AbortSignal.any([signal, done.signal]);
    let failed = false;
    const watching = c
      .watch(this.key, revision + 1, () => done.abort(), both)
      .catch(() => {
        // Ended by `done` (an event, or a changed key) or by the caller: not a failure.
        if (both.aborted) return;
        failed = true;
        done.abort();
      });
    while (!both.aborted) {
      await sleep(this.recheckMs, both);
      if (both.aborted) break;
      const kv = (await c.range(this.key, {}, both).catch(() => undefined))?.kvs[0];
      if (kv?.createRevision !== holder.createRevision || kv.modRevision !== holder.modRevision) break;
    }
    done.abort();
    await watching;
    if (failed && !signal.aborted) await sleep(this.pollMs, signal);
  }

  /**
   * Renews the lease until it cannot be renewed in time; then ends the term. Never throws. The renewals run
   * in a worker thread (LeaseKeeper) so a main event loop busy with requests cannot let the lease lapse; this
   * thread only compares the clock with how long the lease is known valid.
   */
  private async keepAlive(
    lease: string,
    ttl: number,
    granted: number,
    ctl: AbortController,
    outer: AbortSignal,
  ): Promise<void> {
    // Stop acting a little before etcd could expire the lease, so two leaders never overlap in time.
    const marginMs = Math.min(500, (ttl * 1000) / 4);
    const keeper = await this.keeper();
    keeper.keep({
      lease,
      ttlSeconds: ttl,
      validUntil: granted + ttl * 1000 - marginMs,
      marginMs,
      onLost: () => ctl.abort(),
    });
    const stopAt = () => ctl.abort();
    outer.addEventListener('abort', stopAt, { once: true });
    const timer = setInterval(() => {
      if (Date.now() >= keeper.validUntil) ctl.abort();
    }, 50);
    try {
      await new Promise<void>((resolve) => {
        if (ctl.signal.aborted) resolve();
        else ctl.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      clearInterval(timer);
      outer.removeEventListener('abort', stopAt);
      if (this.term?.ctl === ctl) this.term = undefined;
      keeper.release();
      this.logger.warn('leadership lost', { lease });
    }
  }

  /** The lease keeper's worker thread, started once (before the first lease: a thread takes a while to start). */
  private async keeper(): Promise<LeaseKeeper> {
    // A worker that died renews nothing: start another for this term.
    if (this.keeperStarted && (await this.keeperStarted.catch(() => undefined))?.dead) this.keeperStarted = undefined;
    this.keeperStarted ??= LeaseKeeper.start(this.opts.client.endpoints, (message) => this.logger.warn(message)).catch(
      (e: unknown) => {
        this.keeperStarted = undefined; // the next campaign round tries again
        throw e;
      },
    );
    return this.keeperStarted;
  }

  /** Resigns and ends the lease keeper's worker thread: the agent is going away. */
  async close(): Promise<void> {
    await this.resign();
    const keeper = this.keeperStarted;
    this.keeperStarted = undefined;
    if (keeper) await (await keeper.catch(() => undefined))?.close();
  }

  /** Gives up leadership (if held) so a standby takes over at once. */
  async resign(): Promise<void> {
    const t = this.term;
    if (!t) return;
    t.ctl.abort();
    this.term = undefined;
    await this.opts.client.leaseRevoke(t.lease, AbortSignal.timeout(2000)).catch(() => undefined);
  }
}
