/**
 * `GET /v1/client/allocation/:id/exec?task=&command=["/bin/sh"]&tty=true`: Nomad's `alloc exec`, a websocket
 * carrying JSON frames (api/allocations_exec.go):
 *
 *   caller → agent   {"stdin":{"data":"<base64>"}}   {"stdin":{"close":true}}   {"tty_size":{"height":h,"width":w}}
 *   agent → caller   {"stdout":{"data":"<base64>"}}  {"stderr":{"data":"<base64>"}}
 *                    {"exited":true,"result":{"exit_code":N}}, then close 1000
 *
 * Nomad upgrades first and reports every failure as a close frame (1011 for a 500, 1008 for the rest). Drover
 * starts the command before it upgrades, so what can be known then (unknown allocation or task, bad `command`,
 * a command that does not exist, ACL) is an ordinary HTTP error with its status and text; only a failure after
 * the start (a malformed frame) is a close frame, with Nomad's codes.
 *
 *   upgrade request ─► http/server.ts runs the usual pipeline (region, ACL `alloc-exec`) ─► this handler
 *     ├─ another client agent runs the alloc: open a websocket to it, relay its HTTP error or every frame
 *     └─ here: client.allocExec (started) ─► 101 ─► output frames ─► exited frame ─► close 1000
 *              caller closes the socket ─► the command is killed
 */
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { badRequest, DroverError, permissionDenied } from '../../errors/index.js';
import type { RequestContext, Router } from '../router.js';
import { HANDLED } from '../reply.js';
import { boolParam } from '../query.js';
import type { ExecHandle, HttpApiOptions } from '../types.js';
import { allocTarget, FORWARDED_HEADER, forwardedPath, type RemoteTarget } from './client-forward.js';
import { closeLike, upgradeWebsocket, WS_CLOSE_INTERNAL, WS_CLOSE_NORMAL, WS_CLOSE_POLICY } from '../ws-handshake.js';

/** The bytes read past the headers of an upgrade request, which the websocket handshake needs (http/server.ts). */
export const upgradeHeads = new WeakMap<IncomingMessage, Buffer>();

/** The websocket server of the exec endpoint, also used to accept a `ws_handshake` before the pipeline runs. */

/** One input frame may carry at most this much (stdin is sent in small chunks by every client). */
const MAX_FRAME_BYTES = 1024 * 1024;
export const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

/** Output (and relayed frames) the agent holds for a caller that does not read them, before it gives up. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Drivers that isolate the task's file system: a command there does not run on the host itself. */
const ISOLATING_DRIVERS = new Set(['docker', 'exec', 'podman', 'java']);

interface ExecQuery {
  task: string;
  cmd: string[];
  tty: boolean;
}

function execQuery(q: URLSearchParams): ExecQuery {
  const task = q.get('task');
  if (!task) throw badRequest('query parameter "task" is required: the task to run the command in');
  const raw = q.get('command');
  if (raw === null || raw === '') throw badRequest('query parameter "command" is required: a JSON array of strings');
  let cmd: unknown;
  try {
    cmd = JSON.parse(raw);
  } catch (e) {
    throw badRequest(`query parameter "command" is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((w) => typeof w === 'string'))
    throw badRequest(`query parameter "command" must be a non-empty JSON array of strings, got ${raw}`);
  if (cmd[0] === '') throw badRequest('query parameter "command": the command name is empty');
  return { task, cmd: cmd as string[], tty: boolParam(q, 'tty') };
}

/** Checks the handshake headers ourselves: `ws` would answer a bad one with its own 400 after we started. */
function requireWebsocket(req: IncomingMessage): Buffer {
  const head = upgradeHeads.get(req);
  if (head === undefined || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket')
    throw badRequest(
      'the exec endpoint speaks the websocket protocol: send "Connection: Upgrade" and "Upgrade: websocket"',
    );
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key))
    throw badRequest('invalid or missing Sec-WebSocket-Key header');
  if (req.headers['sec-websocket-version'] !== '13') throw badRequest('unsupported Sec-WebSocket-Version: expected 13');
  // Browsers do not apply CORS to websockets: a page from another origin must not open a shell here.
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== req.headers.host)
      throw new DroverError('PermissionDenied', `exec: websocket from origin ${origin} refused (cross-origin)`);
  } else if (origin === 'null') {
    throw new DroverError('PermissionDenied', 'exec: websocket from an opaque origin refused');
  }
  return head;
}

/** Applies one caller frame to the command; throws on a frame that is not Nomad's shape. */
function applyInput(session: ExecHandle, raw: RawData): void {
  let f: unknown;
  try {
    f = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.concat(raw as Buffer[]).toString('utf8'));
  } catch (e) {
    throw badRequest(`exec frame is not valid JSON: ${(e as Error).message}`);
  }
  if (f === null || typeof f !== 'object' || Array.isArray(f)) throw badRequest('exec frame must be a JSON object');
  const { stdin, tty_size: size } = f as { stdin?: unknown; tty_size?: unknown };
  if (stdin !== undefined && stdin !== null) {
    const s = stdin as { data?: unknown; close?: unknown };
    if (typeof s !== 'object') throw badRequest('exec frame: "stdin" must be an object');
    if (s.data !== undefined && s.data !== null) {
      if (typeof s.data !== 'string') throw badRequest('exec frame: "stdin.data" must be a base64 string');
      session.write(Buffer.from(s.data, 'base64'));
    }
    if (s.close === true) session.closeStdin();
  }
  if (size !== undefined && size !== null) {
    const { height, width } = size as { height?: unknown; width?: unknown };
    const dim = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
    if (!dim(height) || !dim(width))
      throw badRequest('exec frame: "tty_size" needs integer "height" and "width" between 0 and 65535');
    session.resize(height as number, width as number);
  }
  // Anything else ({} heartbeats, Nomad's ws_handshake message) carries nothing for us.
}

/**
 * Nomad also asks for `alloc-node-exec` when the task's driver does not isolate the file system (raw_exec): such a
 * command runs on the host itself. Checked where the allocation is known: the server before it relays (a client
 * agent behind mutual TLS trusts the server's check), or the client agent for a request sent to it directly.
 */
async function checkNodeExec(c: RequestContext, opts: HttpApiOptions, allocID: string, task: string): Promise<void> {
  const acl = c.identity?.acl;
  if (!acl) return;
  let namespace: string | undefined;
  let driver: string | undefined;
  const local = opts.client?.hasAlloc?.(allocID) === true;
  if (local && opts.client) {
    namespace = opts.client.allocNamespace?.(allocID);
    driver = opts.client.allocTaskDriver?.(allocID, task);
  } else if (opts.server) {
    const alloc = (await opts.server.allocs.get(allocID, { signal: c.signal })).value;
    namespace = alloc.Namespace;
    driver = alloc.Job?.TaskGroups?.find((g) => g.Name === alloc.TaskGroup)?.Tasks?.find(
      (t) => t.Name === task,
    )?.Driver;
  }
  if (driver !== undefined && ISOLATING_DRIVERS.has(driver)) return;
  if (!acl.allowNamespaceOperation(namespace ?? c.query.get('namespace') ?? 'default', 'alloc-node-exec'))
    throw permissionDenied();
}

export function clientExecRoutes(r: Router, opts: HttpApiOptions): void {
  const resolveAlloc = (id: string) => (opts.server ? opts.server.resolvePrefix('alloc', id) : id);
  r.get('/v1/client/allocation/:id/exec', async (c) => {
    const q = execQuery(c.query);
    const head = requireWebsocket(c.req);
    const allocID = resolveAlloc(c.params.id!);
    await checkNodeExec(c, opts, allocID, q.task);
    const target = await allocTarget(c, opts, allocID, true);
    if (target.kind === 'remote') return proxyExec(c, head, target, forwardedPath(c, c.params.id!, allocID));
    const client = opts.client;
    if (!client?.allocExec) throw new DroverError('Unavailable', 'this agent does not run a client that can exec');
    const ac = new AbortController();
    const pending: string[] = [];
    let ws: WebSocket | undefined;
    let pendingBytes = 0;
    const send = (frame: string) => {
      if (ac.signal.aborted) return;
      if (!ws) {
        pending.push(frame);
        pendingBytes += frame.length;
        if (pendingBytes > MAX_BUFFERED_BYTES) ac.abort();
        return;
      }
      // A caller that does not read its output must not make the agent buffer without end.
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        closeLike(ws, WS_CLOSE_INTERNAL, 'exec output is not being read');
        ac.abort();
        return;
      }
      ws.send(frame);
    };
    const session = await client.allocExec(allocID, q.task, {
      cmd: q.cmd,
      tty: q.tty,
      signal: ac.signal,
      onOutput: (stream, data) => send(JSON.stringify({ [stream]: { data: data.toString('base64') } })),
    });
    const socket = c.req.socket;
    // The upgrade may never complete (the caller went away, `ws` refused the headers): the command must end then.
    if (socket.destroyed) ac.abort();
    socket.once('close', () => ac.abort());
    // After a ws_handshake the response is not bound to the socket (see ws-handshake.ts).
    if (c.res.socket === socket) c.res.detachSocket(socket);
    upgradeWebsocket(wss, c.req, socket, head, (w) => {
      ws = w;
      for (const f of pending.splice(0)) w.send(f);
      w.on('message', (raw) => {
        try {
          applyInput(session, raw);
        } catch (e) {
          closeLike(w, WS_CLOSE_POLICY, (e as Error).message);
          ac.abort();
        }
      });
      w.on('error', () => ac.abort());
      w.on('close', () => ac.abort());
      void session.exited.then(({ exitCode }) => {
        if (w.readyState !== WebSocket.OPEN) return;
        w.send(JSON.stringify({ exited: true, result: { exit_code: exitCode } }));
        closeLike(w, WS_CLOSE_NORMAL, '');
      });
    });
    return HANDLED;
  });
}

/**
 * The allocation runs on another client agent: open the same websocket there and relay. An HTTP error from it
 * (its handshake answer) is passed back as is; after the upgrade every frame and the close code go through.
 */
function proxyExec(c: RequestContext, head: Buffer, target: RemoteTarget, path: string): Promise<typeof HANDLED> {
  const addr = target.addr;
  const scheme = target.tls ? 'https' : 'http';
  const base = (/^[a-z]+:\/\//i.test(addr) ? addr : `${scheme}://${addr}`).replace(/^http/i, 'ws').replace(/\/+$/, '');
  const headers: Record<string, string> = { [FORWARDED_HEADER]: '1' };
  // With mutual TLS the client agent trusts the server's certificate, and the user's ACL was applied here:
  // the user's token is not sent on (as forwardToClient does). Without TLS the client checks the token itself.
  if (!target.tls) {
    for (const h of ['x-nomad-token', 'authorization']) {
      const v = c.req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
  }
  const m = target.tls?.material;
  const up = new WebSocket(base + path, {
    headers,
    maxPayload: 16 * MAX_FRAME_BYTES,
    ...(m
      ? {
          ca: m.ca,
          cert: m.cert,
          key: m.key,
          ...(m.checkServerIdentity ? { checkServerIdentity: m.checkServerIdentity } : {}),
        }
      : {}),
  });
  return new Promise((resolve, reject) => {
    up.once('unexpected-response', (_req, res) => {
      const out: Record<string, string> = {};
      for (const h of ['content-type', 'x-drover-error-code', 'x-drover-problems']) {
        const v = res.headers[h];
        if (typeof v === 'string') out[h] = v;
      }
      c.res.writeHead(res.statusCode ?? 502, out);
      res.pipe(c.res);
      res.once('end', () => resolve(HANDLED));
      res.once('error', () => resolve(HANDLED));
    });
    up.once('error', (e) => {
      reject(new DroverError('Unavailable', `can't reach the client agent at ${addr}: ${e.message}`, { cause: e }));
    });
    up.once('open', () => {
      up.removeAllListeners('error');
      // An error before the caller's side is upgraded must not be an unhandled 'error' event.
      up.on('error', () => up.terminate());
      const socket = c.req.socket;
      if (socket.destroyed) up.terminate();
      socket.once('close', () => up.terminate());
      // After a ws_handshake the response is not bound to the socket (see ws-handshake.ts).
      if (c.res.socket === socket) c.res.detachSocket(socket);
      const relay = (from: WebSocket, to: WebSocket) =>
        from.on('message', (d, binary) => {
          // Neither side may make this agent buffer without end for a peer that does not read.
          if (to.bufferedAmount > MAX_BUFFERED_BYTES) {
            closeLike(to, WS_CLOSE_INTERNAL, 'exec frames are not being read');
            from.terminate();
            return;
          }
          to.send(d, { binary });
        });
      upgradeWebsocket(wss, c.req, socket, head, (down) => {
        relay(up, down);
        relay(down, up);
        up.on('close', (code, reason) => closeLike(down, code, reason.toString()));
        down.on('close', (code, reason) => closeLike(up, code, reason.toString()));
        up.on('error', () => down.terminate());
        down.on('error', () => up.terminate());
      });
      resolve(HANDLED);
    });
  });
}
