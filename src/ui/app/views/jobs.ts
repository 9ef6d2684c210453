/** The jobs list: every job of every namespace, with its groups' allocation counts, live. */
import { badge, h, heading, link, render, table, time } from '../dom.js';
import { summaryCounts } from '../format.js';
import { jobHref } from '../routes.js';
import type { JobListStub } from '../types.js';
import type { ViewContext } from './context.js';

export function jobsView(ctx: ViewContext): void {
  ctx.title('Jobs');
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading jobs…'));
  render(ctx.main, heading('Jobs'), body);
  ctx.ready();
  ctx.watch<JobListStub[]>('jobs', '/v1/jobs?namespace=*', (jobs) => {
    const sorted = [...jobs].sort((a, b) => a.ID.localeCompare(b.ID) || a.Namespace.localeCompare(b.Namespace));
    const now = Date.now();
    render(
      body,
      table(
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
        ['No jobs yet. Run one with ', h('code', null, 'drover job run <file>'), '.'],
      ),
    );
  });
}
