/**
 * A small Docker Engine API client over the unix socket, on node:http. node:http rather than a pooled client
 * because several calls (container wait, logs follow, exec start) hold a connection open for as long as the
 * container lives or hijack it for a raw stream; a fresh connection per request keeps those independent.
 *
 * Multiplexed stream format (logs/attach/exec without a TTY): frames of
 *   [stream(1) 0 0 0 size(4, big endian)] payload(size)     stream: 0 stdin, 1 stdout, 2 stderr
 */
import http from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { DroverError } from '../../errors/index.js';

export interface DockerRequest {
  method?: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Socket idle timeout in ms; 0 (default) for none, as long-polls need. */
  timeoutMs?: number;
}

export interface DockerResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

/** A Docker API error that kept its status, so callers branch on 404/409/304 rather than on message text. */
export class DockerApiError extends DroverError {
  readonly statusCode: number;
  constructor(statusCode: number, message: string, path: string) {
    super('DriverError', `docker ${path}: ${statusCode} ${message}`, { details: { status: statusCode, path } });
    this.statusCode = statusCode;
  }
}

export const isDockerStatus = (e: unknown, status: number): boolean =>
  e instanceof DockerApiError && e.statusCode === status;

export class DockerClient {
  constructor(readonly socketPath = '/var/run/docker.sock') {}

  /** Sends a request and returns the response with its body unread, whatever the status. */
  raw(req: DockerRequest): Promise<DockerResponse> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    const path = q ? `${req.path}?${q}` : req.path;
    // A Buffer goes as it is (a build context); anything else as JSON.
    const payload =
      req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(JSON.stringify(req.body));
    return new Promise((resolve, reject) => {
      const r = http.request(
        {
          socketPath: this.socketPath,
          path,
          method: req.method ?? 'GET',
          signal: req.signal,
          agent: false,
          headers: {
            host: 'docker',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
            ...req.headers,
          },
        },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      if (req.timeoutMs)
        r.setTimeout(req.timeoutMs, () =>
          r.destroy(new DroverError('Timeout', `docker ${req.path}: timed out after ${req.timeoutMs}ms`)),
        );
      r.on('error', reject);
      r.end(payload);
    });
  }

  /** Sends a request and parses a JSON answer (or undefined for an empty one); non-2xx becomes DockerApiError. */
  async json<T = unknown>(req: DockerRequest): Promise<T> {
    const res = await this.raw(req);
    const text = await readAll(res.body);
    if (res.status < 200 || res.status >= 300) throw new DockerApiError(res.status, errorMessage(text), req.path);
    if (text.length === 0) return undefined as T;
    const type = String(res.headers['content-type'] ?? '');
    return (type.includes('json') ? JSON.parse(text) : text) as T;
  }

  /**
   * A request answered by `101 UPGRADED` (exec start, attach): resolves with the raw socket, now a duplex stream
   * to the process (a head Docker already sent is unshifted back). Non-2xx answers become DockerApiError.
   */
  hijack(req: DockerRequest): Promise<Duplex> {
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    return new Promise((resolve, reject) => {
      const r = http.request({
        socketPath: this.socketPath,
        path: req.path,
        method: req.method ?? 'POST',
        signal: req.signal,
        agent: false,
        headers: {
          host: 'docker',
          connection: 'Upgrade',
          upgrade: 'tcp',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      });
      r.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      r.on('response', (res) => {
        void readAll(res).then(
          (text) => reject(new DockerApiError(res.statusCode ?? 0, errorMessage(text) || 'no upgrade', req.path)),
          reject,
        );
      });
      r.on('error', reject);
      r.end(payload);
    });
  }

  /** Like `raw`, but a non-2xx answer is read and thrown as DockerApiError. */
  async stream(req: DockerRequest): Promise<DockerResponse> {
    const res = await this.raw(req);
    if (res.status < 200 || res.status >= 300)
      throw new DockerApiError(res.status, errorMessage(await readAll(res.body)), req.path);
    return res;
  }
}

export async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function errorMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: string }).message;
    if (m) return m;
  } catch {
    // not JSON: use the text
  }
  return text.trim();
}

/**
 * Splits Docker's multiplexed stream into frames. Keeps the partial header or payload of a frame split
 * across chunks.
 */
export class StreamDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (stream: 1 | 2, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      const stream = this.buf[0] === 2 ? 2 : 1;
      this.onFrame(stream, this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}

/** Reads a JSON-lines progress stream (image pull), calling `onLine` for each object. */
export async function readJSONLines(body: Readable, onLine: (obj: Record<string, unknown>) => void): Promise<void> {
  let rest = '';
  for await (const c of body) {
    rest += (c as Buffer).toString('utf8');
    let i: number;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i).trim();
      rest = rest.slice(i + 1);
      if (line) onLine(JSON.parse(line) as Record<string, unknown>);
    }
  }
  if (rest.trim()) onLine(JSON.parse(rest) as Record<string, unknown>);
}
