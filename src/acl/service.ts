/**
 * The ACL system's server side: tokens, policies, roles, namespaces, one-time tokens and workload identity
 * signing keys, kept in the state store (durable like jobs), and the resolution of a request's secret to an ACL.
 *
 *   secret ─► none ─────────────► anonymous token: the `anonymous` policy when it exists, else nothing
 *          ├► a JWT ────────────► signature by a stored key, allocation still known ─► the task's implicit ACL
 *          └► acl_tokens.secret ─► unknown: "ACL token not found" │ expired: "ACL token expired"
 *                                 └► management ─► everything │ client ─► its policies + its roles' policies
 *
 * A policy or role deleted after a token linked it simply grants nothing. Compiled ACLs are cached per secret
 * and dropped whenever any ACL table changes.
 */
import { randomUUID, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badRequest, DroverError, notFound, permissionDenied } from '../errors/index.js';
import { readGoDuration } from '../lib/duration.js';
import { unwrapWithKEK, wrapWithKEK } from '../lib/kek.js';
import type { StateStore, StateView } from '../state/index.js';
import {
  ANONYMOUS_ACCESSOR,
  ANONYMOUS_POLICY,
  DEFAULT_NAMESPACE,
  allocTerminalStatus,
  type ACLPolicy,
  type ACLPolicyListStub,
  type ACLRole,
  type ACLToken,
  type ACLTokenListStub,
  type Allocation,
  type Namespace,
  type OneTimeToken,
  type SigningKey,
} from '../structs/index.js';
import { ACL } from './acl.js';
import { signJWT, looksLikeJWT, newSigningKey, verifyJWT, type IdentityClaims } from './jwt.js';
import { parsePolicyRules, type PolicyRules } from './policy.js';

export const BOOTSTRAP_RESET_FILE = 'acl-bootstrap-reset';
const ACL_TABLES = ['acl_tokens', 'acl_policies', 'acl_roles', 'signing_keys'] as const;
const ONE_TIME_TTL_MS = 10 * 60_000;
const POLICY_NAME = /^[a-zA-Z0-9-]{1,128}$/;
const NAMESPACE_NAME = /^[a-zA-Z0-9-]{1,128}$/;

/** Who a request is, once its secret is resolved. */
export interface Identity {
  acl: ACL;
  /** The token's AccessorID, `anonymous`, or `workload:<alloc>/<task>`. */
  accessor: string;
  token?: ACLToken;
}

/**
 * The identity a verified workload identity token grants: refused when no key of this cluster signed it
 * (`claims` undefined) or its allocation is gone (`allocLive` false; `gone` says how, for the message).
 */
export function workloadIdentity(
  claims: IdentityClaims | undefined,
  allocLive: (allocID: string) => boolean,
  gone: string,
  attached: (claims: IdentityClaims) => PolicyRules[] = () => [],
): Identity {
  if (!claims)
    throw new DroverError(
      'ACLTokenNotFound',
      'ACL token not found: the workload identity is not signed by this cluster',
    );
  if (!allocLive(claims.nomad_allocation_id))
    throw new DroverError('ACLTokenExpired', `ACL token expired: the allocation of this workload identity ${gone}`);
  const acl = ACL.workload(
    {
      namespace: claims.nomad_namespace,
      jobID: claims.nomad_job_id,
      group: claims.nomad_task_group,
      task: claims.nomad_task,
      allocID: claims.nomad_allocation_id,
    },
    attached(claims),
  );
  return { acl, accessor: `workload:${claims.nomad_allocation_id}/${claims.nomad_task}` };
}

export interface AclServiceOptions {
  /** The state, or how to reach it when it changes hands (a server on etcd leads only some of the time). */
  store: StateStore | (() => StateStore);
  enabled: boolean;
  /** Where the bootstrap reset file is looked for (the server's data dir). */
  dataDir?: string;
  region?: string;
  now?: () => number;
  /**
   * The servers' key-encryption key: the signing key's private half is stored wrapped with it (servers sharing
   * etcd each unwrap it; etcd never holds it in plaintext).
   */
  kek?: Buffer;
}

const KEK_PURPOSE = 'workload identity signing key';

export interface TokenRequest {
  Name?: string;
  Type?: string;
  Policies?: string[] | null;
  Roles?: { ID?: string; Name?: string }[] | null;
  Global?: boolean;
  ExpirationTTL?: number | string;
  ExpirationTime?: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

function hashToken(t: Omit<ACLToken, 'Hash'>): string {
  return createHash('sha256')
    .update(JSON.stringify([t.Name, t.Type, t.Policies, t.Roles, t.Global]))
    .digest('base64');
}

export function tokenStub(t: ACLToken): ACLTokenListStub {
  const { SecretID: _s, ...stub } = t;
  return stub;
}

export class AclService {
  readonly enabled: boolean;
  private readonly storeOf: () => StateStore;
  private readonly now: () => number;
  private cache = new Map<string, Identity>();
  private cacheIndex = -1;
  private readonly rulesCache = new Map<string, { modify: number; rules: PolicyRules }>();

  constructor(private readonly o: AclServiceOptions) {
    this.enabled = o.enabled;
    const store = o.store;
    this.storeOf = typeof store === 'function' ? store : () => store;
    this.now = o.now ?? Date.now;
  }

  private get store(): StateStore {
    return this.storeOf();
  }

  private snap(): StateView {
    return this.store.snapshot();
  }

  // ── Resolution ──────────────────────────────────────────────────────────────────────────────────────────

  /** The identity of a request's secret; throws ACLTokenNotFound / ACLTokenExpired for a bad one. */
  resolve(secret: string | undefined): Identity {
    const s = this.snap();
    const idx = s.maxTableIndex(ACL_TABLES);
    if (idx !== this.cacheIndex || this.cache.size > 10_000) {
      this.cache = new Map();
      this.cacheIndex = idx;
    }
    const key = secret ?? '';
    const hit = this.cache.get(key);
    if (hit && (!hit.token?.ExpirationTime || Date.parse(hit.token.ExpirationTime) > this.now())) {
      if (!hit.acl.workload || this.allocLive(s, hit.acl.workload.allocID)) return hit;
    }
    const id = this.resolveUncached(s, secret);
    this.cache.set(key, id);
    return id;
  }

  private allocLive(s: StateView, allocID: string): boolean {
    const a = s.allocByID(allocID);
    return a !== undefined && !allocTerminalStatus(a);
  }

  private resolveUncached(s: StateView, secret: string | undefined): Identity {
    if (secret === undefined || secret === '') {
      const p = this.rules(s, ANONYMOUS_POLICY);
      return { acl: ACL.compile(p ? [p] : []), accessor: ANONYMOUS_ACCESSOR };
    }
    if (looksLikeJWT(secret)) {
      const claims = verifyJWT(secret, (kid) => s.tables.get('signing_keys', kid));
      return workloadIdentity(
        claims,
        (allocID) => this.allocLive(s, allocID),
        'is no longer running',
        (c) => this.attachedRules(s, c),
      );
    }
    const token = s.tables.byIndex('acl_tokens', 'secret', secret)[0];
    if (!token) throw new DroverError('ACLTokenNotFound', 'ACL token not found');
    if (token.ExpirationTime && Date.parse(token.ExpirationTime) <= this.now())
      throw new DroverError('ACLTokenExpired', 'ACL token expired');
    if (token.Type === 'management') return { acl: ACL.management(), accessor: token.AccessorID, token };
    const names = new Set(token.Policies ?? []);
    for (const link of token.Roles ?? []) {
      const role = s.tables.get('acl_roles', link.ID);
      for (const p of role?.Policies ?? []) names.add(p.Name);
    }
    const rules: PolicyRules[] = [];
    for (const n of names) {
      const r = this.rules(s, n);
      if (r) rules.push(r);
    }
    return { acl: ACL.compile(rules), accessor: token.AccessorID, token };
  }

  /** The rules of the policies attached to the identity's job (`JobACL`, narrowed by group and task when set). */
  private attachedRules(s: StateView, c: IdentityClaims): PolicyRules[] {
    const out: PolicyRules[] = [];
    for (const p of s.tables.all('acl_policies')) {
      const j = p.JobACL;
      if (!j || j.Namespace !== c.nomad_namespace || j.JobID !== c.nomad_job_id) continue;
      if (j.Group && j.Group !== c.nomad_task_group) continue;
      if (j.Task && j.Task !== c.nomad_task) continue;
      const r = this.rules(s, p.Name);
      if (r) out.push(r);
    }
    return out;
  }

  private rules(s: StateView, name: string): PolicyRules | undefined {
    const p = s.tables.get('acl_policies', name);
    if (!p) return undefined;
    const c = this.rulesCache.get(name);
    if (c && c.modify === p.ModifyIndex) return c.rules;
    const rules = parsePolicyRules(p.Rules, `policy ${name}`);
    this.rulesCache.set(name, { modify: p.ModifyIndex, rules });
    return rules;
  }

  private requireEnabled(): void {
    if (!this.enabled) throw new DroverError('ACLDisabled', 'ACL support disabled');
  }

  // ── Bootstrap ───────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Creates the first management token, once. Afterwards it is refused with the reset index, as Nomad's; writing
   * that index into `<data_dir>/acl-bootstrap-reset` allows one more bootstrap.
   */
  async bootstrap(secret?: string): Promise<ACLToken> {
    this.requireEnabled();
    if (
      secret !== undefined &&
      secret !== '' &&
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(secret)
    ) {
      throw badRequest('BootstrapSecret must be a UUID');
    }
    const resetIndex = this.readResetIndex();
    const { result } = await this.store.write((txn) => {
      const done = txn.tables.get('acl_meta', 'bootstrap');
      if (done && resetIndex !== done.Value) {
        throw new DroverError('ACLBootstrapDone', `ACL bootstrap already done (reset index: ${done.Value})`, {
          details: { resetIndex: done.Value },
        });
      }
      const now = this.now();
      const base = {
        AccessorID: randomUUID(),
        SecretID: secret || randomUUID(),
        Name: 'Bootstrap Token',
        Type: 'management' as const,
        Policies: null,
        Roles: null,
        Global: true,
        CreateTime: iso(now),
        ExpirationTime: null,
        ExpirationTTL: 0,
        CreateIndex: txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      };
      if (txn.tables.byIndex('acl_tokens', 'secret', base.SecretID).length > 0)
        throw badRequest('BootstrapSecret is already in use by a token');
      const token: ACLToken = { ...base, Hash: hashToken(base) };
      txn.put('acl_tokens', token);
      txn.put('acl_meta', { Key: 'bootstrap', Value: txn.writeIndex });
      return token;
    });
    return result;
  }

  private readResetIndex(): number | undefined {
    if (!this.o.dataDir) return undefined;
    const f = join(this.o.dataDir, BOOTSTRAP_RESET_FILE);
    if (!existsSync(f)) return undefined;
    const text = readFileSync(f, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  }

  // ── Tokens ──────────────────────────────────────────────────────────────────────────────────────────────

  listTokens(): { value: ACLTokenListStub[]; index: number } {
    const s = this.snap();
    return { value: [...s.tables.all('acl_tokens')].map(tokenStub), index: s.tableIndex('acl_tokens') };
  }

  getToken(accessor: string): { value: ACLToken; index: number } {
    const s = this.snap();
    const t = s.tables.get('acl_tokens', accessor);
    if (!t) throw notFound(`ACL token "${accessor}"`);
    return { value: t, index: s.tableIndex('acl_tokens') };
  }

  /** Creates (no accessor) or updates a token; the type, secret and expiry of an existing token never change. */
  async upsertToken(req: TokenRequest, accessor?: string): Promise<ACLToken> {
    this.requireEnabled();
    if (req === null || typeof req !== 'object' || Array.isArray(req))
      throw badRequest('request body must be an ACL token object');
    const { result } = await this.store.write((txn) => {
      const old = accessor ? txn.tables.get('acl_tokens', accessor) : undefined;
      if (accessor && !old) throw notFound(`ACL token "${accessor}"`);
      const type = (old?.Type ?? req.Type ?? 'client') as ACLToken['Type'];
      if (type !== 'client' && type !== 'management')
        throw badRequest(`Type must be "client" or "management", got ${JSON.stringify(req.Type)}`);
      if (old && req.Type && req.Type !== old.Type) throw badRequest('cannot change the Type of a token');
      const policies = req.Policies ?? [];
      if (!Array.isArray(policies) || policies.some((p) => typeof p !== 'string'))
        throw badRequest('Policies must be a list of policy names');
      const roles: { ID: string; Name: string }[] = [];
      for (const r of req.Roles ?? []) {
        const role = r.ID
          ? txn.tables.get('acl_roles', r.ID)
          : r.Name
            ? txn.tables.byIndex('acl_roles', 'name', r.Name)[0]
            : undefined;
        if (!role) throw badRequest(`cannot find role ${JSON.stringify(r.ID ?? r.Name ?? '')}`);
        roles.push({ ID: role.ID, Name: role.Name });
      }
      if (type === 'management' && (policies.length > 0 || roles.length > 0))
        throw badRequest('management tokens cannot be associated with policies or roles');
      if (type === 'client' && policies.length === 0 && roles.length === 0)
        throw badRequest('client tokens must be associated with at least one policy or role');
      for (const p of policies) if (!txn.tables.get('acl_policies', p)) throw badRequest(`cannot find policy "${p}"`);
      const now = this.now();
      let expTime = old?.ExpirationTime ?? null;
      let ttlNs = old?.ExpirationTTL ?? 0;
      if (!old) {
        if (req.ExpirationTTL !== undefined && req.ExpirationTTL !== 0 && req.ExpirationTTL !== '') {
          const read =
            typeof req.ExpirationTTL === 'number' ? undefined : readGoDuration(String(req.ExpirationTTL).trim());
          const ns = read === undefined ? req.ExpirationTTL : read.ok ? read.ns : undefined;
          if (typeof ns !== 'number' || !Number.isFinite(ns) || ns <= 0)
            throw badRequest(
              `invalid ExpirationTTL ${JSON.stringify(req.ExpirationTTL)}: expected a positive duration like "1h"`,
            );
          ttlNs = ns;
          expTime = iso(now + ns / 1e6);
        } else if (req.ExpirationTime) {
          const t = Date.parse(req.ExpirationTime);
          if (!Number.isFinite(t))
            throw badRequest(`invalid ExpirationTime ${JSON.stringify(req.ExpirationTime)}: expected an RFC 3339 time`);
          if (t <= now) throw badRequest('ExpirationTime must be in the future');
          expTime = iso(t);
        }
      }
      const base = {
        AccessorID: old?.AccessorID ?? randomUUID(),
        SecretID: old?.SecretID ?? randomUUID(),
        Name: typeof req.Name === 'string' ? req.Name : (old?.Name ?? ''),
        Type: type,
        Policies: policies.length ? [...policies] : null,
        Roles: roles.length ? roles : null,
        Global: req.Global ?? old?.Global ?? false,
        CreateTime: old?.CreateTime ?? iso(now),
        ExpirationTime: expTime,
        ExpirationTTL: ttlNs,
        CreateIndex: old?.CreateIndex ?? txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      };
      const token: ACLToken = { ...base, Hash: hashToken(base) };
      txn.put('acl_tokens', token);
      return token;
    });
    return result;
  }

  async deleteToken(accessor: string): Promise<number> {
    this.requireEnabled();
    const { index } = await this.store.write((txn) => {
      if (!txn.delete('acl_tokens', accessor)) throw notFound(`ACL token "${accessor}"`);
      for (const ott of txn.tables.all('acl_one_time_tokens'))
        if (ott.AccessorID === accessor) txn.delete('acl_one_time_tokens', ott.OneTimeSecretID);
    });
    return index;
  }

  /** A one-time token for the calling token (Nomad: `PUT /v1/acl/token/onetime`). */
  async createOneTimeToken(caller: ACLToken | undefined): Promise<OneTimeToken> {
    this.requireEnabled();
    if (!caller) throw permissionDenied('a one-time token needs an ACL token to stand for');
    const { result } = await this.store.write((txn) => {
      const now = this.now();
      for (const o of txn.tables.all('acl_one_time_tokens'))
        if (Date.parse(o.ExpiresAt) <= now) txn.delete('acl_one_time_tokens', o.OneTimeSecretID);
      const ott: OneTimeToken = {
        OneTimeSecretID: randomUUID(),
        AccessorID: caller.AccessorID,
        ExpiresAt: iso(now + ONE_TIME_TTL_MS),
        CreateIndex: txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      };
      txn.put('acl_one_time_tokens', ott);
      return ott;
    });
    return result;
  }

  /** Exchanges a one-time secret for its token, once. */
  async exchangeOneTimeToken(secret: unknown): Promise<ACLToken> {
    this.requireEnabled();
    if (typeof secret !== 'string' || secret === '') throw badRequest('"OneTimeSecretID" is required');
    const { result } = await this.store.write((txn) => {
      const ott = txn.tables.get('acl_one_time_tokens', secret);
      if (!ott) throw permissionDenied('one-time token not found or already used');
      txn.delete('acl_one_time_tokens', secret);
      if (Date.parse(ott.ExpiresAt) <= this.now()) return undefined;
      return txn.tables.get('acl_tokens', ott.AccessorID);
    });
    if (!result) throw permissionDenied('one-time token expired or its token was deleted');
    return result;
  }

  // ── Policies ────────────────────────────────────────────────────────────────────────────────────────────

  listPolicies(acl: Identity): { value: ACLPolicyListStub[]; index: number } {
    const s = this.snap();
    const mine = this.policyNamesOf(s, acl);
    const value = [...s.tables.all('acl_policies')]
      .filter((p) => mine === 'all' || mine.has(p.Name))
      .map(({ Rules: _r, JobACL: _j, ...stub }) => stub);
    return { value, index: s.tableIndex('acl_policies') };
  }

  /** A management token reads every policy, a client token those it holds (directly or through a role). */
  getPolicy(name: string, who: Identity): { value: ACLPolicy; index: number } {
    const s = this.snap();
    const mine = this.policyNamesOf(s, who);
    if (mine !== 'all' && !mine.has(name)) throw permissionDenied();
    const p = s.tables.get('acl_policies', name);
    if (!p) throw notFound(`ACL policy "${name}"`);
    return { value: p, index: s.tableIndex('acl_policies') };
  }

  private policyNamesOf(s: StateView, who: Identity): Set<string> | 'all' {
    if (who.acl.management) return 'all';
    const names = new Set(who.token?.Policies ?? []);
    for (const link of who.token?.Roles ?? [])
      for (const p of s.tables.get('acl_roles', link.ID)?.Policies ?? []) names.add(p.Name);
    return names;
  }

  /** Validates the rules (every problem with its line) before anything is written. */
  async upsertPolicy(name: string, body: Partial<ACLPolicy>): Promise<number> {
    this.requireEnabled();
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw badRequest('request body must be an ACL policy object');
    const n = body.Name || name;
    if (n !== name) throw badRequest(`policy name "${n}" does not match the request path "${name}"`);
    if (!POLICY_NAME.test(name))
      throw badRequest(`invalid policy name "${name}": letters, digits and "-", 1 to 128 characters`);
    if (typeof body.Rules !== 'string' || body.Rules.trim() === '')
      throw badRequest('"Rules" is required: the policy text');
    parsePolicyRules(body.Rules, `policy ${name}`);
    const { index } = await this.store.write((txn) => {
      const old = txn.tables.get('acl_policies', name);
      txn.put('acl_policies', {
        Name: name,
        Description: typeof body.Description === 'string' ? body.Description : '',
        Rules: body.Rules!,
        JobACL: body.JobACL ?? null,
        CreateIndex: old?.CreateIndex ?? txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      });
    });
    return index;
  }

  async deletePolicy(name: string): Promise<number> {
    this.requireEnabled();
    const { index } = await this.store.write((txn) => {
      if (!txn.delete('acl_policies', name)) throw notFound(`ACL policy "${name}"`);
    });
    return index;
  }

  // ── Roles ───────────────────────────────────────────────────────────────────────────────────────────────

  listRoles(): { value: ACLRole[]; index: number } {
    const s = this.snap();
    return { value: [...s.tables.all('acl_roles')], index: s.tableIndex('acl_roles') };
  }

  getRole(by: { id?: string; name?: string }): { value: ACLRole; index: number } {
    const s = this.snap();
    const r = by.id ? s.tables.get('acl_roles', by.id) : s.tables.byIndex('acl_roles', 'name', by.name ?? '')[0];
    if (!r) throw notFound(`ACL role "${by.id ?? by.name}"`);
    return { value: r, index: s.tableIndex('acl_roles') };
  }

  async upsertRole(body: Partial<ACLRole>, id?: string): Promise<ACLRole> {
    this.requireEnabled();
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw badRequest('request body must be an ACL role object');
    if (typeof body.Name !== 'string' || !POLICY_NAME.test(body.Name))
      throw badRequest(`invalid role name ${JSON.stringify(body.Name)}: letters, digits and "-", 1 to 128 characters`);
    if (id && body.ID && body.ID !== id)
      throw badRequest(`role ID "${body.ID}" does not match the request path "${id}"`);
    const policies = body.Policies ?? [];
    if (!Array.isArray(policies) || policies.length === 0)
      throw badRequest('a role must link at least one policy: "Policies": [{"Name": "..."}]');
    const { result } = await this.store.write((txn) => {
      const old = id ? txn.tables.get('acl_roles', id) : undefined;
      if (id && !old) throw notFound(`ACL role "${id}"`);
      const clash = txn.tables.byIndex('acl_roles', 'name', body.Name!)[0];
      if (clash && clash.ID !== old?.ID) throw badRequest(`a role named "${body.Name}" already exists`);
      for (const p of policies)
        if (!p || typeof p.Name !== 'string' || !txn.tables.get('acl_policies', p.Name))
          throw badRequest(`cannot find policy ${JSON.stringify(p?.Name)}`);
      const role: ACLRole = {
        ID: old?.ID ?? randomUUID(),
        Name: body.Name!,
        Description: typeof body.Description === 'string' ? body.Description : '',
        Policies: policies.map((p) => ({ Name: p.Name })),
        CreateIndex: old?.CreateIndex ?? txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      };
      txn.put('acl_roles', role);
      return role;
    });
    return result;
  }

  async deleteRole(id: string): Promise<number> {
    this.requireEnabled();
    const { index } = await this.store.write((txn) => {
      if (!txn.delete('acl_roles', id)) throw notFound(`ACL role "${id}"`);
    });
    return index;
  }

  // ── Namespaces (they exist whether ACLs are on or not) ──────────────────────────────────────────────────

  private static defaultNamespace(): Namespace {
    return {
      Name: DEFAULT_NAMESPACE,
      Description: 'Default shared namespace',
      Quota: '',
      Meta: null,
      Capabilities: null,
      CreateIndex: 1,
      ModifyIndex: 1,
    };
  }

  listNamespaces(): { value: Namespace[]; index: number } {
    const s = this.snap();
    const rows = [...s.tables.all('namespaces')];
    if (!rows.some((n) => n.Name === DEFAULT_NAMESPACE)) rows.push(AclService.defaultNamespace());
    rows.sort((a, b) => a.Name.localeCompare(b.Name));
    return { value: rows, index: Math.max(1, s.tableIndex('namespaces')) };
  }

  getNamespace(name: string): { value: Namespace; index: number } {
    const s = this.snap();
    const n =
      s.tables.get('namespaces', name) ?? (name === DEFAULT_NAMESPACE ? AclService.defaultNamespace() : undefined);
    if (!n) throw new DroverError('NamespaceNotFound', `namespace "${name}" not found`);
    return { value: n, index: Math.max(1, s.tableIndex('namespaces')) };
  }

  /** Whether `name` exists in `view` (`default` always does). */
  static namespaceExists(view: StateView, name: string): boolean {
    return name === DEFAULT_NAMESPACE || view.tables.get('namespaces', name) !== undefined;
  }

  async upsertNamespace(name: string, body: Partial<Namespace>): Promise<number> {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw badRequest('request body must be a namespace object');
    const n = body.Name || name;
    if (n !== name) throw badRequest(`namespace name "${n}" does not match the request path "${name}"`);
    if (!NAMESPACE_NAME.test(name))
      throw badRequest(`invalid namespace name "${name}": letters, digits and "-", 1 to 128 characters`);
    if (
      body.Meta != null &&
      (typeof body.Meta !== 'object' || Object.values(body.Meta).some((v) => typeof v !== 'string'))
    )
      throw badRequest('Meta must be a map of strings');
    const { index } = await this.store.write((txn) => {
      const old = txn.tables.get('namespaces', name);
      txn.put('namespaces', {
        Name: name,
        Description: typeof body.Description === 'string' ? body.Description : '',
        Quota: typeof body.Quota === 'string' ? body.Quota : '',
        Meta: body.Meta ?? null,
        Capabilities: body.Capabilities ?? null,
        CreateIndex: old?.CreateIndex ?? txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      });
    });
    return index;
  }

  /** Refused for `default` and for a namespace that still holds jobs or variables (Nomad's rule). */
  async deleteNamespace(name: string): Promise<number> {
    if (name === DEFAULT_NAMESPACE) throw badRequest('the default namespace cannot be deleted');
    const { index } = await this.store.write((txn) => {
      if (!txn.tables.get('namespaces', name))
        throw new DroverError('NamespaceNotFound', `namespace "${name}" not found`);
      for (const j of txn.tables.all('jobs'))
        if (j.Namespace === name)
          throw badRequest(`namespace "${name}" has jobs (e.g. "${j.ID}"): stop and purge them first`);
      for (const v of txn.tables.all('variables'))
        if (v.Namespace === name)
          throw badRequest(`namespace "${name}" has variables (e.g. "${v.Path}"): delete them first`);
      txn.delete('namespaces', name);
    });
    return index;
  }

  // ── Workload identity ───────────────────────────────────────────────────────────────────────────────────

  /** Makes sure a signing key exists (once per cluster; kept in the state store). */
  async ensureSigningKey(): Promise<void> {
    if ([...this.snap().tables.all('signing_keys')].length > 0) return;
    const key = newSigningKey(this.now());
    const kek = this.o.kek;
    const row = kek
      ? {
          ...key,
          PrivateKey: '',
          WrappedPrivateKey: wrapWithKEK(kek, KEK_PURPOSE, key.KeyID, Buffer.from(key.PrivateKey, 'utf8')),
        }
      : key;
    // Checked again inside the write: two servers leading one after the other agree on the first key.
    await this.store.write((txn) => {
      if ([...txn.tables.all('signing_keys')].length === 0) txn.put('signing_keys', row);
    });
  }

  /** Unwrapped private keys, by KeyID (a wrapped key is unwrapped once). */
  private readonly unwrapped = new Map<string, SigningKey>();

  private usable(k: SigningKey): SigningKey {
    if (!k.WrappedPrivateKey) return k;
    let open = this.unwrapped.get(k.KeyID);
    if (!open) {
      if (!this.o.kek)
        throw new DroverError(
          'Internal',
          `the workload identity signing key "${k.KeyID}" is wrapped with a key-encryption key and this server has none: set server.keyring_kek_file`,
        );
      const pem = unwrapWithKEK(this.o.kek, KEK_PURPOSE, k.KeyID, k.WrappedPrivateKey).toString('utf8');
      open = { ...k, PrivateKey: pem };
      this.unwrapped.set(k.KeyID, open);
    }
    return open;
  }

  /** The public keys, as a JWK Set. */
  jwks(): { keys: Record<string, string>[] } {
    return { keys: [...this.snap().tables.all('signing_keys')].map((k) => k.PublicJWK) };
  }

  private currentKey(): SigningKey | undefined {
    let best: SigningKey | undefined;
    for (const k of this.snap().tables.all('signing_keys')) if (!best || k.CreateTime > best.CreateTime) best = k;
    return best && this.usable(best);
  }

  /** The signed identity of each task of `alloc` that asks for one, keyed by task name. */
  signIdentities(alloc: Allocation): Record<string, string> {
    const key = this.currentKey();
    if (!key) return {};
    const group = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
    const out: Record<string, string> = {};
    const now = Math.floor(this.now() / 1000);
    for (const t of group?.Tasks ?? []) {
      out[t.Name] = signJWT(key, {
        sub: `${this.o.region ?? 'global'}:${alloc.Namespace}:${alloc.JobID}:${alloc.TaskGroup}:${t.Name}:default`,
        aud: ['nomadproject.io'],
        iat: now,
        nbf: now,
        nomad_namespace: alloc.Namespace,
        nomad_job_id: alloc.JobID,
        nomad_task_group: alloc.TaskGroup,
        nomad_task: t.Name,
        nomad_allocation_id: alloc.ID,
      });
    }
    return out;
  }
}
