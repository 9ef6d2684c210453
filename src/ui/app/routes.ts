/**
 * Hash routes: the server serves one index.html, and the part after `#` picks the view. The paths mirror
 * Nomad's UI (`jobs/example@prod`, `allocations/:id`, `clients/:id`), so the agent can redirect Nomad-style
 * links (`/ui/jobs/example`) here. Pure: no DOM, so it is unit tested in Node.
 *
 *   #/jobs                          Jobs list (also the empty hash)
 *   #/jobs/<id>[@<namespace>]       Job detail (namespace "default" when left out)
 *   #/allocations/<id>[/logs]       Allocation detail, overview or logs (?task=&type=stdout|stderr)
 *   #/allocations/<id>/files        Its files (?path=)
 *   #/allocations/<id>/exec         Its exec terminal (?task=)
 *   #/topology, #/sim (what if), #/run, #/variables[/<path>[@<namespace>]]
 *   #/clients, #/clients/<id>       Nodes list, node detail
 *   #/services, #/evaluations
 */

export type Route =
  | { view: 'jobs' }
  | { view: 'job'; id: string; namespace: string }
  | {
      view: 'alloc';
      id: string;
      tab: 'overview' | 'logs' | 'files' | 'exec';
      task?: string;
      type?: 'stdout' | 'stderr';
      path?: string;
    }
  | { view: 'clients' }
  | { view: 'client'; id: string }
  | { view: 'services' }
  | { view: 'evaluations' }
  | { view: 'topology' }
  | { view: 'sim' }
  | { view: 'run' }
  | { view: 'variables' }
  | { view: 'variable'; path: string; namespace: string }
  | { view: 'notFound'; path: string };

/** The sections of the navigation bar, by the view that lists them. */
export const SECTIONS = [
  { view: 'jobs', label: 'Jobs', href: '#/jobs' },
  { view: 'clients', label: 'Clients', href: '#/clients' },
  { view: 'topology', label: 'Topology', href: '#/topology' },
  { view: 'sim', label: 'What if', href: '#/sim' },
  { view: 'variables', label: 'Variables', href: '#/variables' },
  { view: 'services', label: 'Services', href: '#/services' },
  { view: 'evaluations', label: 'Evaluations', href: '#/evaluations' },
] as const;

/** Whether a location hash is a route (`#/...`) rather than an in-page anchor such as the skip link's. */
export function isRouteHash(hash: string): boolean {
  return hash === '' || hash === '#' || hash.startsWith('#/');
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * `example@prod` → job "example" in namespace "prod", as in Nomad's UI. Split before decoding: `toHash`
 * escapes an `@` inside an ID (`%40`), so a literal one can only be the separator.
 */
export function splitJobKey(rawKey: string): { id: string; namespace: string } {
  const at = rawKey.lastIndexOf('@');
  if (at <= 0 || at === rawKey.length - 1) return { id: decode(rawKey), namespace: 'default' };
  return { id: decode(rawKey.slice(0, at)), namespace: decode(rawKey.slice(at + 1)) };
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const rawParts = path.split('/').filter(Boolean);
  const parts = rawParts.map(decode);
  const [section, id, sub] = parts;
  if (parts.length === 0) return { view: 'jobs' };
  if (section === 'jobs' && parts.length === 1) return { view: 'jobs' };
  if (section === 'jobs' && parts.length === 2) return { view: 'job', ...splitJobKey(rawParts[1]!) };
  if (section === 'allocations' && id !== undefined && parts.length === 3 && sub === 'files')
    return { view: 'alloc', id, tab: 'files', path: query.get('path') || '/' };
  if (section === 'allocations' && id !== undefined && parts.length === 3 && sub === 'exec')
    return { view: 'alloc', id, tab: 'exec', task: query.get('task') || undefined };
  if (section === 'allocations' && id !== undefined && (parts.length === 2 || (parts.length === 3 && sub === 'logs'))) {
    if (sub !== 'logs') return { view: 'alloc', id, tab: 'overview' };
    const type = query.get('type');
    return {
      view: 'alloc',
      id,
      tab: 'logs',
      task: query.get('task') || undefined,
      type: type === 'stderr' ? 'stderr' : type === 'stdout' ? 'stdout' : undefined,
    };
  }
  if (section === 'clients' && parts.length === 1) return { view: 'clients' };
  if (section === 'clients' && parts.length === 2) return { view: 'client', id: id! };
  if (section === 'services' && parts.length === 1) return { view: 'services' };
  if (section === 'evaluations' && parts.length === 1) return { view: 'evaluations' };
  if (section === 'topology' && parts.length === 1) return { view: 'topology' };
  if (section === 'sim' && parts.length === 1) return { view: 'sim' };
  if (section === 'run' && parts.length === 1) return { view: 'run' };
  if (section === 'variables' && parts.length === 1) return { view: 'variables' };
  // A variable's path has slashes of its own: everything after "variables/" is the path.
  if (section === 'variables') {
    const { id: path, namespace } = splitJobKey(rawParts.slice(1).join('/'));
    return { view: 'variable', path, namespace };
  }
  return { view: 'notFound', path: parts.join('/') };
}

const enc = encodeURIComponent;

/** The hash of a route; `parseHash(toHash(r))` gives `r` back. */
export function toHash(r: Route): string {
  switch (r.view) {
    case 'jobs':
    case 'clients':
    case 'services':
    case 'evaluations':
    case 'topology':
    case 'sim':
    case 'run':
    case 'variables':
      return `#/${r.view}`;
    case 'variable':
      return `#/variables/${r.path.split('/').map(enc).join('/')}${r.namespace === 'default' ? '' : `@${enc(r.namespace)}`}`;
    case 'job':
      return `#/jobs/${enc(r.id)}${r.namespace === 'default' ? '' : `@${enc(r.namespace)}`}`;
    case 'alloc': {
      if (r.tab === 'overview') return `#/allocations/${enc(r.id)}`;
      if (r.tab === 'files')
        return `#/allocations/${enc(r.id)}/files${r.path && r.path !== '/' ? `?path=${enc(r.path)}` : ''}`;
      if (r.tab === 'exec') return `#/allocations/${enc(r.id)}/exec${r.task ? `?task=${enc(r.task)}` : ''}`;
      const q = new URLSearchParams();
      if (r.task) q.set('task', r.task);
      if (r.type) q.set('type', r.type);
      const qs = q.toString();
      return `#/allocations/${enc(r.id)}/logs${qs ? `?${qs}` : ''}`;
    }
    case 'client':
      return `#/clients/${enc(r.id)}`;
    case 'notFound':
      return `#/${r.path.split('/').map(enc).join('/')}`;
  }
}

/** Shorthands for the links views draw most. */
export const jobHref = (id: string, namespace = 'default') => toHash({ view: 'job', id, namespace });
export const allocHref = (id: string) => toHash({ view: 'alloc', id, tab: 'overview' });
export const clientHref = (id: string) => toHash({ view: 'client', id });

/** The navigation section a route belongs to, for `aria-current`. */
export function sectionOf(r: Route): string | undefined {
  switch (r.view) {
    case 'jobs':
    case 'job':
    case 'alloc':
    case 'run':
      return 'jobs';
    case 'topology':
      return 'topology';
    case 'sim':
      return 'sim';
    case 'variables':
    case 'variable':
      return 'variables';
    case 'clients':
    case 'client':
      return 'clients';
    case 'services':
      return 'services';
    case 'evaluations':
      return 'evaluations';
    case 'notFound':
      return undefined;
  }
}
