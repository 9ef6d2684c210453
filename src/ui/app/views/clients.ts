/** The clients (nodes) list and one node's page with its allocations, live. */
import type { ApiError } from '../api.js';
import { badge, facts, h, heading, link, render, section, table } from '../dom.js';
import { shortId } from '../format.js';
import { clientHref } from '../routes.js';
import type { AllocListStub, DriverInfo, Job, Node, NodeListStub } from '../types.js';
import { allocTable } from './job.js';
import { seg, type ViewContext } from './context.js';

function drivers(d: Record<string, DriverInfo> | null): string {
  const healthy = Object.entries(d ?? {})
    .filter(([, i]) => i.Detected && i.Healthy)
    .map(([n]) => n)
    .sort();
  return healthy.join(', ') || '–';
}

export function clientsView(ctx: ViewContext): void {
  ctx.title('Clients');
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading clients…'));
  render(ctx.main, heading('Clients'), body);
  ctx.ready();
  ctx.watch<NodeListStub[]>('nodes', '/v1/nodes', (nodes) => {
    const sorted = [...nodes].sort((a, b) => a.Name.localeCompare(b.Name) || a.ID.localeCompare(b.ID));
    render(
      body,
      table(
        'Clients',
        [
          { title: 'Name', cell: (n) => link(clientHref(n.ID), n.Name || shortId(n.ID)) },
          { title: 'ID', cell: (n) => h('code', null, shortId(n.ID)) },
          { title: 'Datacenter', cell: (n) => n.Datacenter },
          { title: 'Node pool', cell: (n) => n.NodePool },
          { title: 'Address', cell: (n) => n.Address || '–' },
          { title: 'Status', cell: (n) => badge(n.Status) },
          { title: 'Eligibility', cell: (n) => n.SchedulingEligibility },
          { title: 'Drain', cell: (n) => (n.Drain ? 'draining' : 'no') },
          { title: 'Drivers', cell: (n) => drivers(n.Drivers) },
        ],
        sorted,
        'No clients have registered.',
      ),
    );
  });
}

export function clientView(ctx: ViewContext, id: string): void {
  ctx.title(`Client ${shortId(id)}`);
  const head = h('div', null, heading(`Client ${shortId(id)}`));
  const summary = h('div', null, h('p', { class: 'loading' }, 'Loading client…'));
  const allocs = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  render(ctx.main, head, summary, section('Allocations', allocs));
  ctx.ready();
  let loaded = false;
  const onNode = (n: Node) => {
    loaded = true;
    render(head, heading(`Client ${n.Name}`, ' ', badge(n.Status)));
    render(summary, nodeFacts(n));
  };
  const onNodeError = (err: ApiError) => {
    if (err.status === 404 && !loaded) render(summary, h('p', { class: 'empty' }, `No client "${id}".`));
  };
  ctx.watch<Node>('node', `/v1/node/${seg(id)}`, onNode, onNodeError);
  // This endpoint answers whole allocations, which carry their job rather than its version.
  ctx.watch<Array<AllocListStub & { Job?: Job | null }>>(
    'node-allocations',
    `/v1/node/${seg(id)}/allocations`,
    (list) =>
      render(
        allocs,
        allocTable(
          list.map((a) => ({ ...a, JobVersion: a.JobVersion ?? a.Job?.Version ?? 0 })),
          'job',
        ),
      ),
  );
}

function nodeFacts(n: Node): HTMLElement {
  return facts([
    ['ID', h('code', null, n.ID)],
    ['Name', n.Name],
    ['Datacenter', n.Datacenter],
    ['Node pool', n.NodePool],
    ['Class', n.NodeClass || '–'],
    ['Address', n.HTTPAddr || '–'],
    ['Status', n.Status + (n.StatusDescription ? ` (${n.StatusDescription})` : '')],
    ['Eligibility', n.SchedulingEligibility],
    ['Drain', n.DrainStrategy || n.Drain ? 'draining' : 'no'],
    ['Drivers', drivers(n.Drivers)],
  ]);
}
