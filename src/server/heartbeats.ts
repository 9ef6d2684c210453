/**
 * Node heartbeat timers. Each node has one timer of TTL + grace; a heartbeat resets it, and when it
 * fires the node is declared down. The TTL grows with the cluster so that the servers see a bounded
 * number of heartbeats per second (Nomad's rate-scaled interval): max(minTTL, nodes / maxPerSecond).
 *
 *   register / heartbeat ──► timer(ttl + grace) ──(heartbeat)──► timer reset
 *                                   └──(fires)──► onExpire(node) ──► node down, node-update evals
 *                                                     └─ or disconnected: timer(lost_after) ──(fires)──► down
 */
import type { Logger } from '../logging/index.js';

export interface HeartbeatOptions {
  /** The smallest TTL handed to a client (Nomad: 10 s). */
  minTTLms: number;
  /** How many heartbeats per second the servers accept in total (Nomad: 50). */
  maxHeartbeatsPerSecond: number;
  /** Slack added on the server side before a node counts as missed (network delay, GC pauses). */
  gracems: number;
}

export const defaultHeartbeatOptions: HeartbeatOptions = {
  minTTLms: 10_000,
  maxHeartbeatsPerSecond: 50,
  gracems: 5_000,
};

export class HeartbeatTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private enabled = false;

  constructor(
    private readonly opts: HeartbeatOptions,
    private readonly logger: Logger,
    private readonly onExpire: (nodeID: string) => void,
  ) {}

  setEnabled(on: boolean): void {
    this.enabled = on;
    if (!on) {
      for (const t of this.timers.values()) clearTimeout(t);
      this.timers.clear();
    }
  }

  /** The TTL a client gets when the cluster has `nodeCount` nodes. */
  ttlFor(nodeCount: number): number {
    return Math.max(this.opts.minTTLms, Math.ceil((nodeCount / this.opts.maxHeartbeatsPerSecond) * 1000));
  }

  /** (Re)starts the node's timer; returns the TTL the client must heartbeat within. */
  reset(nodeID: string, nodeCount: number): number {
    const ttl = this.ttlFor(Math.max(nodeCount, this.timers.size));
    if (!this.enabled) return ttl;
    const prev = this.timers.get(nodeID);
    if (prev) clearTimeout(prev);
    const t = setTimeout(() => {
      this.timers.delete(nodeID);
      this.logger.warn('node missed its heartbeat', { node_id: nodeID, ttl_ms: ttl });
      this.onExpire(nodeID);
    }, ttl + this.opts.gracems);
    this.timers.set(nodeID, t);
    return ttl;
  }

  /**
   * Arms the node's timer for an explicit duration: a disconnected node gets its longest lost_after, and is
   * declared down when that passes without a heartbeat. A heartbeat in between resets it as usual.
   */
  expireAfter(nodeID: string, ms: number): void {
    if (!this.enabled) return;
    const prev = this.timers.get(nodeID);
    if (prev) clearTimeout(prev);
    const t = setTimeout(() => {
      this.timers.delete(nodeID);
      this.logger.warn('disconnected node did not come back in time', { node_id: nodeID, lost_after_ms: ms });
      this.onExpire(nodeID);
    }, ms);
    this.timers.set(nodeID, t);
  }

  clear(nodeID: string): void {
    const t = this.timers.get(nodeID);
    if (t) clearTimeout(t);
    this.timers.delete(nodeID);
  }

  /**
   * After a server restart: every known live node gets a fresh TTL rather than being declared down
   * at once for the time the server itself was away. After a leader failover, `failoverMs` (Nomad's
   * failover heartbeat TTL) gives clients time to find the new leader before any is marked down.
   */
  initialize(nodeIDs: string[], failoverMs = 0): void {
    for (const id of nodeIDs) {
      const ttl = this.reset(id, nodeIDs.length);
      if (!this.enabled || failoverMs <= ttl + this.opts.gracems) continue;
      clearTimeout(this.timers.get(id));
      const t = setTimeout(() => {
        this.timers.delete(id);
        this.logger.warn('node missed its heartbeat after a leader failover', {
          node_id: id,
          failover_ttl_ms: failoverMs,
        });
        this.onExpire(id);
      }, failoverMs);
      this.timers.set(id, t);
    }
  }

  tracked(): number {
    return this.timers.size;
  }
}
