/** Node endpoints: list, read, allocations, drain and eligibility. */
import type { Allocation, Node, NodeListStub } from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';
import type { DrainSpec, NodeUpdateResponse } from './types.js';

const nodePath = (id: string, rest = '') => `/v1/node/${encodeURIComponent(id)}${rest}`;

export class NodesAPI {
  constructor(private readonly http: HttpTransport) {}

  list(q: QueryOptions = {}): Promise<QueryResponse<NodeListStub[]>> {
    return this.http.query<NodeListStub[]>('/v1/nodes', q);
  }

  get(id: string, q: QueryOptions = {}): Promise<QueryResponse<Node>> {
    return this.http.query<Node>(nodePath(id), q);
  }

  /** The node's allocations, in full (Nomad answers full allocations here, not stubs). */
  allocations(id: string, q: QueryOptions = {}): Promise<QueryResponse<Allocation[]>> {
    return this.http.query<Allocation[]>(nodePath(id, '/allocations'), q);
  }

  /** Starts a drain (`spec`), or ends it (`spec` null; `markEligible` makes the node schedulable again). */
  drain(
    id: string,
    spec: DrainSpec | null,
    opts: WriteOptions & { markEligible?: boolean; meta?: Record<string, string> } = {},
  ): Promise<NodeUpdateResponse> {
    return this.http.write<NodeUpdateResponse>(
      'POST',
      nodePath(id, '/drain'),
      { NodeID: id, DrainSpec: spec, MarkEligible: opts.markEligible ?? false, Meta: opts.meta ?? null },
      opts,
    );
  }

  eligibility(id: string, eligible: boolean, opts: WriteOptions = {}): Promise<NodeUpdateResponse> {
    return this.http.write<NodeUpdateResponse>(
      'POST',
      nodePath(id, '/eligibility'),
      { NodeID: id, Eligibility: eligible ? 'eligible' : 'ineligible' },
      opts,
    );
  }
}
