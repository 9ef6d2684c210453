/**
 * One job: its facts, task groups with allocation counts, latest deployment, allocations and versions, all
 * live; and the one write the UI makes, Stop (after a confirm). Three watches at most (job, allocations,
 * deployment): browsers allow six connections per host, and the next view needs some.
 */
import { ApiError } from '../api.js';
import { badge, facts, h, heading, link, render, section, table, time } from '../dom.js';
import { allocCountsByGroup, deploymentProgress, shortId, zeroCounts } from '../format.js';
import { allocHref, clientHref, jobHref } from '../routes.js';
import type { AllocListStub, Deployment, Job, JobVersions, TaskGroup } from '../types.js';
import { nsq, seg, type ViewContext } from './context.js';

export function jobView(ctx: ViewContext, id: string, namespace: string): void {
  ctx.title(`Job ${id}`);
  const base = `/v1/job/${seg(id)}`;
  const q = nsq(namespace);
  const head = h('div', null, heading(id));
  const summary = h('div', null, h('p', { class: 'loading' }, 'Loading job…'));
  const groups = h('div');
  const deployment = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const allocs = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const versions = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  render(
    ctx.main,
    head,
    summary,
    section('Task groups', groups),
    section('Latest deployment', deployment),
    section('Allocations', allocs),
    section('Versions', versions),
  );
  ctx.ready();

  let job: Job | undefined;
  let allocList: AllocListStub[] = [];
  let versionsOf = -1;
  const drawGroups = () => render(groups, groupsTable(job?.TaskGroups ?? [], allocList));

  const onJob = (j: Job) => {
    job = j;
    render(head, heading(j.Name || j.ID, ' ', badge(j.Status), j.Stop ? null : stopButton(ctx, `${base}?${q}`, j.ID)));
    render(summary, jobFacts(j));
    drawGroups();
    if (j.Version !== versionsOf) {
      versionsOf = j.Version;
      void loadVersions(ctx, `${base}/versions?${q}`, versions);
    }
  };
  const onJobError = (err: ApiError) => {
    // The banner has the API's words; the page says what they mean for it.
    if (err.status !== 404 || job) return;
    render(summary, h('p', { class: 'empty' }, `No job "${id}" in namespace "${namespace}".`));
    render(versions, h('p', { class: 'empty' }, 'None.'));
  };
  ctx.watch<Job>('job', `${base}?${q}`, onJob, onJobError);
  ctx.watch<AllocListStub[]>('allocations', `${base}/allocations?${q}`, (list) => {
    allocList = list;
    drawGroups();
    render(allocs, allocTable(list));
  });
  ctx.watch<Deployment | null>('deployment', `${base}/deployment?${q}`, (d) => render(deployment, deploymentBlock(d)));
}

function jobFacts(j: Job): HTMLElement {
  return facts([
    ['ID', j.ID],
    ['Namespace', j.Namespace],
    ['Type', j.Type],
    ['Priority', String(j.Priority)],
    ['Version', String(j.Version)],
    ['Datacenters', (j.Datacenters ?? []).join(', ') || '–'],
    ['Node pool', j.NodePool || 'default'],
    ['Submitted', time(j.SubmitTime)],
    ['Status', j.Stop ? `${j.Status} (stopped)` : j.Status],
  ]);
}

function stopButton(ctx: ViewContext, path: string, id: string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'danger', 'data-key': 'stop' }, 'Stop job');
  const stop = async () => {
    if (!window.confirm(`Stop job "${id}"? Its allocations will be stopped.`)) return;
    button.disabled = true;
    button.textContent = 'Stopping…';
    try {
      await ctx.api.delete(path, ctx.signal);
      ctx.report('stop', undefined);
    } catch (e) {
      if (ctx.signal.aborted) return;
      ctx.report('stop', e instanceof ApiError ? e : new ApiError('DELETE', path, 0, String(e), 'Internal'));
      button.disabled = false;
      button.textContent = 'Stop job';
    }
  };
  button.addEventListener('click', () => void stop());
  return button;
}

function groupsTable(groups: TaskGroup[], allocs: AllocListStub[]): HTMLElement {
  const counts = allocCountsByGroup(allocs);
  const c = (g: TaskGroup) => counts.get(g.Name) ?? zeroCounts();
  return table(
    'Task groups',
    [
      { title: 'Name', cell: (g) => g.Name },
      { title: 'Count', cell: (g) => g.Count, numeric: true },
      { title: 'Tasks', cell: (g) => (g.Tasks ?? []).map((t) => `${t.Name} (${t.Driver})`).join(', ') },
      { title: 'Running', cell: (g) => c(g).running, numeric: true },
      { title: 'Pending', cell: (g) => c(g).pending, numeric: true },
      { title: 'Failed', cell: (g) => c(g).failed, numeric: true },
      { title: 'Complete', cell: (g) => c(g).complete, numeric: true },
      { title: 'Lost', cell: (g) => c(g).lost, numeric: true },
    ],
    groups,
  );
}

/** The allocations table, shared with the node page (which shows the job instead of the node). */
export function allocTable(list: AllocListStub[], by: 'node' | 'job' = 'node'): HTMLElement {
  const sorted = [...list].sort((a, b) => b.CreateTime - a.CreateTime || a.Name.localeCompare(b.Name));
  const now = Date.now();
  return table(
    'Allocations',
    [
      {
        title: 'ID',
        cell: (a) =>
          link(allocHref(a.ID), h('code', null, shortId(a.ID)), {
            'aria-label': `Allocation ${a.Name} (${shortId(a.ID)})`,
          }),
      },
      { title: 'Name', cell: (a) => a.Name },
      by === 'node'
        ? { title: 'Node', cell: (a) => (a.NodeID ? link(clientHref(a.NodeID), a.NodeName || shortId(a.NodeID)) : '–') }
        : { title: 'Job', cell: (a) => link(jobHref(a.JobID, a.Namespace), a.JobID) },
      { title: 'Version', cell: (a) => a.JobVersion, numeric: true },
      { title: 'Desired', cell: (a) => a.DesiredStatus },
      { title: 'Status', cell: (a) => badge(a.ClientStatus) },
      { title: 'Created', cell: (a) => time(a.CreateTime, now) },
      { title: 'Modified', cell: (a) => time(a.ModifyTime, now) },
    ],
    sorted,
    'No allocations.',
  );
}

function deploymentBlock(d: Deployment | null): HTMLElement {
  if (!d) return h('p', { class: 'empty' }, 'No deployments.');
  const groups = Object.entries(d.TaskGroups ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return h(
    'div',
    null,
    facts([
      ['ID', h('code', null, shortId(d.ID))],
      ['Job version', String(d.JobVersion)],
      ['Status', badge(d.Status)],
      ['Description', d.StatusDescription || '–'],
    ]),
    table(
      'Deployment progress by task group',
      [
        { title: 'Task group', cell: ([name]) => name },
        {
          title: 'Progress',
          cell: ([name, s]) => {
            const p = deploymentProgress(s);
            return h(
              'span',
              { class: 'progress' },
              h('progress', { value: p.value, max: p.max || 1, 'aria-label': `${name}: ${p.text}` }),
              ' ',
              p.text,
            );
          },
        },
        { title: 'Desired', cell: ([, s]) => s.DesiredTotal, numeric: true },
        { title: 'Placed', cell: ([, s]) => s.PlacedAllocs, numeric: true },
        { title: 'Healthy', cell: ([, s]) => s.HealthyAllocs, numeric: true },
        { title: 'Unhealthy', cell: ([, s]) => s.UnhealthyAllocs, numeric: true },
      ],
      groups,
    ),
  );
}

async function loadVersions(ctx: ViewContext, path: string, into: HTMLElement): Promise<void> {
  try {
    const { value } = await ctx.api.get<JobVersions>(path, ctx.signal);
    ctx.report('versions', undefined);
    const list = [...(value.Versions ?? [])].sort((a, b) => b.Version - a.Version);
    render(
      into,
      table(
        'Versions',
        [
          { title: 'Version', cell: (v) => v.Version, numeric: true },
          { title: 'Stable', cell: (v) => (v.Stable ? 'yes' : 'no') },
          { title: 'Submitted', cell: (v) => time(v.SubmitTime) },
        ],
        list,
      ),
    );
  } catch (e) {
    if (ctx.signal.aborted) return;
    ctx.report('versions', e instanceof ApiError ? e : new ApiError('GET', path, 0, String(e), 'Internal'));
  }
}
