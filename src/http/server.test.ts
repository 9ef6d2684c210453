import { describe, expect, it } from 'vitest';
import { splitTarget } from './server.js';
import { Router } from './router.js';

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
