/**
 * What a client agent calls on the servers (`ServerRPC`) and the shapes it exchanges. The contract between the
 * client and the server lives here, with the model, so that neither side imports the other: the server
 * implements it (in-process in `-dev`), `client/rpc-http.ts` implements it over `/v1/internal/client/*`, and the
 * HTTP routes for that path decode into these shapes.
 */
import type { Allocation } from './alloc.js';
import type { Node, NodeListStub } from './node.js';
import type { ServiceRegistration } from './service.js';
import type { KVEntry } from './kv.js';
import type { ServiceRegistrationListStub, Variable, VariableMetadata } from './catalog.js';
import type { MeshSidecarMaterial } from './mesh.js';

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
  /**
   * The node's identity, given by the client before it registers: a remote implementation presents the secret
   * on every internal call (the servers refuse any that is not the node's own). In-process servers ignore it.
   */
  useNodeIdentity?(nodeID: string, secretID: string): void;
  nodeRegister(node: Node): Promise<NodeRegisterResponse>;
  /** A heartbeat: updates the node's status and returns the next TTL. */
  nodeUpdateStatus(nodeID: string, status: string): Promise<NodeRegisterResponse>;
  /**
   * The allocations placed on this node that the client should act on, blocking until the state index
   * passes `minIndex` or `signal` aborts / `waitMs` elapses.
   */
  getClientAllocs(
    nodeID: string,
    minIndex: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{ allocs: Allocation[]; index: number }>;
  updateAllocs(updates: AllocClientUpdate[]): Promise<void>;
  upsertServiceRegistrations?(regs: ServiceRegistration[]): Promise<void>;
  deleteServiceRegistrations?(ids: string[]): Promise<void>;
  // Reads for the template hook (blocking queries; no polling).
  /** One variable; `value` is null when it does not exist. */
  variableGet?(namespace: string, path: string, q?: BlockingReadOptions): Promise<IndexedValue<Variable | null>>;
  /** Variables of `namespace` whose path starts with `prefix` (`q.prefix`), without their items. */
  variableList?(
    q: BlockingReadOptions & { namespace?: string; prefix?: string },
  ): Promise<IndexedValue<VariableMetadata[]>>;
  /** Every registered instance of a service, healthy or not (templates filter on Status). */
  serviceGet?(namespace: string, name: string, q?: BlockingReadOptions): Promise<IndexedValue<ServiceRegistration[]>>;
  /** Service names with their tags, per namespace (`*`: all). */
  serviceList?(q: BlockingReadOptions & { namespace?: string }): Promise<IndexedValue<ServiceRegistrationListStub[]>>;
  /** Every KV entry whose key starts with `prefix` (the Consul-compatible store; templates' key, ls, tree). */
  kvList?(prefix: string, q?: BlockingReadOptions): Promise<IndexedValue<KVEntry[]>>;
  /** The client nodes (templates' datacenters, nodes, node). */
  nodeList?(q: BlockingReadOptions): Promise<IndexedValue<NodeListStub[]>>;
  /** The leaf certificate, roots and intentions for the sidecar of a Connect service (src/mesh). */
  meshSidecarMaterial?(namespace: string, service: string): Promise<MeshSidecarMaterial>;
}
