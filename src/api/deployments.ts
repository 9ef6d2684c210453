/** Deployment endpoints. */
import type { AllocListStub, Deployment } from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';
import type { EvalCreatedResponse } from './types.js';

const depPath = (verb: string, id: string) => `/v1/deployment/${verb}${encodeURIComponent(id)}`;

export class DeploymentsAPI {
  constructor(private readonly http: HttpTransport) {}

  list(q: QueryOptions = {}): Promise<QueryResponse<Deployment[]>> {
    return this.http.query<Deployment[]>('/v1/deployments', q);
  }

  get(id: string, q: QueryOptions = {}): Promise<QueryResponse<Deployment>> {
    return this.http.query<Deployment>(depPath('', id), q);
  }

  allocations(id: string, q: QueryOptions = {}): Promise<QueryResponse<AllocListStub[]>> {
    return this.http.query<AllocListStub[]>(depPath('allocations/', id), q);
  }

  /** Promotes canaries: every group, or only `groups`. */
  promote(id: string, groups: string[] | null, opts: WriteOptions = {}): Promise<EvalCreatedResponse> {
    const body = groups ? { DeploymentID: id, Groups: groups } : { DeploymentID: id, All: true };
    return this.http.write<EvalCreatedResponse>('POST', depPath('promote/', id), body, opts);
  }

  fail(id: string, opts: WriteOptions = {}): Promise<EvalCreatedResponse> {
    return this.http.write<EvalCreatedResponse>('POST', depPath('fail/', id), { DeploymentID: id }, opts);
  }

  pause(id: string, pause: boolean, opts: WriteOptions = {}): Promise<EvalCreatedResponse> {
    return this.http.write<EvalCreatedResponse>(
      'POST',
      depPath('pause/', id),
      { DeploymentID: id, Pause: pause },
      opts,
    );
  }
}
