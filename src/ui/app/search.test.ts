import { describe, expect, it } from 'vitest';
import { groupHits } from './search.js';

describe('the search box results', () => {
  it('groups fuzzy and prefix matches by context, linking each to its page once', () => {
    const g = groupHits(
      {
        jobs: [{ ID: 'web', Scope: ['default', 'web'] }],
        groups: [{ ID: 'g', Scope: ['prod', 'api'] }],
        allocs: [{ ID: 'web.g[0]', Scope: ['default', 'a1b2'] }],
        nodes: [{ ID: 'node-1', Scope: ['n123'] }],
        scaling_policy: [{ ID: 'p', Scope: ['default', 'x'] }],
      },
      { allocs: ['a1b2'], evals: ['e9'], jobs: null },
    );
    expect(Object.fromEntries(g)).toEqual({
      jobs: [{ label: 'web', href: '#/jobs/web' }],
      groups: [{ label: 'api › g', href: '#/jobs/api@prod' }],
      allocs: [
        { label: 'web.g[0]', href: '#/allocations/a1b2' },
        { label: 'a1b2', href: '#/allocations/a1b2' },
      ],
      nodes: [{ label: 'node-1', href: '#/clients/n123' }],
      evals: [{ label: 'e9', href: '#/evaluations' }],
    });
  });
});
