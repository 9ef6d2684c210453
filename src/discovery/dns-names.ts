/**
 * DNS names and answers in Consul's naming, so resolvers and tools written for Consul work unchanged:
 *
 *   [<tag>.]<service>.service[.<dc>].<domain>        A/AAAA of passing instances, SRV with their ports
 *   _<service>._<tag>.service[.<dc>].<domain>         RFC 2782 form; `_tcp`/`_udp` as the tag mean any tag
 *   <hex-ip>.addr[.<dc>].<domain>                     the address an SRV target names (c0a80001 = 192.168.0.1)
 *
 * SRV targets are `<hex-ip>.addr.<dc>.<domain>.` with the address in the additional section, as Consul does
 * for services whose address differs from their node's. Pure: answers come from a DnsCatalogSource snapshot.
 */
import * as net from 'node:net';

/** One passing instance as DNS needs it. */
export interface DnsInstance {
  Address: string;
  Port: number;
  Datacenter: string;
}

/**
 * Where the DNS server reads instances: synchronous, from whatever the agent keeps current (the server's state
 * store, or a cache that follows `GET /v1/service/:name` with blocking queries). Return passing instances only.
 */
export interface DnsCatalogSource {
  /** Passing instances of `service` (case-insensitive), with `tag` when given, in `dc` when given. */
  lookup(q: { service: string; tag?: string; dc?: string }): DnsInstance[];
}

export type ParsedName =
  | { kind: 'service'; service: string; tag?: string; dc?: string }
  | { kind: 'addr'; ip: string; dc?: string }
  | { kind: 'apex' }
  | { kind: 'invalid' }
  | { kind: 'outside' };

/** Lower-cased, without the trailing dot. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

export function parseQueryName(name: string, domain: string): ParsedName {
  const n = normalizeName(name);
  const d = normalizeName(domain);
  if (n === d) return { kind: 'apex' };
  if (!n.endsWith(`.${d}`)) return { kind: 'outside' };
  const labels = n.slice(0, -(d.length + 1)).split('.');
  const kindAt = labels.findIndex((l) => l === 'service' || l === 'addr');
  if (kindAt < 1) return { kind: 'invalid' };
  const after = labels.slice(kindAt + 1);
  if (after.length > 1) return { kind: 'invalid' };
  const dc = after[0];
  const before = labels.slice(0, kindAt);
  const only = before.length === 1 ? before[0] : undefined;
  if (labels[kindAt] === 'addr') {
    const ip = only !== undefined ? decodeAddrLabel(only) : undefined;
    return ip ? { kind: 'addr', ip, ...(dc ? { dc } : {}) } : { kind: 'invalid' };
  }
  if (only !== undefined) return { kind: 'service', service: only, ...(dc ? { dc } : {}) };
  if (before.length !== 2) return { kind: 'invalid' };
  const [first, second] = before as [string, string];
  if (first.startsWith('_') && second.startsWith('_')) {
    const tag = second.slice(1);
    return {
      kind: 'service',
      service: first.slice(1),
      ...(tag === 'tcp' || tag === 'udp' ? {} : { tag }),
      ...(dc ? { dc } : {}),
    };
  }
  return { kind: 'service', service: second, tag: first, ...(dc ? { dc } : {}) };
}

/** `192.168.0.1` → `c0a80001`; IPv6 → 32 hex digits; undefined for a hostname. */
export function encodeAddrLabel(ip: string): string | undefined {
  if (net.isIPv4(ip))
    return ip
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('');
  if (net.isIPv6(ip)) return expandIPv6(ip).join('');
  return undefined;
}

export function decodeAddrLabel(label: string): string | undefined {
  if (/^[0-9a-f]{8}$/.test(label)) return [0, 2, 4, 6].map((i) => parseInt(label.slice(i, i + 2), 16)).join('.');
  if (/^[0-9a-f]{32}$/.test(label)) {
    const groups = Array.from({ length: 8 }, (_, i) => parseInt(label.slice(i * 4, i * 4 + 4), 16).toString(16));
    return groups.join(':');
  }
  return undefined;
}

function expandIPv6(ip: string): string[] {
  let s = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    // The pattern is the whole match and has exactly four dotted parts.
    const [a = 0, b = 0, c = 0, d = 0] = v4[0].split('.').map(Number);
    s = s.replace(v4[0], `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`);
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const zeros = tail !== undefined ? Array<string>(8 - h.length - t.length).fill('0') : [];
  return [...h, ...zeros, ...t].map((g) => g.padStart(4, '0'));
}

export const RR = { A: 1, NS: 2, SOA: 6, AAAA: 28, SRV: 33, ANY: 255 } as const;
const IN = 1;

/** A resource record in the shape dns2 encodes. */
export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  address?: string;
  priority?: number;
  weight?: number;
  port?: number;
  target?: string;
  primary?: string;
  admin?: string;
  serial?: number;
  refresh?: number;
  retry?: number;
  expiration?: number;
  minimum?: number;
}

export interface DnsAnswer {
  /** 0 NOERROR, 3 NXDOMAIN, 5 REFUSED. */
  rcode: 0 | 3 | 5;
  answers: DnsRecord[];
  /** For each answer, the additional records it needs (SRV → the target's address), so truncation drops pairs. */
  extras: DnsRecord[][];
  authorities: DnsRecord[];
}

export interface AnswerOptions {
  domain: string;
  ttl: number;
  /** The datacenter named in SRV targets of instances that carry none. */
  datacenter: string;
  /** Uniform in [0, 1), for the order of answers (load spread). */
  rng: () => number;
  /** Seconds, for the SOA serial. */
  nowSeconds: number;
}

/** Answers one question from the catalog source. */
export function answerQuestion(
  q: { name: string; type: number },
  source: DnsCatalogSource,
  o: AnswerOptions,
): DnsAnswer {
  const parsed = parseQueryName(q.name, o.domain);
  const none = (rcode: DnsAnswer['rcode']): DnsAnswer => ({
    rcode,
    answers: [],
    extras: [],
    authorities: rcode === 5 ? [] : [soa(o)],
  });
  switch (parsed.kind) {
    case 'outside':
      return none(5);
    case 'invalid':
      return none(3);
    case 'apex':
      return q.type === RR.SOA ? { rcode: 0, answers: [soa(o)], extras: [[]], authorities: [] } : none(0);
    case 'addr': {
      const type = net.isIPv4(parsed.ip) ? RR.A : RR.AAAA;
      if (q.type !== type && q.type !== RR.ANY) return none(0);
      return {
        rcode: 0,
        answers: [{ name: q.name, type, class: IN, ttl: o.ttl, address: parsed.ip }],
        extras: [[]],
        authorities: [],
      };
    }
    case 'service':
      return serviceAnswer(q, parsed, source, o);
  }
}

function serviceAnswer(
  q: { name: string; type: number },
  p: { service: string; tag?: string; dc?: string },
  source: DnsCatalogSource,
  o: AnswerOptions,
): DnsAnswer {
  // An instance without an address (a service with no port and no address) cannot be answered in DNS.
  const found = source
    .lookup({ service: p.service, ...(p.tag ? { tag: p.tag } : {}), ...(p.dc ? { dc: p.dc } : {}) })
    .filter((i) => i.Address !== '');
  const instances = shuffle(found, o.rng);
  // No passing instance: the name does not exist, as Consul answers.
  if (instances.length === 0) return { rcode: 3, answers: [], extras: [], authorities: [soa(o)] };
  const answers: DnsRecord[] = [];
  const extras: DnsRecord[][] = [];
  if (q.type === RR.SRV) {
    for (const i of instances) {
      const label = encodeAddrLabel(i.Address);
      const target = label
        ? `${label}.addr.${i.Datacenter || o.datacenter}.${normalizeName(o.domain)}`
        : normalizeName(i.Address);
      answers.push({ name: q.name, type: RR.SRV, class: IN, ttl: o.ttl, priority: 1, weight: 1, port: i.Port, target });
      extras.push(label ? [addressRecord(target, i.Address, o.ttl)] : []);
    }
    return { rcode: 0, answers, extras, authorities: [] };
  }
  const want = q.type === RR.ANY ? RR.A : q.type;
  if (want !== RR.A && want !== RR.AAAA) return { rcode: 0, answers: [], extras: [], authorities: [soa(o)] };
  // One record per distinct address: several instances on one host would otherwise repeat the same record.
  const seen = new Set<string>();
  for (const i of instances) {
    const isType = want === RR.A ? net.isIPv4(i.Address) : net.isIPv6(i.Address);
    if (!isType || seen.has(i.Address)) continue;
    seen.add(i.Address);
    answers.push(addressRecord(q.name, i.Address, o.ttl));
    extras.push([]);
  }
  return { rcode: 0, answers, extras, authorities: answers.length === 0 ? [soa(o)] : [] };
}

function addressRecord(name: string, ip: string, ttl: number): DnsRecord {
  return { name, type: net.isIPv4(ip) ? RR.A : RR.AAAA, class: IN, ttl, address: ip };
}

function soa(o: AnswerOptions): DnsRecord {
  const d = normalizeName(o.domain);
  return {
    name: d,
    type: RR.SOA,
    class: IN,
    ttl: o.ttl,
    primary: `ns.${d}`,
    admin: `hostmaster.${d}`,
    serial: o.nowSeconds >>> 0,
    refresh: 3600,
    retry: 600,
    expiration: 86400,
    minimum: 0,
  };
}

function shuffle<T>(xs: T[], rng: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
