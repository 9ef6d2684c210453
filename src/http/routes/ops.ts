/**
 * Nomad's operator and lookup endpoints built from what the server already holds: `/v1/job/:id/evaluate`,
 * `/v1/node/:id/evaluate`, `/v1/operator/scheduler/configuration` (read), node pools (read), the services of an
 * allocation or a job, `/v1/search` (ID prefix) and `/v1/search/fuzzy` (substring of names).
 */
import { badRequest, permissionDenied } from '../../errors/index.js';
import type { ServiceRegistration } from '../../structs/index.js';
import type { ServerAPI } from '../../server/types.js';
import type { RequestContext, Router } from '../router.js';
import { JsonReply } from '../reply.js';
import { queryOptions } from '../query.js';
import { listParams, listReply } from '../list.js';
import type { ServerRouteOptions } from '../types.js';

const meta = { KnownLeader: true, LastContact: 0 };

/** Every context Nomad's prefix search knows; those Drover has no objects of answer empty lists. */
const PREFIX_CONTEXTS = [
  'allocs',
  'deployment',
  'evals',
  'jobs',
  'nodes',
  'node_pools',
  'namespaces',
  'plugins',
  'scaling_policy',
  'variables',
  'volumes',
] as const;
const FUZZY_CONTEXTS = [
  'allocs',
  'groups',
  'jobs',
  'namespaces',
  'nodes',
  'node_pools',
  'plugins',
  'services',
  'tasks',
  'variables',
  'volumes',
] as const;
/** Nomad's search limits (`search { limit_results = 100 }`; the prefix search returns 20 per context). */
const PREFIX_LIMIT = 20;
const FUZZY_LIMIT = 100;
const FUZZY_MIN_TERM = 2;

const BUILTIN_POOLS = [
  { Name: 'all', Description: 'Node pool with all nodes in the cluster.' },
  { Name: 'default', Description: 'Default node pool.' },
];

interface SearchBody {
  Prefix?: unknown;
  Text?: unknown;
  Context?: unknown;
  Namespace?: unknown;
}

function searchContext(body: SearchBody, allowed: readonly string[]): string {
  const ctx = body.Context == null || body.Context === '' ? 'all' : body.Context;
  if (typeof ctx !== 'string' || (ctx !== 'all' && !allowed.includes(ctx)))
    throw badRequest(`invalid Context ${JSON.stringify(body.Context)}: expected all or one of ${allowed.join(', ')}`);
  return ctx;
}

async function allServices(server: ServerAPI, namespace: string): Promise<ServiceRegistration[]> {
  const names = (await server.services.list({ namespace })).value;
  const out: ServiceRegistration[] = [];
  for (const ns of names)
    for (const s of ns.Services) out.push(...(await server.services.get(ns.Namespace, s.ServiceName)).value);
  return out;
}

/**
 * With ACLs on, search answers only what the token may read: read-job in the body's namespace (the route's
 * rule checked the query's), nodes with node:read, variables with `list` in that namespace; `*` needs a
 * management token. Returns the contexts to leave out.
 */
function searchDenied(c: RequestContext, namespace: string): Set<string> {
  const acl = c.identity?.acl;
  const out = new Set<string>();
  if (acl === undefined || acl.management) return out;
  if (namespace === '*' || !acl.allowNamespaceOperation(namespace, 'read-job')) throw permissionDenied();
  if (!acl.allowNode('read')) out.add('nodes').add('node_pools');
  if (!acl.allowVariableList(namespace)) out.add('variables');
  return out;
}

export function opsRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  const ns = (q: URLSearchParams) => q.get('namespace') || 'default';

  r.write('/v1/job/:id/evaluate', async (c) => {
    const raw = (await c.text()).trim();
    const body = raw ? await c.json<{ EvalOptions?: { ForceReschedule?: unknown } | null }>() : {};
    if (body?.EvalOptions?.ForceReschedule === true)
      throw badRequest(
        'EvalOptions.ForceReschedule is not supported: failed allocations are rescheduled by their reschedule policy',
      );
    const res = await server.jobs.evaluate(ns(c.query), c.params.id!);
    return new JsonReply({ ...res, ...meta }, res.Index);
  });

  r.write('/v1/node/:id/evaluate', async (c) => {
    const res = await server.nodes.evaluate(server.resolvePrefix('node', c.params.id!));
    return new JsonReply({ ...res, ...meta }, res.Index);
  });

  r.get('/v1/operator/scheduler/configuration', async (c) => {
    const index = (await server.jobs.list(queryOptions(c.query, c))).index;
    const cfg = server.schedulerConfiguration();
    return new JsonReply(
      {
        SchedulerConfig: {
          ...cfg,
          RejectJobRegistration: false,
          PauseEvalBroker: false,
          CreateIndex: 0,
          ModifyIndex: 0,
        },
        Index: index,
        ...meta,
      },
      index,
    );
  });

  const pools = async (c: Parameters<Parameters<Router['get']>[1]>[0]) => {
    const res = await server.nodes.list(queryOptions(c.query, c));
    const names = new Set(res.value.map((n) => n.NodePool).filter(Boolean));
    const out = BUILTIN_POOLS.map((p) => ({
      ...p,
      Meta: null,
      SchedulerConfiguration: null,
      CreateIndex: 1,
      ModifyIndex: 1,
    }));
    for (const n of [...names].sort()) {
      if (!out.some((p) => p.Name === n))
        out.push({
          Name: n,
          Description: '',
          Meta: null,
          SchedulerConfiguration: null,
          CreateIndex: 1,
          ModifyIndex: 1,
        });
    }
    return { value: out.sort((a, b) => a.Name.localeCompare(b.Name)), index: res.index, nodes: res.value };
  };
  r.get('/v1/node/pools', async (c) => {
    const lp = listParams(c.query);
    const res = await pools(c);
    const prefix = c.query.get('prefix') ?? '';
    return listReply(
      lp,
      { value: res.value.filter((p) => p.Name.startsWith(prefix)), index: res.index },
      (p) => p.Name,
    );
  });
  r.get('/v1/node/pool/:name', async (c) => {
    const res = await pools(c);
    const p = res.value.find((x) => x.Name === c.params.name);
    if (!p) throw badRequest(`node pool "${c.params.name}" not found`);
    return new JsonReply(p, res.index);
  });
  r.get('/v1/node/pool/:name/nodes', async (c) => {
    const lp = listParams(c.query);
    const res = await pools(c);
    const name = c.params.name!;
    if (!res.value.some((x) => x.Name === name)) throw badRequest(`node pool "${name}" not found`);
    return listReply(lp, {
      value: name === 'all' ? res.nodes : res.nodes.filter((n) => n.NodePool === name),
      index: res.index,
    });
  });

  r.get('/v1/allocation/:id/services', async (c) => {
    const id = server.resolvePrefix('alloc', c.params.id!);
    const alloc = (await server.allocs.get(id)).value;
    const res = await server.services.list({ namespace: alloc.Namespace });
    return new JsonReply(
      (await allServices(server, alloc.Namespace)).filter((s) => s.AllocID === id),
      res.index,
    );
  });
  r.get('/v1/job/:id/services', async (c) => {
    const job = (await server.jobs.get(ns(c.query), c.params.id!)).value;
    const res = await server.services.list({ namespace: job.Namespace });
    return new JsonReply(
      (await allServices(server, job.Namespace)).filter((s) => s.JobID === job.ID),
      res.index,
    );
  });

  r.write('/v1/search', async (c) => {
    const body = await c.json<SearchBody>();
    if (body === null || typeof body !== 'object') throw badRequest('search body must be a JSON object');
    if (typeof body.Prefix !== 'string') throw badRequest('"Prefix" is required: the ID prefix to look for');
    const ctx = searchContext(body, PREFIX_CONTEXTS);
    const namespace = typeof body.Namespace === 'string' && body.Namespace ? body.Namespace : ns(c.query);
    const prefix = body.Prefix;
    const q = { namespace, prefix };
    const denied = searchDenied(c, namespace);
    const want = (x: string) => (ctx === 'all' || ctx === x) && !denied.has(x);
    const matches: Record<string, string[]> = {};
    const truncations: Record<string, boolean> = {};
    let index = 0;
    const put = (name: string, res: { value: readonly unknown[]; index: number }, key: (x: never) => string) => {
      index = Math.max(index, res.index);
      const ids = res.value.map((x) => key(x as never)).filter((id) => id.startsWith(prefix));
      matches[name] = ids.slice(0, PREFIX_LIMIT);
      truncations[name] = ids.length > PREFIX_LIMIT;
    };
    const byID = (x: { ID: string }) => x.ID;
    if (want('jobs')) put('jobs', await server.jobs.list(q), byID);
    if (want('allocs')) put('allocs', await server.allocs.list(q), byID);
    if (want('evals')) put('evals', await server.evals.list(q), byID);
    if (want('nodes')) put('nodes', await server.nodes.list(q), byID);
    if (want('deployment')) put('deployment', await server.deployments.list(q), byID);
    if (want('variables')) put('variables', await server.vars.list(q), (v: { Path: string }) => v.Path);
    if (want('node_pools')) put('node_pools', await pools(c), (p: { Name: string }) => p.Name);
    if (want('namespaces')) put('namespaces', { value: [namespace], index }, (n: string) => n);
    for (const x of PREFIX_CONTEXTS) {
      if (want(x) && matches[x] === undefined) {
        matches[x] = [];
        truncations[x] = false;
      }
    }
    return new JsonReply({ Matches: matches, Truncations: truncations, Index: index, ...meta }, index);
  });

  r.write('/v1/search/fuzzy', async (c) => {
    const body = await c.json<SearchBody>();
    if (body === null || typeof body !== 'object') throw badRequest('search body must be a JSON object');
    if (typeof body.Text !== 'string') throw badRequest('"Text" is required: the text to look for');
    if (body.Text.length < FUZZY_MIN_TERM)
      throw badRequest(`fuzzy search query must be at least ${FUZZY_MIN_TERM} characters, got ${body.Text.length}`);
    const ctx = searchContext(body, FUZZY_CONTEXTS);
    const namespace = typeof body.Namespace === 'string' && body.Namespace ? body.Namespace : ns(c.query);
    const text = body.Text.toLowerCase();
    const hit = (s: string) => s.toLowerCase().includes(text);
    const denied = searchDenied(c, namespace);
    const want = (x: string) => (ctx === 'all' || ctx === x) && !denied.has(x);
    const found: Record<string, Array<{ ID: string; Scope: string[] }>> = {};
    const add = (k: string, ID: string, Scope: string[]) => (found[k] ??= []).push({ ID, Scope });
    let index = 0;
    if (want('jobs') || want('groups') || want('tasks')) {
      const jobs = await server.jobs.list({ namespace });
      index = Math.max(index, jobs.index);
      for (const stub of jobs.value) {
        if (want('jobs') && hit(stub.Name || stub.ID)) add('jobs', stub.ID, [stub.Namespace]);
        if (!want('groups') && !want('tasks')) continue;
        const job = (await server.jobs.get(stub.Namespace, stub.ID)).value;
        for (const tg of job.TaskGroups ?? []) {
          if (want('groups') && hit(tg.Name)) add('groups', tg.Name, [job.Namespace, job.ID]);
          for (const t of tg.Tasks ?? [])
            if (want('tasks') && hit(t.Name)) add('tasks', t.Name, [job.Namespace, job.ID, tg.Name]);
        }
      }
    }
    if (want('services')) {
      const seen = new Set<string>();
      for (const s of await allServices(server, namespace)) {
        const k = `${s.Namespace}\u0000${s.JobID}\u0000${s.ServiceName}`;
        if (hit(s.ServiceName) && !seen.has(k)) {
          seen.add(k);
          add('services', s.ServiceName, [s.Namespace, s.JobID]);
        }
      }
    }
    if (want('nodes')) {
      const nodes = await server.nodes.list({});
      index = Math.max(index, nodes.index);
      for (const n of nodes.value) if (hit(n.Name)) add('nodes', n.Name, [n.ID]);
    }
    if (want('allocs')) {
      const allocs = await server.allocs.list({ namespace });
      index = Math.max(index, allocs.index);
      for (const a of allocs.value) if (hit(a.Name)) add('allocs', a.Name, [a.Namespace, a.ID]);
    }
    if (want('variables')) {
      const vars = await server.vars.list({ namespace });
      for (const v of vars.value) if (hit(v.Path)) add('variables', v.Path, [v.Namespace]);
    }
    if (want('node_pools')) for (const p of (await pools(c)).value) if (hit(p.Name)) add('node_pools', p.Name, []);
    const matches: Record<string, Array<{ ID: string; Scope: string[] }>> = {};
    const truncations: Record<string, boolean> = {};
    for (const [k, list] of Object.entries(found)) {
      list.sort((a, b) => a.ID.localeCompare(b.ID));
      matches[k] = list.slice(0, FUZZY_LIMIT);
      truncations[k] = list.length > FUZZY_LIMIT;
    }
    return new JsonReply({ Matches: matches, Truncations: truncations, Index: index, ...meta }, index);
  });
}
