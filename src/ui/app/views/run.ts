/**
 * Run a job from the browser, the way `job plan` then `job run -check-index` does it:
 *
 *   paste HCL or JSON ─► Plan: parse (/v1/jobs/parse for HCL) ─► PUT /v1/job/:id/plan ─► diff, updates, failures
 *        ─► Run: POST /v1/jobs with EnforceIndex at the planned JobModifyIndex ─► the deployment, live
 *
 * Editing the text after a plan disables Run until the next plan, so what runs is what was read.
 */
import { useState } from 'preact/hooks';
import { diffView } from '../diff.js';
import { h, heading, link, loading, section, table } from '../dom.js';
import { jobHref } from '../routes.js';
import type { AllocMetric, Deployment, JobPlanResult, JobRegisterResult } from '../types.js';
import { DeploymentBlock } from './job.js';
import { nsq, seg, useAction, useViewTitle, useWatch, type ViewContext, type ViewProps } from './context.js';

interface Planned {
  job: { ID: string; Namespace?: string } & Record<string, unknown>;
  result: JobPlanResult;
}

/** A job from pasted JSON: either the job itself or `{"Job": {...}}` as `job run -json` files are. */
export function jobFromJson(text: string): Planned['job'] {
  const v = JSON.parse(text) as Record<string, unknown>;
  const job = (v['Job'] && typeof v['Job'] === 'object' ? v['Job'] : v) as Planned['job'];
  if (typeof job.ID !== 'string' || !job.ID) throw new Error('the JSON has no job ID (expected {"Job": {"ID": ...}})');
  return job;
}

export function RunView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Run a job');
  const [source, setSource] = useState('');
  const [planned, setPlanned] = useState<Planned | undefined>(undefined);
  const [ran, setRan] = useState<{ id: string; namespace: string; result: JobRegisterResult } | undefined>(undefined);
  const [parseError, setParseError] = useState<string | undefined>(undefined);
  const plan = useAction(ctx, 'plan');
  const run = useAction(ctx, 'run');

  const doPlan = (ev: Event) => {
    ev.preventDefault();
    setParseError(undefined);
    setRan(undefined);
    void plan
      .run(async (signal) => {
        let job: Planned['job'];
        if (source.trimStart().startsWith('{')) {
          try {
            job = jobFromJson(source);
          } catch (e) {
            setParseError(`Not a job in JSON: ${(e as Error).message}`);
            return undefined;
          }
        } else
          job = await ctx.api.request<Planned['job']>(
            'POST',
            '/v1/jobs/parse',
            { JobHCL: source, Canonicalize: true },
            signal,
          );
        const ns = job.Namespace || 'default';
        const result = await ctx.api.request<JobPlanResult>(
          'PUT',
          `/v1/job/${seg(job.ID)}/plan?${nsq(ns)}`,
          { Job: job, Diff: true },
          signal,
        );
        return { job, result };
      })
      .then((p) => setPlanned(p));
  };

  const doRun = () => {
    if (!planned) return;
    const ns = planned.job.Namespace || 'default';
    void run
      .run((signal) =>
        ctx.api.request<JobRegisterResult>(
          'POST',
          `/v1/jobs?${nsq(ns)}`,
          { Job: planned.job, EnforceIndex: true, JobModifyIndex: planned.result.JobModifyIndex },
          signal,
        ),
      )
      .then((r) => {
        if (r) {
          setRan({ id: planned.job.ID, namespace: ns, result: r });
          setPlanned(undefined);
        }
      });
  };

  return h(
    'div',
    null,
    heading('Run a job'),
    h(
      'form',
      { class: 'stack', onSubmit: doPlan },
      h('label', { for: 'job-source' }, 'Job file (HCL or JSON)'),
      h('textarea', {
        id: 'job-source',
        class: 'code-input',
        rows: 18,
        spellcheck: false,
        value: source,
        onInput: (e: Event) => {
          setSource((e.target as HTMLTextAreaElement).value);
          setPlanned(undefined);
        },
      }),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', disabled: plan.busy || !source.trim() }, plan.busy ? 'Planning…' : 'Plan'),
        ' ',
        h(
          'button',
          { type: 'button', class: 'primary', onClick: doRun, disabled: !planned || run.busy },
          run.busy ? 'Running…' : 'Run',
        ),
      ),
      parseError ? h('p', { class: 'action-error', role: 'status' }, parseError) : null,
      plan.error ? h('p', { class: 'action-error', role: 'status' }, plan.error.message) : null,
      run.error ? h('p', { class: 'action-error', role: 'status' }, run.error.message) : null,
    ),
    planned ? planView(planned) : null,
    ran ? h(RunProgress, { ctx, ...ran }) : null,
  );
}

function planView({ job, result }: Planned) {
  const updates = Object.entries(result.Annotations?.DesiredTGUpdates ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const failures = Object.entries(result.FailedTGAllocs ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return section(
    `Plan for job ${job.ID}`,
    result.Warnings ? h('p', { class: 'note' }, `Warnings: ${result.Warnings}`) : null,
    h('h3', null, 'Changes'),
    diffView(result.Diff),
    h('h3', null, 'Scheduler'),
    table(
      'What the scheduler would do per task group',
      [
        { title: 'Task group', cell: ([g]) => g },
        { title: 'Place', cell: ([, u]) => u.Place, numeric: true },
        { title: 'Stop', cell: ([, u]) => u.Stop, numeric: true },
        { title: 'In place', cell: ([, u]) => u.InPlaceUpdate, numeric: true },
        { title: 'Destructive', cell: ([, u]) => u.DestructiveUpdate, numeric: true },
        { title: 'Canary', cell: ([, u]) => u.Canary, numeric: true },
        { title: 'Ignore', cell: ([, u]) => u.Ignore, numeric: true },
      ],
      updates,
      'No changes to allocations.',
      ([g]) => g,
    ),
    failures.length
      ? h(
          'div',
          { class: 'placement-failures', role: 'alert' },
          h('h3', null, 'Placement failures'),
          failures.map(([g, m]) =>
            h(
              'div',
              { key: g },
              h('p', null, h('strong', null, `Task group "${g}"`), ` (${m.CoalescedFailures + 1} unplaced)`),
              h('ul', null, metricLines(m)),
            ),
          ),
        )
      : h('p', { class: 'note' }, 'All allocations can be placed.'),
    h(
      'p',
      { class: 'note' },
      `Run submits with check-index ${result.JobModifyIndex}: it is refused if the job changed since this plan.`,
    ),
  );
}

/** The reasons a placement failed, as `job plan` lists them. */
export function metricLines(m: AllocMetric) {
  const lines: string[] = [];
  lines.push(`${m.NodesEvaluated} nodes evaluated, ${m.NodesFiltered} filtered, ${m.NodesExhausted} exhausted`);
  for (const [c, n] of Object.entries(m.ConstraintFiltered ?? {}))
    lines.push(`Constraint "${c}": ${n} nodes excluded by filter`);
  for (const [c, n] of Object.entries(m.ClassFiltered ?? {})) lines.push(`Class "${c}": ${n} nodes excluded by filter`);
  for (const [d, n] of Object.entries(m.DimensionExhausted ?? {}))
    lines.push(`Resources exhausted on ${n} nodes: ${d}`);
  for (const [c, n] of Object.entries(m.ClassExhausted ?? {})) lines.push(`Class "${c}" exhausted on ${n} nodes`);
  for (const q of m.QuotaExhausted ?? []) lines.push(`Quota exhausted: ${q}`);
  if (m.NodesEvaluated === 0 && !m.NodesInPool) lines.push('No nodes were eligible for evaluation');
  return lines.map((l, i) => h('li', { key: i }, l));
}

/** After Run: the evaluation, and the job's deployment as it progresses. */
function RunProgress({
  ctx,
  id,
  namespace,
  result,
}: {
  ctx: ViewContext;
  id: string;
  namespace: string;
  result: JobRegisterResult;
}) {
  const d = useWatch<Deployment | null>(ctx, 'deployment', `/v1/job/${seg(id)}/deployment?${nsq(namespace)}`);
  return section(
    'Run',
    h(
      'p',
      { role: 'status' },
      `Job ${id} submitted (evaluation ${result.EvalID.slice(0, 8)}). `,
      link(jobHref(id, namespace), `Open job ${id}`),
      '.',
    ),
    result.Warnings ? h('p', { class: 'note' }, `Warnings: ${result.Warnings}`) : null,
    h('h3', null, 'Deployment'),
    d.value === undefined ? loading('Waiting for the deployment…') : h(DeploymentBlock, { ctx, d: d.value }),
  );
}
