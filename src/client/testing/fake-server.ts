/**
 * An in-memory ServerRPC for client tests: allocations are placed by the test, blocking queries wake on changes,
 * and the client's updates are recorded and applied.
 */
import type { Allocation, Node } from '../../structs/index.js';
import type { AllocClientUpdate, NodeRegisterResponse, ServerRPC } from '../rpc.js';

export class FakeServer implements ServerRPC {
  nodes = new Map<string, Node>();
  allocs = new Map<string, Allocation>();
  updates: AllocClientUpdate[] = [];
  heartbeats = 0;
  index = 1;
  heartbeatTTLms = 1_000;
  private waiters = new Set<() => void>();

  private bump(): void {
    this.index++;
    for (const w of [...this.waiters]) w();
  }

  async nodeRegister(node: Node): Promise<NodeRegisterResponse> {
    this.nodes.set(node.ID, structuredClone(node));
    this.bump();
    return { heartbeatTTLms: this.heartbeatTTLms, index: this.index };
  }

  async nodeUpdateStatus(nodeID: string, status: string): Promise<NodeRegisterResponse> {
    const n = this.nodes.get(nodeID);
    if (!n) throw new Error(`node ${nodeID} not registered`);
    n.Status = status;
    this.heartbeats++;
    return { heartbeatTTLms: this.heartbeatTTLms, index: this.index };
  }

  getClientAllocs(
    nodeID: string,
    minIndex: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{ allocs: Allocation[]; index: number }> {
    const answer = () => ({
      allocs: [...this.allocs.values()].filter((a) => a.NodeID === nodeID).map((a) => structuredClone(a)),
      index: this.index,
    });
    if (this.index > minIndex) return Promise.resolve(answer());
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve(answer());
      };
      const t = setTimeout(done, waitMs);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async updateAllocs(updates: AllocClientUpdate[]): Promise<void> {
    for (const u of updates) {
      this.updates.push(structuredClone(u));
      const a = this.allocs.get(u.ID);
      if (!a) continue;
      a.ClientStatus = u.ClientStatus;
      a.ClientDescription = u.ClientDescription;
      a.TaskStates = structuredClone(u.TaskStates);
    }
  }

  place(a: Allocation): Allocation {
    a.AllocModifyIndex = this.index + 1;
    a.ModifyIndex = this.index + 1;
    this.allocs.set(a.ID, a);
    this.bump();
    return a;
  }

  /** Drops an allocation from what the client is told, as a server that garbage-collected it would. */
  forget(id: string): void {
    this.allocs.delete(id);
    this.bump();
  }

  stopAlloc(id: string): void {
    const a = this.allocs.get(id)!;
    a.DesiredStatus = 'stop';
    a.AllocModifyIndex = this.index + 1;
    a.ModifyIndex = this.index + 1;
    this.bump();
  }
}
