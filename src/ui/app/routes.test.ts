import { describe, expect, it } from 'vitest';
import { isRouteHash, parseHash, sectionOf, toHash, type Route } from './routes.js';

describe('the UI hash routes', () => {
  it('open the jobs list for an empty hash and for #/jobs', () => {
    expect(parseHash('')).toEqual({ view: 'jobs' });
    expect(parseHash('#')).toEqual({ view: 'jobs' });
    expect(parseHash('#/')).toEqual({ view: 'jobs' });
    expect(parseHash('#/jobs')).toEqual({ view: 'jobs' });
  });

  it("read a job's namespace after its last @, defaulting to the default namespace", () => {
    expect(parseHash('#/jobs/example')).toEqual({ view: 'job', id: 'example', namespace: 'default' });
    expect(parseHash('#/jobs/example@prod')).toEqual({ view: 'job', id: 'example', namespace: 'prod' });
    expect(parseHash('#/jobs/web%2Fapi@prod')).toEqual({ view: 'job', id: 'web/api', namespace: 'prod' });
  });

  it('read the logs tab with its task and stream, and ignore an unknown stream type', () => {
    expect(parseHash('#/allocations/abc')).toEqual({ view: 'alloc', id: 'abc', tab: 'overview' });
    expect(parseHash('#/allocations/abc/logs?task=web&type=stderr')).toEqual({
      view: 'alloc',
      id: 'abc',
      tab: 'logs',
      task: 'web',
      type: 'stderr',
    });
    expect(parseHash('#/allocations/abc/logs?type=nonsense')).toEqual({
      view: 'alloc',
      id: 'abc',
      tab: 'logs',
      task: undefined,
      type: undefined,
    });
  });

  it('name every path they do not know as not found', () => {
    expect(parseHash('#/nope')).toEqual({ view: 'notFound', path: 'nope' });
    expect(parseHash('#/jobs/a/b')).toEqual({ view: 'notFound', path: 'jobs/a/b' });
    expect(parseHash('#/allocations/abc/stats')).toEqual({ view: 'notFound', path: 'allocations/abc/stats' });
    expect(parseHash('#/allocations')).toEqual({ view: 'notFound', path: 'allocations' });
  });

  it.each<Route>([
    { view: 'jobs' },
    { view: 'job', id: 'example', namespace: 'default' },
    { view: 'job', id: 'odd id/with?chars#and@at', namespace: 'team a' },
    { view: 'job', id: 'mail@example.com', namespace: 'default' },
    { view: 'alloc', id: '0b1c2d3e-0000-4000-8000-000000000000', tab: 'overview' },
    { view: 'alloc', id: 'a1', tab: 'logs', task: 'web server', type: 'stderr' },
    { view: 'clients' },
    { view: 'client', id: 'node-1' },
    { view: 'services' },
    { view: 'evaluations' },
    { view: 'topology' },
    { view: 'sim' },
    { view: 'run' },
    { view: 'variables' },
    { view: 'variable', path: 'nomad/jobs/web', namespace: 'default' },
    { view: 'variable', path: 'app/db conf', namespace: 'prod' },
    { view: 'alloc', id: 'a1', tab: 'files', path: '/alloc/logs' },
    { view: 'alloc', id: 'a1', tab: 'exec', task: 'web server' },
    { view: 'alloc', id: 'a1', tab: 'files', path: '/' },
  ])('give back the same route after toHash and parseHash: %o', (r) => {
    const back = parseHash(toHash(r));
    expect(back).toEqual(r.view === 'alloc' && r.tab === 'logs' ? { task: undefined, type: undefined, ...r } : r);
  });

  it("read a variable's path with its slashes, and its namespace after the last @", () => {
    expect(parseHash('#/variables/nomad/jobs/web@prod')).toEqual({
      view: 'variable',
      path: 'nomad/jobs/web',
      namespace: 'prod',
    });
    expect(parseHash('#/allocations/abc/files')).toEqual({ view: 'alloc', id: 'abc', tab: 'files', path: '/' });
  });

  it('tell route hashes from in-page anchors such as the skip link', () => {
    expect(isRouteHash('#/jobs')).toBe(true);
    expect(isRouteHash('')).toBe(true);
    expect(isRouteHash('#main-content')).toBe(false);
  });

  it('mark the navigation section of detail pages', () => {
    expect(sectionOf({ view: 'alloc', id: 'a', tab: 'logs' })).toBe('jobs');
    expect(sectionOf({ view: 'client', id: 'n' })).toBe('clients');
    expect(sectionOf({ view: 'notFound', path: 'x' })).toBeUndefined();
  });
});
