import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Federation } from './federation.js';
import { nullLogger } from '../logging/index.js';

/** A stand-in server agent: its region, its server list, and the join requests it got. */
interface Peer {
  server: Server;
  addr: string;
  joins: string[];
}

async function peer(region: string, servers?: (addr: string) => string[], isServer = true): Promise<Peer> {
  const p: Peer = { server: createServer(), addr: '', joins: [] };
  p.server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/v1/agent/self')
      res.end(JSON.stringify({ config: { Region: region, Server: { Enabled: isServer } } }));
    else if (url.pathname === '/v1/agent/servers') res.end(JSON.stringify(servers ? servers(p.addr) : [p.addr]));
    else if (url.pathname === '/v1/agent/join') {
      p.joins.push(url.searchParams.get('address') ?? '');
      res.end(JSON.stringify({ num_joined: 1, error: '' }));
    } else {
      res.statusCode = 404;
      res.end('"no"');
    }
  });
  await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
  p.addr = `127.0.0.1:${(p.server.address() as { port: number }).port}`;
  return p;
}

describe('Federation', () => {
  let dir: string;
  const peers: Peer[] = [];
  const signal = new AbortController().signal;
  const make = () =>
    new Federation({ region: 'us', file: join(dir, 'regions.json'), self: () => '127.0.0.1:1', logger: nullLogger });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'drover-rg-fed-'));
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) await new Promise((r) => p.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('federates a server of another region, asks it to join back, and keeps it across a restart', async () => {
    const eu = await peer('europe');
    peers.push(eu);
    const f = make();
    const r = await f.join([eu.addr], signal);
    expect(r).toEqual({ joined: 1, sameRegion: [], errors: [] });
    expect(f.regions()).toEqual(['europe', 'us']);
    expect(f.serverFor('europe')).toBe(`http://${eu.addr}`);
    expect(eu.joins).toEqual(['127.0.0.1:1']);
    expect(JSON.parse(readFileSync(join(dir, 'regions.json'), 'utf8'))).toEqual({ Regions: { europe: [eu.addr] } });
    expect(make().serverFor('europe')).toBe(`http://${eu.addr}`);
  });

  it('does not ask a region it already knew to join back, so a join exchange ends', async () => {
    const eu = await peer('europe');
    peers.push(eu);
    const f = make();
    await f.join([eu.addr], signal);
    await f.join([eu.addr], signal);
    expect(eu.joins).toHaveLength(1);
  });

  it("hands back this region's servers for the cluster check, and refuses an agent that is no server", async () => {
    const same = await peer('us');
    const client = await peer('asia', undefined, false);
    peers.push(same, client);
    const r = await make().join([same.addr, client.addr], signal);
    expect(r.sameRegion).toEqual([same.addr]);
    expect(r.errors).toEqual([`${client.addr} is not a server agent`]);
  });

  it("refuses a second cluster using a federated region's name, naming the servers already known", async () => {
    const eu = await peer('europe');
    const impostor = await peer('europe');
    peers.push(eu, impostor);
    const f = make();
    await f.join([eu.addr], signal);
    const r = await f.join([impostor.addr], signal);
    expect(r.joined).toBe(0);
    expect(r.errors[0]).toMatch(
      new RegExp(`region "europe" is already federated with the servers ${eu.addr}.*region names must be unique`),
    );
    expect(f.serverFor('europe')).toBe(`http://${eu.addr}`);
  });

  it("replaces a region's servers with the list one of them gives on refresh", async () => {
    let list = (a: string) => [a];
    const eu = await peer('europe', (a) => list(a));
    peers.push(eu);
    const f = make();
    await f.join([eu.addr], signal);
    list = (a) => [a, '127.0.0.1:9'];
    await f.refresh(signal);
    expect(f.addressBook()).toEqual({ europe: [eu.addr, '127.0.0.1:9'] });
  });

  it('refuses a damaged address book at start, naming the file', () => {
    writeFileSync(join(dir, 'regions.json'), '{"Regions": {"europe": [');
    expect(() => make()).toThrow(/regions\.json is not valid JSON .*remove it and join the other regions again/);
  });

  it('names the address that could not be reached', async () => {
    const r = await make().join(['127.0.0.1:1'], signal);
    expect(r.errors[0]).toMatch(/^127\.0\.0\.1:1: /);
  });
});
