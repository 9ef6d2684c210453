import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import { promisify } from 'node:util';
import dns2 from 'dns2';
import fc from 'fast-check';
import type { ServiceRegistration } from '../structs/index.js';
import { memoryLogger } from '../logging/index.js';
import {
  answerQuestion,
  decodeAddrLabel,
  encodeAddrLabel,
  parseQueryName,
  RR,
  type DnsCatalogSource,
} from './dns-names.js';
import { registrationDnsSource } from './dns-source.js';
import { startDnsServer, type DnsServer } from './dns-server.js';
import { fixtureReg } from './testing/fixtures.js';

const { Packet, UDPClient, TCPClient } = dns2;
const run = promisify(execFile);

describe('DNS names', () => {
  it('parses the Consul service forms, with and without tag and datacenter', () => {
    expect(parseQueryName('web.service.drover.', 'drover')).toEqual({ kind: 'service', service: 'web' });
    expect(parseQueryName('WEB.Service.Drover', 'drover')).toEqual({ kind: 'service', service: 'web' });
    expect(parseQueryName('v1.web.service.drover', 'drover')).toEqual({ kind: 'service', service: 'web', tag: 'v1' });
    expect(parseQueryName('web.service.dc2.drover', 'drover')).toEqual({ kind: 'service', service: 'web', dc: 'dc2' });
    expect(parseQueryName('v1.web.service.dc2.drover', 'drover')).toEqual({
      kind: 'service',
      service: 'web',
      tag: 'v1',
      dc: 'dc2',
    });
    expect(parseQueryName('_web._v1.service.drover', 'drover')).toEqual({ kind: 'service', service: 'web', tag: 'v1' });
    expect(parseQueryName('_web._tcp.service.drover', 'drover')).toEqual({ kind: 'service', service: 'web' });
    expect(parseQueryName('c0a80001.addr.dc1.drover', 'drover')).toEqual({
      kind: 'addr',
      ip: '192.168.0.1',
      dc: 'dc1',
    });
    expect(parseQueryName('example.com', 'drover')).toEqual({ kind: 'outside' });
    expect(parseQueryName('drover.', 'drover')).toEqual({ kind: 'apex' });
    expect(parseQueryName('a.b.c.service.drover', 'drover')).toEqual({ kind: 'invalid' });
    expect(parseQueryName('web.node.drover', 'drover')).toEqual({ kind: 'invalid' });
    expect(parseQueryName('web.service.a.b.drover', 'drover')).toEqual({ kind: 'invalid' });
  });

  it('encodes addresses as Consul addr labels and back', () => {
    expect(encodeAddrLabel('127.0.0.1')).toBe('7f000001');
    expect(encodeAddrLabel('::1')).toBe('00000000000000000000000000000001');
    expect(decodeAddrLabel('00000000000000000000000000000001')).toBe('0:0:0:0:0:0:0:1');
    expect(encodeAddrLabel('web.example.com')).toBeUndefined();
    fc.assert(
      fc.property(fc.ipV4(), (ip) => decodeAddrLabel(encodeAddrLabel(ip)!) === ip.split('.').map(Number).join('.')),
    );
  });
});

function source(regs: ServiceRegistration[]): DnsCatalogSource {
  return registrationDnsSource(() => regs);
}

const opts = { domain: 'drover', ttl: 0, datacenter: 'dc1', rng: () => 0.5, nowSeconds: 1000 };

describe('answerQuestion', () => {
  const regs = [
    fixtureReg({ Address: '10.0.0.1', Port: 8001, Tags: ['v1'] }),
    fixtureReg({ Address: '10.0.0.2', Port: 8002, Tags: ['v2'] }),
    fixtureReg({ Address: '10.0.0.2', Port: 8003, Tags: ['v2'] }),
    fixtureReg({ Address: '10.0.0.3', Port: 8004, Status: 'critical' }),
    fixtureReg({ Address: '10.0.0.4', Port: 8005, Status: 'warning' }),
    fixtureReg({ ServiceName: 'ext', Address: 'db.example.com', Port: 5432 }),
  ];

  it('answers A with each distinct address of passing instances only', () => {
    const a = answerQuestion({ name: 'web.service.drover', type: RR.A }, source(regs), opts);
    expect(a.rcode).toBe(0);
    expect(a.answers.map((r) => r.address).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('answers SRV per instance with addr targets and their A records', () => {
    const a = answerQuestion({ name: 'web.service.drover', type: RR.SRV }, source(regs), opts);
    expect(a.answers.map((r) => [r.priority, r.weight, r.port, r.target]).sort()).toEqual([
      [1, 1, 8001, '0a000001.addr.dc1.drover'],
      [1, 1, 8002, '0a000002.addr.dc1.drover'],
      [1, 1, 8003, '0a000002.addr.dc1.drover'],
    ]);
    expect(a.extras.map((e) => e.map((r) => [r.type, r.name, r.address]))).toEqual(
      a.answers.map((ans) => [[RR.A, ans.target, decodeAddrLabel(ans.target!.split('.')[0]!)]]),
    );
  });

  it('filters by tag and names a hostname address as the SRV target itself', () => {
    expect(
      answerQuestion({ name: 'v2.web.service.drover', type: RR.SRV }, source(regs), opts)
        .answers.map((r) => r.port)
        .sort(),
    ).toEqual([8002, 8003]);
    const ext = answerQuestion({ name: 'ext.service.drover', type: RR.SRV }, source(regs), opts);
    expect(ext.answers[0]).toMatchObject({ port: 5432, target: 'db.example.com' });
    expect(ext.extras).toEqual([[]]);
  });

  it('is NXDOMAIN for unknown services and for services without passing instances, REFUSED outside the domain', () => {
    expect(answerQuestion({ name: 'nope.service.drover', type: RR.A }, source(regs), opts)).toMatchObject({
      rcode: 3,
      answers: [],
    });
    expect(answerQuestion({ name: 'v9.web.service.drover', type: RR.A }, source(regs), opts).rcode).toBe(3);
    expect(answerQuestion({ name: 'example.com', type: RR.A }, source(regs), opts).rcode).toBe(5);
  });

  it('serves the local datacenter for names without one, and the named one otherwise', () => {
    const multi = [
      fixtureReg({ Address: '10.9.0.1', Datacenter: 'dc1' }),
      fixtureReg({ Address: '10.9.0.2', Datacenter: 'dc2' }),
    ];
    const src = registrationDnsSource(() => multi, { datacenter: 'dc1' });
    expect(answerQuestion({ name: 'web.service.drover', type: RR.A }, src, opts).answers.map((r) => r.address)).toEqual(
      ['10.9.0.1'],
    );
    expect(
      answerQuestion({ name: 'web.service.dc2.drover', type: RR.A }, src, opts).answers.map((r) => r.address),
    ).toEqual(['10.9.0.2']);
    const srv = answerQuestion({ name: 'web.service.dc2.drover', type: RR.SRV }, src, opts);
    expect(srv.answers[0]?.target).toBe('0a090002.addr.dc2.drover');
    expect(answerQuestion({ name: 'web.service.dc3.drover', type: RR.A }, src, opts).rcode).toBe(3);
  });

  it('leaves out instances without an address', () => {
    const noAddr = [fixtureReg({ ServiceName: 'bare', Address: '' })];
    expect(answerQuestion({ name: 'bare.service.drover', type: RR.SRV }, source(noAddr), opts).rcode).toBe(3);
  });

  it('answers NODATA with the SOA for a type the name does not have', () => {
    const a = answerQuestion({ name: 'web.service.drover', type: RR.AAAA }, source(regs), opts);
    expect(a).toMatchObject({ rcode: 0, answers: [] });
    expect(a.authorities[0]).toMatchObject({ type: RR.SOA, name: 'drover', primary: 'ns.drover' });
  });

  it('spreads the order of answers with the random source', () => {
    const many = Array.from({ length: 6 }, (_, i) => fixtureReg({ Address: `10.1.0.${i + 1}`, Port: 9000 + i }));
    let x = 0;
    const orders = new Set<string>();
    for (let k = 0; k < 20; k++) {
      const rng = () => (x = (x * 9301 + 49297) % 233280) / 233280;
      orders.add(
        answerQuestion({ name: 'web.service.drover', type: RR.SRV }, source(many), { ...opts, rng })
          .answers.map((r) => r.port)
          .join(','),
      );
    }
    expect(orders.size).toBeGreaterThan(5);
  });
});

describe('DNS server', () => {
  const regs: ServiceRegistration[] = [];
  let server: DnsServer;
  const logger = memoryLogger();

  beforeAll(async () => {
    for (let i = 1; i <= 3; i++)
      regs.push(fixtureReg({ Address: `127.0.0.${i}`, Port: 7000 + i, Tags: i === 1 ? ['primary'] : [] }));
    regs.push(fixtureReg({ Address: '127.0.0.9', Port: 7009, Status: 'critical' }));
    // Enough instances that an SRV answer cannot fit in 512 bytes.
    for (let i = 1; i <= 40; i++)
      regs.push(fixtureReg({ ServiceName: 'big', Address: `127.0.1.${i}`, Port: 8000 + i }));
    server = await startDnsServer({ port: 0, source: registrationDnsSource(() => regs), logger });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('listens on one port for UDP and TCP on 127.0.0.1', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(logger.lines.some((l) => l.msg === 'dns server listening' && l.fields.port === server.port)).toBe(true);
  });

  it('answers A and SRV over UDP through the dns2 client', async () => {
    const resolve = UDPClient({ dns: '127.0.0.1', port: server.port, timeout: 2000 });
    const a = await resolve('web.service.drover', 'A');
    expect(a.header.aa).toBe(1);
    expect(a.answers.map((r) => r.address).sort()).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3']);
    const srv = await resolve('primary.web.service.drover', 'SRV');
    expect(srv.answers).toMatchObject([
      { type: Packet.TYPE.SRV, priority: 1, weight: 1, port: 7001, target: '7f000001.addr.dc1.drover' },
    ]);
    expect(srv.additionals).toMatchObject([
      { type: Packet.TYPE.A, name: '7f000001.addr.dc1.drover', address: '127.0.0.1' },
    ]);
  });

  it('answers NXDOMAIN for an unknown service over TCP', async () => {
    const resolve = TCPClient({ dns: '127.0.0.1', port: server.port });
    const r = await resolve('nothing.service.drover', 'A');
    expect(r.header.rcode).toBe(3);
    expect(r.answers).toEqual([]);
  });

  it('truncates a large UDP answer with TC and gives the whole answer over TCP', async () => {
    const udpReply = await rawUdpQuery(server.port, 'big.service.drover', Packet.TYPE.SRV);
    expect(udpReply.length).toBeLessThanOrEqual(512);
    const parsed = Packet.parse(udpReply);
    expect(parsed.header.tc).toBe(1);
    expect(parsed.answers.length).toBeGreaterThan(0);
    expect(parsed.answers.length).toBeLessThan(40);
    // Every SRV that made it keeps its address record.
    const targets = new Set(parsed.answers.map((r) => r.target));
    expect(new Set(parsed.additionals.map((r) => r.name))).toEqual(targets);
    const tcp = await TCPClient({ dns: '127.0.0.1', port: server.port })('big.service.drover', 'SRV');
    expect(tcp.header.tc).toBe(0);
    expect(tcp.answers).toHaveLength(40);
  });

  it('serves the real dig: SRV of passing instances with addr targets', async (ctx) => {
    if (!(await needDig())) return ctx.skip();
    const { stdout } = await run(
      'dig',
      ['@127.0.0.1', '-p', String(server.port), 'web.service.drover', 'SRV', '+tries=1', '+time=2'],
      { timeout: 10_000 },
    );
    expect(stdout).toContain('status: NOERROR');
    expect(stdout).toMatch(/flags: qr aa/);
    const srv = [...stdout.matchAll(/^web\.service\.drover\.\s+0\s+IN\s+SRV\s+1 1 (\d+) (\S+)$/gm)].map((m) => [
      Number(m[1]),
      m[2],
    ]);
    expect(srv.sort()).toEqual([
      [7001, '7f000001.addr.dc1.drover.'],
      [7002, '7f000002.addr.dc1.drover.'],
      [7003, '7f000003.addr.dc1.drover.'],
    ]);
    expect(stdout).toMatch(/^7f000002\.addr\.dc1\.drover\.\s+0\s+IN\s+A\s+127\.0\.0\.2$/m);
    expect(stdout).not.toContain('7009');
  });

  it('lets dig fall back to TCP for a truncated answer and get every instance', async (ctx) => {
    if (!(await needDig())) return ctx.skip();
    const { stdout } = await run(
      'dig',
      ['@127.0.0.1', '-p', String(server.port), 'big.service.drover', 'SRV', '+noedns', '+tries=1', '+time=2'],
      { timeout: 10_000 },
    );
    expect(stdout).toContain('Truncated, retrying in TCP mode');
    expect([...stdout.matchAll(/IN\s+SRV\s+1 1 \d+/g)]).toHaveLength(40);
  });

  it('answers the addr name of an SRV target, and REFUSED outside its domain', async () => {
    const resolve = UDPClient({ dns: '127.0.0.1', port: server.port, timeout: 2000 });
    expect((await resolve('7f000002.addr.dc1.drover', 'A')).answers).toMatchObject([{ address: '127.0.0.2' }]);
    expect((await resolve('example.com', 'A')).header.rcode).toBe(5);
  });

  it('sees catalog changes on the next query', async () => {
    const resolve = UDPClient({ dns: '127.0.0.1', port: server.port, timeout: 2000 });
    regs[0]!.Status = 'critical';
    try {
      expect((await resolve('web.service.drover', 'A')).answers.map((r) => r.address).sort()).toEqual([
        '127.0.0.2',
        '127.0.0.3',
      ]);
    } finally {
      regs[0]!.Status = 'passing';
    }
  });
});

describe('DNS server lifecycle', () => {
  it('closes when its signal aborts', async () => {
    const ctl = new AbortController();
    const s = await startDnsServer({ port: 0, source: { lookup: () => [] }, signal: ctl.signal });
    ctl.abort();
    await s.close();
    await expect(rawUdpQuery(s.port, 'x.service.drover', 1, 300)).rejects.toThrow(/timeout/);
  });
});

/** Whether dig is installed; without it the dig tests skip (saying so), except under CI where that fails. */
async function needDig(): Promise<boolean> {
  if (await hasDig()) return true;
  if (process.env.CI === 'true') throw new Error('dig is required under CI (install dnsutils)');
  process.stderr.write('SKIPPED: dig is not installed (apt-get install dnsutils)\n');
  return false;
}

let digChecked: boolean | undefined;
async function hasDig(): Promise<boolean> {
  if (digChecked === undefined)
    digChecked = await run('dig', ['-v'], { timeout: 5000 }).then(
      () => true,
      () => false,
    );
  return digChecked;
}

/** One UDP query without EDNS: the classic 512-byte limit applies. */
function rawUdpQuery(port: number, name: string, type: number, timeoutMs = 2000): Promise<Buffer> {
  const q = new Packet();
  q.header.id = 4242;
  q.questions.push({ name, type, class: Packet.CLASS.IN } as never);
  const sock = dgram.createSocket('udp4');
  return new Promise<Buffer>((resolve, reject) => {
    const t = setTimeout(() => {
      sock.close();
      reject(new Error('timeout'));
    }, timeoutMs);
    sock.on('message', (m) => {
      clearTimeout(t);
      sock.close();
      resolve(m);
    });
    sock.send(q.toBuffer(), port, '127.0.0.1');
  });
}
