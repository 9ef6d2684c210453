import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceRegistration } from '../structs/index.js';
import { catalogIndex, filterService, serviceListStubs } from './catalog.js';
import { CatalogFollower } from './catalog-follower.js';
import { registrationDnsSource } from './dns-source.js';
import { fixtureReg } from './testing/fixtures.js';

/** A fake agent with Nomad's blocking queries: a request with ?index=N waits until the catalog passes N. */
class BlockingAgent {
  regs: ServiceRegistration[] = [];
  index = 1;
  requests: string[] = [];
  failNext = 0;
  private waiters = new Set<() => void>();
  server = http.createServer((req, res) => void this.handle(req, res));
  port = 0;

  set(regs: ServiceRegistration[]): void {
    this.index++;
    this.regs = regs.map((r) => ({ ...r, ModifyIndex: this.index }));
    for (const w of this.waiters) w();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname);
    if (this.failNext > 0) {
      this.failNext--;
      res.writeHead(500);
      return void res.end('boom');
    }
    const want = Number(url.searchParams.get('index') ?? '0');
    const waitMs = parseInt(url.searchParams.get('wait') ?? '1', 10) * 1000;
    if (want >= this.index) {
      await new Promise<void>((r) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          r();
        };
        const t = setTimeout(done, waitMs);
        this.waiters.add(done);
        req.on('close', done);
      });
    }
    const ns = url.searchParams.get('namespace') ?? 'default';
    const m = /^\/v1\/service\/(.+)$/.exec(url.pathname);
    const body =
      url.pathname === '/v1/services'
        ? serviceListStubs(this.regs, { namespace: ns })
        : m
          ? filterService(this.regs, { name: decodeURIComponent(m[1]!), namespace: ns })
          : null;
    res.writeHead(body ? 200 : 404, {
      'Content-Type': 'application/json',
      'X-Nomad-Index': String(m ? Math.max(catalogIndex(body as ServiceRegistration[]), 1) : this.index),
    });
    res.end(JSON.stringify(body));
  }
}

const agent = new BlockingAgent();

beforeAll(async () => {
  await new Promise<void>((r) => agent.server.listen(0, '127.0.0.1', r));
  agent.port = (agent.server.address() as AddressInfo).port;
});

afterAll(async () => {
  agent.server.closeAllConnections();
  await new Promise<void>((r) => agent.server.close(() => r()));
});

describe('CatalogFollower', () => {
  it('loads the catalog, follows additions and removals, and feeds a DNS source', async () => {
    agent.set([
      fixtureReg({ ServiceName: 'web', Address: '127.0.0.1' }),
      fixtureReg({ ServiceName: 'api', Address: '127.0.0.2' }),
      fixtureReg({ ServiceName: 'db', Namespace: 'prod' }),
    ]);
    let changes = 0;
    const f = new CatalogFollower({
      address: `http://127.0.0.1:${agent.port}/`,
      waitMs: 2000,
      retryMs: 20,
      onChange: () => changes++,
    });
    const ctl = new AbortController();
    const running = f.run(ctl.signal);
    const dns = registrationDnsSource(() => f.registrations());
    try {
      await expect.poll(() => f.registrations().length === 3, { timeout: 5000 }).toBe(true);
      expect(f.ready).toBe(true);
      expect(dns.lookup({ service: 'WEB' }).map((i) => i.Address)).toEqual(['127.0.0.1']);
      expect(agent.requests).toContain('/v1/service/db');

      // A new instance of web and api gone: seen through the blocking queries, without polling delays.
      const web2 = fixtureReg({ ServiceName: 'web', Address: '127.0.0.3' });
      agent.set([...agent.regs.filter((r) => r.ServiceName !== 'api'), web2]);
      await expect
        .poll(() => f.registrations().length === 3 && f.registrations().some((r) => r.Address === '127.0.0.3'), {
          timeout: 1500,
        })
        .toBe(true);
      expect(f.registrations().some((r) => r.ServiceName === 'api')).toBe(false);
      expect(
        dns
          .lookup({ service: 'web' })
          .map((i) => i.Address)
          .sort(),
      ).toEqual(['127.0.0.1', '127.0.0.3']);
      expect(changes).toBeGreaterThan(0);
    } finally {
      ctl.abort();
      await running;
    }
  });

  it('keeps its last good copy through errors and recovers', async () => {
    agent.set([fixtureReg({ ServiceName: 'web' })]);
    agent.failNext = 2;
    const f = new CatalogFollower({
      address: `http://127.0.0.1:${agent.port}`,
      namespace: 'default',
      waitMs: 1000,
      retryMs: 20,
    });
    const ctl = new AbortController();
    const running = f.run(ctl.signal);
    try {
      await expect.poll(() => f.registrations().length === 1, { timeout: 5000 }).toBe(true);
      agent.failNext = 1;
      agent.set([fixtureReg({ ServiceName: 'web' }), fixtureReg({ ServiceName: 'web' })]);
      await expect.poll(() => f.registrations().length === 2, { timeout: 5000 }).toBe(true);
    } finally {
      ctl.abort();
      await running;
    }
  });

  it('ends promptly when aborted in the middle of a blocking query', async () => {
    agent.set([fixtureReg({ ServiceName: 'web' })]);
    const f = new CatalogFollower({ address: `http://127.0.0.1:${agent.port}`, waitMs: 30_000 });
    const ctl = new AbortController();
    const running = f.run(ctl.signal);
    await expect.poll(() => f.registrations().length === 1, { timeout: 5000 }).toBe(true);
    const t0 = Date.now();
    ctl.abort();
    await running;
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
