import type { ServerAPI } from '../server/types.js';
import type { Job } from '../structs/index.js';
import type { JsonReply } from './reply.js';
import type { Logger } from '../logging/index.js';
import type { PeerCertificate } from 'node:tls';
import type { AclService, AuditLog, Identity } from '../acl/index.js';
import type { TlsFetch } from '../lib/tls-fetch.js';

/** An `alloc exec` command to start (the driver contract's ExecStreamRequest, which http does not import). */
export interface ExecStart {
  cmd: string[];
  tty: boolean;
  onOutput(stream: 'stdout' | 'stderr', data: Buffer): void;
  signal: AbortSignal;
}

/** A started `alloc exec` command. */
export interface ExecHandle {
  write(data: Buffer): void;
  closeStdin(): void;
  resize(height: number, width: number): void;
  readonly exited: Promise<{ exitCode: number }>;
}

/** What the HTTP API reads from the local client agent (logs, stats). */
export interface ClientReadAPI {
  readonly nodeID: string;
  readLogs(
    allocID: string,
    task: string,
    type: 'stdout' | 'stderr',
    opts: { origin: 'start' | 'end'; offset: number; follow: boolean; signal: AbortSignal },
  ): AsyncIterable<Buffer>;
  allocStats(allocID: string): Promise<unknown>;
  /** Nomad's AllocCheckStatus map, keyed by check ID (`GET /v1/client/allocation/:id/checks`). */
  allocChecks?(allocID: string): Record<string, unknown>;
  /** `POST /v1/client/allocation/:id/restart`. */
  allocRestart?(allocID: string, req: { task?: string; allTasks?: boolean }): Promise<void>;
  /** `POST /v1/client/allocation/:id/signal`. */
  allocSignal?(allocID: string, req: { task?: string; signal: string }): Promise<void>;
  /** `GET /v1/client/allocation/:id/exec` (websocket): starts a command in a running task. */
  allocExec?(allocID: string, task: string, req: ExecStart): Promise<ExecHandle>;
  /** The namespace of an allocation this client runs (ACL checks on a client-only agent). */
  allocNamespace?(allocID: string): string | undefined;
  /** The driver of one of its tasks (`alloc-node-exec` is needed where it does not isolate the file system). */
  allocTaskDriver?(allocID: string, task: string): string | undefined;
  /** `GET /v1/client/stats`: the host's resource usage. */
  hostStats?(): unknown;
  /** The allocation's directory on this host, undefined when this client does not run it. */
  allocDir?(allocID: string): string | undefined;
  /** Allocations on this client by ClientStatus, for `/v1/metrics`. */
  allocStatusCounts?(): Record<string, number>;
  /** True when this client runs the allocation: the local fast path; otherwise a server forwards the request. */
  hasAlloc?(allocID: string): boolean;
}

export interface AgentInfo {
  /** `GET /v1/agent/self` body. */
  self(): Record<string, unknown>;
}

/** What the routes of a server agent get: the options with the server always there. */
export type ServerRouteOptions = HttpApiOptions & { server: ServerAPI };

/** A server as `/v1/agent/members` lists it (Nomad's serf member shape). */
export interface ServerMember {
  Name: string;
  Addr: string;
  Port: number;
  Status: 'alive' | 'failed' | 'left';
  Tags: Record<string, string>;
}

/** What a server agent in an etcd cluster knows about the other servers. */
export interface ClusterInfo {
  /** Every server registered now (each keeps a leased key in etcd while it runs). */
  members(): Promise<ServerMember[]>;
  /** `GET /v1/operator/raft/configuration`: the servers (leader marked) and the etcd members behind them. */
  raftConfiguration(): Promise<unknown>;
  /** `PUT /v1/agent/join?address=`: checks each address is a server of this cluster (same etcd, same region). */
  join(addresses: string[]): Promise<{ num_joined: number; error: string }>;
  /** `PUT /v1/agent/force-leave?node=`: drops a gone server from the member list at once. */
  forceLeave(node: string): Promise<void>;
}

/**
 * The regions this server knows (its own and the federated ones) and a server address in each: where a request
 * with `?region=` or a job with another `Region` is forwarded (agent/federation.ts).
 */
export interface RegionDirectory {
  /** Every known region, this one included, sorted. */
  regions(): string[];
  /** `http://host:port` of a server of `region`, or undefined when no server of it is known. */
  serverFor(region: string): string | undefined;
  /**
   * `PUT /v1/agent/join?address=`: each address of a server of another region federates it; addresses of this
   * region's servers are returned for the cluster check, and a server of this region's name that is not one of
   * its servers is refused (a region name must be unique).
   */
  join(
    addresses: string[],
    signal: AbortSignal,
    token?: string,
  ): Promise<{ joined: number; sameRegion: string[]; errors: string[] }>;
  /** How to reach other regions' servers: over mutual TLS with this agent's certificate when TLS is on. */
  fetch?: typeof fetch;
}

/** Rolls a job with a `multiregion` block out region by region (agent/multiregion.ts). */
export interface MultiregionRollouts {
  /**
   * Checks the block, registers the job in the first regions and keeps going in the background.
   * Returns what `PUT /v1/jobs` answers: the registration in the first region.
   */
  start(job: Job, req: { namespace?: string; token?: string; body: Record<string, unknown> }): Promise<JsonReply>;
}

export interface HttpApiOptions {
  /** Set on a server agent whose state is on etcd: membership comes from there. */
  cluster?: ClusterInfo;
  server?: ServerAPI;
  client?: ClientReadAPI;
  agent: AgentInfo;
  logger: Logger;
  /** Largest accepted request body in bytes (413 past it). */
  maxBodyBytes?: number;
  /** Connection and read bounds (agent config `limits {}`); defaults in http/server.ts. */
  limits?: {
    httpMaxConnsPerClient?: number;
    httpHeaderTimeoutMs?: number;
    httpBodyTimeoutMs?: number;
  };
  /**
   * Where to send a request this agent does not answer itself (a standby server: the leader's
   * `http://host:port`), or undefined to answer it here. Asked for every request.
   */
  forwardTo?: (method: string, path: string, query: URLSearchParams) => string | undefined;
  /**
   * A server in an election: resolves once a leader can answer the request (bounded; Nomad's RPC hold), or once
   * the client goes away (`signal` is asked for only when the request must wait).
   */
  holdForLeader?: (method: string, path: string, query: URLSearchParams, signal: () => AbortSignal) => Promise<void>;
  /** A client-only agent: the servers its client knows (configured and learned), `host:port` each. */
  clientServers?: () => string[];
  /**
   * A standby server answering a request itself (a `?stale` read from its replica, or an agent path):
   * runs the handler where the server handle reads the replica, and says how current that replica is
   * (Nomad's X-Nomad-KnownLeader and X-Nomad-LastContact headers).
   */
  answerLocally?: <T>(method: string, fn: () => Promise<T>) => Promise<T>;
  leaderContact?: () => { knownLeader: boolean; lastContactMs: number };
  /** The ACL system (server agents): its endpoints, and with `enabled` every request is checked. */
  acl?: AclService;
  /** The request check when this agent has no AclService: a client-only agent asks the servers (RemoteAclResolver). */
  aclGate?: { readonly enabled: boolean; resolve(secret: string | undefined): Identity | Promise<Identity> };
  /** One line per request when ACLs are enabled (`audit { enabled = true }`). */
  audit?: AuditLog;
  /**
   * How this agent reaches other agents when TLS is on (`tls { http = true }`): `toServers` for API calls a client
   * agent or a standby server forwards, `toClients` for the client requests a server forwards to the client agent
   * running the allocation. Both present this agent's certificate; absent, plain HTTP is used.
   */
  peerTls?: { toServers?: TlsFetch; toClients?: TlsFetch };
  /**
   * On a TLS listener: whether the peer's verified certificate is a server's (`server.<region>.nomad`). A client
   * request a server forwarded over such a connection is answered as the server's: the server already applied the
   * user's ACL, and the user's token does not travel to the client agent.
   */
  isServerPeer?: (cert: PeerCertificate) => boolean;
  /** The agent's region: a request naming another (`?region=`) goes to that region through `regions`. */
  region?: string;
  /** Federated regions (server agents): without it a request for another region is refused. */
  regions?: RegionDirectory;
  /** The multiregion coordinator (server agents). */
  multiregion?: MultiregionRollouts;
}
