/** The service mesh's intentions (`/v1/connect/intentions`, Consul's shapes): which service may call which. */
import type { Intention } from '../structs/index.js';
import type { HttpTransport, QueryOptions, WriteOptions } from './http.js';

export interface IntentionRequest {
  SourceName: string;
  DestinationName: string;
  Action: 'allow' | 'deny';
  Description?: string;
}

export class IntentionsAPI {
  constructor(private readonly http: HttpTransport) {}

  async list(q: QueryOptions = {}): Promise<Intention[]> {
    return (await this.http.query<Intention[]>('/v1/connect/intentions', q)).value ?? [];
  }

  /** Creates one; with `replace`, the intention of the same pair gets the new action instead of a conflict. */
  async create(i: IntentionRequest, opts: WriteOptions & { replace?: boolean } = {}): Promise<string> {
    const { replace, ...rest } = opts;
    const res = await this.http.write<{ ID: string }>('POST', '/v1/connect/intentions', i, {
      ...rest,
      params: { ...rest.params, ...(replace ? { replace: true } : {}) },
    });
    return res.ID;
  }

  async get(id: string, q: QueryOptions = {}): Promise<Intention> {
    return (await this.http.query<Intention>(`/v1/connect/intentions/${encodeURIComponent(id)}`, q)).value;
  }

  async exact(source: string, destination: string, q: QueryOptions = {}): Promise<Intention> {
    return (
      await this.http.query<Intention>('/v1/connect/intentions/exact', {
        ...q,
        params: { ...q.params, source, destination },
      })
    ).value;
  }

  async delete(id: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<unknown>('DELETE', `/v1/connect/intentions/${encodeURIComponent(id)}`, undefined, opts);
  }

  async deleteExact(source: string, destination: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<unknown>('DELETE', '/v1/connect/intentions/exact', undefined, {
      ...opts,
      params: { ...opts.params, source, destination },
    });
  }
}
