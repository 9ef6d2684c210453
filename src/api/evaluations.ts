/** Evaluation endpoints. */
import type { AllocListStub, Evaluation } from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse } from './http.js';

export class EvaluationsAPI {
  constructor(private readonly http: HttpTransport) {}

  list(q: QueryOptions & { status?: string; jobID?: string } = {}): Promise<QueryResponse<Evaluation[]>> {
    return this.http.query<Evaluation[]>('/v1/evaluations', {
      ...q,
      params: { ...q.params, status: q.status, job: q.jobID },
    });
  }

  get(id: string, q: QueryOptions & { related?: boolean } = {}): Promise<QueryResponse<Evaluation>> {
    return this.http.query<Evaluation>(`/v1/evaluation/${encodeURIComponent(id)}`, {
      ...q,
      params: { ...q.params, related: q.related ? true : undefined },
    });
  }

  allocations(id: string, q: QueryOptions = {}): Promise<QueryResponse<AllocListStub[]>> {
    return this.http.query<AllocListStub[]>(`/v1/evaluation/${encodeURIComponent(id)}/allocations`, q);
  }
}
