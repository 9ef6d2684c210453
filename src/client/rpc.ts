/**
 * What a client needs from the servers. In `-dev` the agent passes the server in-process; a remote
 * client uses the HTTP implementation against `/v1/internal/client/*` of a server agent.
 */
import type { Allocation, Node, ServiceRegistration, ServiceRegistrationListStub, Variable, VariableMetadata } from '../structs/index.js';

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

/** A blocking read: answer once the data's index passes `minIndex` (or `waitMs` elapses, or `signal` aborts). */
export interface BlockingReadOptions {
  minIndex?: number;
  waitMs?: number;
  signal?: AbortSignal;
}

/** A read's answer and the index it is from, to pass back as `minIndex`. */
export interface IndexedValue<T> {
  value: T;
  index: number;
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
  // Reads for the template hook (blocking queries; no polling).
  /** One variable; `value` is null when it does not exist. */
  variableGet?(namespace: string, path: string, q?: BlockingReadOptions): Promise<IndexedValue<Variable | null>>;
  /** Variables of `namespace` whose path starts with `prefix` (`q.prefix`), without their items. */
  variableList?(q: BlockingReadOptions & { namespace?: string; prefix?: string }): Promise<IndexedValue<VariableMetadata[]>>;
  /** Every registered instance of a service, healthy or not (templates filter on Status). */
  serviceGet?(namespace: string, name: string, q?: BlockingReadOptions): Promise<IndexedValue<ServiceRegistration[]>>;
  /** Service names with their tags, per namespace (`*`: all). */
  serviceList?(q: BlockingReadOptions & { namespace?: string }): Promise<IndexedValue<ServiceRegistrationListStub[]>>;
}
