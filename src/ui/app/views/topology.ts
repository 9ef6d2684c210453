/**
 * The cluster topology: every client, grouped by datacenter and node pool, as two bars (CPU, memory) filled
 * by its allocations, each a block sized by its reservation and coloured by job; pointing at a block shows the
 * allocation, clicking opens it, and each client's list of allocations (opened on demand) is the keyboard's way
 * in. Live: nodes from a watch, allocations (with their resources) from the event stream. Above, the totals:
 * reserved against capacity, and the actual use the running allocations' stats report, with a mark on each
 * client's bars.
 *
 * Both bars are single elements painted with a gradient (topology.ts `stripes`), not an element per
 * allocation: 200 clients and 5,000 allocations make ~3,000 elements instead of ~8,000, which brought the first
 * drawing's main-thread time to ~0.4 s (BENCHMARKS.md).
 */
import { Component } from 'preact';
import { useMemo, useRef, useState } from 'preact/hooks';
import { abortableSleep } from '../api.js';
import { h, heading, link, loading, section } from '../dom.js';
import { shortId } from '../format.js';
import { allocHref, clientHref, jobHref } from '../routes.js';
import {
  blockAt,
  nextRound,
  percent,
  stripes,
  topology,
  usageOf,
  usageSample,
  type AllocBlock,
  type NodeBox,
  type Usage,
  type UsageSample,
} from '../topology.js';
import type { AllocListStub, AllocStats, NodeListStub } from '../types.js';
import { seg, useViewTask, useViewTitle, useWatch, type ViewContext, type ViewProps, type Watched } from './context.js';

type Hover = (a: AllocBlock | undefined) => void;

/** Stats are sampled for at most this many allocations a round, one round every ROUND_EVERY_MS. */
const ROUND_MAX = 100;
const ROUND_EVERY_MS = 10_000;
const STATS_CONCURRENCY = 4;

const mib = (n: number) => (n >= 10 ? n.toFixed(0) : n.toFixed(1));

/**
 * One bar, painted: pointing finds the block under the pointer, a click opens it. `used` (MHz or MiB, from
 * stats) draws a mark where actual use reaches.
 */
function bar(box: NodeBox, dim: 'cpu' | 'memoryMB', onHover: Hover, used: number | undefined) {
  const capacity = dim === 'cpu' ? box.cpu : box.memoryMB;
  const reserved = dim === 'cpu' ? box.reservedCpu : box.reservedMemoryMB;
  const unit = dim === 'cpu' ? 'MHz' : 'MiB';
  const at = (e: MouseEvent) => {
    const el = e.currentTarget as HTMLElement;
    return blockAt(box.allocs, dim, capacity, e.offsetX / Math.max(1, el.clientWidth));
  };
  return h(
    'div',
    { class: 'topo-row' },
    h('span', { class: 'topo-dim' }, dim === 'cpu' ? 'CPU' : 'Memory'),
    h(
      'div',
      {
        class: 'topo-bar topo-bar-painted',
        // The list under the bars carries the allocations for the keyboard and screen readers.
        'aria-hidden': 'true',
        'data-dim': dim,
        style: { backgroundImage: stripes(box.allocs, dim, capacity) },
        onMouseMove: (e: MouseEvent) => {
          const a = at(e);
          if (a) onHover(a);
        },
        onClick: (e: MouseEvent) => {
          const a = at(e);
          if (a) location.hash = allocHref(a.id);
        },
      },
      used === undefined ? null : h('span', { class: 'topo-use', style: { left: `${percent(used, capacity)}%` } }),
    ),
    h('span', { class: 'topo-figure' }, `${reserved}/${capacity} ${unit}`),
  );
}

/** A client's allocations as links, drawn only while open: the keyboard's way to every block. */
function AllocList({ box, use }: { box: NodeBox; use: Usage | undefined }) {
  const [open, setOpen] = useState(false);
  const n = box.allocs.length;
  const pending = box.allocs.reduce((k, a) => k + (a.status === 'pending' ? 1 : 0), 0);
  return h(
    'details',
    { class: 'topo-list', onToggle: (e: Event) => setOpen((e.currentTarget as HTMLDetailsElement).open) },
    h(
      'summary',
      null,
      `${n} allocation${n === 1 ? '' : 's'}`,
      pending > 0 ? `, ${pending} pending` : '',
      use && use.sampled > 0 ? `, using ${Math.round(use.cpu)} MHz and ${mib(use.memoryMB)} MiB` : '',
    ),
    open
      ? h(
          'ul',
          null,
          box.allocs.map((a) =>
            h(
              'li',
              { key: a.id },
              h('a', { class: `topo-item topo-item-${a.status}`, href: allocHref(a.id), 'data-job': a.jobId }, a.name),
              ` ${a.cpu} MHz, ${a.memoryMB} MiB, ${a.status}`,
            ),
          ),
        )
      : null,
  );
}

interface CardProps {
  box: NodeBox;
  onHover: Hover;
  use: Usage | undefined;
}

/** One client's box; redrawn only when its node, its allocations or their use changed. */
class NodeCard extends Component<CardProps> {
  override shouldComponentUpdate(next: CardProps): boolean {
    return (
      next.onHover !== this.props.onHover || !sameUse(next.use, this.props.use) || !sameBox(next.box, this.props.box)
    );
  }

  override render() {
    const { box, onHover, use } = this.props;
    const n = box.node;
    const sampled = use !== undefined && use.sampled > 0;
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
          n.SchedulingEligibility === 'ineligible' ? 'ineligible' : '',
          n.Drain ? ' draining' : '',
          n.Status !== 'ready' ? ` ${n.Status}` : '',
        ),
      ),
      bar(box, 'cpu', onHover, sampled ? use.cpu : undefined),
      bar(box, 'memoryMB', onHover, sampled ? use.memoryMB : undefined),
      h(AllocList, { box, use }),
    );
  }
}

function sameUse(a: Usage | undefined, b: Usage | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.sampled === b.sampled && Math.round(a.cpu) === Math.round(b.cpu) && mib(a.memoryMB) === mib(b.memoryMB);
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

function reservedLine(label: string, used: number, capacity: number, unit: string) {
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

/** The actual use line: what the sampled allocations use against what they reserve. */
function useLine(u: Usage) {
  if (u.running === 0) return h('p', { class: 'topo-use-total' }, 'Actual use: no running allocations.');
  if (u.sampled === 0) return h('p', { class: 'topo-use-total' }, 'Actual use: waiting for allocation stats…');
  const of = u.sampled === u.running ? `all ${u.running}` : `${u.sampled} of ${u.running}`;
  return h(
    'p',
    { class: 'topo-use-total' },
    `Actual use (stats of ${of} running allocations): CPU ${Math.round(u.cpu).toLocaleString('en')} MHz of ` +
      `${u.reservedCpu.toLocaleString('en')} MHz reserved (${percent(u.cpu, u.reservedCpu).toFixed(0)}%), ` +
      `memory ${mib(u.memoryMB)} MiB of ${u.reservedMemoryMB.toLocaleString('en')} MiB reserved ` +
      `(${percent(u.memoryMB, u.reservedMemoryMB).toFixed(0)}%).`,
  );
}

/**
 * The last stats sample of each running allocation in `running`, sampled a round at a time (at most ROUND_MAX
 * allocations, STATS_CONCURRENCY requests at once, a round every ROUND_EVERY_MS) while the view is shown. An
 * allocation whose stats cannot be read (stopped meanwhile, its client down) simply has no sample.
 */
function useAllocUsage(ctx: ViewContext, running: readonly string[]): ReadonlyMap<string, UsageSample> {
  const [samples, setSamples] = useState<ReadonlyMap<string, UsageSample>>(new Map());
  const ids = useRef(running);
  ids.current = running;
  useViewTask(
    ctx,
    async (signal) => {
      const sampleOne = async (id: string, into: Map<string, UsageSample>) => {
        try {
          const { value } = await ctx.api.get<AllocStats>(`/v1/client/allocation/${seg(id)}/stats`, signal);
          into.set(id, usageSample(value));
        } catch {
          into.delete(id);
        }
      };
      let cursor = 0;
      let held = new Map<string, UsageSample>();
      while (!signal.aborted) {
        if (ids.current.length === 0) {
          await abortableSleep(1_000, signal);
          continue;
        }
        const round = nextRound(ids.current, cursor, ROUND_MAX);
        cursor = round.cursor;
        const live = new Set(ids.current);
        const next = new Map([...held].filter(([id]) => live.has(id)));
        const queue = [...round.batch];
        await Promise.all(
          Array.from({ length: STATS_CONCURRENCY }, async () => {
            for (let id = queue.shift(); id !== undefined && !signal.aborted; id = queue.shift())
              await sampleOne(id, next);
          }),
        );
        if (signal.aborted) return;
        held = next;
        setSamples(next);
        await abortableSleep(ROUND_EVERY_MS, signal);
      }
    },
    [],
  );
  return samples;
}

const ALLOCS_PATH = '/v1/allocations?resources=true&task_states=false&namespace=*';

/**
 * Every allocation, live: the list once, then each change from the event stream (topic Allocation, every
 * namespace) applied to it, redrawn at most every 50 ms (Api.followList). A token refused the stream falls
 * back to blocking queries on the list.
 */
function useLiveAllocations(ctx: ViewContext): Watched<AllocListStub[]> {
  const [state, setState] = useState<Watched<AllocListStub[]>>({ value: undefined, error: undefined });
  useViewTask(
    ctx,
    (signal) =>
      ctx.api.followList<AllocListStub>(
        {
          key: 'allocations',
          path: ALLOCS_PATH,
          topics: ['Allocation'],
          namespace: '*',
          id: (a) => a.ID,
          item: (e) => {
            const a = e.Payload['Allocation'] as AllocListStub | undefined;
            return a?.ID ? { id: a.ID, value: a, deleted: e.Type === 'AllocationDeleted' } : undefined;
          },
        },
        signal,
        (value) => setState({ value, error: undefined }),
        (err) => setState((s) => ({ value: s.value, error: err })),
      ),
    [],
  );
  return state;
}

export function TopologyView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Topology');
  const nodes = useWatch<NodeListStub[]>(ctx, 'nodes', '/v1/nodes?resources=true');
  const allocs = useLiveAllocations(ctx);
  const [hovered, setHovered] = useState<AllocBlock | undefined>(undefined);
  // Recomputed when a watch answers, not when the pointer moves.
  const laid = useMemo(() => {
    if (!nodes.value || !allocs.value) return undefined;
    const t = topology(nodes.value, allocs.value);
    const byHref = new Map<string, AllocBlock>();
    const running: string[] = [];
    for (const g of t.groups)
      for (const n of g.nodes)
        for (const a of n.allocs) {
          byHref.set(allocHref(a.id), a);
          if (a.status === 'running') running.push(a.id);
        }
    return { ...t, byHref, running };
  }, [nodes.value, allocs.value]);
  const samples = useAllocUsage(ctx, laid?.running ?? []);
  const use = useMemo(() => {
    if (!laid) return undefined;
    const perNode = new Map<string, Usage>();
    const all: AllocBlock[] = [];
    for (const g of laid.groups)
      for (const n of g.nodes) {
        perNode.set(n.node.ID, usageOf(n.allocs, samples));
        all.push(...n.allocs);
      }
    return { perNode, total: usageOf(all, samples) };
  }, [laid, samples]);
  if (!laid || !use) return h('div', null, heading('Topology'), loading('Loading clients and allocations…'));
  const { groups, totals, byHref } = laid;
  // One listener for every allocation link in the opened lists.
  const onLink = (e: Event) => {
    const link = (e.target as Element).closest('a.topo-item');
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
      reservedLine('CPU', totals.reservedCpu, totals.cpu, 'MHz'),
      reservedLine('Memory', totals.reservedMemoryMB, totals.memoryMB, 'MiB'),
    ),
    useLine(use.total),
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
        : 'Point at an allocation to see it; click to open it. Each client lists its allocations below its bars.',
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
                g.nodes.map((box) =>
                  h(NodeCard, { key: box.node.ID, box, onHover: setHovered, use: use.perNode.get(box.node.ID) }),
                ),
              ),
            ),
          ),
        ),
  );
}
