/**
 * `alloc exec` from the client side: Nomad's websocket protocol on `/v1/client/allocation/:id/exec` (see
 * http/routes/client-exec.ts for the frames). `openExec` resolves once the agent accepted the upgrade; an HTTP
 * answer instead (unknown task, missing command, ACL) rejects with the usual ApiError.
 *
 *   openExec ─► handshake ─► stdout/stderr frames ─► onOutput      stdin / closeStdin / resize ─► frames
 *                 │ HTTP error ─► ApiError            {"exited":true,"result":{"exit_code":N}} ─► result N
 *                 └ close without an exit frame ─► result rejects with the close reason
 */
import type { SecureContextOptions } from 'node:tls';
import { ApiError, connectionError, errorFromResponse } from './errors.js';
import type { HttpTransport } from './http.js';

export interface ExecRequest {
  task: string;
  command: string[];
  tty: boolean;
  onOutput(stream: 'stdout' | 'stderr', data: Buffer): void;
  namespace?: string;
  region?: string;
  signal?: AbortSignal;
  /** TLS to the agent (CA, client certificate), as the CLI's -ca-cert / -client-cert flags give. */
  tls?: SecureContextOptions & { servername?: string };
}

export interface ExecStream {
  stdin(data: Buffer): void;
  closeStdin(): void;
  resize(height: number, width: number): void;
  /** The command's exit code; rejects when the stream ended without one. */
  readonly result: Promise<number>;
}

interface OutputFrame {
  stdout?: { data?: string };
  stderr?: { data?: string };
  exited?: boolean;
  result?: { exit_code?: number };
}

export async function openExec(http: HttpTransport, allocID: string, req: ExecRequest): Promise<ExecStream> {
  // Loaded here, not at the top: every CLI command imports this module (through api/index.ts), and only
  // `alloc exec` needs ws (≈ 15 CommonJS files that each `job run` used to load).
  const { WebSocket } = await import('ws');
  const url = http.url(`/v1/client/allocation/${encodeURIComponent(allocID)}/exec`, {
    namespace: req.namespace,
    region: req.region,
    params: { task: req.task, command: JSON.stringify(req.command), tty: req.tty },
  });
  const ws = new WebSocket(url.replace(/^http/i, 'ws'), { headers: http.authHeaders(), ...req.tls });
  const onAbort = () => ws.terminate();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  let exitCode: number | undefined;
  const result = new Promise<number>((resolve, reject) => {
    ws.on('message', (raw: Buffer) => {
      let f: OutputFrame;
      try {
        f = JSON.parse(raw.toString('utf8')) as OutputFrame;
      } catch {
        return;
      }
      if (f.stdout?.data) req.onOutput('stdout', Buffer.from(f.stdout.data, 'base64'));
      if (f.stderr?.data) req.onOutput('stderr', Buffer.from(f.stderr.data, 'base64'));
      if (f.exited) exitCode = f.result?.exit_code ?? 0;
    });
    ws.on('close', (code, reason) => {
      req.signal?.removeEventListener('abort', onAbort);
      if (exitCode !== undefined) return resolve(exitCode);
      const why = reason.toString() || `the connection closed (code ${code}) before the command's exit was reported`;
      reject(new ApiError(code === 1011 ? 'Internal' : 'BadRequest', why, { httpStatus: 0, url }));
    });
  });
  // The handshake's own failures reject `openExec`; `result` is then never looked at.
  result.catch(() => undefined);
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_r, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = { get: (n: string) => (res.headers[n.toLowerCase()] as string | undefined) ?? null };
        reject(errorFromResponse(res.statusCode ?? 0, url, Buffer.concat(chunks).toString('utf8'), headers));
        ws.terminate();
      });
    });
    ws.once('error', (e) => reject(connectionError(url, http.address, e)));
    ws.once('open', () =>
      resolve({
        stdin: (data) =>
          ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ stdin: { data: data.toString('base64') } })),
        closeStdin: () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ stdin: { close: true } })),
        resize: (height, width) =>
          ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ tty_size: { height, width } })),
        result,
      }),
    );
  });
}
