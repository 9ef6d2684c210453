/**
 * The clients (nodes) list and one node's page with its allocations, live; on the node's page, drain and
 * scheduling eligibility (each after a confirm, the API's error text shown when refused).
 */
import { badge, facts, h, heading, link, loading, section, table } from '../dom.js';
import { shortId } from '../format.js';
import { clientHref } from '../routes.js';
import type { AllocListStub, DriverInfo, Job, Node, NodeListStub } from '../types.js';
import { AllocTable } from './job.js';
import { seg, useAction, useViewTitle, useWatch, type ViewContext, type ViewProps } from './context.js';

function drivers(d: Record<string, DriverInfo> | null): string {
  const healthy = Object.entries(d ?? {})
    .filter(([, i]) => i.Detected && i.Healthy)
    .map(([n]) => n)
    .sort();
  return healthy.join(', ') || '–';
}

export function ClientsView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Clients');
  const { value: nodes } = useWatch<NodeListStub[]>(ctx, 'nodes', '/v1/nodes');
  const sorted = [...(nodes ?? [])].sort((a, b) => a.Name.localeCompare(b.Name) || a.ID.localeCompare(b.ID));
  return h(
    'div',
    null,
    heading('Clients', ' ', link('#/topology', 'Topology', { class: 'button-link' })),
    nodes === undefined
      ? loading('Loading clients…')
      : table(
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
          (n) => n.ID,
        ),
  );
}

export function ClientView({ ctx, id }: ViewProps & { id: string }) {
  useViewTitle(ctx, `Client ${shortId(id)}`);
  const node = useWatch<Node>(ctx, 'node', `/v1/node/${seg(id)}`);
  // This endpoint answers whole allocations, which carry their job rather than its version.
  const allocs = useWatch<Array<AllocListStub & { Job?: Job | null }>>(
    ctx,
    'node-allocations',
    `/v1/node/${seg(id)}/allocations`,
  );
  const n = node.value;
  return h(
    'div',
    null,
    n ? heading(`Client ${n.Name}`, ' ', badge(n.Status)) : heading(`Client ${shortId(id)}`),
    n
      ? [nodeFacts(n), h(NodeActions, { ctx, node: n })]
      : node.error?.status === 404
        ? h('p', { class: 'empty' }, `No client "${id}".`)
        : loading('Loading client…'),
    section(
      'Allocations',
      allocs.value === undefined
        ? loading('Loading…')
        : h(AllocTable, {
            list: allocs.value.map((a) => ({ ...a, JobVersion: a.JobVersion ?? a.Job?.Version ?? 0 })),
            by: 'job',
          }),
    ),
  );
}

function isDraining(n: Node): boolean {
  return Boolean(n.DrainStrategy || n.Drain);
}

/** Drain (deadline 1h, as `node drain -enable`), stop a drain, and eligibility. */
function NodeActions({ ctx, node }: { ctx: ViewContext; node: Node }) {
  const action = useAction(ctx, 'node');
  const path = (what: string) => `/v1/node/${seg(node.ID)}/${what}`;
  const draining = isDraining(node);
  const eligible = node.SchedulingEligibility === 'eligible';
  const drain = () => {
    if (!window.confirm(`Drain client "${node.Name}"? Its allocations will be moved to other clients.`)) return;
    void action.run((signal) =>
      ctx.api.request(
        'POST',
        path('drain'),
        {
          NodeID: node.ID,
          DrainSpec: { Deadline: 3600e9, IgnoreSystemJobs: false },
          MarkEligible: false,
        },
        signal,
      ),
    );
  };
  const stopDrain = () =>
    void action.run((signal) =>
      ctx.api.request('POST', path('drain'), { NodeID: node.ID, DrainSpec: null, MarkEligible: true }, signal),
    );
  const toggle = () => {
    if (eligible && !window.confirm(`Make client "${node.Name}" ineligible? No new allocations will be placed on it.`))
      return;
    void action.run((signal) =>
      ctx.api.request(
        'POST',
        path('eligibility'),
        { NodeID: node.ID, Eligibility: eligible ? 'ineligible' : 'eligible' },
        signal,
      ),
    );
  };
  return h(
    'div',
    { class: 'actions' },
    draining
      ? h('button', { type: 'button', onClick: stopDrain, disabled: action.busy }, 'Stop drain')
      : h('button', { type: 'button', class: 'danger', onClick: drain, disabled: action.busy }, 'Drain client'),
    ' ',
    h(
      'button',
      { type: 'button', onClick: toggle, disabled: action.busy },
      eligible ? 'Mark ineligible' : 'Mark eligible',
    ),
    action.error ? h('p', { class: 'action-error', role: 'status' }, action.error.message) : null,
  );
}

function nodeFacts(n: Node) {
  return facts([
    ['ID', h('code', null, n.ID)],
    ['Name', n.Name],
    ['Datacenter', n.Datacenter],
    ['Node pool', n.NodePool],
    ['Class', n.NodeClass || '–'],
    ['Address', n.HTTPAddr || '–'],
    ['Status', n.Status + (n.StatusDescription ? ` (${n.StatusDescription})` : '')],
    ['Eligibility', n.SchedulingEligibility],
    ['Drain', isDraining(n) ? 'draining' : 'no'],
    ['Drivers', drivers(n.Drivers)],
  ]);
}
