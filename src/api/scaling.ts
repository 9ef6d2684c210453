/** Scaling policy endpoints (`/v1/scaling/policies`, `/v1/scaling/policy/:id`). */
import type { ScalingPolicy, ScalingPolicyListStub } from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse } from './http.js';

export class ScalingAPI {
  constructor(private readonly http: HttpTransport) {}

  /** The scaling policies of the namespace; `job` and `type` (a prefix, e.g. "horizontal") narrow the list. */
  listPolicies(
    q: QueryOptions & { job?: string; type?: string } = {},
  ): Promise<QueryResponse<ScalingPolicyListStub[]>> {
    const { job, type, ...rest } = q;
    return this.http.query<ScalingPolicyListStub[]>('/v1/scaling/policies', {
      ...rest,
      params: { ...rest.params, job, type },
    });
  }

  getPolicy(id: string, q: QueryOptions = {}): Promise<QueryResponse<ScalingPolicy>> {
    return this.http.query<ScalingPolicy>(`/v1/scaling/policy/${encodeURIComponent(id)}`, q);
  }
}
