/** Agent and cluster status endpoints. */
import type { HttpTransport, QueryOptions } from './http.js';
import type { AgentSelf } from './types.js';

export class AgentAPI {
  constructor(private readonly http: HttpTransport) {}

  async self(q: QueryOptions = {}): Promise<AgentSelf> {
    return (await this.http.query<AgentSelf>('/v1/agent/self', q)).value;
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
