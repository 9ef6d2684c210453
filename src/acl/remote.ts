/**
 * Token resolution on a client-only agent, which holds no ACL state: it asks a server, as Nomad's clients do
 * (ResolveToken), and caches the answer for 30 s (Nomad's `token_ttl`). The token reads itself
 * (`/v1/acl/token/self`), its policies and its roles with its own secret, so no privileged credential is needed.
 * Workload identities are verified here against the servers' JWK Set and this client's own allocations.
 *
 * Anonymous requests get nothing on a client-only agent (the anonymous policy is not readable without a token).
 */
import { DroverError } from '../errors/index.js';
import type { ACLPolicy, ACLRole, ACLToken, SigningKey } from '../structs/index.js';
import { ACL } from './acl.js';
import { looksLikeJWT, verifyJWT } from './jwt.js';
import { parsePolicyRules, type PolicyRules } from './policy.js';
import { workloadIdentity, type Identity } from './service.js';

export interface RemoteAclOptions {
  servers: string[];
  /** Whether this client runs the allocation (a workload identity is good only while it does). */
  hasAlloc(allocID: string): boolean;
  ttlMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

const TIMEOUT_MS = 10_000;

export class RemoteAclResolver {
  readonly enabled = true;
  private readonly cache = new Map<string, { at: number; id: Identity }>();
  private jwks: { at: number; keys: Map<string, SigningKey> } | undefined;

  constructor(private readonly o: RemoteAclOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  async resolve(secret: string | undefined): Promise<Identity> {
    if (!secret) return { acl: ACL.compile([]), accessor: 'anonymous' };
    const ttl = this.o.ttlMs ?? 30_000;
    const hit = this.cache.get(secret);
    if (hit && this.now() - hit.at < ttl) {
      if (!hit.id.acl.workload || this.o.hasAlloc(hit.id.acl.workload.allocID)) return hit.id;
    }
    const id = looksLikeJWT(secret) ? await this.workload(secret) : await this.token(secret);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(secret, { at: this.now(), id });
    return id;
  }

  private async get<T>(path: string, secret?: string): Promise<T> {
    let last: unknown;
    for (const base of this.o.servers) {
      const url = (/^[a-z]+:\/\//i.test(base) ? base : `http://${base}`).replace(/\/+$/, '') + path;
      let res: Response;
      try {
        res = await (this.o.fetch ?? fetch)(url, {
          headers: secret ? { 'X-Nomad-Token': secret } : {},
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
      } catch (e) {
        last = e;
        continue;
      }
      const text = await res.text();
      if (res.status === 403) {
        const code = res.headers.get('x-drover-error-code');
        throw new DroverError(
          code === 'ACLTokenExpired'
            ? 'ACLTokenExpired'
            : code === 'ACLTokenNotFound'
              ? 'ACLTokenNotFound'
              : 'PermissionDenied',
          text || 'Permission denied',
        );
      }
      if (!res.ok)
        throw new DroverError('Unavailable', `the server could not resolve the ACL token: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    }
    throw new DroverError('Unavailable', `no server reachable to resolve the ACL token: ${String(last)}`);
  }

  private async token(secret: string): Promise<Identity> {
    const token = await this.get<ACLToken>('/v1/acl/token/self', secret);
    if (token.Type === 'management') return { acl: ACL.management(), accessor: token.AccessorID, token };
    const names = new Set(token.Policies ?? []);
    for (const link of token.Roles ?? []) {
      const role = await this.get<ACLRole>(`/v1/acl/role/${encodeURIComponent(link.ID)}`, secret).catch(
        () => undefined,
      );
      for (const p of role?.Policies ?? []) names.add(p.Name);
    }
    const rules: PolicyRules[] = [];
    for (const n of names) {
      const p = await this.get<ACLPolicy>(`/v1/acl/policy/${encodeURIComponent(n)}`, secret).catch(() => undefined);
      if (p) rules.push(parsePolicyRules(p.Rules, `policy ${n}`));
    }
    return { acl: ACL.compile(rules), accessor: token.AccessorID, token };
  }

  private async workload(jwt: string): Promise<Identity> {
    const keys = await this.keys();
    const claims = verifyJWT(jwt, (kid) => keys.get(kid));
    return workloadIdentity(claims, (allocID) => this.o.hasAlloc(allocID), 'does not run here');
  }

  private async keys(): Promise<Map<string, SigningKey>> {
    if (this.jwks && this.now() - this.jwks.at < 60_000) return this.jwks.keys;
    const set = await this.get<{ keys: Record<string, string>[] }>('/.well-known/jwks.json');
    const keys = new Map<string, SigningKey>();
    for (const k of set.keys ?? []) {
      if (typeof k['kid'] === 'string')
        keys.set(k['kid'], { KeyID: k['kid'], Algorithm: 'ES256', PrivateKey: '', PublicJWK: k, CreateTime: 0 });
    }
    this.jwks = { at: this.now(), keys };
    return keys;
  }
}
