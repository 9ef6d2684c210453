import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AclService, AuditLog } from '../acl/index.js';
import { newFakeScheduler } from '../server/testing/fake-scheduler.js';
import { build } from '../testing/builders.js';
import { ruleFor } from './acl-rules.js';
import { buildRouter, type HttpApi } from './server.js';
import { testAgent, testRouteOptions } from './testing/test-api.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function aclAgent(opts: { audit?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'drover-acl-'));
  let acl!: AclService;
  const { server, http, stop } = await testAgent({ dataDir: dir, newScheduler: newFakeScheduler }, (s) => {
    acl = new AclService({ store: s.store, enabled: true, dataDir: dir });
    const audit = opts.audit
      ? new AuditLog({ path: join(dir, 'audit', 'audit.log'), rotateBytes: 4000, rotateMaxFiles: 2 })
      : undefined;
    return { acl, audit };
  });
  cleanups.push(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { http, dir, acl, server };
}

async function call(a: HttpApi, method: string, path: string, token?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers['X-Nomad-Token'] = token;
  const res = await fetch(`${a.address}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: <T = Record<string, unknown>>() => JSON.parse(text) as T };
}

const job = (id: string, ns = 'default') => ({
  Job: {
    ID: id,
    Name: id,
    Namespace: ns,
    Type: 'service',
    Datacenters: ['dc1'],
    TaskGroups: [{ Name: 'g', Count: 1, Tasks: [{ Name: 't', Driver: 'mock', Config: {} }] }],
  },
});

async function bootstrapped() {
  const a = await aclAgent();
  const boot = await call(a.http, 'POST', '/v1/acl/bootstrap');
  expect(boot.status).toBe(200);
  const root = boot.json<{ SecretID: string; AccessorID: string; Type: string }>();
  expect(root.Type).toBe('management');
  return { ...a, root: root.SecretID };
}

async function tokenFor(a: HttpApi, root: string, name: string, rules: string, extra: Record<string, unknown> = {}) {
  expect((await call(a, 'PUT', `/v1/acl/policy/${name}`, root, { Name: name, Rules: rules })).status).toBe(200);
  const t = await call(a, 'PUT', '/v1/acl/token', root, {
    Name: `${name}-token`,
    Type: 'client',
    Policies: [name],
    ...extra,
  });
  expect(t.status).toBe(200);
  return t.json<{ SecretID: string; AccessorID: string }>();
}

describe('the ACL rule table', () => {
  it('has a rule for every route of the API', async () => {
    const a = await aclAgent();
    const router = buildRouter({
      server: a.server,
      acl: a.acl,
      ...testRouteOptions,
      client: { nodeID: 'n' } as never,
    });
    const missing = router.list().filter((r) => ruleFor(r.method, r.pattern) === undefined);
    expect(missing).toEqual([]);
  });

  it(
    'denies an anonymous request on every path that is not public, walking the route table',
    { timeout: 30_000 },
    async () => {
      const a = await aclAgent();
      const routes = buildRouter({
        server: a.server,
        acl: a.acl,
        ...testRouteOptions,
      }).list();
      let checked = 0;
      for (const r of routes) {
        const rule = ruleFor(r.method, r.pattern)!;
        if (rule.kind === 'public') continue;
        const path = r.pattern.replace(/:(\w+)/g, 'x').replace(/\*\w+/, 'x/y');
        const res = await call(
          a.http,
          r.method,
          path,
          undefined,
          r.method === 'GET' || r.method === 'DELETE' ? undefined : {},
        );
        expect({ route: `${r.method} ${r.pattern}`, status: res.status }).toEqual({
          route: `${r.method} ${r.pattern}`,
          status: 403,
        });
        checked++;
      }
      expect(checked).toBeGreaterThan(60);
      // A bearer token that is not a token is refused as Nomad's "ACL token not found".
      const bad = await fetch(`${a.http.address}/v1/jobs`, {
        headers: { Authorization: 'Bearer 9b0e1c1e-0000-4000-8000-000000000000' },
      });
      expect(bad.status).toBe(403);
      expect(await bad.text()).toBe('ACL token not found');
    },
  );
});

describe('ACL tokens and policies over the API', () => {
  it('bootstraps once; the reset file with the reset index allows one more bootstrap', async () => {
    const a = await bootstrapped();
    const again = await call(a.http, 'POST', '/v1/acl/bootstrap');
    expect(again.status).toBe(400);
    const m = /reset index: (\d+)/.exec(again.text);
    expect(m).not.toBeNull();
    writeFileSync(join(a.dir, 'acl-bootstrap-reset'), m![1]!);
    expect((await call(a.http, 'POST', '/v1/acl/bootstrap')).status).toBe(200);
    expect((await call(a.http, 'POST', '/v1/acl/bootstrap')).status).toBe(400);
  });

  it('lets a read token read jobs and refuses its writes with 403 Permission denied', async () => {
    const a = await bootstrapped();
    expect((await call(a.http, 'PUT', '/v1/jobs', a.root, job('web'))).status).toBe(200);
    const reader = await tokenFor(a.http, a.root, 'reader', 'namespace "default" { policy = "read" }');
    const list = await call(a.http, 'GET', '/v1/jobs', reader.SecretID);
    expect(list.status).toBe(200);
    expect(list.json<unknown[]>().length).toBe(1);
    expect((await call(a.http, 'GET', '/v1/job/web', reader.SecretID)).status).toBe(200);
    const write = await call(a.http, 'PUT', '/v1/jobs', reader.SecretID, job('web2'));
    expect(write.status).toBe(403);
    expect(write.text).toBe('Permission denied');
    expect((await call(a.http, 'DELETE', '/v1/job/web', reader.SecretID)).status).toBe(403);
    expect((await call(a.http, 'GET', '/v1/nodes', reader.SecretID)).status).toBe(403);
    const self = await call(a.http, 'GET', '/v1/acl/token/self', reader.SecretID);
    expect(self.json<{ AccessorID: string }>().AccessorID).toBe(reader.AccessorID);
  });

  it('keeps a namespace-scoped token out of other namespaces: jobs, variables and services', async () => {
    const a = await bootstrapped();
    expect((await call(a.http, 'PUT', '/v1/jobs', a.root, job('ghost', 'team-a'))).text).toContain(
      'namespace "team-a" does not exist',
    );
    for (const ns of ['team-a', 'team-b'])
      expect((await call(a.http, 'PUT', `/v1/namespace/${ns}`, a.root, { Name: ns })).status).toBe(200);
    expect((await call(a.http, 'PUT', '/v1/jobs?namespace=team-a', a.root, job('a-job', 'team-a'))).status).toBe(200);
    expect((await call(a.http, 'PUT', '/v1/jobs?namespace=team-b', a.root, job('b-job', 'team-b'))).status).toBe(200);
    expect(
      (await call(a.http, 'PUT', '/v1/var/app/x?namespace=team-b', a.root, { Items: { k: 'secret' } })).status,
    ).toBe(200);
    const t = await tokenFor(a.http, a.root, 'team-a', 'namespace "team-a" { policy = "write" }');
    const all = await call(a.http, 'GET', '/v1/jobs?namespace=*', t.SecretID);
    expect(all.json<{ ID: string }[]>().map((j) => j.ID)).toEqual(['a-job']);
    expect((await call(a.http, 'GET', '/v1/jobs?namespace=team-b', t.SecretID)).status).toBe(403);
    expect((await call(a.http, 'GET', '/v1/job/b-job?namespace=team-b', t.SecretID)).status).toBe(403);
    expect((await call(a.http, 'GET', '/v1/var/app/x?namespace=team-b', t.SecretID)).status).toBe(403);
    expect((await call(a.http, 'GET', '/v1/vars?namespace=*', t.SecretID)).json<unknown[]>()).toEqual([]);
    expect((await call(a.http, 'GET', '/v1/services?namespace=team-b', t.SecretID)).status).toBe(403);
    // The body cannot smuggle the job into a namespace the query did not name.
    expect((await call(a.http, 'PUT', '/v1/jobs?namespace=team-a', t.SecretID, job('sneaky', 'team-b'))).status).toBe(
      403,
    );
    const nss = await call(a.http, 'GET', '/v1/namespaces', t.SecretID);
    expect(nss.json<{ Name: string }[]>().map((n) => n.Name)).toEqual(['team-a']);
    // A namespace with jobs cannot be deleted; default never can.
    expect((await call(a.http, 'DELETE', '/v1/namespace/team-a', a.root)).status).toBe(400);
    expect((await call(a.http, 'DELETE', '/v1/namespace/default', a.root)).status).toBe(400);
  });

  it("streams a namespace-scoped token its own namespace's events and neither another's nor Node events", async () => {
    const a = await bootstrapped();
    for (const ns of ['team-a', 'team-b'])
      expect((await call(a.http, 'PUT', `/v1/namespace/${ns}`, a.root, { Name: ns })).status).toBe(200);
    await a.server.nodeRegister(build.node({ ID: 'events-node', SecretID: randomUUID() }));
    expect((await call(a.http, 'PUT', '/v1/jobs?namespace=team-b', a.root, job('b-job', 'team-b'))).status).toBe(200);
    expect(
      (await call(a.http, 'PUT', '/v1/var/app/x?namespace=team-b', a.root, { Items: { k: 'secret' } })).status,
    ).toBe(200);
    // Written last: once a stream shows it, it has been offered everything before it.
    expect((await call(a.http, 'PUT', '/v1/jobs?namespace=team-a', a.root, job('a-job', 'team-a'))).status).toBe(200);
    const t = await tokenFor(a.http, a.root, 'team-a', 'namespace "team-a" { policy = "read" }');

    const seen = async (token: string) => {
      const ac = new AbortController();
      const res = await fetch(`${a.http.address}/v1/event/stream?namespace=*&index=1`, {
        headers: { 'X-Nomad-Token': token },
        signal: AbortSignal.any([ac.signal, AbortSignal.timeout(10_000)]),
      });
      expect(res.status).toBe(200);
      const events: Array<{ Topic: string; Namespace: string; Key: string }> = [];
      let text = '';
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        const lines = text.split('\n');
        text = lines.pop()!;
        for (const l of lines.filter((x) => x.trim() !== ''))
          events.push(...((JSON.parse(l) as { Events?: typeof events }).Events ?? []));
        if (events.some((e) => e.Topic === 'Job' && e.Key === 'a-job')) break;
      }
      ac.abort();
      return events.map((e) => `${e.Topic}:${e.Namespace}`);
    };
    const everything = await seen(a.root);
    expect(everything).toEqual(expect.arrayContaining(['Node:', 'Job:team-b', 'Variable:team-b', 'Job:team-a']));
    const scoped = await seen(t.SecretID);
    expect(scoped).toContain('Job:team-a');
    expect(scoped.filter((e) => !e.endsWith(':team-a'))).toEqual([]);
    // Asking for another namespace alone is refused outright; a token with no grant gets no stream at all.
    expect((await call(a.http, 'GET', '/v1/event/stream?namespace=team-b', t.SecretID)).status).toBe(403);
    const none = await tokenFor(a.http, a.root, 'nothing', 'agent { policy = "read" }');
    expect((await call(a.http, 'GET', '/v1/event/stream?namespace=*', none.SecretID)).status).toBe(403);
  });

  it('keeps search inside the namespace and contexts the token may read', async () => {
    const a = await bootstrapped();
    for (const ns of ['team-a', 'team-b'])
      expect((await call(a.http, 'PUT', `/v1/namespace/${ns}`, a.root, { Name: ns })).status).toBe(200);
    expect((await call(a.http, 'PUT', '/v1/jobs?namespace=team-b', a.root, job('b-job', 'team-b'))).status).toBe(200);
    const t = await tokenFor(a.http, a.root, 'team-a', 'namespace "team-a" { policy = "read" }');
    // The query names team-a (which the route's rule checks); the body asks for team-b or every namespace.
    for (const Namespace of ['team-b', '*']) {
      const r = await call(a.http, 'PUT', '/v1/search?namespace=team-a', t.SecretID, {
        Prefix: 'b',
        Context: 'all',
        Namespace,
      });
      expect(r.status, Namespace).toBe(403);
      const f = await call(a.http, 'PUT', '/v1/search/fuzzy?namespace=team-a', t.SecretID, {
        Text: 'b-job',
        Context: 'all',
        Namespace,
      });
      expect(f.status, Namespace).toBe(403);
    }
    const own = await call(a.http, 'PUT', '/v1/search?namespace=team-a', t.SecretID, {
      Prefix: '',
      Context: 'all',
      Namespace: 'team-a',
    });
    expect(own.status, own.text).toBe(200);
    // No node:read and no variable list capability: those contexts stay empty.
    expect(own.json<{ Matches: Record<string, string[]> }>().Matches['nodes'] ?? []).toEqual([]);
  });

  it('answers a check-and-set conflict without the items to a token that may write but not read', async () => {
    const a = await bootstrapped();
    expect((await call(a.http, 'PUT', '/v1/var/app/x', a.root, { Items: { k: 'secret' } })).status).toBe(200);
    const t = await tokenFor(
      a.http,
      a.root,
      'writer',
      'namespace "default" { variables { path "app/*" { capabilities = ["write"] } } }',
    );
    const r = await call(a.http, 'PUT', '/v1/var/app/x?cas=0', t.SecretID, { Items: { k: 'other' } });
    expect(r.status, r.text).toBe(409);
    expect(r.text).not.toContain('secret');
    const root = await call(a.http, 'PUT', '/v1/var/app/x?cas=0', a.root, { Items: { k: 'other' } });
    expect(root.status).toBe(409);
    expect(root.text).toContain('secret');
  });

  it('guards KV keys as the variable paths kv/<key>: reads, writes, deletes and listings by key prefix', async () => {
    const a = await bootstrapped();
    for (const k of ['app/x', 'app/y', 'other/z'])
      expect((await call(a.http, 'PUT', `/v1/kv/${k}`, a.root, 'v')).text).toBe('true');
    const t = await tokenFor(
      a.http,
      a.root,
      'kv-app',
      'namespace "default" { variables { path "kv/app/*" { capabilities = ["read", "list", "write"] } } }',
    );
    expect((await call(a.http, 'GET', '/v1/kv/app/x', t.SecretID)).status).toBe(200);
    expect((await call(a.http, 'GET', '/v1/kv/other/z', t.SecretID)).status).toBe(403);
    expect((await call(a.http, 'GET', '/v1/kv/app/x')).status).toBe(403);
    expect((await call(a.http, 'PUT', '/v1/kv/app/new', t.SecretID, 'v')).status).toBe(200);
    expect((await call(a.http, 'PUT', '/v1/kv/other/new', t.SecretID, 'v')).status).toBe(403);
    // No destroy capability: neither one key nor the prefix.
    expect((await call(a.http, 'DELETE', '/v1/kv/app/x', t.SecretID)).status).toBe(403);
    expect((await call(a.http, 'DELETE', '/v1/kv/?recurse', t.SecretID)).status).toBe(403);
    // Recursive reads and key listings answer only what the token may see.
    const all = await call(a.http, 'GET', '/v1/kv/?recurse', t.SecretID);
    expect(all.json<Array<{ Key: string }>>().map((e) => e.Key)).toEqual(['app/new', 'app/x', 'app/y']);
    expect((await call(a.http, 'GET', '/v1/kv/?keys', t.SecretID)).json()).toEqual(['app/new', 'app/x', 'app/y']);
    expect((await call(a.http, 'GET', '/v1/kv/other/z', a.root)).status).toBe(200);
    // The rule checks the exact key the handler acts on: `/app/x` (an empty first segment) is not `app/x`.
    expect((await call(a.http, 'PUT', '/v1/kv//app/x', t.SecretID, 'v')).status).toBe(403);
    expect((await call(a.http, 'GET', '/v1/kv//app/x', a.root)).status).toBe(404);
  });

  it('refuses a first node registration with a made-up secret and no certificate, however the path is spelled', async () => {
    const a = await bootstrapped();
    const node = {
      ID: '3b6c1c0e-0000-4000-8000-0000000000aa',
      Name: 'rogue',
      Datacenter: 'dc1',
      SecretID: 'rogue-node-secret-000000000001',
    };
    for (const path of [
      '/v1/internal/client/register',
      '//v1/internal/client/register',
      '/v1/internal/client/./register',
    ]) {
      const res = await fetch(`${a.http.address}${path}`, {
        method: 'PUT',
        headers: { 'X-Drover-Node-Secret': node.SecretID },
        body: JSON.stringify({ Node: node }),
      });
      expect(res.status, path).not.toBe(200);
    }
    expect((await call(a.http, 'GET', '/v1/nodes', a.root)).json<unknown[]>()).toEqual([]);
  });

  it('lets a node registered with a token register again on its secret alone, and nobody else', async () => {
    const a = await bootstrapped();
    const secret = 'known-node-secret-0000000000001';
    const node = build.node({ ID: '3b6c1c0e-0000-4000-8000-0000000000bb', SecretID: secret });
    const register = (secret: string, token?: string, body = node) =>
      fetch(`${a.http.address}/v1/internal/client/register`, {
        method: 'PUT',
        headers: { 'X-Drover-Node-Secret': secret, ...(token ? { 'X-Nomad-Token': token } : {}) },
        body: JSON.stringify({ Node: body }),
      });
    expect((await register(secret)).status).toBe(403);
    const t = await tokenFor(a.http, a.root, 'node-writer', 'node { policy = "write" }');
    expect((await register(secret, t.SecretID)).status).toBe(200);
    expect((await call(a.http, 'DELETE', `/v1/acl/token/${t.AccessorID}`, a.root)).status).toBe(200);
    expect((await register(secret)).status).toBe(200);
    // Another secret for the same node, or a new node with the known secret, is still a first registration.
    expect(
      (
        await register('another-secret-00000000000000001', undefined, {
          ...node,
          SecretID: 'another-secret-00000000000000001',
        })
      ).status,
    ).toBe(403);
    const other = build.node({ ID: '3b6c1c0e-0000-4000-8000-0000000000cc', SecretID: secret });
    expect((await register(secret, undefined, other)).status).toBe(403);
  });

  it('refuses a malformed policy with its line and stores nothing', async () => {
    const a = await bootstrapped();
    const res = await call(a.http, 'PUT', '/v1/acl/policy/bad', a.root, {
      Name: 'bad',
      Rules: 'namespace "default" {\n  policy = "raed"\n}',
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain('line 1');
    expect(res.text).toContain('invalid policy "raed"');
    expect((await call(a.http, 'GET', '/v1/acl/policy/bad', a.root)).status).toBe(404);
    expect((await call(a.http, 'GET', '/v1/acl/policies', a.root)).json<unknown[]>()).toEqual([]);
  });

  it('refuses an expired token and grants nothing from a deleted policy', async () => {
    const a = await bootstrapped();
    const short = await tokenFor(a.http, a.root, 'short', 'namespace "default" { policy = "read" }', {
      ExpirationTTL: '1s',
    });
    expect((await call(a.http, 'GET', '/v1/jobs', short.SecretID)).status).toBe(200);
    await vi.waitFor(
      async () => {
        const r = await call(a.http, 'GET', '/v1/jobs', short.SecretID);
        expect([r.status, r.text]).toEqual([403, 'ACL token expired']);
      },
      { timeout: 5000, interval: 200 },
    );
    const t = await tokenFor(a.http, a.root, 'doomed', 'namespace "default" { policy = "read" }');
    expect((await call(a.http, 'GET', '/v1/jobs', t.SecretID)).status).toBe(200);
    expect((await call(a.http, 'DELETE', '/v1/acl/policy/doomed', a.root)).status).toBe(200);
    expect((await call(a.http, 'GET', '/v1/jobs', t.SecretID)).status).toBe(403);
    // A token naming a policy that does not exist is refused and not stored.
    const before = (await call(a.http, 'GET', '/v1/acl/tokens', a.root)).json<unknown[]>().length;
    expect((await call(a.http, 'PUT', '/v1/acl/token', a.root, { Type: 'client', Policies: ['nope'] })).status).toBe(
      400,
    );
    expect((await call(a.http, 'GET', '/v1/acl/tokens', a.root)).json<unknown[]>().length).toBe(before);
  });

  it('grants through roles, exchanges one-time tokens once, and deletes tokens', async () => {
    const a = await bootstrapped();
    expect(
      (await call(a.http, 'PUT', '/v1/acl/policy/nodes', a.root, { Name: 'nodes', Rules: 'node { policy = "read" }' }))
        .status,
    ).toBe(200);
    const role = await call(a.http, 'PUT', '/v1/acl/role', a.root, { Name: 'ops', Policies: [{ Name: 'nodes' }] });
    expect(role.status).toBe(200);
    const roleID = role.json<{ ID: string }>().ID;
    expect((await call(a.http, 'GET', '/v1/acl/role/name/ops', a.root)).json<{ ID: string }>().ID).toBe(roleID);
    const t = (await call(a.http, 'PUT', '/v1/acl/token', a.root, { Type: 'client', Roles: [{ Name: 'ops' }] })).json<{
      SecretID: string;
      AccessorID: string;
    }>();
    expect((await call(a.http, 'GET', '/v1/nodes', t.SecretID)).status).toBe(200);
    const ott = (await call(a.http, 'PUT', '/v1/acl/token/onetime', t.SecretID)).json<{
      OneTimeToken: { OneTimeSecretID: string };
    }>().OneTimeToken;
    const ex = await call(a.http, 'POST', '/v1/acl/token/onetime/exchange', undefined, {
      OneTimeSecretID: ott.OneTimeSecretID,
    });
    expect(ex.json<{ Token: { SecretID: string } }>().Token.SecretID).toBe(t.SecretID);
    expect(
      (
        await call(a.http, 'POST', '/v1/acl/token/onetime/exchange', undefined, {
          OneTimeSecretID: ott.OneTimeSecretID,
        })
      ).status,
    ).toBe(403);
    expect((await call(a.http, 'DELETE', `/v1/acl/token/${t.AccessorID}`, a.root)).status).toBe(200);
    expect((await call(a.http, 'GET', '/v1/nodes', t.SecretID)).text).toBe('ACL token not found');
  });

  it('writes one audit line per request with the accessor, operation and outcome, rotating by size', async () => {
    const a = await aclAgent({ audit: true });
    const boot = (await call(a.http, 'POST', '/v1/acl/bootstrap')).json<{ SecretID: string; AccessorID: string }>();
    await call(a.http, 'GET', '/v1/jobs');
    await call(a.http, 'GET', '/v1/jobs', boot.SecretID);
    const lines = readFileSync(join(a.dir, 'audit', 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            payload: {
              auth: { accessor_id: string };
              request: { operation: string; endpoint: string };
              response: { status_code: number };
            };
          },
      );
    expect(
      lines.map((l) => [
        l.payload.auth.accessor_id,
        l.payload.request.operation,
        l.payload.request.endpoint,
        l.payload.response.status_code,
      ]),
    ).toEqual([
      ['anonymous', 'POST', '/v1/acl/bootstrap', 200],
      ['anonymous', 'GET', '/v1/jobs', 403],
      [boot.AccessorID, 'GET', '/v1/jobs', 200],
    ]);
    for (let i = 0; i < 20; i++) await call(a.http, 'GET', '/v1/jobs', boot.SecretID);
    expect(readFileSync(join(a.dir, 'audit', 'audit.log.1'), 'utf8').length).toBeGreaterThan(0);
    expect(readFileSync(join(a.dir, 'audit', 'audit.log'), 'utf8').length).toBeLessThanOrEqual(4000);
  });
});

describe('the what-if simulation over the API', () => {
  it('refuses an operator:read and node:read token (the report shows every namespace) and runs for management', async () => {
    const a = await bootstrapped();
    const t = await tokenFor(
      a.http,
      a.root,
      'ops',
      'operator { policy = "read" }\nnode { policy = "read" }\nnamespace "default" { policy = "read" }',
    );
    const body = { Namespace: 'secret', FailDatacenters: ['dc1'] };
    expect((await call(a.http, 'PUT', '/v1/operator/sim', t.SecretID, body)).status).toBe(403);
    const ok = await call(a.http, 'PUT', '/v1/operator/sim', a.root, {});
    expect(ok.status).toBe(200);
    expect(ok.json()).toHaveProperty('Changes', []);
  });
});
