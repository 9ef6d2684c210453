import type { ServerAPI } from '../server/types.js';
import type { Logger } from '../logging/index.js';

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

export interface HttpApiOptions {
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
  /** The agent's region: a request naming another (`?region=`) is refused, as there is no other to forward to. */
  region?: string;
}
