/**
 * Nomad Variables: `/v1/vars` and `/v1/var/:path`. A check-and-set write that loses answers 409 with the
 * variable as it is now; that is an expected outcome, returned as `{ ok: false, conflict }`, not thrown.
 */
import type { Variable, VariableMetadata } from '../structs/index.js';
import { isApiError } from './errors.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';

export type VariableWriteResponse = { ok: true; variable: Variable | null } | { ok: false; conflict: Variable };

/** Each path segment is escaped on its own: the slashes of a variable path are part of the URL path. */
function varURL(path: string): string {
  return `/v1/var/${path.split('/').map(encodeURIComponent).join('/')}`;
}

export class VariablesAPI {
  constructor(private readonly http: HttpTransport) {}

  /** Metadata (no items) of the variables whose path starts with `q.prefix`. */
  list(q: QueryOptions = {}): Promise<QueryResponse<VariableMetadata[]>> {
    return this.http.query<VariableMetadata[]>('/v1/vars', q);
  }

  /** One variable with its items; throws a NotFound ApiError when it does not exist. */
  get(path: string, q: QueryOptions = {}): Promise<QueryResponse<Variable>> {
    return this.http.query<Variable>(varURL(path), q);
  }

  /** Writes the items; `cas` 0 = only if absent, N = only if its ModifyIndex is N. */
  put(
    path: string,
    items: Record<string, string>,
    opts: WriteOptions & { cas?: number } = {},
  ): Promise<VariableWriteResponse> {
    const body = { Namespace: opts.namespace ?? this.http.namespace ?? 'default', Path: path, Items: items };
    return this.casWrite(() => this.http.write<Variable>('PUT', varURL(path), body, withCas(opts)));
  }

  delete(path: string, opts: WriteOptions & { cas?: number } = {}): Promise<VariableWriteResponse> {
    return this.casWrite(async () => {
      await this.http.write<null>('DELETE', varURL(path), undefined, withCas(opts));
      return null;
    });
  }

  private async casWrite(fn: () => Promise<Variable | null>): Promise<VariableWriteResponse> {
    try {
      return { ok: true, variable: await fn() };
    } catch (e) {
      if (isApiError(e) && e.httpStatus === 409) {
        try {
          return { ok: false, conflict: JSON.parse(e.message) as Variable };
        } catch {
          // A 409 that is not a variable: report it as the error it is.
        }
      }
      throw e;
    }
  }
}

function withCas(opts: WriteOptions & { cas?: number }): WriteOptions {
  const { cas, ...rest } = opts;
  return cas === undefined ? rest : { ...rest, params: { ...rest.params, cas } };
}
