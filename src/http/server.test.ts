import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../state/index.js';
import { splitTarget } from './server.js';
import { Router } from './router.js';
import { testAgent } from './testing/test-api.js';

describe('request targets', () => {
  it('splits an origin-form target into its path and query without a URL object', () => {
    const { pathname, query } = splitTarget('/v1/job/web/allocations?resources=true&namespace=a%20b');
    expect(pathname).toBe('/v1/job/web/allocations');
    expect(query.get('resources')).toBe('true');
    expect(query.get('namespace')).toBe('a b');
    expect(splitTarget('/v1/jobs').query.toString()).toBe('');
  });

  it('normalises dot segments and absolute-form targets as URL does', () => {
    expect(splitTarget('/v1/../v1/jobs?x=1').pathname).toBe('/v1/jobs');
    expect(splitTarget('http://example.org/v1/jobs?x=1').pathname).toBe('/v1/jobs');
    expect(splitTarget('/v1/jobs#frag').pathname).toBe('/v1/jobs');
  });
});

describe('the router', () => {
  const r = new Router();
  const h = (name: string) => () => name;
  r.get('/v1/jobs', h('jobs'));
  r.get('/v1/job/:id', h('job'));
  r.get('/v1/job/:id/allocations', h('job-allocs'));
  r.get('/v1/var/*path', h('var'));
  r.write('/v1/jobs', h('register'));

  const matched = (method: string, path: string) => {
    const m = r.match(method, path);
    return typeof m === 'object' ? { name: (m.handler as () => string)(), params: m.params } : m;
  };

  it('matches literal, parameter and rest segments, decoding each segment', () => {
    expect(matched('GET', '/v1/jobs')).toEqual({ name: 'jobs', params: {} });
    expect(matched('GET', '/v1/job/a%2Fb')).toEqual({ name: 'job', params: { id: 'a/b' } });
    expect(matched('GET', '/v1/job/web/allocations')).toEqual({ name: 'job-allocs', params: { id: 'web' } });
    expect(matched('GET', '/v1/var/a/b/c')).toEqual({ name: 'var', params: { path: 'a/b/c' } });
    expect(matched('PUT', '/v1/jobs')).toEqual({ name: 'register', params: {} });
  });

  it('tells a path with other methods (405) from an unknown path (404)', () => {
    expect(matched('DELETE', '/v1/jobs')).toBe('methodNotAllowed');
    expect(matched('GET', '/v1/job/web/nothing')).toBeUndefined();
    expect(matched('GET', '/v1/var')).toBeUndefined();
  });
});

describe('query meta of a server answering from its replica', () => {
  /** Runs `fn` against an agent whose leaderContact is `contact`. */
  async function withContact(
    contact: { knownLeader: boolean; lastContactMs: number },
    fn: (address: string) => Promise<void>,
  ): Promise<void> {
    const { http, stop } = await testAgent({ dataDir: ':memory:', backend: new MemoryBackend() }, () => ({
      leaderContact: () => contact,
    }));
    try {
      await fn(http.address);
    } finally {
      await stop();
    }
  }

  it('sends X-Nomad-KnownLeader and X-Nomad-LastContact with list, blocking and plain answers', async () => {
    await withContact({ knownLeader: false, lastContactMs: 1234 }, async (address) => {
      const put = await fetch(`${address}/v1/var/a`, { method: 'PUT', body: '{"Items":{"k":"v"}}' });
      expect(put.status).toBe(200);
      const index = Number(put.headers.get('x-nomad-index'));
      for (const path of ['/v1/vars', `/v1/vars?index=${index - 1}&wait=5s`, '/v1/var/a', '/v1/status/leader']) {
        const r = await fetch(`${address}${path}`);
        await r.text();
        expect(r.status, path).toBe(200);
        expect(r.headers.get('x-nomad-knownleader'), path).toBe('false');
        expect(r.headers.get('x-nomad-lastcontact'), path).toBe('1234');
      }
    });
  });

  it('sends them with the answers a handler writes itself: KV and variable 404s, a raw KV value, errors', async () => {
    await withContact({ knownLeader: true, lastContactMs: 77 }, async (address) => {
      const put = await fetch(`${address}/v1/kv/k`, { method: 'PUT', body: 'v' });
      expect(put.status).toBe(200);
      const answers: [string, number][] = [
        ['/v1/kv/missing', 404],
        ['/v1/kv/missing?recurse', 404],
        ['/v1/kv/k?raw', 200],
        ['/v1/var/missing', 404],
        ['/v1/job/missing', 404],
        ['/v1/jobs?index=x', 400],
      ];
      for (const [path, status] of answers) {
        const r = await fetch(`${address}${path}`);
        await r.text();
        expect(r.status, path).toBe(status);
        expect(r.headers.get('x-nomad-knownleader'), path).toBe('true');
        expect(r.headers.get('x-nomad-lastcontact'), path).toBe('77');
      }
      const missing = await fetch(`${address}/v1/var/missing`);
      await missing.text();
      expect(Number(missing.headers.get('x-nomad-index'))).toBeGreaterThan(0);
    });
  });
});
