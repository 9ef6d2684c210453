/**
 * Client endpoints for an allocation that another agent runs. An agent answers from its own client when it
 * runs the allocation (the fast path); otherwise a server looks up the allocation's node and forwards the request
 * to that client agent's HTTP API (`Node.HTTPAddr`), passing the status, the error text and code, and the body
 * (log streams included) straight through.
 *
 *   request ─► local client runs the alloc? ─yes─► answer here
 *                 │ no
 *                 ▼
 *   server: alloc ─► node ─► down / no HTTPAddr: 503 │ forwarded already: answer here (no loops)
 *                 ▼
 *   same method, path, query and body to http://<HTTPAddr> ─► status, headers, body copied back
 *
 * With TLS on, the request goes to https://<HTTPAddr> over mutual TLS with this server's certificate, and the
 * user's token stays here: the server checked it before forwarding, and the client agent accepts the forwarded
 * request because the peer certificate is a server's. Without TLS the token travels and the client checks it again.
 */
import { allocTerminalStatus, NodeStatusDown } from '../../structs/index.js';
import { badRequest, DroverError } from '../../errors/index.js';
import type { RequestContext } from '../router.js';
import { HANDLED } from '../reply.js';
import type { HttpApiOptions } from '../types.js';
import type { TlsFetch } from '../../lib/tls-fetch.js';

/** Marks a forwarded request: the receiving agent answers it itself, whatever it finds. */
export const FORWARDED_HEADER = 'x-drover-forwarded';

/** Headers of the client agent's answer that the caller needs (errors carry their code and problems). */
const PASSED_HEADERS = [
  'content-type',
  'x-drover-error-code',
  'x-drover-problems',
  'x-nomad-index',
  'x-nomad-knownleader',
  'x-nomad-lastcontact',
];

export interface RemoteTarget {
  kind: 'remote';
  addr: string;
  nodeID: string;
  /** Mutual TLS to the client agent (agent `tls { http = true }`). */
  tls?: TlsFetch;
}
export type AllocTarget = { kind: 'local' } | RemoteTarget;

/**
 * Where a client request for `allocID` is answered. `live`: the request acts on running tasks (restart, signal),
 * so a terminal allocation is refused here rather than sent to a client that may have forgotten it.
 */
export async function allocTarget(
  c: RequestContext,
  opts: HttpApiOptions,
  allocID: string,
  live = false,
): Promise<AllocTarget> {
  const client = opts.client;
  if (client && (client.hasAlloc?.(allocID) ?? true)) return { kind: 'local' };
  const server = opts.server;
  if (!server || c.req.headers[FORWARDED_HEADER] !== undefined) return { kind: 'local' };
  const alloc = (await server.allocs.get(allocID, { signal: c.signal })).value;
  if (live && allocTerminalStatus(alloc)) {
    throw badRequest(
      `allocation "${allocID}" is not running (desired status "${alloc.DesiredStatus}", client status "${alloc.ClientStatus}")`,
    );
  }
  if (client && alloc.NodeID === client.nodeID) return { kind: 'local' };
  const node = (await server.nodes.get(alloc.NodeID, { signal: c.signal })).value;
  if (node.Status === NodeStatusDown)
    throw new DroverError('Unavailable', `node "${node.Name}" (${node.ID}) running allocation "${allocID}" is down`);
  if (!node.HTTPAddr)
    throw new DroverError(
      'Unavailable',
      `node "${node.Name}" (${node.ID}) running allocation "${allocID}" has no HTTP address`,
    );
  const tls = opts.peerTls?.toClients;
  return { kind: 'remote', addr: node.HTTPAddr, nodeID: node.ID, ...(tls ? { tls } : {}) };
}

/**
 * The request's path and query with the allocation ID prefix the caller gave replaced by the full ID: the client
 * agent has no state to resolve prefixes with.
 */
export function forwardedPath(c: RequestContext, param: string, allocID: string): string {
  const url = new URL(c.req.url ?? '/', 'http://forward');
  const parts = url.pathname.split('/');
  const i = parts.findIndex((p, n) => n > 0 && decodeURIComponent(p) === param);
  if (i >= 0) parts[i] = encodeURIComponent(allocID);
  return parts.join('/') + url.search;
}

/**
 * Sends the request on to the client agent (`target`, from allocTarget) and copies its answer back, streaming the
 * body. `param` is the allocation ID as the path gave it, `allocID` the full ID it resolved to.
 */
export async function forwardToClient(
  c: RequestContext,
  target: RemoteTarget,
  ids: { param: string; allocID: string },
  body?: string,
): Promise<typeof HANDLED> {
  const addr = target.addr;
  const scheme = target.tls ? 'https' : 'http';
  const base = /^[a-z]+:\/\//i.test(addr) ? addr.replace(/\/+$/, '') : `${scheme}://${addr}`;
  const headers: Record<string, string> = { [FORWARDED_HEADER]: '1' };
  // Over mutual TLS the server vouches for the request with its certificate: the user's token stays here.
  const passed = target.tls ? ['content-type', 'accept'] : ['content-type', 'x-nomad-token', 'authorization', 'accept'];
  for (const h of passed) {
    const v = c.req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  let res: Response;
  try {
    res = await (target.tls?.fetch ?? fetch)(base + forwardedPath(c, ids.param, ids.allocID), {
      method: c.req.method ?? 'GET',
      headers,
      body: body === undefined || body === '' ? undefined : body,
      signal: c.signal,
    });
  } catch (e) {
    if (c.signal.aborted) throw new DroverError('Aborted', 'request aborted');
    const why = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new DroverError('Unavailable', `can't reach the client agent at ${addr}: ${why}`, { cause: e });
  }
  const out: Record<string, string> = {};
  for (const h of PASSED_HEADERS) {
    const v = res.headers.get(h);
    if (v !== null) out[h] = v;
  }
  c.res.writeHead(res.status, out);
  try {
    if (res.body) for await (const chunk of res.body) c.res.write(chunk);
  } catch {
    // The caller went away (abort) or the client agent did: the stream simply ends.
  } finally {
    c.res.end();
  }
  return HANDLED;
}
