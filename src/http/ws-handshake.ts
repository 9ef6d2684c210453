/**
 * Nomad's `?ws_handshake=true` for websockets (alloc exec): a browser cannot set `X-Nomad-Token` on a websocket, so
 * the token comes in the first text frame, `{"version":1,"auth_token":"<secret>"}` (command/agent/
 * alloc_endpoint.go, readWsHandshake). The socket is upgraded first; the request then runs the usual pipeline
 * (region, ACL, the handler) with that token as its `X-Nomad-Token`, and whatever HTTP error it would have
 * answered becomes a close frame, as Nomad reports every failure after its upgrade:
 *
 *   upgrade ─► 101 ─► first frame ─┬─ not {"version":1,...} ─► close 1008 "unexpected handshake value: N"
 *                                  └─ token set, `ws_handshake` dropped from the URL ─► pipeline
 *   pipeline ─┬─ handler takes the socket (upgradeWebsocket) ─► frames queued since the handshake replayed to it
 *             └─ HTTP answer (403, 404, 400...) ─► close 1008 (1011 for a 500) with the answer's text
 */
import type { IncomingMessage } from 'node:http';
import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** Nomad's toWsCode: an internal error is 1011, anything else 1008. */
export const WS_CLOSE_NORMAL = 1000;
export const WS_CLOSE_POLICY = 1008;
export const WS_CLOSE_TOO_BIG = 1009;
export const WS_CLOSE_INTERNAL = 1011;

/** The only handshake version Nomad speaks. */
const HANDSHAKE_VERSION = 1;
/** A caller that upgrades and never sends its handshake must not hold the socket for ever. */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** The handshake frame is a token and a number: anything bigger is not one. */
const MAX_HANDSHAKE_BYTES = 64 * 1024;
/** Frames held between the handshake and the handler taking the socket. */
const MAX_QUEUED_BYTES = 1024 * 1024;
/** What is kept of an HTTP answer turned into a close frame (a close reason holds 123 bytes anyway). */
const MAX_CAPTURED_BYTES = 4096;

interface Accepted {
  ws: WebSocket;
  /** Frames that arrived after the handshake, before a handler took the socket. */
  queued: Array<[RawData, boolean]>;
  stopQueueing(): void;
}

const accepted = new WeakMap<IncomingMessage, Accepted>();

/** Closes with `code` when a peer may send it (1005/1006 only describe a close without one). */
export function closeLike(ws: WebSocket, code: number, reason: string): void {
  const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code < 5000);
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  // A close reason may hold at most 123 bytes.
  let r = reason.slice(0, 120);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  if (sendable) ws.close(code, r);
  else ws.close();
}

/**
 * A handler's upgrade: the websocket already accepted by a handshake, with the frames sent since, or a fresh
 * handshake through `wss`.
 */
export function upgradeWebsocket(
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  cb: (ws: WebSocket) => void,
): void {
  const a = accepted.get(req);
  if (!a) {
    wss.handleUpgrade(req, socket, head, cb);
    return;
  }
  accepted.delete(req);
  a.stopQueueing();
  cb(a.ws);
  for (const [data, binary] of a.queued.splice(0)) a.ws.emit('message', data, binary);
}

/** Go's strconv.ParseBool. */
function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** True when the upgrade request asks for Nomad's handshake (`?ws_handshake=` a true value, or a bad one). */
export function wantsWsHandshake(req: IncomingMessage): boolean {
  const v = new URL(req.url ?? '/', 'http://x').searchParams.get('ws_handshake');
  return v !== null && v !== '' && parseGoBool(v) !== false;
}

/**
 * Upgrades, reads the handshake frame, then calls `run` with the request carrying the token and a response whose
 * HTTP answer, if the handler gives one instead of taking the socket, is turned into a close frame.
 */
export function acceptWsHandshake(
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  run: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const raw = url.searchParams.get('ws_handshake') ?? '';
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => ws.terminate());
    if (parseGoBool(raw) === undefined) {
      closeLike(ws, WS_CLOSE_POLICY, `ws_handshake value is not a boolean: invalid syntax ${JSON.stringify(raw)}`);
      return;
    }
    const timer = setTimeout(
      () => closeLike(ws, WS_CLOSE_POLICY, 'no websocket handshake message received'),
      HANDSHAKE_TIMEOUT_MS,
    );
    ws.once('close', () => clearTimeout(timer));
    ws.once('message', (data, binary) => {
      clearTimeout(timer);
      const token = readHandshake(data, binary);
      if (typeof token !== 'string') {
        closeLike(ws, WS_CLOSE_POLICY, token.error);
        return;
      }
      const queued: Array<[RawData, boolean]> = [];
      let queuedBytes = 0;
      const queue = (d: RawData, b: boolean) => {
        queuedBytes += Buffer.isBuffer(d)
          ? d.length
          : Array.isArray(d)
            ? d.reduce((n, x) => n + x.length, 0)
            : d.byteLength;
        if (queuedBytes > MAX_QUEUED_BYTES) {
          queued.length = 0;
          closeLike(ws, WS_CLOSE_TOO_BIG, 'too much data sent before the session started');
          return;
        }
        queued.push([d, b]);
      };
      ws.on('message', queue);
      accepted.set(req, { ws, queued, stopQueueing: () => ws.off('message', queue) });
      // The pipeline reads the token where it always does; the handshake is not asked of anyone it forwards to.
      if (token !== '') req.headers['x-nomad-token'] = token;
      url.searchParams.delete('ws_handshake');
      req.url = url.pathname + (url.search === '?' ? '' : url.search);
      run(req, capturingResponse(req, ws));
    });
  });
}

function readHandshake(data: RawData, binary: boolean): string | { error: string } {
  const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  if (binary || buf.length > MAX_HANDSHAKE_BYTES) return { error: 'websocket handshake must be a JSON text frame' };
  let h: unknown;
  try {
    h = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    return { error: `websocket handshake is not valid JSON: ${(e as Error).message}` };
  }
  const { version, auth_token: token } = (h !== null && typeof h === 'object' ? h : {}) as {
    version?: unknown;
    auth_token?: unknown;
  };
  if (version !== HANDSHAKE_VERSION) return { error: `unexpected handshake value: ${String(version ?? 0)}` };
  if (token !== undefined && token !== null && typeof token !== 'string')
    return { error: 'websocket handshake: "auth_token" must be a string' };
  return token ?? '';
}

/**
 * A response written to memory: when it finishes (the handler answered over HTTP instead of taking the socket),
 * its status picks Nomad's close code and its text is the close reason.
 */
function capturingResponse(req: IncomingMessage, ws: WebSocket): ServerResponse {
  const chunks: Buffer[] = [];
  let captured = 0;
  const sink = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      // Only an answer's head and a short error body matter: a handler that streams (an event stream, followed
      // logs) into this response is not a websocket endpoint, and is ended rather than buffered.
      if (captured < MAX_CAPTURED_BYTES) chunks.push(Buffer.from(chunk));
      captured += chunk.length;
      if (captured >= MAX_CAPTURED_BYTES && accepted.get(req)?.ws === ws) {
        accepted.delete(req);
        closeLike(ws, WS_CLOSE_POLICY, 'this endpoint does not answer over a websocket');
        res.destroy();
      }
      cb();
    },
    read() {},
  });
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(sink as unknown as Socket);
  // The caller going away ends whatever the handler still does (its signal aborts on the response's close).
  ws.once('close', () => res.destroy());
  res.once('finish', () => {
    if (accepted.get(req)?.ws !== ws) return;
    accepted.delete(req);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text.slice(text.indexOf('\r\n\r\n') + 4).trim();
    const status = res.statusCode;
    closeLike(ws, status === 500 ? WS_CLOSE_INTERNAL : WS_CLOSE_POLICY, body || `HTTP ${status}`);
  });
  return res;
}
