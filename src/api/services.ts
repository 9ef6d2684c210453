/**
 * Nomad's native service catalog: `/v1/services` and `/v1/service/:name`. Every instance is listed by default,
 * as Nomad does; `health: 'passing'` asks for the instances DNS, the gateway and templates serve.
 */
import type { ServiceRegistration, ServiceRegistrationListStub } from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';

export interface ServiceQueryOptions extends QueryOptions {
  /** Only instances carrying this tag. */
  tag?: string;
  /** `passing`: only passing instances (Drover's filter). Default: every instance. */
  health?: 'passing' | 'any';
  /** Nomad's `choose=n|key`: n instances by rendezvous hashing on key. */
  choose?: { n: number; key: string };
}

export class ServicesAPI {
  constructor(private readonly http: HttpTransport) {}

  /** Service names with their tags, grouped by namespace (`namespace: '*'` for all). */
  list(q: QueryOptions = {}): Promise<QueryResponse<ServiceRegistrationListStub[]>> {
    return this.http.query<ServiceRegistrationListStub[]>('/v1/services', q);
  }

  /** The instances of one service, sorted by ID. */
  get(name: string, q: ServiceQueryOptions = {}): Promise<QueryResponse<ServiceRegistration[]>> {
    const { tag, health, choose, ...rest } = q;
    return this.http.query<ServiceRegistration[]>(`/v1/service/${encodeURIComponent(name)}`, {
      ...rest,
      params: { ...rest.params, tag, health, choose: choose ? `${choose.n}|${choose.key}` : undefined },
    });
  }

  /** Removes one instance from the catalog (its client registers it again if the task still runs). */
  async delete(name: string, id: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<null>(
      'DELETE',
      `/v1/service/${encodeURIComponent(name)}/${encodeURIComponent(id)}`,
      undefined,
      opts,
    );
  }
}
