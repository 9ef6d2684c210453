/**
 * ServerRPC over HTTP, for a client agent whose servers run elsewhere. The server agent serves these internal
 * endpoints (JSON bodies, Nomad's field names; durations in the bodies are nanoseconds as everywhere):
 *
 *   PUT /v1/internal/client/register          {"Node": Node}
 *       → 200 {"HeartbeatTTL": <ns>, "Index": n}
 *   PUT /v1/internal/client/status            {"NodeID": "...", "Status": "ready"}
 *       → 200 {"HeartbeatTTL": <ns>, "Index": n}
 *   GET /v1/internal/client/allocs/:nodeID?index=N&wait=30000ms   (blocking query, as every Nomad list)
 *       → 200 {"Allocs": Allocation[], "Index": n}, header X-Nomad-Index: n
 *   PUT /v1/internal/client/allocs            {"Allocs": AllocClientUpdate[]}
 *       → 200 {"Index": n}
 *   PUT /v1/internal/client/services          {"Upsert": ServiceRegistration[], "Delete": string[]}
 *       → 200
 *
 * Template reads use the public blocking endpoints, as consul-template reads a Nomad agent:
 *   GET /v1/var/:path?index=N&wait=   → Variable (404 with X-Nomad-Index: absent, answered as null)
 *   GET /v1/vars?prefix=&index=N      GET /v1/service/:name?index=N      GET /v1/services?index=N
 *
 * Errors: any non-2xx answer becomes a DroverError 'Unavailable' carrying the status and body; a server that
 * cannot be reached tries the next address. The addresses are the configured ones plus the servers they name
 * (`GET /v1/agent/servers`, read again every 30 s and after a failover: see server-list.ts). The secret `X-Nomad-Token` header is sent when a token is given.
 * Every internal call also carries the node's SecretID in `X-Drover-Node-Secret` (node identity: the servers
 * answer 403 to a request that is not the node's own), and the writes name their node in `NodeID`.
 */
import type {
  Allocation,
  MeshSidecarMaterial,
  Node,
  ServiceRegistration,
  ServiceRegistrationListStub,
  Variable,
  VariableMetadata,
  KVEntry,
  NodeListStub,
} from '../structs/index.js';
import type { PeerCertificate } from 'node:tls';
import { TlsFetch } from '../lib/tls-fetch.js';
import { DroverError } from '../errors/index.js';
import { ServerList } from './server-list.js';
import type { AllocClientUpdate, BlockingReadOptions, IndexedValue, NodeRegisterResponse, ServerRPC } from './rpc.js';

export interface RegisterResponseJSON {
  HeartbeatTTL: number;
  Index: number;
}
export interface ClientAllocsResponseJSON {
  Allocs: Allocation[];
  Index: number;
}

export interface HttpServerRPCOptions {
  token?: string;
  /**
   * TLS to the servers (agent `tls { rpc = true }`): trust only `ca`, present `cert`/`key`, and check the server's
   * certificate with `checkServerIdentity` (the role names under verify_server_hostname). Reloadable.
   */
  tls?: HttpServerRPCTls | TlsFetch;
  /** For tests. Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Deadline of a non-blocking request and the slack beyond a blocking query's wait (default 15 s). */
  requestTimeoutMs?: number;
  /** How often the servers' list is read again (default 30 s; also after every failover). */
  serverRefreshMs?: number;
}

export interface HttpServerRPCTls {
  ca: string;
  cert: string;
  key: string;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** Deadline of a non-blocking request, and the slack added to a blocking query's wait. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Where the servers name every server of the region. */
const SERVERS_PATH = '/v1/agent/servers';

export class HttpServerRPC implements ServerRPC {
  private readonly list: ServerList;
  private fetchFn: typeof fetch;
  private tls: TlsFetch | undefined;
  private readonly slackMs: number;
  private node: { id: string; secret: string } | undefined;
  /** Whether the servers accepted this node's registration (with its secret) once. */
  private registered = false;

  constructor(
    addresses: string[] | string | ServerList,
    private readonly opts: HttpServerRPCOptions = {},
  ) {
    const scheme = opts.tls ? 'https' : 'http';
    if (addresses instanceof ServerList) this.list = addresses;
    else {
      const given = Array.isArray(addresses) ? addresses : [addresses];
      if (given.length === 0) throw new DroverError('BadRequest', 'a client needs at least one server address');
      this.list = new ServerList(given, scheme, opts.serverRefreshMs);
    }
    this.fetchFn = opts.fetch ?? fetch;
    if (opts.tls instanceof TlsFetch) {
      this.tls = opts.tls;
      this.fetchFn = opts.tls.fetch;
    } else if (opts.tls) this.useTls(opts.tls);
    this.slackMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  /** The server that answered last (`http://host:port`): where a client agent forwards API calls. */
  get currentServer(): string {
    return this.list.current;
  }

  /** The servers known now (configured and learned), each as `scheme://host:port`, the current one first. */
  get servers(): string[] {
    return this.list.all;
  }

  /**
   * Reads the servers' list again (`GET /v1/agent/servers`) from the current server, failing over as any call.
   * A refused read (a token without agent:read when ACLs are on) keeps the list as it is. Resolves when done.
   */
  async refreshServers(signal?: AbortSignal): Promise<void> {
    try {
      const { data } = await this.call<unknown>('GET', SERVERS_PATH, undefined, signal);
      this.list.learn(data);
    } catch {
      this.list.refreshFailed();
    }
  }

  /** Starts a refresh unless one is under way; every copy of this RPC (withToken) shares it. */
  private refreshSoon(): void {
    if (this.list.refreshing) return;
    this.list.refreshing = this.refreshServers().finally(() => (this.list.refreshing = undefined));
  }

  /** How this RPC reaches the servers (its TLS dispatcher when TLS is on): other callers to them share it. */
  readonly serverFetch: typeof fetch = (input, init) => this.fetchFn(input, init);

  /**
   * The same servers, calling with another token (a task's workload identity for its template reads). The copy
   * shares this one's connections, TLS dispatcher and reloads included, so a template per task costs no pool.
   */
  withToken(token: string): HttpServerRPC {
    const { tls: _tls, ...rest } = this.opts;
    return new HttpServerRPC(this.list, { ...rest, token, fetch: this.serverFetch });
  }

  /** New TLS material (SIGHUP): new connections use it; the old dispatcher closes once its requests end. */
  useTls(t: HttpServerRPCTls): void {
    if (this.tls) this.tls.use(t);
    else this.tls = new TlsFetch(t);
    this.fetchFn = this.tls.fetch;
  }

  useNodeIdentity(nodeID: string, secretID: string): void {
    this.node = { id: nodeID, secret: secretID };
  }

  private headers(path: string): Record<string, string> {
    const h: Record<string, string> = { 'Content-Type': 'application/json' };
    const internal = path.startsWith('/v1/internal/client/');
    // Once the node is registered its secret speaks for it on the internal endpoints (re-registration included):
    // the token that admitted it may be deleted or expire without cutting the node off.
    if (this.opts.token && !(internal && this.registered)) h['X-Nomad-Token'] = this.opts.token;
    if (this.node && internal) h['X-Drover-Node-Secret'] = this.node.secret;
    return h;
  }

  /**
   * One request, trying each server in turn. Each attempt has a deadline (`timeoutMs`, beyond any blocking
   * wait): a partitioned or silently dead server drops packets instead of refusing them, and a heartbeat that
   * waited forever would never notice, nor re-register once the network is back.
   */
  /** A blocking GET: its wait bounded by `q` plus slack; a 404 (when `notFoundIsNull`) reads as null. */
  private blockingGet<T>(
    path: string,
    q: BlockingReadOptions,
    notFoundIsNull = false,
  ): Promise<{ data: T; index: number }> {
    return this.call<T>('GET', path, undefined, q.signal, notFoundIsNull, readTimeout(q, this.slackMs));
  }

  private async call<T>(
    method: 'GET' | 'PUT',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    notFoundIsNull = false,
    timeoutMs = this.slackMs,
  ): Promise<{ data: T; index: number }> {
    let lastErr: unknown;
    const order = this.list.order();
    for (const base of order) {
      const deadline = AbortSignal.timeout(timeoutMs);
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(`${base}${path}`, {
          method,
          headers: this.headers(path),
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
        });
        text = await res.text();
      } catch (e) {
        if (signal?.aborted) throw e;
        lastErr = e;
        continue;
      }
      // A failover, or a list not read for a while: ask the servers who they are now (not awaited here).
      if ((this.list.answered(base) || this.list.due()) && path !== SERVERS_PATH) this.refreshSoon();
      // A missing variable still carries the index, so a template can block until it is created.
      if (res.status === 404 && notFoundIsNull)
        return { data: null as T, index: Number(res.headers.get('X-Nomad-Index') ?? 0) };
      if (!res.ok)
        throw new DroverError('Unavailable', `server answered ${res.status} to ${method} ${path}: ${text.trim()}`, {
          details: { status: res.status },
        });
      const data = (text ? JSON.parse(text) : {}) as T;
      return { data, index: Number(res.headers.get('X-Nomad-Index') ?? (data as { Index?: number }).Index ?? 0) };
    }
    // fetch says only "fetch failed": the reason (refused, a certificate not trusted or not a server's) is its cause.
    const why = lastErr instanceof Error ? ((lastErr.cause as Error | undefined)?.message ?? lastErr.message) : '';
    throw new DroverError('Unavailable', `no server reachable (${order.join(', ')})${why ? `: ${why}` : ''}`, {
      cause: lastErr,
    });
  }

  async nodeRegister(node: Node): Promise<NodeRegisterResponse> {
    const { data } = await this.call<RegisterResponseJSON>('PUT', '/v1/internal/client/register', { Node: node });
    if (this.node) this.registered = true;
    return { heartbeatTTLms: data.HeartbeatTTL / 1e6, index: data.Index };
  }

  async nodeUpdateStatus(nodeID: string, status: string): Promise<NodeRegisterResponse> {
    const { data } = await this.call<RegisterResponseJSON>('PUT', '/v1/internal/client/status', {
      NodeID: nodeID,
      Status: status,
    });
    return { heartbeatTTLms: data.HeartbeatTTL / 1e6, index: data.Index };
  }

  async getClientAllocs(
    nodeID: string,
    minIndex: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{ allocs: Allocation[]; index: number }> {
    const q = `index=${minIndex}&wait=${Math.round(waitMs)}ms`;
    const { data, index } = await this.call<ClientAllocsResponseJSON>(
      'GET',
      `/v1/internal/client/allocs/${encodeURIComponent(nodeID)}?${q}`,
      undefined,
      signal,
      false,
      waitMs + this.slackMs,
    );
    return { allocs: data.Allocs ?? [], index };
  }

  /** The leaf, roots and intentions for a Connect sidecar this node runs. */
  async meshSidecarMaterial(namespace: string, service: string): Promise<MeshSidecarMaterial> {
    const q = `namespace=${encodeURIComponent(namespace)}&service=${encodeURIComponent(service)}`;
    const { data } = await this.call<MeshSidecarMaterial>(
      'GET',
      `/v1/internal/client/mesh/${encodeURIComponent(this.node?.id ?? '')}?${q}`,
    );
    return data;
  }

  async updateAllocs(updates: AllocClientUpdate[]): Promise<void> {
    await this.call('PUT', '/v1/internal/client/allocs', { NodeID: this.node?.id, Allocs: updates });
  }

  async upsertServiceRegistrations(regs: ServiceRegistration[]): Promise<void> {
    await this.call('PUT', '/v1/internal/client/services', { NodeID: this.node?.id, Upsert: regs });
  }

  async deleteServiceRegistrations(ids: string[]): Promise<void> {
    await this.call('PUT', '/v1/internal/client/services', { NodeID: this.node?.id, Delete: ids });
  }

  // Template reads: the public blocking endpoints, as consul-template reads a Nomad agent.

  async variableGet(
    namespace: string,
    path: string,
    q: BlockingReadOptions = {},
  ): Promise<IndexedValue<Variable | null>> {
    const url = `/v1/var/${path.split('/').map(encodeURIComponent).join('/')}?${blocking(q, { namespace })}`;
    const { data, index } = await this.blockingGet<Variable | null>(url, q, true);
    return { value: data, index };
  }

  async variableList(
    q: BlockingReadOptions & { namespace?: string; prefix?: string } = {},
  ): Promise<IndexedValue<VariableMetadata[]>> {
    const { data, index } = await this.blockingGet<VariableMetadata[]>(
      `/v1/vars?${blocking(q, { namespace: q.namespace, prefix: q.prefix })}`,
      q,
    );
    return { value: data ?? [], index };
  }

  async serviceGet(
    namespace: string,
    name: string,
    q: BlockingReadOptions = {},
  ): Promise<IndexedValue<ServiceRegistration[]>> {
    const { data, index } = await this.blockingGet<ServiceRegistration[]>(
      `/v1/service/${encodeURIComponent(name)}?${blocking(q, { namespace })}`,
      q,
    );
    return { value: data ?? [], index };
  }

  async serviceList(
    q: BlockingReadOptions & { namespace?: string } = {},
  ): Promise<IndexedValue<ServiceRegistrationListStub[]>> {
    const { data, index } = await this.blockingGet<ServiceRegistrationListStub[]>(
      `/v1/services?${blocking(q, { namespace: q.namespace })}`,
      q,
    );
    return { value: data ?? [], index };
  }

  async nodeList(q: BlockingReadOptions = {}): Promise<IndexedValue<NodeListStub[]>> {
    const { data, index } = await this.blockingGet<NodeListStub[]>(`/v1/nodes?${blocking(q, {})}`, q);
    return { value: data ?? [], index };
  }

  async kvList(prefix: string, q: BlockingReadOptions = {}): Promise<IndexedValue<KVEntry[]>> {
    const url = `/v1/kv/${prefix.split('/').map(encodeURIComponent).join('/')}?${blocking(q, { recurse: 'true' })}`;
    // No entry under the prefix answers 404 with the index, as Consul: an empty list to block on.
    const { data, index } = await this.blockingGet<KVEntry[] | null>(url, q, true);
    return { value: data ?? [], index };
  }
}

/** A blocking read may take its whole wait (the same default as `blocking`), plus the usual slack. */
function readTimeout(q: BlockingReadOptions, slackMs: number): number {
  return (q.minIndex ? (q.waitMs ?? 300_000) : 0) + slackMs;
}

function blocking(q: BlockingReadOptions, extra: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== '') p.set(k, v);
  if (q.minIndex) {
    p.set('index', String(q.minIndex));
    p.set('wait', `${Math.round(q.waitMs ?? 300_000)}ms`);
  }
  return p.toString();
}
