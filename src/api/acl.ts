/** ACL tokens, policies and roles (`/v1/acl/*`) and namespaces (`/v1/namespace*`), with Nomad's shapes. */
import type {
  ACLPolicy,
  ACLPolicyListStub,
  ACLRole,
  ACLToken,
  ACLTokenListStub,
  Namespace,
  OneTimeToken,
} from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';

const enc = encodeURIComponent;

/** What a token create or update sends (ExpirationTTL as a Go duration, e.g. "1h", or nanoseconds). */
export interface ACLTokenRequest {
  Name?: string;
  Type?: 'client' | 'management';
  Policies?: string[];
  Roles?: { ID?: string; Name?: string }[];
  Global?: boolean;
  ExpirationTTL?: string | number;
}

export class ACLAPI {
  constructor(private readonly http: HttpTransport) {}

  bootstrap(secret?: string, opts: WriteOptions = {}): Promise<ACLToken> {
    return this.http.write<ACLToken>('POST', '/v1/acl/bootstrap', secret ? { BootstrapSecret: secret } : {}, opts);
  }
  tokens(q: QueryOptions = {}): Promise<QueryResponse<ACLTokenListStub[]>> {
    return this.http.query<ACLTokenListStub[]>('/v1/acl/tokens', q);
  }
  token(accessor: string, q: QueryOptions = {}): Promise<QueryResponse<ACLToken>> {
    return this.http.query<ACLToken>(`/v1/acl/token/${enc(accessor)}`, q);
  }
  self(q: QueryOptions = {}): Promise<QueryResponse<ACLToken>> {
    return this.http.query<ACLToken>('/v1/acl/token/self', q);
  }
  createToken(t: ACLTokenRequest, opts: WriteOptions = {}): Promise<ACLToken> {
    return this.http.write<ACLToken>('POST', '/v1/acl/token', t, opts);
  }
  updateToken(accessor: string, t: ACLTokenRequest, opts: WriteOptions = {}): Promise<ACLToken> {
    return this.http.write<ACLToken>('POST', `/v1/acl/token/${enc(accessor)}`, t, opts);
  }
  async deleteToken(accessor: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<null>('DELETE', `/v1/acl/token/${enc(accessor)}`, undefined, opts);
  }
  async oneTimeToken(opts: WriteOptions = {}): Promise<OneTimeToken> {
    return (await this.http.write<{ OneTimeToken: OneTimeToken }>('PUT', '/v1/acl/token/onetime', {}, opts))
      .OneTimeToken;
  }
  async exchangeOneTimeToken(secret: string, opts: WriteOptions = {}): Promise<ACLToken> {
    return (
      await this.http.write<{ Token: ACLToken }>(
        'POST',
        '/v1/acl/token/onetime/exchange',
        { OneTimeSecretID: secret },
        opts,
      )
    ).Token;
  }
  policies(q: QueryOptions = {}): Promise<QueryResponse<ACLPolicyListStub[]>> {
    return this.http.query<ACLPolicyListStub[]>('/v1/acl/policies', q);
  }
  policy(name: string, q: QueryOptions = {}): Promise<QueryResponse<ACLPolicy>> {
    return this.http.query<ACLPolicy>(`/v1/acl/policy/${enc(name)}`, q);
  }
  async applyPolicy(p: { Name: string; Description?: string; Rules: string }, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<null>('POST', `/v1/acl/policy/${enc(p.Name)}`, p, opts);
  }
  async deletePolicy(name: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<null>('DELETE', `/v1/acl/policy/${enc(name)}`, undefined, opts);
  }
  roles(q: QueryOptions = {}): Promise<QueryResponse<ACLRole[]>> {
    return this.http.query<ACLRole[]>('/v1/acl/roles', q);
  }
  roleByName(name: string, q: QueryOptions = {}): Promise<QueryResponse<ACLRole>> {
    return this.http.query<ACLRole>(`/v1/acl/role/name/${enc(name)}`, q);
  }
  createRole(
    r: { Name: string; Description?: string; Policies: { Name: string }[] },
    opts: WriteOptions = {},
  ): Promise<ACLRole> {
    return this.http.write<ACLRole>('POST', '/v1/acl/role', r, opts);
  }
  async deleteRole(id: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<null>('DELETE', `/v1/acl/role/${enc(id)}`, undefined, opts);
  }
}

export class NamespacesAPI {
  constructor(private readonly http: HttpTransport) {}

  list(q: QueryOptions = {}): Promise<QueryResponse<Namespace[]>> {
    return this.http.query<Namespace[]>('/v1/namespaces', q);
  }
  get(name: string, q: QueryOptions = {}): Promise<QueryResponse<Namespace>> {
    return this.http.query<Namespace>(`/v1/namespace/${enc(name)}`, q);
  }
  async apply(
    ns: { Name: string; Description?: string; Meta?: Record<string, string> | null },
    opts: WriteOptions = {},
  ): Promise<void> {
    await this.http.write<null>('POST', `/v1/namespace/${enc(ns.Name)}`, ns, opts);
  }
  async delete(name: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write<null>('DELETE', `/v1/namespace/${enc(name)}`, undefined, opts);
  }
}
