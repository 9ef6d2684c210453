/**
 * The cluster topology: every client, grouped by datacenter and node pool, as two bars (CPU, memory) filled
 * by its allocations, each a block sized by its reservation and coloured by job; hover (or focus) shows the
 * allocation, click opens it. Live from two watches (nodes and allocations with their resources). Below,
 * the totals: reserved against capacity.
 */
import { Component } from 'preact';
import { useState } from 'preact/hooks';
import { h, heading, link, loading, section } from '../dom.js';
import { shortId } from '../format.js';
import { allocHref, clientHref, jobHref } from '../routes.js';
import { jobColour, percent, topology, type AllocBlock, type NodeBox } from '../topology.js';
import type { AllocListStub, NodeListStub } from '../types.js';
import { useViewTitle, useWatch, type ViewProps } from './context.js';

type Hover = (a: AllocBlock | undefined) => void;

function describe(a: AllocBlock): string {
  return `Allocation ${a.name} of job ${a.jobId}: ${a.cpu} MHz, ${a.memoryMB} MiB, ${a.status}`;
}

function bar(label: string, box: NodeBox, dim: 'cpu' | 'memoryMB', unit: string, onHover: Hover) {
  const capacity = box[dim];
  const used = dim === 'cpu' ? box.reservedCpu : box.reservedMemoryMB;
  return h(
    'div',
    { class: 'topo-row' },
    h('span', { class: 'topo-dim' }, label),
    h(
      'div',
      dim === 'cpu'
        ? {
            class: 'topo-bar',
            role: 'list',
            'aria-label': `${label} of ${box.node.Name}: ${used} of ${capacity} ${unit} reserved`,
          }
        : { class: 'topo-bar', 'aria-hidden': 'true' },
      box.allocs.map((a) =>
        dim === 'cpu'
          ? h('a', {
              key: a.id,
              role: 'listitem',
              class: `topo-alloc topo-${a.status}`,
              href: allocHref(a.id),
              style: { width: `${percent(a.cpu, capacity)}%`, background: jobColour(a.jobId) },
              title: describe(a),
              'data-job': a.jobId,
              onMouseEnter: () => onHover(a),
              onFocus: () => onHover(a),
            })
          : // The memory bar repeats the same allocations: drawn, hoverable, but one link per allocation is enough
            // for the keyboard and screen readers (they get the CPU bar's).
            h('span', {
              key: a.id,
              class: `topo-alloc topo-${a.status}`,
              style: { width: `${percent(a.memoryMB, capacity)}%`, background: jobColour(a.jobId) },
              title: describe(a),
              'data-job': a.jobId,
              onMouseEnter: () => onHover(a),
            }),
      ),
    ),
    h('span', { class: 'topo-figure' }, `${used}/${capacity} ${unit}`),
  );
}

interface CardProps {
  box: NodeBox;
  onHover: Hover;
}

/** One client's box; redrawn only when its node or its allocations changed, so a live update stays cheap. */
class NodeCard extends Component<CardProps> {
  override shouldComponentUpdate(next: CardProps): boolean {
    return next.onHover !== this.props.onHover || !sameBox(next.box, this.props.box);
  }

  override render() {
    const { box, onHover } = this.props;
    const n = box.node;
    return h(
      'li',
      { class: `topo-node topo-node-${n.Status}`, 'data-node': n.ID },
      h(
        'div',
        { class: 'topo-node-head' },
        link(clientHref(n.ID), n.Name || shortId(n.ID)),
        ' ',
        h(
          'span',
          { class: 'topo-node-meta' },
          `${box.allocs.length} allocations`,
          n.SchedulingEligibility === 'ineligible' ? ', ineligible' : '',
          n.Drain ? ', draining' : '',
          n.Status !== 'ready' ? `, ${n.Status}` : '',
        ),
      ),
      bar('CPU', box, 'cpu', 'MHz', onHover),
      bar('Memory', box, 'memoryMB', 'MiB', onHover),
    );
  }
}

function sameBox(a: NodeBox, b: NodeBox): boolean {
  if (a.node !== b.node && JSON.stringify(a.node) !== JSON.stringify(b.node)) return false;
  if (a.allocs.length !== b.allocs.length) return false;
  for (let i = 0; i < a.allocs.length; i++) {
    const x = a.allocs[i]!;
    const y = b.allocs[i]!;
    if (x.id !== y.id || x.status !== y.status || x.cpu !== y.cpu || x.memoryMB !== y.memoryMB) return false;
  }
  return true;
}

function usage(label: string, used: number, capacity: number, unit: string) {
  const p = percent(used, capacity);
  return h(
    'div',
    { class: 'topo-total' },
    h(
      'span',
      null,
      `${label}: ${used.toLocaleString('en')} of ${capacity.toLocaleString('en')} ${unit} reserved (${p.toFixed(0)}%)`,
    ),
    h('progress', { value: used, max: capacity || 1, 'aria-label': `${label} reserved` }),
  );
}

export function TopologyView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Topology');
  const nodes = useWatch<NodeListStub[]>(ctx, 'nodes', '/v1/nodes?resources=true');
  const allocs = useWatch<AllocListStub[]>(
    ctx,
    'allocations',
    '/v1/allocations?resources=true&task_states=false&namespace=*',
  );
  const [hovered, setHovered] = useState<AllocBlock | undefined>(undefined);
  if (!nodes.value || !allocs.value)
    return h('div', null, heading('Topology'), loading('Loading clients and allocations…'));
  const { groups, totals } = topology(nodes.value, allocs.value);
  return h(
    'div',
    null,
    heading('Topology'),
    h(
      'div',
      { class: 'topo-totals', 'aria-label': 'Cluster totals' },
      h('p', null, `${totals.nodes} clients, ${totals.allocs} allocations holding resources.`),
      usage('CPU', totals.reservedCpu, totals.cpu, 'MHz'),
      usage('Memory', totals.reservedMemoryMB, totals.memoryMB, 'MiB'),
    ),
    h(
      'p',
      { class: 'topo-hover', role: 'status' },
      hovered
        ? [
            link(allocHref(hovered.id), hovered.name),
            ` of job `,
            link(jobHref(hovered.jobId, hovered.namespace), hovered.jobId),
            `: ${hovered.cpu} MHz, ${hovered.memoryMB} MiB, ${hovered.status}`,
          ]
        : 'Point at an allocation to see it; click to open it.',
    ),
    groups.length === 0
      ? h('p', { class: 'empty' }, 'No clients have registered.')
      : groups.map((g) =>
          h(
            'div',
            { key: `${g.datacenter}/${g.pool}` },
            section(
              `Datacenter ${g.datacenter}, node pool ${g.pool}`,
              h(
                'ul',
                { class: 'topo-nodes' },
                g.nodes.map((box) => h(NodeCard, { key: box.node.ID, box, onHover: setHovered })),
              ),
            ),
          ),
        ),
  );
}
