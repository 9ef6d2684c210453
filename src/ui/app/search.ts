/**
 * The header's search box: as the user types, Nomad's fuzzy search (`POST /v1/search/fuzzy`, names of jobs,
 * groups, tasks, allocations, nodes, services...) and, for text that looks like an ID, the prefix search
 * (`POST /v1/search`), merged and shown grouped by context; each result links to its page.
 *
 *   input ─(200 ms quiet)─► abort the last search ─► fuzzy [+ prefix] ─► results grouped by context ─► click: go
 */
import type { Api } from './api.js';
import { render } from 'preact';
import { h } from './dom.js';

interface FuzzyMatch {
  ID: string;
  Scope?: string[];
}

export interface SearchHit {
  label: string;
  href: string;
}

const CONTEXT_LABELS: Record<string, string> = {
  jobs: 'Jobs',
  groups: 'Task groups',
  tasks: 'Tasks',
  allocs: 'Allocations',
  nodes: 'Clients',
  evals: 'Evaluations',
  deployment: 'Deployments',
  services: 'Services',
  scaling_policy: 'Scaling policies',
  plugins: 'Plugins',
  volumes: 'Volumes',
  namespaces: 'Namespaces',
  variables: 'Variables',
};

const jobHref = (ns: string | undefined, id: string) =>
  `#/jobs/${encodeURIComponent(id)}${ns && ns !== 'default' ? `@${encodeURIComponent(ns)}` : ''}`;

/** Where a fuzzy match leads; undefined when the UI has no page for it. */
export function fuzzyHref(context: string, m: FuzzyMatch): string | undefined {
  const s = m.Scope ?? [];
  switch (context) {
    case 'jobs':
      return jobHref(s[0], s[1] ?? m.ID);
    case 'groups':
    case 'tasks':
      return s[1] ? jobHref(s[0], s[1]) : undefined;
    case 'allocs':
      return s[1] ? `#/allocations/${encodeURIComponent(s[1])}` : undefined;
    case 'nodes':
      return s[0] ? `#/clients/${encodeURIComponent(s[0])}` : undefined;
    case 'services':
      return '#/services';
    case 'variables':
      return `#/variables/${m.ID.split('/').map(encodeURIComponent).join('/')}${s[0] && s[0] !== 'default' ? `@${encodeURIComponent(s[0])}` : ''}`;
    default:
      return undefined;
  }
}

/** Where a prefix match (an ID) leads. */
export function prefixHref(context: string, id: string): string | undefined {
  switch (context) {
    case 'jobs':
      return jobHref(undefined, id);
    case 'allocs':
      return `#/allocations/${encodeURIComponent(id)}`;
    case 'nodes':
      return `#/clients/${encodeURIComponent(id)}`;
    case 'evals':
      return '#/evaluations';
    default:
      return undefined;
  }
}

/** Merges both answers into hits by context, without duplicate links. */
export function groupHits(
  fuzzy: Record<string, FuzzyMatch[] | null> | undefined,
  prefix: Record<string, string[] | null> | undefined,
): Map<string, SearchHit[]> {
  const out = new Map<string, SearchHit[]>();
  const add = (context: string, label: string, href: string | undefined) => {
    if (!href) return;
    const list = out.get(context) ?? [];
    if (!list.some((x) => x.href === href && x.label === label)) list.push({ label, href });
    out.set(context, list);
  };
  for (const [ctx, ms] of Object.entries(fuzzy ?? {}))
    for (const m of ms ?? []) {
      // A group or task reads as "job › group › task"; anything else by its own name.
      const label = ctx === 'groups' || ctx === 'tasks' ? [...(m.Scope ?? []).slice(1), m.ID].join(' › ') : m.ID;
      add(ctx, label, fuzzyHref(ctx, m));
    }
  for (const [ctx, ids] of Object.entries(prefix ?? {})) for (const id of ids ?? []) add(ctx, id, prefixHref(ctx, id));
  return out;
}

export function mountSearch(form: HTMLFormElement, results: HTMLElement, api: Api): void {
  const input = form.querySelector('input');
  if (!input) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: AbortController | undefined;
  const clear = () => {
    results.hidden = true;
    render(null, results);
  };
  const run = async (text: string) => {
    current?.abort();
    const ac = new AbortController();
    current = ac;
    try {
      const [fuzzy, prefix] = await Promise.all([
        api.post<{ Matches?: Record<string, FuzzyMatch[] | null> }>(
          '/v1/search/fuzzy',
          { Text: text, Context: 'all', Namespace: '*' },
          ac.signal,
        ),
        /^[0-9a-f-]+$/i.test(text)
          ? api.post<{ Matches?: Record<string, string[] | null> }>(
              '/v1/search',
              { Prefix: text, Context: 'all', Namespace: '*' },
              ac.signal,
            )
          : Promise.resolve(undefined),
      ]);
      if (ac.signal.aborted) return;
      const groups = groupHits(fuzzy.Matches, prefix?.Matches);
      results.hidden = false;
      render(
        groups.size === 0
          ? h('p', { class: 'search-empty' }, `No matches for "${text}"`)
          : [...groups].map(([ctx, hits]) =>
              h(
                'section',
                { class: 'search-group', 'data-context': ctx },
                h('h2', null, CONTEXT_LABELS[ctx] ?? ctx),
                h(
                  'ul',
                  null,
                  hits.map((x) =>
                    h('li', { key: x.href + x.label }, h('a', { href: x.href, onClick: clear }, x.label)),
                  ),
                ),
              ),
            ),
        results,
      );
    } catch (e) {
      if (ac.signal.aborted) return;
      results.hidden = false;
      render(h('p', { class: 'search-error' }, `Search failed: ${(e as Error).message}`), results);
    }
  };
  input.addEventListener('input', () => {
    if (timer !== undefined) clearTimeout(timer);
    const text = input.value.trim();
    if (text.length < 2) {
      current?.abort();
      clear();
      return;
    }
    timer = setTimeout(() => void run(text), 200);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const first = results.querySelector('a');
    if (first instanceof HTMLAnchorElement) {
      location.hash = first.getAttribute('href') ?? '';
      clear();
    }
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') clear();
  });
}
