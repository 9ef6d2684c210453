/** The evaluations list, newest first, live: what the scheduler was asked to do and what came of it. */
import { badge, h, heading, link, loading, table, time } from '../dom.js';
import { shortId } from '../format.js';
import { clientHref, jobHref } from '../routes.js';
import type { Evaluation } from '../types.js';
import { useViewTitle, useWatch, type ViewProps } from './context.js';

/** A busy cluster has thousands of evaluations; the newest are the ones a reader looks for. */
const SHOWN = 200;

export function EvalsView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Evaluations');
  const { value: evals } = useWatch<Evaluation[]>(ctx, 'evaluations', '/v1/evaluations?namespace=*');
  if (evals === undefined) return h('div', null, heading('Evaluations'), loading('Loading evaluations…'));
  const sorted = [...evals].sort((a, b) => b.CreateIndex - a.CreateIndex);
  const now = Date.now();
  return h(
    'div',
    null,
    heading('Evaluations'),
    sorted.length > SHOWN
      ? h('p', { class: 'note' }, `Showing the newest ${SHOWN} of ${sorted.length} evaluations.`)
      : null,
    table(
      'Evaluations, newest first',
      [
        { title: 'ID', cell: (e) => h('code', { title: e.ID }, shortId(e.ID)) },
        { title: 'Job', cell: (e) => (e.JobID ? link(jobHref(e.JobID, e.Namespace), e.JobID) : '–') },
        { title: 'Namespace', cell: (e) => e.Namespace },
        { title: 'Type', cell: (e) => e.Type },
        { title: 'Triggered by', cell: (e) => e.TriggeredBy },
        { title: 'Priority', cell: (e) => e.Priority, numeric: true },
        { title: 'Status', cell: (e) => badge(e.Status) },
        { title: 'Description', cell: (e) => e.StatusDescription || '–' },
        {
          title: 'Placement failures',
          cell: (e) =>
            Object.keys(e.FailedTGAllocs ?? {})
              .sort()
              .join(', ') || '–',
        },
        {
          title: 'Node',
          cell: (e) => (e.NodeID ? link(clientHref(e.NodeID), h('code', null, shortId(e.NodeID))) : '–'),
        },
        { title: 'Created', cell: (e) => time(e.CreateTime, now) },
      ],
      sorted.slice(0, SHOWN),
      'No evaluations.',
      (e) => e.ID,
    ),
  );
}
