/**
 * The service catalog: every service (`/v1/services`, watched) with its instances and their health
 * (`/v1/service/:name`). Health changes do not move the list's index, so the instances are also re-read
 * every few seconds, one service at a time to leave the browser's connections to other requests.
 */
import { useEffect, useState } from 'preact/hooks';
import { abortableSleep } from '../api.js';
import { badge, h, heading, link, loading, section, table } from '../dom.js';
import { shortId } from '../format.js';
import { allocHref, clientHref, jobHref } from '../routes.js';
import type { ServiceListEntry, ServiceRegistration } from '../types.js';
import { asApiError, nsq, seg, useViewTitle, useWatch, type ViewProps } from './context.js';

const REFRESH_MS = 5_000;

interface Loaded {
  namespace: string;
  name: string;
  tags: string[];
  instances: ServiceRegistration[] | undefined;
}

export function ServicesView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Services');
  const { value: list } = useWatch<ServiceListEntry[]>(ctx, 'services', '/v1/services?namespace=*');
  const [loaded, setLoaded] = useState<Loaded[] | undefined>(undefined);
  useEffect(() => {
    if (list === undefined) return;
    const ac = new AbortController();
    const stop = () => ac.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    const refresh = async () => {
      const out: Loaded[] = [];
      for (const ns of list) {
        for (const s of ns.Services ?? []) {
          const path = `/v1/service/${seg(s.ServiceName)}?${nsq(ns.Namespace)}`;
          let instances: ServiceRegistration[] | undefined;
          try {
            instances = (await ctx.api.get<ServiceRegistration[]>(path, ac.signal)).value;
            ctx.report(`service ${ns.Namespace}/${s.ServiceName}`, undefined);
          } catch (e) {
            if (ac.signal.aborted) return;
            ctx.report(`service ${ns.Namespace}/${s.ServiceName}`, asApiError(e, 'GET', path));
          }
          out.push({ namespace: ns.Namespace, name: s.ServiceName, tags: s.Tags ?? [], instances });
        }
      }
      if (ac.signal.aborted) return;
      out.sort((a, b) => a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace));
      setLoaded(out);
    };
    const poll = async () => {
      while (!ac.signal.aborted) {
        await refresh();
        await abortableSleep(REFRESH_MS, ac.signal);
      }
    };
    void poll();
    return () => {
      ctx.signal.removeEventListener('abort', stop);
      ac.abort();
    };
  }, [ctx, list]);
  return h(
    'div',
    null,
    heading('Services'),
    loaded === undefined
      ? loading('Loading services…')
      : loaded.length === 0
        ? h('p', { class: 'empty' }, 'No services are registered.')
        : loaded.map(serviceSection),
  );
}

function healthOf(i: ServiceRegistration): string {
  return i.Status ?? 'passing';
}

function serviceSection(s: Loaded) {
  const instances = s.instances ?? [];
  const passing = instances.filter((i) => healthOf(i) === 'passing').length;
  return h(
    'div',
    { key: `${s.namespace}/${s.name}` },
    section(
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
        (i) => i.ID,
      ),
    ),
  );
}
