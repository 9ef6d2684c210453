/**
 * "What if": `drover sim` in the browser. A form (add nodes like one, remove or drain nodes, fail datacenters,
 * scale a job, paste a job, find a job's largest count) becomes one `PUT /v1/operator/sim`; the answer is drawn
 * as the topology draws the cluster, each node's bars showing what stays, what would be placed (striped, in the
 * job's colour) and what would be freed (hatched), then per group what would not fit with the scheduler's
 * reasons, what would be preempted, and the largest count. Nothing runs: the server simulates on a copy.
 * The API's error (a bad field, or 403 without a management token under ACLs) is shown beside the button.
 *
 *   form ─► buildSimRequest (sim-model.ts) ─► [pasted HCL: POST /v1/jobs/parse] ─► PUT /v1/operator/sim ─► simPicture
 */
import { useState } from 'preact/hooks';
import { h, heading, link, loading, section, table } from '../dom.js';
import { shortId } from '../format.js';
import { clientHref, jobHref } from '../routes.js';
import { jobHue } from '../topology.js';
import type { NodeListStub } from '../types.js';
import type * as S from '../../../structs/index.js';
import { useAction, useViewTitle, useWatch, type ViewProps } from './context.js';
import { jobFromJson, metricLines } from './run.js';
import {
  buildSimRequest,
  EMPTY_FORM,
  simPicture,
  type FormProblem,
  type SimForm,
  type SimSegment,
} from './sim-model.js';

const LABELS: Record<keyof SimForm, string> = {
  addCount: 'Nodes to add',
  addLike: 'Like node',
  addCPU: 'CPU of each (MHz)',
  addMemoryMB: 'Memory of each (MiB)',
  removeNodes: 'Remove nodes',
  drainNodes: 'Drain nodes',
  failDatacenters: 'Fail datacenters',
  scaleJob: 'Scale job',
  scaleGroup: 'Group to scale',
  scaleCount: 'New count',
  maxJob: 'Largest count of job',
  maxGroup: 'Group (largest count)',
  namespace: 'Namespace',
};

const HINTS: Partial<Record<keyof SimForm, string>> = {
  removeNodes: 'names or IDs, separated by commas',
  drainNodes: 'names or IDs, separated by commas',
  failDatacenters: 'separated by commas',
  scaleGroup: 'empty when the job has one group',
  maxGroup: 'empty when the job has one group',
  addCPU: 'empty: as the copied node',
  addMemoryMB: 'empty: as the copied node',
};

export function SimView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'What if');
  const nodes = useWatch<NodeListStub[]>(ctx, 'nodes', '/v1/nodes');
  const [form, setForm] = useState<SimForm>(EMPTY_FORM);
  const [jobSource, setJobSource] = useState('');
  const [problems, setProblems] = useState<FormProblem[]>([]);
  const [result, setResult] = useState<S.SimResult | undefined>(undefined);
  const sim = useAction(ctx, 'sim');

  const field = (k: keyof SimForm, attrs: Record<string, unknown> = {}) => {
    const id = `sim-${k}`;
    const problem = problems.find((p) => p.field === k);
    return h(
      'div',
      { class: 'sim-field' },
      h('label', { for: id }, LABELS[k]),
      h('input', {
        id,
        value: form[k],
        'aria-invalid': problem ? 'true' : undefined,
        'aria-describedby': problem ? `${id}-problem` : HINTS[k] ? `${id}-hint` : undefined,
        onInput: (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value }),
        ...attrs,
      }),
      problem
        ? h('span', { id: `${id}-problem`, class: 'action-error' }, problem.message)
        : HINTS[k]
          ? h('span', { id: `${id}-hint`, class: 'note' }, HINTS[k])
          : null,
    );
  };

  const submit = (ev: Event) => {
    ev.preventDefault();
    setResult(undefined);
    void sim
      .run(async (signal) => {
        let job: Record<string, unknown> | undefined;
        const src = jobSource.trim();
        if (src) {
          try {
            job = src.startsWith('{')
              ? jobFromJson(src)
              : await ctx.api.request<Record<string, unknown>>(
                  'POST',
                  '/v1/jobs/parse',
                  { JobHCL: src, Canonicalize: true },
                  signal,
                );
          } catch (e) {
            if (!src.startsWith('{')) throw e;
            setProblems([{ field: 'job', message: `Not a job in JSON: ${(e as Error).message}` }]);
            return undefined;
          }
        }
        const built = buildSimRequest(form, job);
        setProblems(built.problems);
        if (built.problems.length > 0) return undefined;
        return ctx.api.request<S.SimResult>('PUT', '/v1/operator/sim', built.request, signal);
      })
      .then((r) => setResult(r));
  };

  const jobProblem = problems.find((p) => p.field === 'job');
  return h(
    'div',
    null,
    heading('What if'),
    h(
      'p',
      { class: 'note' },
      'Ask the scheduler what would happen, on a copy of the cluster: nothing here changes the live state.',
    ),
    h(
      'form',
      { class: 'stack sim-form', onSubmit: submit, 'aria-label': 'What if' },
      h(
        'fieldset',
        null,
        h('legend', null, 'Nodes'),
        field('addCount', { inputMode: 'numeric' }),
        field('addLike', { list: 'sim-node-names' }),
        field('addCPU', { inputMode: 'numeric' }),
        field('addMemoryMB', { inputMode: 'numeric' }),
        field('removeNodes', { list: 'sim-node-names' }),
        field('drainNodes', { list: 'sim-node-names' }),
        field('failDatacenters'),
        h(
          'datalist',
          { id: 'sim-node-names' },
          (nodes.value ?? []).map((n) => h('option', { key: n.ID, value: n.Name })),
        ),
      ),
      h(
        'fieldset',
        null,
        h('legend', null, 'Jobs'),
        field('namespace', { placeholder: 'default' }),
        field('scaleJob'),
        field('scaleGroup'),
        field('scaleCount', { inputMode: 'numeric' }),
        h('label', { for: 'sim-job' }, 'Add a job (HCL or JSON)'),
        h('textarea', {
          id: 'sim-job',
          class: 'code-input',
          rows: 8,
          spellcheck: false,
          value: jobSource,
          'aria-invalid': jobProblem ? 'true' : undefined,
          onInput: (e: Event) => setJobSource((e.target as HTMLTextAreaElement).value),
        }),
        jobProblem ? h('span', { class: 'action-error' }, jobProblem.message) : null,
        field('maxJob'),
        field('maxGroup'),
      ),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', disabled: sim.busy }, sim.busy ? 'Simulating…' : 'Simulate'),
      ),
      sim.error ? h('p', { class: 'action-error', role: 'status' }, sim.error.message) : null,
      problems.length > 0 && !jobProblem
        ? h(
            'p',
            { class: 'action-error', role: 'status' },
            `Check ${problems.map((p) => LABELS[p.field as keyof SimForm]).join(', ')}.`,
          )
        : null,
    ),
    sim.busy ? loading('The scheduler is working on a copy of the cluster…') : null,
    result ? resultView(result) : null,
  );
}

function bar(label: string, node: S.SimNodeUsage, segs: SimSegment[], used: number, total: number, unit: string) {
  return h(
    'div',
    { class: 'topo-row' },
    h('span', { class: 'topo-dim' }, label),
    h(
      'div',
      { class: 'topo-bar', role: 'list', 'aria-label': `${label} of ${node.Name} after the what-if` },
      segs.map((s, i) =>
        h('span', {
          key: i,
          role: 'listitem',
          class:
            s.kind === 'placed'
              ? `topo-alloc sim-placed topo-h${jobHue(s.jobId ?? '')}`
              : s.kind === 'kept'
                ? 'topo-alloc sim-kept'
                : 'topo-alloc sim-freed',
          style: { width: `${s.width}%` },
          title:
            s.kind === 'placed'
              ? `would place ${s.count} of ${s.jobId}/${s.group}: ${s.amount} ${unit}`
              : s.kind === 'kept'
                ? `kept: ${s.amount} ${unit}`
                : `freed: ${s.amount} ${unit}`,
          'data-kind': s.kind,
          'data-job': s.jobId,
        }),
      ),
    ),
    h('span', { class: 'topo-figure' }, `${used}/${total} ${unit}`),
  );
}

function resultView(r: S.SimResult) {
  const pic = simPicture(r);
  const nodeName = new Map(r.Nodes.map((n) => [n.ID, n.Name]));
  return h(
    'div',
    { class: 'sim-result' },
    section(
      'Simulated',
      h(
        'ul',
        null,
        r.Changes.map((c, i) => h('li', { key: i }, c)),
      ),
      h(
        'p',
        { role: 'status' },
        `${pic.placed} placed, ${pic.unplaced} would not fit, ${pic.preempted} preempted; ` +
          `${r.Evaluations} evaluations in ${r.DurationMs} ms on a copy of the state at index ${r.Index}.`,
      ),
      h(
        'p',
        null,
        `Capacity after: ${r.Capacity.Nodes} schedulable nodes, CPU ${r.Capacity.CPU.Used.toLocaleString('en')} of ` +
          `${r.Capacity.CPU.Total.toLocaleString('en')} MHz, memory ${r.Capacity.MemoryMB.Used.toLocaleString('en')} of ` +
          `${r.Capacity.MemoryMB.Total.toLocaleString('en')} MiB reserved.`,
      ),
    ),
    r.MaxCount ? maxCountView(r.MaxCount) : null,
    section(
      'Task groups',
      table(
        'Each task group the simulation evaluated',
        [
          { title: 'Job', cell: (g) => link(jobHref(g.JobID, g.Namespace), g.JobID) },
          { title: 'Group', cell: (g) => g.TaskGroup },
          { title: 'Desired', cell: (g) => g.Desired, numeric: true },
          { title: 'Running before', cell: (g) => g.RunningBefore, numeric: true },
          { title: 'Running after', cell: (g) => g.Running, numeric: true },
          { title: 'Placed', cell: (g) => g.Placed, numeric: true },
          { title: 'Unplaced', cell: (g) => g.Unplaced, numeric: true },
        ],
        r.Groups,
        'No task group needed an evaluation.',
        (g) => `${g.Namespace}/${g.JobID}/${g.TaskGroup}`,
      ),
      r.Groups.some((g) => g.Metrics)
        ? h(
            'div',
            { class: 'placement-failures', role: 'alert' },
            h('h3', null, 'Would not fit'),
            r.Groups.filter((g) => g.Metrics).map((g) =>
              h(
                'div',
                { key: `${g.JobID}/${g.TaskGroup}` },
                h('p', null, h('strong', null, `${g.JobID}/${g.TaskGroup}`), ` (${g.Unplaced} unplaced)`),
                h('ul', null, metricLines(g.Metrics!)),
              ),
            ),
          )
        : h('p', { class: 'note' }, 'Everything asked for fits.'),
    ),
    r.Preemptions.length
      ? section(
          'Preempted',
          table(
            'Allocations the simulation would preempt',
            [
              { title: 'Allocation', cell: (p) => shortId(p.AllocID) },
              { title: 'Job', cell: (p) => `${p.JobID}/${p.TaskGroup}` },
              { title: 'Node', cell: (p) => nodeName.get(p.NodeID) ?? shortId(p.NodeID) },
              { title: 'By', cell: (p) => shortId(p.PreemptedByAllocation) },
            ],
            r.Preemptions,
            'None.',
            (p) => p.AllocID,
          ),
        )
      : null,
    section(
      'Nodes after the what-if',
      h(
        'p',
        { class: 'sim-legend' },
        h('span', { class: 'sim-swatch sim-kept' }),
        ' kept ',
        h('span', { class: 'sim-swatch sim-placed topo-h7' }),
        ' would be placed (striped, coloured by job) ',
        h('span', { class: 'sim-swatch sim-freed' }),
        ' freed (stopped, lost or preempted)',
      ),
      r.Capacity.Nodes > r.Nodes.length
        ? h(
            'p',
            { class: 'note' },
            `Only the ${r.Nodes.length} nodes the simulation touched are drawn (the cluster has more than 100).`,
          )
        : null,
      pic.datacenters.map((dc) =>
        h(
          'div',
          { key: dc.datacenter },
          h('h3', null, `Datacenter ${dc.datacenter}`),
          h(
            'ul',
            { class: 'topo-nodes' },
            dc.nodes.map((box) =>
              h(
                'li',
                {
                  key: box.node.ID,
                  class: `topo-node topo-node-${box.node.Status}${box.node.Added ? ' sim-added' : ''}`,
                  'data-node': box.node.Name,
                },
                h(
                  'div',
                  { class: 'topo-node-head' },
                  box.node.Added ? h('strong', null, box.node.Name) : link(clientHref(box.node.ID), box.node.Name),
                  ' ',
                  h('span', { class: 'topo-node-meta' }, [`${box.node.Allocs} allocations`, ...box.marks].join(', ')),
                ),
                bar('CPU', box.node, box.cpu, box.node.CPU.Used, box.node.CPU.Total, 'MHz'),
                bar('Memory', box.node, box.memory, box.node.MemoryMB.Used, box.node.MemoryMB.Total, 'MiB'),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function maxCountView(m: S.SimMaxCountResult) {
  return section(
    'Largest count',
    h(
      'p',
      { role: 'status', class: 'sim-max' },
      `At most ${m.Count} of ${m.JobID}/${m.TaskGroup} fit (now ${m.Current}), found in ${m.Probes} scheduler runs.`,
      m.Truncated ? ' The search stopped at its probe limit: a larger count may fit too.' : '',
    ),
    m.Metrics ? h('div', null, h('p', null, `Why not ${m.Count + 1}:`), h('ul', null, metricLines(m.Metrics))) : null,
  );
}
