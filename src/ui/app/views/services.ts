/**
 * The service catalog: every service (`/v1/services`, watched) with its instances and their health
 * (`/v1/service/:name`). Health changes do not move the list's index, so the instances are also re-read
 * every few seconds, one service at a time to leave the browser's connections to other requests.
 */
import { abortableSleep, ApiError } from '../api.js';
import { badge, h, heading, link, render, section, table } from '../dom.js';
import { shortId } from '../format.js';
import { allocHref, clientHref, jobHref } from '../routes.js';
import type { ServiceListEntry, ServiceRegistration } from '../types.js';
import { nsq, seg, type ViewContext } from './context.js';

const REFRESH_MS = 5_000;

interface Loaded {
  namespace: string;
  name: string;
  tags: string[];
  instances: ServiceRegistration[] | undefined;
}

export function servicesView(ctx: ViewContext): void {
  ctx.title('Services');
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading services…'));
  render(ctx.main, heading('Services'), body);
  ctx.ready();

  let list: ServiceListEntry[] = [];
  let generation = 0;
  const refresh = async () => {
    const mine = ++generation;
    const loaded: Loaded[] = [];
    for (const ns of list) {
      for (const s of ns.Services ?? []) {
        const path = `/v1/service/${seg(s.ServiceName)}?${nsq(ns.Namespace)}`;
        let instances: ServiceRegistration[] | undefined;
        try {
          instances = (await ctx.api.get<ServiceRegistration[]>(path, ctx.signal)).value;
          ctx.report(`service ${ns.Namespace}/${s.ServiceName}`, undefined);
        } catch (e) {
          if (ctx.signal.aborted) return;
          ctx.report(
            `service ${ns.Namespace}/${s.ServiceName}`,
            e instanceof ApiError ? e : new ApiError('GET', path, 0, String(e), 'Internal'),
          );
        }
        loaded.push({ namespace: ns.Namespace, name: s.ServiceName, tags: s.Tags ?? [], instances });
      }
    }
    // A newer refresh started meanwhile: its answer is the one to show.
    if (mine !== generation || ctx.signal.aborted) return;
    loaded.sort((a, b) => a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace));
    render(
      body,
      loaded.length === 0 ? h('p', { class: 'empty' }, 'No services are registered.') : loaded.map(serviceSection),
    );
  };

  ctx.watch<ServiceListEntry[]>('services', '/v1/services?namespace=*', (v) => {
    list = v;
    void refresh();
  });
  const poll = async () => {
    while (!ctx.signal.aborted) {
      await abortableSleep(REFRESH_MS, ctx.signal);
      if (!ctx.signal.aborted) await refresh();
    }
  };
  void poll();
}

function healthOf(i: ServiceRegistration): string {
  return i.Status ?? 'passing';
}

function serviceSection(s: Loaded): HTMLElement {
  const instances = s.instances ?? [];
  const passing = instances.filter((i) => healthOf(i) === 'passing').length;
  return section(
    s.namespace === 'default' ? s.name : `${s.name} (${s.namespace})`,
    h(
      'p',
      { class: 'service-meta' },
      s.instances === undefined
        ? 'Instances could not be read.'
        : `${passing} of ${instances.length} instances passing.`,
      s.tags.length ? [' Tags: ', s.tags.map((t, i) => [i ? ' ' : '', h('code', null, t)])] : null,
    ),
    table(
      `Instances of ${s.name}`,
      [
        { title: 'Address', cell: (i) => `${i.Address}:${i.Port}` },
        { title: 'Health', cell: (i) => badge(healthOf(i)) },
        { title: 'Checks', cell: (i) => (i.Checks ?? []).map((c) => `${c.Name}: ${c.Status}`).join(', ') || '–' },
        { title: 'Job', cell: (i) => link(jobHref(i.JobID, i.Namespace), i.JobID) },
        { title: 'Allocation', cell: (i) => link(allocHref(i.AllocID), h('code', null, shortId(i.AllocID))) },
        { title: 'Node', cell: (i) => link(clientHref(i.NodeID), h('code', null, shortId(i.NodeID))) },
        { title: 'Datacenter', cell: (i) => i.Datacenter },
      ],
      [...instances].sort((a, b) => a.ID.localeCompare(b.ID)),
      'No instances.',
    ),
  );
}
