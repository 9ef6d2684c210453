/**
 * What a client needs from the servers. In `-dev` the agent passes the server in-process; a remote
 * client uses the HTTP implementation against `/v1/internal/client/*` of a server agent.
 */
import type { Allocation, Node, ServiceRegistration } from '../structs/index.js';

export interface NodeRegisterResponse {
  /** How soon the next heartbeat is due, in milliseconds. */
  heartbeatTTLms: number;
  index: number;
}

/** What the client reports back about one allocation. */
export interface AllocClientUpdate {
  ID: string;
  ClientStatus: string;
  ClientDescription: string;
  TaskStates: Allocation['TaskStates'];
  DeploymentStatus?: Allocation['DeploymentStatus'];
  NetworkStatus?: Allocation['NetworkStatus'];
}

export interface ServerRPC {
  nodeRegister(node: Node): Promise<NodeRegisterResponse>;
  /** A heartbeat: updates the node's status and returns the next TTL. */
  nodeUpdateStatus(nodeID: string, status: string): Promise<NodeRegisterResponse>;
  /**
   * The allocations placed on this node that the client should act on, blocking until the state index
   * passes `minIndex` or `signal` aborts / `waitMs` elapses.
   */
  getClientAllocs(nodeID: string, minIndex: number, waitMs: number, signal?: AbortSignal): Promise<{ allocs: Allocation[]; index: number }>;
  updateAllocs(updates: AllocClientUpdate[]): Promise<void>;
  upsertServiceRegistrations?(regs: ServiceRegistration[]): Promise<void>;
  deleteServiceRegistrations?(ids: string[]): Promise<void>;
}
