/**
 * The UI's shell: navigation, the error banner, and one view at a time chosen by the location hash.
 *
 *   hashchange ─► parseHash ─► abort the old view (its watches and streams) ─► clear the banner ─► draw the new one
 *
 * The UI is served by the agent it talks to (same origin), reads through the public HTTP API only, and
 * writes nothing but a job stop.
 */
import { Api } from './api.js';
import { Banner } from './banner.js';
import { h, heading, link, render } from './dom.js';
import { relativeTime } from './format.js';
import { isRouteHash, parseHash, SECTIONS, sectionOf, type Route } from './routes.js';
import type { AgentSelf } from './types.js';
import { allocView } from './views/alloc.js';
import { clientsView, clientView } from './views/clients.js';
import type { ViewContext } from './views/context.js';
import { evalsView } from './views/evals.js';
import { jobView } from './views/job.js';
import { jobsView } from './views/jobs.js';
import { servicesView } from './views/services.js';
import { mountTokenForm, withToken } from './token.js';
import { mountSearch } from './search.js';

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
}

const main = byId('main-content');
const nav = byId('nav');
const banner = new Banner(byId('banner'));
const api = new Api({
  fetch: (url, init) => fetch(url, withToken(localStorage, init)),
  base: location.origin,
  onWatchError: (key, err) => banner.set(key, err),
});

let current: AbortController | undefined;
let navigated = false;

function drawNav(route: Route): void {
  const active = sectionOf(route);
  render(
    nav,
    h(
      'ul',
      null,
      SECTIONS.map((s) => h('li', null, link(s.href, s.label, { 'aria-current': s.view === active ? 'page' : null }))),
    ),
  );
}

function notFoundView(ctx: ViewContext, path: string): void {
  ctx.title('Not found');
  render(
    ctx.main,
    heading('Page not found'),
    h('p', null, `The UI has no page "${path}". `, link('#/jobs', 'Go to the jobs list'), '.'),
  );
  ctx.ready();
}

function show(route: Route): void {
  current?.abort();
  const ac = new AbortController();
  current = ac;
  banner.clear();
  drawNav(route);
  const view = h('div', { class: 'view' });
  render(main, view);
  // Moving focus to the new heading tells screen readers the page changed; not on first load, where the
  // browser's own focus handling is what the user expects.
  const focusHeading = navigated;
  navigated = true;
  const ctx: ViewContext = {
    main: view,
    api,
    signal: ac.signal,
    title: (text) => (document.title = `${text} · Drover`),
    watch: (key, path, onValue, onError) => void api.watch(key, path, ac.signal, onValue, onError),
    report: (key, err) => {
      if (!ac.signal.aborted) banner.set(key, err);
    },
    ready: () => {
      if (focusHeading) view.querySelector('h1')?.focus();
    },
  };
  switch (route.view) {
    case 'jobs':
      return jobsView(ctx);
    case 'job':
      return jobView(ctx, route.id, route.namespace);
    case 'alloc':
      return allocView(ctx, route);
    case 'clients':
      return clientsView(ctx);
    case 'client':
      return clientView(ctx, route.id);
    case 'services':
      return servicesView(ctx);
    case 'evaluations':
      return evalsView(ctx);
    case 'notFound':
      return notFoundView(ctx, route.path);
  }
}

/** Relative times ("12s ago") would go stale between updates of a quiet page: refresh their text. */
function tickTimes(): void {
  const now = Date.now();
  for (const t of document.querySelectorAll('time[datetime]')) {
    const ms = Date.parse(t.getAttribute('datetime')!);
    if (!Number.isNaN(ms)) t.textContent = relativeTime(ms, now);
  }
}

async function agentInfo(): Promise<void> {
  try {
    const { value } = await api.get<AgentSelf>('/v1/agent/self', new AbortController().signal);
    const c = value.config ?? {};
    byId('agent-info').textContent = [
      c.Region && `region ${c.Region}`,
      c.Datacenter && `datacenter ${c.Datacenter}`,
      c.Version?.Version && `v${c.Version.Version}`,
    ]
      .filter(Boolean)
      .join(' · ');
  } catch {
    // Only decoration: the views report an unreachable agent in the banner.
  }
}

byId('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => {
  if (isRouteHash(location.hash)) show(parseHash(isRouteHash(location.hash) ? location.hash : ''));
});
mountSearch(byId('search-form') as HTMLFormElement, byId('search-results'), api);
mountTokenForm(byId('token-form') as HTMLFormElement, localStorage, () => {
  void agentInfo();
  show(parseHash(isRouteHash(location.hash) ? location.hash : ''));
});
window.setInterval(tickTimes, 15_000);
void agentInfo();
show(parseHash(isRouteHash(location.hash) ? location.hash : ''));
