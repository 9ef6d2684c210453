/**
 * The DNS server: UDP and TCP on the same port (dig retries over TCP when a UDP answer is truncated).
 *
 *   query ─► answerQuestion (catalog snapshot, random order) ─► UDP: fit the requester's size (512, or its
 *   EDNS size) by dropping answers with their additional records, setting TC when any was dropped ─► reply
 *                                                             └─► TCP: everything
 *
 * Not recursive: names outside the domain are REFUSED.
 */
import dns2 from 'dns2';
import type { AddressInfo } from 'node:net';
import { nullLogger, type Logger } from '../logging/index.js';
import { answerQuestion, normalizeName, type DnsAnswer, type DnsCatalogSource, type DnsRecord } from './dns-names.js';

const { Packet, UDPServer, TCPServer } = dns2;
type Packet = InstanceType<typeof Packet>;

export interface DnsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8600; 0 picks a free port (the same for UDP and TCP). */
  port?: number;
  /** Default `drover`. */
  domain?: string;
  source: DnsCatalogSource;
  /** Datacenter for SRV targets of instances without one. Default dc1. */
  datacenter?: string;
  /** Default 0, as Consul: every query sees the current catalog. */
  ttlSeconds?: number;
  logger?: Logger;
  rng?: () => number;
  /** Closes the server. */
  signal?: AbortSignal;
}

export interface DnsServer {
  host: string;
  /** The UDP and TCP port. */
  port: number;
  close(): Promise<void>;
}

const UDP_MIN = 512;

export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const host = opts.host ?? '127.0.0.1';
  const log = (opts.logger ?? nullLogger).child({ component: 'dns' });
  const answerOpts = () => ({
    domain: opts.domain ?? 'drover',
    ttl: opts.ttlSeconds ?? 0,
    datacenter: opts.datacenter ?? 'dc1',
    rng: opts.rng ?? Math.random,
    nowSeconds: Math.floor(Date.now() / 1000),
  });
  const handle = (transport: 'udp' | 'tcp') => (request: Packet, send: (r: Packet | Buffer) => Promise<Buffer>) => {
    let response: Packet;
    try {
      response = respond(request, opts.source, answerOpts(), transport);
    } catch (e) {
      log.error('dns query failed', { err: e instanceof Error ? e.message : String(e) });
      response = Packet.createResponseFromRequest(request);
      response.header.rcode = 2;
    }
    send(response).catch((e: unknown) =>
      log.warn('dns reply not sent', { transport, err: e instanceof Error ? e.message : String(e) }),
    );
  };
  const { udp, tcp, port } = await bindBoth(host, opts.port ?? 8600, handle('udp'), handle('tcp'));
  for (const [name, s] of [
    ['udp', udp],
    ['tcp', tcp],
  ] as const) {
    s.on('requestError', (e: Error) => log.debug('malformed dns request', { transport: name, err: e.message }));
    s.on('error', (e: Error) => log.warn('dns socket error', { transport: name, err: e.message }));
  }
  log.info('dns server listening', { host, port, domain: opts.domain ?? 'drover' });
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= Promise.all([
      new Promise<void>((r) => udp.close(() => r())),
      new Promise<void>((r) => {
        tcp.close(() => r());
        // Idle keep-alive connections would hold close() open for dns2's idle timeout.
        for (const sock of tcpSockets.get(tcp) ?? []) sock.destroy();
      }),
    ]).then(() => undefined));
  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  return { host, port, close };
}

const tcpSockets = new WeakMap<object, Set<import('node:net').Socket>>();

type Handler = (request: Packet, send: (r: Packet | Buffer) => Promise<Buffer>) => void;

/** Binds UDP then TCP on the same port; with port 0, retries when the UDP port's TCP twin is taken. */
async function bindBoth(host: string, port: number, onUdp: Handler, onTcp: Handler) {
  const type = host.includes(':') ? 'udp6' : 'udp4';
  for (let attempt = 0; ; attempt++) {
    const udp = new UDPServer({ type });
    udp.on('request', onUdp as never);
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const bound = udp.address().port;
    const tcp = new TCPServer();
    tcp.on('request', onTcp as never);
    const sockets = new Set<import('node:net').Socket>();
    tcpSockets.set(tcp, sockets);
    tcp.on('connection', (s: import('node:net').Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(bound, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, tcp, port: (tcp.address() as AddressInfo).port };
    } catch (e) {
      await new Promise<void>((r) => udp.close(() => r()));
      if (port !== 0 || attempt >= 20) throw e;
    }
  }
}

/** Builds the reply to one request. */
function respond(
  request: Packet,
  source: DnsCatalogSource,
  o: Parameters<typeof answerQuestion>[2],
  transport: 'udp' | 'tcp',
): Packet {
  const response = Packet.createResponseFromRequest(request);
  response.header.aa = 1;
  response.header.ra = 0;
  const q = request.questions[0];
  // Only standard queries with exactly one question are meaningful to us (RFC 9619).
  if (request.header.opcode !== 0 || request.questions.length !== 1 || !q) {
    response.header.rcode = request.header.opcode !== 0 ? 4 : 1;
    return response;
  }
  const a = answerQuestion({ name: normalizeName(q.name), type: q.type }, source, o);
  response.header.rcode = a.rcode;
  response.authorities = a.authorities as Packet['authorities'];
  const edns = request.additionals.find((r) => r.type === Packet.TYPE.EDNS);
  const max = transport === 'tcp' ? Infinity : Math.max(UDP_MIN, edns ? edns.class : UDP_MIN);
  // Echo EDNS so the requester keeps using it; the root name is the empty string.
  const opt = edns ? [{ name: '', ...(Packet.Resource.EDNS([]) as object) } as DnsRecord] : [];
  fit(response, a, opt, max);
  return response;
}

/** Keeps as many answers (each with its additional records) as fit in `max` bytes; TC when any is dropped. */
function fit(response: Packet, a: DnsAnswer, opt: DnsRecord[], max: number): void {
  const fill = (n: number) => {
    response.answers = a.answers.slice(0, n) as Packet['answers'];
    const extras = dedupe(a.extras.slice(0, n).flat());
    response.additionals = [...extras, ...opt] as Packet['additionals'];
  };
  fill(a.answers.length);
  if (max === Infinity || response.toBuffer().length <= max) return;
  // Binary search for the largest prefix of answers that fits.
  let lo = 0;
  let hi = a.answers.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    fill(mid);
    if (response.toBuffer().length <= max) lo = mid;
    else hi = mid - 1;
  }
  fill(lo);
  response.header.tc = 1;
}

function dedupe(records: DnsRecord[]): DnsRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const k = `${r.name}|${r.type}|${r.address ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
