/**
 * ACL and namespace endpoints, with Nomad's paths and shapes:
 *   /v1/acl/bootstrap, /v1/acl/tokens, /v1/acl/token[/:accessor|/self|/onetime[/exchange]],
 *   /v1/acl/policies, /v1/acl/policy/:name, /v1/acl/roles, /v1/acl/role[/:id|/name/:name],
 *   /v1/namespaces, /v1/namespace[/:name], /.well-known/jwks.json.
 * Who may call each is in http/acl-rules.ts; `token` rules are narrowed here (a token reads its own
 * token, policies and roles).
 */
import type { Identity, TokenRequest } from '../../acl/index.js';
import type { ACLPolicy, ACLRole, Namespace } from '../../structs/index.js';
import { permissionDenied } from '../../errors/index.js';
import type { RequestContext, Router } from '../router.js';
import { indexed, JsonReply } from '../reply.js';
import type { HttpApiOptions } from '../types.js';

/** An optional JSON body (bootstrap may send none). */
async function optionalJson<T>(c: RequestContext): Promise<Partial<T>> {
  const raw = await c.text();
  if (raw.trim() === '') return {};
  return c.json<Partial<T>>();
}

export function aclRoutes(r: Router, opts: HttpApiOptions): void {
  const acl = opts.acl;
  if (!acl) return;
  const who = (c: RequestContext): Identity => c.identity ?? acl.resolve(undefined);

  r.write('/v1/acl/bootstrap', async (c) => {
    const body = await optionalJson<{ BootstrapSecret?: string }>(c);
    return acl.bootstrap(typeof body.BootstrapSecret === 'string' ? body.BootstrapSecret : undefined);
  });

  r.get('/v1/acl/tokens', () => indexed(acl.listTokens()));
  r.write('/v1/acl/token', async (c) => acl.upsertToken(await c.json<TokenRequest>()));
  r.get('/v1/acl/token/self', (c) => {
    const id = who(c);
    if (!id.token) throw permissionDenied();
    return id.token;
  });
  r.write('/v1/acl/token/onetime', async (c) => ({ OneTimeToken: await acl.createOneTimeToken(who(c).token) }));
  r.write('/v1/acl/token/onetime/exchange', async (c) => {
    const body = await c.json<{ OneTimeSecretID?: unknown }>();
    return { Token: await acl.exchangeOneTimeToken(body.OneTimeSecretID) };
  });
  r.get('/v1/acl/token/:accessor', (c) => {
    const id = who(c);
    const accessor = c.params.accessor!;
    if (!id.acl.management && id.token?.AccessorID !== accessor) throw permissionDenied();
    return indexed(acl.getToken(accessor));
  });
  r.write('/v1/acl/token/:accessor', async (c) => acl.upsertToken(await c.json<TokenRequest>(), c.params.accessor));
  r.on(
    'DELETE',
    '/v1/acl/token/:accessor',
    async (c) => new JsonReply(null, await acl.deleteToken(c.params.accessor!)),
  );

  r.get('/v1/acl/policies', (c) => indexed(acl.listPolicies(who(c))));
  r.get('/v1/acl/policy/:name', (c) => indexed(acl.getPolicy(c.params.name!, who(c))));
  r.write(
    '/v1/acl/policy/:name',
    async (c) => new JsonReply(null, await acl.upsertPolicy(c.params.name!, await c.json<Partial<ACLPolicy>>())),
  );
  r.on('DELETE', '/v1/acl/policy/:name', async (c) => new JsonReply(null, await acl.deletePolicy(c.params.name!)));

  /** A management token reads every role, a client token the roles it links. */
  const mayReadRole = (id: Identity, role: ACLRole) =>
    id.acl.management || (id.token?.Roles ?? []).some((l) => l.ID === role.ID);
  r.get('/v1/acl/roles', (c) => {
    const id = who(c);
    const res = acl.listRoles();
    return new JsonReply(
      res.value.filter((role) => mayReadRole(id, role)),
      res.index,
    );
  });
  r.write('/v1/acl/role', async (c) => acl.upsertRole(await c.json<Partial<ACLRole>>()));
  r.get('/v1/acl/role/name/:name', (c) => {
    const res = acl.getRole({ name: c.params.name! });
    if (!mayReadRole(who(c), res.value)) throw permissionDenied();
    return indexed(res);
  });
  r.get('/v1/acl/role/:id', (c) => {
    const res = acl.getRole({ id: c.params.id! });
    if (!mayReadRole(who(c), res.value)) throw permissionDenied();
    return indexed(res);
  });
  r.write('/v1/acl/role/:id', async (c) => acl.upsertRole(await c.json<Partial<ACLRole>>(), c.params.id));
  r.on('DELETE', '/v1/acl/role/:id', async (c) => new JsonReply(null, await acl.deleteRole(c.params.id!)));

  r.get('/v1/namespaces', () => indexed(acl.listNamespaces()));
  r.get('/v1/namespace/:name', (c) => indexed(acl.getNamespace(c.params.name!)));
  r.write(
    '/v1/namespace/:name',
    async (c) => new JsonReply(null, await acl.upsertNamespace(c.params.name!, await c.json<Partial<Namespace>>())),
  );
  r.write('/v1/namespace', async (c) => {
    const body = await c.json<Partial<Namespace>>();
    return new JsonReply(null, await acl.upsertNamespace(typeof body.Name === 'string' ? body.Name : '', body));
  });
  r.on('DELETE', '/v1/namespace/:name', async (c) => new JsonReply(null, await acl.deleteNamespace(c.params.name!)));

  r.get('/.well-known/jwks.json', () => acl.jwks());
}
