/** Helpers for the gateway's tests: small backends on 127.0.0.1 and instance records. */
import { execFileSync } from 'node:child_process';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceRegistration } from '../structs/index.js';
import type { GatewayInstance } from './types.js';

export interface TestBackend {
  name: string;
  port: number;
  server: Server;
  hits: number;
  close(): Promise<void>;
}

/** What a test backend answers: who it is, and what it received. */
export interface Echo {
  name: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A backend that answers every request with an Echo as JSON, unless `handler` answers first. */
export async function startBackend(
  name: string,
  handler?: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<TestBackend> {
  const b: TestBackend = { name, port: 0, server: createServer(), hits: 0, close: () => closeQuietly(b.server) };
  b.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    b.hits++;
    if (handler?.(req, res)) return;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const echo: Echo = { name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(echo));
    });
  });
  await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

function closeQuietly(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Whether an haproxy binary runs here (the HAProxy plane's tests skip without one). */
export function haproxyInstalled(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function instance(
  id: string,
  port: number,
  tags: string[],
  over: Partial<GatewayInstance> = {},
): GatewayInstance {
  return {
    ID: id,
    ServiceName: over.ServiceName ?? 'svc',
    Address: '127.0.0.1',
    Port: port,
    Tags: tags,
    AllocID: `alloc-${id}`,
    NodeID: 'node-1',
    Healthy: true,
    ...over,
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request to 127.0.0.1:port, on a fresh connection unless an agent is given. */
export function get(
  port: number,
  path: string,
  opts: {
    host?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    agent?: import('node:http').Agent;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.host) headers['host'] = opts.host;
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers, agent: opts.agent ?? false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function echoOf(r: Reply): Echo {
  return JSON.parse(r.body) as Echo;
}

/** A fake agent serving Nomad's service API from a mutable catalog, with real blocking queries. */
export class FakeAgent {
  index = 10;
  regs: ServiceRegistration[] = [];
  requests: string[] = [];
  failNext = 0;
  private waiters: (() => void)[] = [];
  private server = createServer((req, res) => this.handle(req, res));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const w of this.waiters.splice(0)) w();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  set(regs: ServiceRegistration[]): void {
    this.index++;
    this.regs = regs.map((r) => ({ ...r, ModifyIndex: this.index }));
    for (const w of this.waiters.splice(0)) w();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname + url.search);
    if (this.failNext > 0) {
      this.failNext--;
      res.writeHead(500).end('boom');
      return;
    }
    const minIndex = Number(url.searchParams.get('index') ?? 0);
    const answer = () => {
      const ns = url.searchParams.get('namespace') ?? 'default';
      let body: unknown;
      if (url.pathname === '/v1/services') {
        const names = [...new Set(this.regs.filter((r) => r.Namespace === ns).map((r) => r.ServiceName))];
        body =
          names.length === 0 ? [] : [{ Namespace: ns, Services: names.map((n) => ({ ServiceName: n, Tags: [] })) }];
      } else {
        const name = decodeURIComponent(url.pathname.slice('/v1/service/'.length));
        body = this.regs.filter((r) => r.ServiceName === name && r.Namespace === ns);
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-nomad-index': String(this.index) });
      res.end(JSON.stringify(body));
    };
    if (minIndex < this.index) answer();
    else {
      this.waiters.push(answer);
      req.socket.once('close', () => (this.waiters = this.waiters.filter((w) => w !== answer)));
    }
  }
}

export function reg(id: string, service: string, port: number, tags: string[]): ServiceRegistration {
  return {
    ID: id,
    ServiceName: service,
    Namespace: 'default',
    NodeID: 'node-1',
    Datacenter: 'dc1',
    JobID: 'job',
    AllocID: `alloc-${id}`,
    Tags: tags,
    Address: '127.0.0.1',
    Port: port,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

/** A self-signed certificate for `host`, made with the openssl CLI. */
export function selfSigned(host: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gwroute-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
        '-subj',
        `/CN=${host}`,
        '-addext',
        `subjectAltName=DNS:${host}`,
      ],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
