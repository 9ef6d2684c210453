/** Agent and cluster status endpoints. */
import type { HttpTransport, QueryOptions, WriteOptions } from './http.js';
import type { SimRequest, SimResult } from '../structs/index.js';
import type { AgentSelf } from './types.js';

export class AgentAPI {
  constructor(private readonly http: HttpTransport) {}

  async self(q: QueryOptions = {}): Promise<AgentSelf> {
    return (await this.http.query<AgentSelf>('/v1/agent/self', q)).value;
  }

  /** `GET /v1/agent/members`: the servers of the cluster (Nomad's serf members). */
  async members(q: QueryOptions = {}): Promise<ServerMembers> {
    return (await this.http.query<ServerMembers>('/v1/agent/members', q)).value;
  }
}

export interface ServerMember {
  Name: string;
  Addr: string;
  Port: number;
  Status: string;
  Tags: Record<string, string>;
}

export interface ServerMembers {
  ServerName: string;
  ServerRegion: string;
  ServerDC: string;
  Members: ServerMember[];
}

export interface RaftServer {
  ID: string;
  Node: string;
  Address: string;
  Leader: boolean;
  Voter: boolean;
  RaftProtocol: string;
}

export interface RaftConfiguration {
  Index: number;
  Servers: RaftServer[];
  /** Drover: the etcd members that hold the state, when it is on etcd. */
  Etcd?: Array<{ ID: string; Name: string; ClientURLs: string[]; PeerURLs: string[]; Leader: boolean }>;
}

export class OperatorAPI {
  constructor(private readonly http: HttpTransport) {}

  /** `GET /v1/operator/raft/configuration`. */
  async raftConfiguration(q: QueryOptions = {}): Promise<RaftConfiguration> {
    return (await this.http.query<RaftConfiguration>('/v1/operator/raft/configuration', q)).value;
  }

  /** `PUT /v1/operator/sim`: Drover's what-if, run by the scheduler on a copy of the state (`drover sim`). */
  async simulate(req: SimRequest, opts: WriteOptions = {}): Promise<SimResult> {
    return this.http.write<SimResult>('PUT', '/v1/operator/sim', req, opts);
  }
}

export class StatusAPI {
  constructor(private readonly http: HttpTransport) {}

  /** The leader's RPC address, e.g. "127.0.0.1:4647"; "" when there is none. */
  async leader(q: QueryOptions = {}): Promise<string> {
    return (await this.http.query<string>('/v1/status/leader', q)).value ?? '';
  }

  async peers(q: QueryOptions = {}): Promise<string[]> {
    return (await this.http.query<string[]>('/v1/status/peers', q)).value ?? [];
  }
}
