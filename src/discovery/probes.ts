/**
 * One execution of a check, Consul's way: http (2xx passing, 429 warning, anything else critical), tcp
 * (connect), grpc (grpc.health.v1 SERVING), script (exit 0 passing, 1 warning, else critical). A probe never
 * throws: a failure to reach the target is a critical result with the error as output.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import type { ServiceHealthStatus } from '../structs/index.js';
import type { ResolvedCheck } from './registrations.js';

export interface ProbeResult {
  status: ServiceHealthStatus;
  output: string;
  /** The HTTP status of an http probe that got an answer. */
  statusCode?: number;
}

/** Runs a command inside the task (the client passes its driver's execTask). */
export type ScriptExec = (
  cmd: string,
  args: string[],
  timeoutMs: number,
  signal: AbortSignal,
) => Promise<{ exitCode: number; output: string }>;

/** A probe gets the check and a signal that aborts at the check's timeout (or when the runner stops). */
export type Probe = (check: ResolvedCheck, signal: AbortSignal) => Promise<ProbeResult>;

/** Consul keeps at most 4 KiB of a check's output. */
export const MAX_OUTPUT = 4096;

function clip(s: string): string {
  return s.length > MAX_OUTPUT ? s.slice(0, MAX_OUTPUT) : s;
}

function errText(e: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'check timed out';
  return e instanceof Error ? e.message : String(e);
}

function hostForURL(addr: string): string {
  return net.isIPv6(addr) ? `[${addr}]` : addr;
}

/** Consul's HTTP status mapping. */
export function httpStatusToHealth(code: number): ServiceHealthStatus {
  if (code >= 200 && code <= 299) return 'passing';
  if (code === 429) return 'warning';
  return 'critical';
}

export const httpProbe: Probe = (c, signal) => {
  const path = c.Path.startsWith('/') ? c.Path : `/${c.Path}`;
  const url = `${c.Protocol}://${hostForURL(c.Address)}:${c.Port}${path}`;
  const headers: Record<string, string | string[]> = {
    'User-Agent': 'Drover Health Check',
    Accept: 'text/plain, text/*, */*',
  };
  for (const [k, vs] of Object.entries(c.Header)) if (vs.length > 0) headers[k] = vs.length === 1 ? vs[0]! : vs;
  const mod = c.Protocol === 'https' ? https : http;
  return new Promise<ProbeResult>((resolve) => {
    const req = mod.request(
      url,
      {
        method: c.Method,
        headers,
        signal,
        agent: false,
        ...(c.Protocol === 'https'
          ? { rejectUnauthorized: !c.TLSSkipVerify, servername: c.TLSServerName || undefined }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          // Keep reading past the limit so the connection ends cleanly, but keep only the head.
          if (size < MAX_OUTPUT) chunks.push(b);
          size += b.length;
        });
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: httpStatusToHealth(code),
            statusCode: code,
            output: clip(`HTTP ${c.Method} ${url}: ${code} ${res.statusMessage ?? ''} Output: ${body}`),
          });
        });
        res.on('error', (e) =>
          resolve({ status: 'critical', output: `HTTP ${c.Method} ${url}: ${errText(e, signal)}` }),
        );
      },
    );
    req.on('error', (e) => resolve({ status: 'critical', output: `HTTP ${c.Method} ${url}: ${errText(e, signal)}` }));
    req.end(c.Body || undefined);
  });
};

export const tcpProbe: Probe = (c, signal) =>
  new Promise<ProbeResult>((resolve) => {
    const where = `${hostForURL(c.Address)}:${c.Port}`;
    const sock = net.connect({ host: c.Address, port: c.Port, signal });
    sock.once('connect', () => {
      sock.destroy();
      resolve({ status: 'passing', output: `TCP connect ${where}: Success` });
    });
    sock.once('error', (e) => {
      sock.destroy();
      resolve({ status: 'critical', output: `dial tcp ${where}: ${errText(e, signal)}` });
    });
  });

/** grpc.health.v1.Health/Check: request field 1 = service name; response field 1 = status (1 = SERVING). */
export const grpcProbe: Probe = (c, signal) =>
  new Promise<ProbeResult>((resolve) => {
    const authority = `${c.GRPCUseTLS ? 'https' : 'http'}://${hostForURL(c.Address)}:${c.Port}`;
    const where = `gRPC ${hostForURL(c.Address)}:${c.Port}${c.GRPCService ? `/${c.GRPCService}` : ''}`;
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      session.destroy();
      resolve(r);
    };
    const session = http2.connect(authority, c.GRPCUseTLS ? { rejectUnauthorized: !c.TLSSkipVerify } : {});
    session.on('error', (e) => finish({ status: 'critical', output: `${where}: ${errText(e, signal)}` }));
    const onAbort = () => finish({ status: 'critical', output: `${where}: check timed out` });
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) return onAbort();
    const name = Buffer.from(c.GRPCService, 'utf8');
    const msg = name.length > 0 ? Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]) : Buffer.alloc(0);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), msg]);
    frame.writeUInt32BE(msg.length, 1);
    const req = session.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus = '';
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
    });
    req.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) grpcStatus = String(t['grpc-status']);
    });
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('error', (e) => finish({ status: 'critical', output: `${where}: ${errText(e, signal)}` }));
    req.on('end', () => {
      if (grpcStatus !== '0')
        return finish({ status: 'critical', output: `${where}: rpc error: grpc-status ${grpcStatus || 'missing'}` });
      const status = healthStatusField(Buffer.concat(chunks));
      finish(
        status === 1
          ? { status: 'passing', output: `${where}: SERVING` }
          : { status: 'critical', output: `${where}: status ${status}` },
      );
    });
    req.end(frame);
  });

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** Reads field 1 (varint) of the first length-prefixed message; 0 (UNKNOWN) when absent. */
function healthStatusField(body: Buffer): number {
  if (body.length < 5) return 0;
  const msg = body.subarray(5, 5 + body.readUInt32BE(1));
  return msg.length >= 2 && msg[0] === 0x08 ? msg[1]! & 0x7f : 0;
}

/** A script probe over the client's exec; without one, script checks are critical and say why. */
export function scriptProbe(exec: ScriptExec | undefined): Probe {
  return async (c, signal) => {
    if (!exec)
      return { status: 'critical', output: 'script checks are not supported for this task (no exec available)' };
    try {
      const r = await exec(c.Command, c.Args, c.TimeoutMs, signal);
      const status: ServiceHealthStatus = r.exitCode === 0 ? 'passing' : r.exitCode === 1 ? 'warning' : 'critical';
      return { status, output: clip(r.output) };
    } catch (e) {
      return { status: 'critical', output: clip(errText(e, signal)) };
    }
  };
}

export interface ProbeSet {
  http: Probe;
  tcp: Probe;
  grpc: Probe;
  script: Probe;
}

export function defaultProbes(exec?: ScriptExec): ProbeSet {
  return { http: httpProbe, tcp: tcpProbe, grpc: grpcProbe, script: scriptProbe(exec) };
}
