/**
 * The UI's shell: navigation, the error banner, the sign-in, and one view at a time chosen by the location
 * hash, drawn with Preact.
 *
 *   hashchange ─► parseHash ─► abort the old view (its watches and streams) ─► clear the banner ─► mount the new one
 *
 * The UI is served by the agent it talks to (same origin) and reads and writes through the public HTTP API
 * only, with the signed-in token.
 */
import { render } from 'preact';
import { Api } from './api.js';
import { Banner } from './banner.js';
import { h, heading, link } from './dom.js';
import { relativeTime } from './format.js';
import { isRouteHash, parseHash, SECTIONS, sectionOf, type Route } from './routes.js';
import type { ACLTokenSelf, AgentSelf } from './types.js';
import { AllocView } from './views/alloc.js';
import { ClientsView, ClientView } from './views/clients.js';
import { useViewTitle, type ViewContext, type ViewProps } from './views/context.js';
import { EvalsView } from './views/evals.js';
import { JobView } from './views/job.js';
import { JobsView } from './views/jobs.js';
import { RunView } from './views/run.js';
import { ServicesView } from './views/services.js';
import { SimView } from './views/sim.js';
import { TopologyView } from './views/topology.js';
import { VariablesView, VariableView } from './views/variables.js';
import { mountTokenForm, TOKEN_KEY, withToken } from './token.js';
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

// index.html's "Loading…" text and <noscript> are not Preact's: clear them once, or they would stay above the view.
main.replaceChildren();
let current: AbortController | undefined;
let navigated = false;
let generation = 0;

function drawNav(route: Route): void {
  const active = sectionOf(route);
  render(
    h(
      'ul',
      null,
      SECTIONS.map((s) =>
        h('li', { key: s.view }, link(s.href, s.label, { 'aria-current': s.view === active ? 'page' : undefined })),
      ),
    ),
    nav,
  );
}

function NotFoundView({ ctx, path }: ViewProps & { path: string }) {
  useViewTitle(ctx, 'Not found');
  return h(
    'div',
    null,
    heading('Page not found'),
    h('p', null, `The UI has no page "${path}". `, link('#/jobs', 'Go to the jobs list'), '.'),
  );
}

function viewOf(route: Route, ctx: ViewContext) {
  switch (route.view) {
    case 'jobs':
      return h(JobsView, { ctx });
    case 'job':
      return h(JobView, { ctx, id: route.id, namespace: route.namespace });
    case 'alloc':
      return h(AllocView, { ctx, route });
    case 'clients':
      return h(ClientsView, { ctx });
    case 'client':
      return h(ClientView, { ctx, id: route.id });
    case 'services':
      return h(ServicesView, { ctx });
    case 'evaluations':
      return h(EvalsView, { ctx });
    case 'topology':
      return h(TopologyView, { ctx });
    case 'sim':
      return h(SimView, { ctx });
    case 'run':
      return h(RunView, { ctx });
    case 'variables':
      return h(VariablesView, { ctx });
    case 'variable':
      return h(VariableView, { ctx, path: route.path, namespace: route.namespace });
    case 'notFound':
      return h(NotFoundView, { ctx, path: route.path });
  }
}

function show(route: Route): void {
  current?.abort();
  const ac = new AbortController();
  current = ac;
  banner.clear();
  drawNav(route);
  // Moving focus to the new heading tells screen readers the page changed; not on first load, where the
  // browser's own focus handling is what the user expects.
  const focusHeading = navigated;
  navigated = true;
  let focused = false;
  const ctx: ViewContext = {
    api,
    signal: ac.signal,
    title: (text) => (document.title = `${text} · Drover`),
    report: (key, err) => {
      if (!ac.signal.aborted) banner.set(key, err);
    },
    ready: () => {
      if (!focusHeading || focused) return;
      focused = true;
      main.querySelector('h1')?.focus();
    },
  };
  // A new key per navigation: the old view unmounts (its effects clean up) and the new one starts fresh.
  render(h('div', { class: 'view', key: ++generation }, viewOf(route, ctx)), main);
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

/** Says who the stored token is and what it may do (its policies), or why it was not accepted. */
async function tokenInfo(): Promise<void> {
  const el = byId('token-info');
  if (!localStorage.getItem(TOKEN_KEY)) {
    el.textContent = '';
    return;
  }
  try {
    const { value: t } = await api.get<ACLTokenSelf>('/v1/acl/token/self', new AbortController().signal);
    const may =
      t.Type === 'management'
        ? 'management: may do everything'
        : `policies: ${(t.Policies ?? []).join(', ') || 'none'}`;
    el.textContent = `Signed in as ${t.Name || t.AccessorID.slice(0, 8)} (${may})`;
  } catch (e) {
    const status = (e as { status?: number }).status;
    el.textContent =
      status === 404 ? 'ACLs are off on this agent: no token needed.' : status === 403 ? 'Token not accepted.' : '';
  }
}

byId('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => {
  if (isRouteHash(location.hash)) show(parseHash(location.hash));
});
mountSearch(byId('search-form') as HTMLFormElement, byId('search-results'), api);
mountTokenForm(byId('token-form') as HTMLFormElement, localStorage, () => {
  void agentInfo();
  void tokenInfo();
  show(parseHash(isRouteHash(location.hash) ? location.hash : ''));
});
window.setInterval(tickTimes, 15_000);
void agentInfo();
void tokenInfo();
show(parseHash(isRouteHash(location.hash) ? location.hash : ''));
