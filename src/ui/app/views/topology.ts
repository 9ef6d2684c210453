/**
 * The cluster topology: every client, grouped by datacenter and node pool, as two bars (CPU, memory) filled
 * by its allocations, each a block sized by its reservation and coloured by job; hover (or focus) shows the
 * allocation, click opens it. Live from two watches (nodes and allocations with their resources). Below,
 * the totals: reserved against capacity.
 */
import { Component } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { h, heading, link, loading, section } from '../dom.js';
import { shortId } from '../format.js';
import { allocHref, clientHref, jobHref } from '../routes.js';
import { blockAt, jobHue, percent, stripes, topology, type AllocBlock, type NodeBox } from '../topology.js';
import type { AllocListStub, NodeListStub } from '../types.js';
import { useViewTitle, useWatch, type ViewProps } from './context.js';

type Hover = (a: AllocBlock | undefined) => void;

function describe(a: AllocBlock): string {
  return `Allocation ${a.name} of job ${a.jobId}: ${a.cpu} MHz, ${a.memoryMB} MiB, ${a.status}`;
}

/**
 * The CPU bar: one link per allocation (for the pointer, the keyboard and screen readers). Pointing at or
 * focusing a link is handled once for the whole page (TopologyView), not by a listener per link.
 */
function cpuBar(box: NodeBox) {
  return h(
    'div',
    { class: 'topo-row' },
    h('span', { class: 'topo-dim' }, 'CPU'),
    h(
      'div',
      {
        class: 'topo-bar',
        role: 'list',
        'aria-label': `CPU of ${box.node.Name}: ${box.reservedCpu} of ${box.cpu} MHz reserved`,
      },
      box.allocs.map((a) =>
        h('a', {
          key: a.id,
          role: 'listitem',
          // The job's colour is a class (one of twelve), the width the only inline style: fewer writes per block.
          class: `topo-alloc topo-${a.status} topo-h${jobHue(a.jobId)}`,
          href: allocHref(a.id),
          style: { width: `${percent(a.cpu, box.cpu)}%` },
          title: describe(a),
          'data-job': a.jobId,
        }),
      ),
    ),
    h('span', { class: 'topo-figure' }, `${box.reservedCpu}/${box.cpu} MHz`),
  );
}

/**
 * The memory bar repeats the same allocations as one element painted with a gradient (one link per allocation
 * is enough, the CPU bar's); pointing at it finds the block under the pointer.
 */
function memoryBar(box: NodeBox, onHover: Hover) {
  return h(
    'div',
    { class: 'topo-row' },
    h('span', { class: 'topo-dim' }, 'Memory'),
    h('div', {
      class: 'topo-bar topo-bar-painted',
      'aria-hidden': 'true',
      style: { backgroundImage: stripes(box.allocs, 'memoryMB', box.memoryMB) },
      onMouseMove: (e: MouseEvent) => {
        const el = e.currentTarget as HTMLElement;
        const a = blockAt(box.allocs, 'memoryMB', box.memoryMB, e.offsetX / Math.max(1, el.clientWidth));
        if (a) onHover(a);
      },
    }),
    h('span', { class: 'topo-figure' }, `${box.reservedMemoryMB}/${box.memoryMB} MiB`),
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
      cpuBar(box),
      memoryBar(box, onHover),
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
  // Recomputed when a watch answers, not when the pointer moves.
  const laid = useMemo(() => {
    if (!nodes.value || !allocs.value) return undefined;
    const t = topology(nodes.value, allocs.value);
    const byHref = new Map<string, AllocBlock>();
    for (const g of t.groups) for (const n of g.nodes) for (const a of n.allocs) byHref.set(allocHref(a.id), a);
    return { ...t, byHref };
  }, [nodes.value, allocs.value]);
  if (!laid) return h('div', null, heading('Topology'), loading('Loading clients and allocations…'));
  const { groups, totals, byHref } = laid;
  // One listener for every allocation link on the page.
  const onLink = (e: Event) => {
    const link = (e.target as Element).closest('a.topo-alloc');
    const a = link ? byHref.get(link.getAttribute('href') ?? '') : undefined;
    if (a) setHovered(a);
  };
  return h(
    'div',
    { onMouseOver: onLink, onFocusIn: onLink },
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
