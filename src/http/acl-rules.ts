/**
 * Which capability each API route needs, next to the route table: one entry per `METHOD pattern` (POST shares
 * PUT's entry, HEAD GET's). `acl-rules.test.ts` walks the router and fails on any route without an entry, so a
 * new endpoint cannot ship unguarded; a route missing here is refused to every token but a management one.
 *
 *   request ─► route matched ─► secret (X-Nomad-Token | Authorization: Bearer) resolved ─► rule checked
 *          ─► handler ─► list answers filtered to what the token may read ─► audit line
 *
 * Rules name Nomad's capabilities: `read-job` in the request's namespace, `node:write`, variables by path.
 * Rules on one object (an allocation, evaluation, deployment) check the namespace the object lives in.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ACL, type Identity, type NamespaceCapability, type VariableCapability } from '../acl/index.js';
import { FORWARDED_HEADER } from './forward.js';
import { permissionDenied } from '../errors/index.js';
import { keyOf } from './kv-key.js';
import type { RequestContext } from './router.js';
import type { HttpApiOptions } from './types.js';

export type AclRule =
  /** No token needed: `why` says why the route is safe to answer to anyone. */
  | { kind: 'public'; why: string }
  /** Any real token (not anonymous); handlers of the ACL endpoints then limit a client token to its own objects. */
  | { kind: 'token' }
  | { kind: 'management' }
  /** A capability in the request's namespace; `list`: the answer is filtered by each item's Namespace. */
  | { kind: 'namespace'; cap: NamespaceCapability; list?: boolean }
  /** A capability in the namespace of the allocation, evaluation or deployment named by the path. */
  | { kind: 'object'; of: 'alloc' | 'eval' | 'deployment'; param: string; cap: NamespaceCapability }
  | { kind: 'node' | 'agent' | 'operator'; op: 'read' | 'write'; filterAllocs?: boolean }
  /** `/v1/var/*path`: read, write or destroy the variable by method. */
  | { kind: 'variable' }
  /** `/v1/vars`: the list filtered by the `list` capability on each path. */
  | { kind: 'variables' }
  /**
   * `/v1/kv/*key`: Consul's KV has no namespaces and Nomad no KV, so a key is checked as the variable path
   * `kv/<key>` of the `default` namespace (read, write, destroy by method; `list` for `?keys`); a recursive
   * read is filtered key by key, a recursive delete needs `destroy` on `kv/<prefix>*`.
   */
  | { kind: 'kv' }
  /** The service catalog: read-job, or a workload identity of the namespace; `list` filters by Namespace. */
  | { kind: 'services'; list?: boolean }
  /**
   * `/v1/event/stream`: read-job in the request's namespace (any namespace for `*`) or node:read; the route then
   * drops each event the token may not see.
   */
  | { kind: 'events' }
  /** `/v1/namespaces`: the namespaces the token may do anything in. */
  | { kind: 'namespaces' }
  /** What client agents call: a node:write token (the node secret check is the node identity's own). */
  | { kind: 'internal'; register?: boolean };

const pub = (why: string): AclRule => ({ kind: 'public', why });
const ns = (cap: NamespaceCapability, list = false): AclRule => ({ kind: 'namespace', cap, list });
const alloc = (cap: NamespaceCapability, param = 'id'): AclRule => ({ kind: 'object', of: 'alloc', param, cap });
const dep = (cap: NamespaceCapability): AclRule => ({ kind: 'object', of: 'deployment', param: 'id', cap });

export const ACL_RULES: Record<string, AclRule> = {
  // Agent and status
  'GET /v1/agent/self': { kind: 'agent', op: 'read' },
  'GET /v1/agent/health': pub('load balancers probe it; it reveals only ok/not ok'),
  'GET /v1/status/leader': pub('Nomad answers it without a token; clients find the leader with it'),
  'GET /v1/status/peers': pub('Nomad answers it without a token'),
  'GET /v1/regions': pub('Nomad answers it without a token'),
  'GET /.well-known/jwks.json': pub('public keys, for third parties to verify workload identities'),
  // Web UI assets (the UI itself sends the token on its API calls)
  'GET /': pub('redirect to the UI'),
  'GET /ui': pub('static UI assets'),
  'GET /ui/*path': pub('static UI assets'),
  // Jobs
  'GET /v1/jobs': ns('list-jobs', true),
  'PUT /v1/jobs': ns('submit-job'),
  'PUT /v1/jobs/parse': ns('parse-job'),
  'PUT /v1/validate/job': ns('read-job'),
  'GET /v1/job/:id': ns('read-job'),
  'PUT /v1/job/:id': ns('submit-job'),
  'DELETE /v1/job/:id': ns('submit-job'),
  'PUT /v1/job/:id/plan': ns('submit-job'),
  'GET /v1/job/:id/allocations': ns('read-job'),
  'GET /v1/job/:id/evaluations': ns('read-job'),
  'GET /v1/job/:id/summary': ns('read-job'),
  'GET /v1/job/:id/deployments': ns('read-job'),
  'GET /v1/job/:id/deployment': ns('read-job'),
  'GET /v1/job/:id/versions': ns('read-job'),
  'PUT /v1/job/:id/revert': ns('submit-job'),
  'PUT /v1/job/:id/dispatch': ns('dispatch-job'),
  'PUT /v1/job/:id/periodic/force': ns('submit-job'),
  'GET /v1/job/:id/scale': ns('read-job-scaling'),
  'PUT /v1/job/:id/scale': ns('scale-job'),
  // Policy stubs carry no Namespace to filter on, so `namespace=*` needs a token good for every namespace.
  'GET /v1/scaling/policies': ns('list-scaling-policies'),
  'GET /v1/scaling/policy/:id': ns('read-scaling-policy'),
  // Allocations, evaluations, deployments
  'GET /v1/allocations': ns('read-job', true),
  'GET /v1/allocation/:id': alloc('read-job'),
  'PUT /v1/allocation/:id/stop': alloc('alloc-lifecycle'),
  'GET /v1/evaluations': ns('read-job', true),
  'GET /v1/evaluation/:id': { kind: 'object', of: 'eval', param: 'id', cap: 'read-job' },
  'GET /v1/evaluation/:id/allocations': { kind: 'object', of: 'eval', param: 'id', cap: 'read-job' },
  'GET /v1/deployments': ns('read-job', true),
  'GET /v1/deployment/:id': dep('read-job'),
  'GET /v1/deployment/allocations/:id': dep('read-job'),
  'PUT /v1/deployment/promote/:id': dep('submit-job'),
  'PUT /v1/deployment/pause/:id': dep('submit-job'),
  'PUT /v1/deployment/fail/:id': dep('submit-job'),
  // Client: logs, stats, checks, lifecycle
  'GET /v1/client/fs/logs/:alloc': alloc('read-logs', 'alloc'),
  'GET /v1/client/allocation/:id/stats': alloc('read-job'),
  'GET /v1/client/allocation/:id/checks': alloc('read-job'),
  'PUT /v1/client/allocation/:id/restart': alloc('alloc-lifecycle'),
  'PUT /v1/client/allocation/:id/signal': alloc('alloc-lifecycle'),
  'GET /v1/client/allocation/:id/exec': alloc('alloc-exec'),
  // Nodes
  'GET /v1/nodes': { kind: 'node', op: 'read' },
  'GET /v1/node/:id': { kind: 'node', op: 'read' },
  'GET /v1/node/:id/allocations': { kind: 'node', op: 'read', filterAllocs: true },
  'PUT /v1/node/:id/drain': { kind: 'node', op: 'write' },
  'PUT /v1/node/:id/eligibility': { kind: 'node', op: 'write' },
  // Variables and services
  'GET /v1/vars': { kind: 'variables' },
  'GET /v1/var/*path': { kind: 'variable' },
  'PUT /v1/var/*path': { kind: 'variable' },
  'DELETE /v1/var/*path': { kind: 'variable' },
  'GET /v1/kv': { kind: 'kv' },
  'GET /v1/kv/*key': { kind: 'kv' },
  'PUT /v1/kv': { kind: 'kv' },
  'PUT /v1/kv/*key': { kind: 'kv' },
  'DELETE /v1/kv': { kind: 'kv' },
  'DELETE /v1/kv/*key': { kind: 'kv' },
  'GET /v1/services': { kind: 'services', list: true },
  'GET /v1/service/:name': { kind: 'services' },
  'DELETE /v1/service/:name/:id': ns('submit-job'),
  // The service mesh: intentions decide which service may call which, so writing them is an operator's act
  'GET /v1/connect/intentions': { kind: 'operator', op: 'read' },
  'PUT /v1/connect/intentions': { kind: 'operator', op: 'write' },
  'POST /v1/connect/intentions': { kind: 'operator', op: 'write' },
  'GET /v1/connect/intentions/exact': { kind: 'operator', op: 'read' },
  'DELETE /v1/connect/intentions/exact': { kind: 'operator', op: 'write' },
  'GET /v1/connect/intentions/:id': { kind: 'operator', op: 'read' },
  'PUT /v1/connect/intentions/:id': { kind: 'operator', op: 'write' },
  'DELETE /v1/connect/intentions/:id': { kind: 'operator', op: 'write' },
  'GET /v1/connect/ca/roots': pub('the mesh CA certificate is public: peers verify leaves against it'),
  // Operator: a snapshot holds every secret of the cluster (Nomad asks for a management token)
  'GET /v1/operator/snapshot': { kind: 'management' },
  'PUT /v1/operator/snapshot': { kind: 'management' },
  // Cluster membership and operator views (the etcd cluster work)
  'GET /v1/agent/members': { kind: 'node', op: 'read' },
  'GET /v1/agent/servers': { kind: 'agent', op: 'read' },
  'PUT /v1/agent/join': { kind: 'agent', op: 'write' },
  'PUT /v1/agent/force-leave': { kind: 'agent', op: 'write' },
  'GET /v1/operator/raft/configuration': { kind: 'operator', op: 'read' },
  'GET /v1/operator/scheduler/configuration': { kind: 'operator', op: 'read' },
  // A what-if on a copy of the state: it writes nothing, but its report shows jobs, counts and allocations of
  // every namespace (a removed node or failed datacenter reschedules whatever ran there), so management only
  'PUT /v1/operator/sim': { kind: 'management' },
  // The root keyring that seals variables: management only, as Nomad's
  'GET /v1/operator/keyring/keys': { kind: 'management' },
  'PUT /v1/operator/keyring/rotate': { kind: 'management' },
  'DELETE /v1/operator/keyring/key/:id': { kind: 'management' },
  // Re-evaluation, pools, services of one job or allocation, search, events, metrics
  'PUT /v1/job/:id/evaluate': ns('submit-job'),
  'PUT /v1/node/:id/evaluate': { kind: 'node', op: 'write' },
  'GET /v1/node/pools': { kind: 'node', op: 'read' },
  'GET /v1/node/pool/:name': { kind: 'node', op: 'read' },
  'GET /v1/node/pool/:name/nodes': { kind: 'node', op: 'read' },
  'GET /v1/allocation/:id/services': alloc('read-job'),
  'GET /v1/job/:id/services': ns('read-job'),
  'PUT /v1/search': ns('read-job'),
  'PUT /v1/search/fuzzy': ns('read-job'),
  'GET /v1/event/stream': { kind: 'events' },
  'GET /v1/metrics': { kind: 'agent', op: 'read' },
  // Files of an allocation and the client's host stats
  'GET /v1/client/fs/ls/:alloc': alloc('read-fs', 'alloc'),
  'GET /v1/client/fs/stat/:alloc': alloc('read-fs', 'alloc'),
  'GET /v1/client/fs/cat/:alloc': alloc('read-fs', 'alloc'),
  'GET /v1/client/fs/readat/:alloc': alloc('read-fs', 'alloc'),
  'GET /v1/client/fs/stream/:alloc': alloc('read-fs', 'alloc'),
  'GET /v1/client/stats': { kind: 'node', op: 'read' },
  // What client agents call
  'PUT /v1/internal/client/register': { kind: 'internal', register: true },
  'PUT /v1/internal/client/status': { kind: 'internal' },
  'GET /v1/internal/client/allocs/:nodeID': { kind: 'internal' },
  'PUT /v1/internal/client/allocs': { kind: 'internal' },
  'PUT /v1/internal/client/services': { kind: 'internal' },
  'GET /v1/internal/client/mesh/:nodeID': { kind: 'internal' },
  // ACLs
  'PUT /v1/acl/bootstrap': pub('works once (then needs the reset file on a server); it is how the first token is made'),
  'GET /v1/acl/tokens': { kind: 'management' },
  'PUT /v1/acl/token': { kind: 'management' },
  'GET /v1/acl/token/self': { kind: 'token' },
  'PUT /v1/acl/token/onetime': { kind: 'token' },
  'PUT /v1/acl/token/onetime/exchange': pub('the one-time secret in the body is the credential'),
  'GET /v1/acl/token/:accessor': { kind: 'token' },
  'PUT /v1/acl/token/:accessor': { kind: 'management' },
  'DELETE /v1/acl/token/:accessor': { kind: 'management' },
  'GET /v1/acl/policies': { kind: 'token' },
  'GET /v1/acl/policy/:name': { kind: 'token' },
  'PUT /v1/acl/policy/:name': { kind: 'management' },
  'DELETE /v1/acl/policy/:name': { kind: 'management' },
  'GET /v1/acl/roles': { kind: 'token' },
  'PUT /v1/acl/role': { kind: 'management' },
  'GET /v1/acl/role/:id': { kind: 'token' },
  'PUT /v1/acl/role/:id': { kind: 'management' },
  'DELETE /v1/acl/role/:id': { kind: 'management' },
  'GET /v1/acl/role/name/:name': { kind: 'token' },
  // Namespaces
  'GET /v1/namespaces': { kind: 'namespaces' },
  'GET /v1/namespace/:name': { kind: 'namespaces' },
  'PUT /v1/namespace/:name': { kind: 'management' },
  'PUT /v1/namespace': { kind: 'management' },
  'DELETE /v1/namespace/:name': { kind: 'management' },
};

/** The rule for a matched route (POST shares PUT's, HEAD GET's); undefined when the table has none. */
export function ruleFor(method: string, pattern: string): AclRule | undefined {
  const m = method === 'POST' ? 'PUT' : method === 'HEAD' ? 'GET' : method;
  return ACL_RULES[`${m} ${pattern}`];
}

/** The request's secret: `X-Nomad-Token`, else `Authorization: Bearer <secret>`. */
export function requestSecret(c: RequestContext): string | undefined {
  const h = c.req.headers['x-nomad-token'];
  if (typeof h === 'string' && h !== '') return h.trim();
  const auth = c.req.headers['authorization'];
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  return undefined;
}

/** Who a client request forwarded by a server over mutual TLS acts as: the server checked the user's token. */
export const SERVER_IDENTITY: Identity = { acl: ACL.management(), accessor: 'server' };

/**
 * Whether the request is a client request (`/v1/client/...`) a server forwarded over a TLS connection whose
 * verified peer certificate is a server's (`isServerPeer`). Anything else resolves its own token.
 */
export function serverForwarded(req: IncomingMessage, pathname: string, opts: HttpApiOptions): boolean {
  if (req.headers[FORWARDED_HEADER] === undefined || !pathname.startsWith('/v1/client/')) return false;
  const socket = req.socket as Partial<TLSSocket>;
  if (!opts.isServerPeer || socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return false;
  return opts.isServerPeer(socket.getPeerCertificate());
}

type Filter = (body: unknown) => unknown;

function namespaceOf(c: RequestContext): string {
  return c.query.get('namespace') || 'default';
}

function filterByNamespace(pred: (ns: string) => boolean): Filter {
  return (body) =>
    Array.isArray(body) ? body.filter((it: { Namespace?: string } | null) => pred(it?.Namespace ?? 'default')) : body;
}

/**
 * Checks `rule` for the request's identity; throws 403 "Permission denied" when it does not allow the request.
 * Returns a filter for list answers (the items the token may not read are left out), or undefined.
 */
export async function authorize(
  c: RequestContext,
  rule: AclRule | undefined,
  who: Identity,
  opts: HttpApiOptions,
): Promise<Filter | undefined> {
  const acl = who.acl;
  if (rule === undefined) {
    if (acl.management) return undefined;
    throw permissionDenied();
  }
  switch (rule.kind) {
    case 'public':
      return undefined;
    case 'token':
      if (!who.token && !acl.workload) throw permissionDenied();
      return undefined;
    case 'management':
      if (!acl.management) throw permissionDenied();
      return undefined;
    case 'namespace': {
      const ns = namespaceOf(c);
      if (rule.list && ns === '*') {
        if (!acl.grantsAnyNamespace()) throw permissionDenied();
        return filterByNamespace((n) => acl.allowNamespaceOperation(n, rule.cap));
      }
      if (!acl.allowNamespaceOperation(ns, rule.cap)) throw permissionDenied();
      return rule.list ? filterByNamespace((n) => acl.allowNamespaceOperation(n, rule.cap)) : undefined;
    }
    case 'object': {
      const ns = await objectNamespace(c, rule, opts);
      if (ns === undefined) {
        // Unknown object: management tokens get the handler's 404, everyone else learns nothing.
        if (acl.management) return undefined;
        throw permissionDenied();
      }
      if (!acl.allowNamespaceOperation(ns, rule.cap)) throw permissionDenied();
      return undefined;
    }
    case 'node':
      if (!acl.allowNode(rule.op)) throw permissionDenied();
      return rule.filterAllocs ? filterByNamespace((n) => acl.allowNamespaceOperation(n, 'read-job')) : undefined;
    case 'agent':
      if (!acl.allowAgent(rule.op)) throw permissionDenied();
      return undefined;
    case 'operator':
      if (!acl.allowOperator(rule.op)) throw permissionDenied();
      return undefined;
    case 'variable': {
      const op: VariableCapability =
        c.req.method === 'GET' || c.req.method === 'HEAD' ? 'read' : c.req.method === 'DELETE' ? 'destroy' : 'write';
      if (!acl.allowVariableOperation(namespaceOf(c), c.params['path'] ?? '', op)) throw permissionDenied();
      return undefined;
    }
    case 'variables': {
      const ns = namespaceOf(c);
      if (ns === '*' ? !acl.grantsAnyNamespace() : !acl.allowVariableList(ns)) throw permissionDenied();
      return (body) =>
        Array.isArray(body)
          ? body.filter((v: { Namespace?: string; Path?: string }) =>
              acl.allowVariableOperation(v.Namespace ?? 'default', v.Path ?? '', 'list'),
            )
          : body;
    }
    case 'kv':
      return kvRule(c, acl);
    case 'services': {
      const ns = namespaceOf(c);
      if (rule.list && ns === '*') {
        if (!acl.grantsAnyNamespace()) throw permissionDenied();
        return filterByNamespace((n) => acl.allowServiceRead(n));
      }
      if (!acl.allowServiceRead(ns)) throw permissionDenied();
      return rule.list ? filterByNamespace((n) => acl.allowServiceRead(n)) : undefined;
    }
    case 'events': {
      const ns = namespaceOf(c);
      const some = ns === '*' ? acl.grantsAnyNamespace() : acl.allowNamespaceOperation(ns, 'read-job');
      if (!some && !acl.allowNode('read')) throw permissionDenied();
      return undefined;
    }
    case 'namespaces': {
      const name = c.params['name'];
      if (name !== undefined) {
        if (!acl.allowNamespace(name)) throw permissionDenied();
        return undefined;
      }
      if (!acl.grantsAnyNamespace()) throw permissionDenied();
      return (body) =>
        Array.isArray(body) ? body.filter((n: { Name?: string }) => acl.allowNamespace(n.Name ?? '')) : body;
    }
    case 'internal': {
      if (acl.allowNode('write')) return undefined;
      // Without a node:write token a client agent is still let through with its node secret: the handler then
      // checks the secret against the node it names (node identity). A first registration also needs a
      // verified client certificate (mutual TLS), so nobody can add a node with a made-up secret. The rule, not
      // the raw URL, says which route this is: `//v1/...` or an absolute-form URL cannot dodge the check.
      // A node already registered with this secret may register again with it alone (after a lost heartbeat,
      // with the token that first admitted it deleted): the handler checks the secret against the stored node.
      const secret = c.req.headers['x-drover-node-secret'];
      const certified = (c.req.socket as { authorized?: boolean }).authorized === true;
      if (typeof secret !== 'string' || secret === '') throw permissionDenied();
      if (certified || rule.register !== true || (await knownNodeSecret(c, secret, opts))) return undefined;
      throw permissionDenied();
    }
  }
}

/** The variable path a KV key is checked as (see the `kv` rule). */
export const kvAclPath = (key: string) => `kv/${key}`;

function kvRule(c: RequestContext, acl: ACL): ((body: unknown) => unknown) | undefined {
  const q = c.query;
  const flag = (n: string) => q.has(n) && !['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(q.get(n)!);
  // The exact key the handler acts on (the router's segments drop empty ones: `a//b` is not `a/b`).
  const key = keyOf(c);
  const may = (k: string, op: VariableCapability) => acl.allowVariableOperation('default', kvAclPath(k), op);
  const method = c.req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') {
    if (flag('keys'))
      return (body) => (Array.isArray(body) ? body.filter((k) => typeof k === 'string' && may(k, 'list')) : body);
    if (flag('recurse'))
      return (body) => (Array.isArray(body) ? body.filter((e: { Key?: string }) => may(e.Key ?? '', 'read')) : body);
    if (!may(key, 'read')) throw permissionDenied();
    return undefined;
  }
  if (method === 'DELETE') {
    if (!may(flag('recurse') ? `${key}*` : key, 'destroy')) throw permissionDenied();
    return undefined;
  }
  if (!may(key, 'write')) throw permissionDenied();
  return undefined;
}

/** Whether the register request's Node.ID is a node the server knows, stored with `secret`. */
async function knownNodeSecret(c: RequestContext, secret: string, opts: HttpApiOptions): Promise<boolean> {
  if (!opts.server) return false;
  let id: unknown;
  try {
    id = (await c.json<{ Node?: { ID?: unknown } }>()).Node?.ID;
  } catch {
    return false;
  }
  if (typeof id !== 'string' || id === '') return false;
  try {
    // Node identity's own check: the node exists and was stored with this secret.
    opts.server.authorizeNodeRequest({ kind: 'status', secret, nodeID: id });
    return true;
  } catch {
    return false;
  }
}

async function objectNamespace(
  c: RequestContext,
  rule: Extract<AclRule, { kind: 'object' }>,
  opts: HttpApiOptions,
): Promise<string | undefined> {
  const server = opts.server;
  const raw = c.params[rule.param];
  if (raw === undefined) return undefined;
  // A client-only agent knows the allocations it runs (full IDs: servers forward with the full ID).
  if (!server) return rule.of === 'alloc' ? opts.client?.allocNamespace?.(raw) : undefined;
  try {
    if (rule.of === 'alloc') return (await server.allocs.get(server.resolvePrefix('alloc', raw))).value.Namespace;
    if (rule.of === 'eval') return (await server.evals.get(server.resolvePrefix('eval', raw))).value.Namespace;
    return (await server.deployments.get(server.resolvePrefix('deployment', raw))).value.Namespace;
  } catch {
    return undefined;
  }
}
