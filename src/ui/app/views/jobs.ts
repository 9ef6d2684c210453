/** The jobs list: every job of every namespace, with its groups' allocation counts, live. */
import { badge, h, heading, link, loading, table, time } from '../dom.js';
import { summaryCounts } from '../format.js';
import { jobHref } from '../routes.js';
import type { JobListStub } from '../types.js';
import { useViewTitle, useWatch, type ViewProps } from './context.js';

export function JobsView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Jobs');
  const { value: jobs } = useWatch<JobListStub[]>(ctx, 'jobs', '/v1/jobs?namespace=*');
  const sorted = [...(jobs ?? [])].sort((a, b) => a.ID.localeCompare(b.ID) || a.Namespace.localeCompare(b.Namespace));
  const now = Date.now();
  return h(
    'div',
    null,
    heading('Jobs', ' ', link('#/run', 'Run a job', { class: 'button-link' })),
    jobs === undefined
      ? loading('Loading jobs…')
      : table(
          'Jobs',
          [
            { title: 'Name', cell: (j) => link(jobHref(j.ID, j.Namespace), j.Name || j.ID) },
            { title: 'Namespace', cell: (j) => j.Namespace },
            {
              title: 'Type',
              cell: (j) => j.Type + (j.Periodic ? ' (periodic)' : j.ParameterizedJob ? ' (parameterized)' : ''),
            },
            { title: 'Priority', cell: (j) => j.Priority, numeric: true },
            { title: 'Status', cell: (j) => badge(j.Status) },
            { title: 'Groups', cell: (j) => summaryCounts(j.JobSummary).groups, numeric: true },
            { title: 'Running', cell: (j) => summaryCounts(j.JobSummary).running, numeric: true },
            { title: 'Pending', cell: (j) => summaryCounts(j.JobSummary).pending, numeric: true },
            { title: 'Failed', cell: (j) => summaryCounts(j.JobSummary).failed, numeric: true },
            { title: 'Submitted', cell: (j) => time(j.SubmitTime, now) },
          ],
          sorted,
          ['No jobs yet. ', link('#/run', 'Run one'), ' here or with ', h('code', null, 'drover job run <file>'), '.'],
          (j) => `${j.Namespace}/${j.ID}`,
        ),
  );
}
