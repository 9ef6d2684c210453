/**
 * One job: its facts, task groups with allocation counts and a scale control, the latest deployment with
 * promote / pause / fail, allocations and versions (each with its diff, and revert), all live. Writes: stop,
 * purge, scale, revert, force a periodic launch, dispatch; each destructive one asks first, and each shows
 * the API's error text when refused. Three watches at most (job, allocations, deployment): browsers allow six
 * connections per host, and the next view needs some.
 */
import { useEffect, useState } from 'preact/hooks';
import { diffSummary, diffView } from '../diff.js';
import { badge, facts, h, heading, link, loading, section, table, time } from '../dom.js';
import { allocCountsByGroup, deploymentProgress, shortId, zeroCounts } from '../format.js';
import { allocHref, clientHref, jobHref } from '../routes.js';
import type { AllocListStub, Deployment, Job, JobVersions, TaskGroup } from '../types.js';
import {
  asApiError,
  nsq,
  seg,
  useAction,
  useViewTitle,
  useWatch,
  type Action,
  type ViewContext,
  type ViewProps,
} from './context.js';

interface JobProps extends ViewProps {
  id: string;
  namespace: string;
}

function errorText(a: Action) {
  return a.error ? h('p', { class: 'action-error', role: 'status' }, a.error.message) : null;
}

export function JobView({ ctx, id, namespace }: JobProps) {
  useViewTitle(ctx, `Job ${id}`);
  const base = `/v1/job/${seg(id)}`;
  const q = nsq(namespace);
  const job = useWatch<Job>(ctx, 'job', `${base}?${q}`);
  const allocs = useWatch<AllocListStub[]>(ctx, 'allocations', `${base}/allocations?${q}`);
  const deployment = useWatch<Deployment | null>(ctx, 'deployment', `${base}/deployment?${q}`);
  const j = job.value;
  const missing = !j && job.error?.status === 404;
  return h(
    'div',
    null,
    j
      ? heading(j.Name || j.ID, ' ', badge(j.Status), h(JobActions, { ctx, job: j, path: `${base}?${q}`, base, q }))
      : heading(id),
    j
      ? jobFacts(j)
      : missing
        ? h('p', { class: 'empty' }, `No job "${id}" in namespace "${namespace}".`)
        : loading('Loading job…'),
    j?.ParameterizedJob && !j.Dispatched ? h(DispatchForm, { ctx, job: j, base, q }) : null,
    section('Task groups', j ? h(GroupsTable, { ctx, job: j, allocs: allocs.value ?? [], base, q }) : null),
    section(
      'Latest deployment',
      deployment.value === undefined ? loading('Loading…') : h(DeploymentBlock, { ctx, d: deployment.value }),
    ),
    section('Allocations', allocs.value === undefined ? loading('Loading…') : h(AllocTable, { list: allocs.value })),
    section(
      'Versions',
      missing ? h('p', { class: 'empty' }, 'None.') : j ? h(Versions, { ctx, job: j, base, q }) : loading('Loading…'),
    ),
  );
}

function jobFacts(j: Job) {
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

function JobActions({
  ctx,
  job,
  path,
  base,
  q,
}: {
  ctx: ViewContext;
  job: Job;
  path: string;
  base: string;
  q: string;
}) {
  const action = useAction(ctx, 'job');
  const stop = () => {
    if (!window.confirm(`Stop job "${job.ID}"? Its allocations will be stopped.`)) return;
    void action.run((signal) => ctx.api.delete(path, signal));
  };
  const purge = () => {
    if (!window.confirm(`Stop and purge job "${job.ID}"? Its versions and history are deleted for good.`)) return;
    void action.run(async (signal) => {
      await ctx.api.delete(`${path}&purge=true`, signal);
      location.hash = '#/jobs';
    });
  };
  const force = () => void action.run((signal) => ctx.api.request('POST', `${base}/periodic/force?${q}`, {}, signal));
  return h(
    'span',
    { class: 'actions' },
    job.Periodic?.Enabled
      ? h('button', { type: 'button', onClick: force, disabled: action.busy }, 'Force launch')
      : null,
    job.Stop
      ? null
      : h(
          'button',
          { type: 'button', class: 'danger', onClick: stop, disabled: action.busy },
          action.busy ? 'Stopping…' : 'Stop job',
        ),
    h('button', { type: 'button', class: 'danger', onClick: purge, disabled: action.busy }, 'Purge job'),
    errorText(action),
  );
}

/** Dispatch a parameterized job: meta as `key=value` lines and an optional payload. */
function DispatchForm({ ctx, job, base, q }: { ctx: ViewContext; job: Job; base: string; q: string }) {
  const action = useAction(ctx, 'dispatch');
  const [meta, setMeta] = useState('');
  const [payload, setPayload] = useState('');
  const [done, setDone] = useState('');
  const p = job.ParameterizedJob!;
  const submit = (ev: Event) => {
    ev.preventDefault();
    const Meta: Record<string, string> = {};
    for (const line of meta.split('\n')) {
      const t = line.trim();
      if (!t) continue;
      const eq = t.indexOf('=');
      Meta[eq < 0 ? t : t.slice(0, eq)] = eq < 0 ? '' : t.slice(eq + 1);
    }
    void action
      .run((signal) =>
        ctx.api.request<{ DispatchedJobID: string }>(
          'POST',
          `${base}/dispatch?${q}`,
          { JobID: job.ID, Meta, Payload: payload ? btoa(unescape(encodeURIComponent(payload))) : null },
          signal,
        ),
      )
      .then((r) => r && setDone(r.DispatchedJobID));
  };
  return section(
    'Dispatch',
    h(
      'form',
      { class: 'stack', onSubmit: submit },
      h(
        'p',
        { class: 'note' },
        `Meta required: ${(p.MetaRequired ?? []).join(', ') || 'none'}; optional: ${(p.MetaOptional ?? []).join(', ') || 'none'}; payload ${p.Payload || 'optional'}.`,
      ),
      h('label', { for: 'dispatch-meta' }, 'Meta (one key=value a line)'),
      h('textarea', {
        id: 'dispatch-meta',
        rows: 3,
        value: meta,
        onInput: (e: Event) => setMeta((e.target as HTMLTextAreaElement).value),
      }),
      h('label', { for: 'dispatch-payload' }, 'Payload'),
      h('textarea', {
        id: 'dispatch-payload',
        rows: 3,
        value: payload,
        onInput: (e: Event) => setPayload((e.target as HTMLTextAreaElement).value),
      }),
      h('div', null, h('button', { type: 'submit', disabled: action.busy }, 'Dispatch')),
      done ? h('p', { role: 'status' }, 'Dispatched ', link(jobHref(done, job.Namespace), done), '.') : null,
      errorText(action),
    ),
  );
}

function GroupsTable(props: { ctx: ViewContext; job: Job; allocs: AllocListStub[]; base: string; q: string }) {
  const counts = allocCountsByGroup(props.allocs);
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
      {
        title: 'Scale',
        cell: (g) =>
          props.job.Stop || (props.job.Type !== 'service' && props.job.Type !== 'batch')
            ? '–'
            : h(ScaleControl, { ...props, group: g }),
      },
    ],
    props.job.TaskGroups ?? [],
    'None.',
    (g) => g.Name,
  );
}

/** A count input bounded by the group's `scaling` block (Min..Max), and its Scale button. */
function ScaleControl({
  ctx,
  job,
  group,
  base,
  q,
}: {
  ctx: ViewContext;
  job: Job;
  group: TaskGroup;
  base: string;
  q: string;
}) {
  const action = useAction(ctx, `scale ${group.Name}`);
  const [count, setCount] = useState(String(group.Count));
  // A count changed elsewhere (the CLI, another tab) shows here unless the user is editing it.
  useEffect(() => setCount(String(group.Count)), [group.Count]);
  const min = group.Scaling?.Min ?? 0;
  const max = group.Scaling?.Max ?? undefined;
  const id = `scale-${group.Name}`;
  const submit = (ev: Event) => {
    ev.preventDefault();
    const n = Number(count);
    if (!Number.isInteger(n) || n < min || (max !== undefined && max !== null && n > max)) return;
    if (
      n < group.Count &&
      !window.confirm(`Scale group "${group.Name}" of "${job.ID}" down from ${group.Count} to ${n}?`)
    )
      return;
    void action.run((signal) =>
      ctx.api.request(
        'POST',
        `${base}/scale?${q}`,
        { Count: n, Target: { Job: job.ID, Group: group.Name }, Message: 'scaled from the web UI' },
        signal,
      ),
    );
  };
  return h(
    'form',
    { class: 'inline-form', onSubmit: submit },
    h('label', { for: id, class: 'visually-hidden' }, `Count of group ${group.Name}`),
    h('input', {
      id,
      type: 'number',
      min,
      max: max ?? undefined,
      step: 1,
      value: count,
      class: 'count-input',
      onInput: (e: Event) => setCount((e.target as HTMLInputElement).value),
    }),
    ' ',
    h('button', { type: 'submit', disabled: action.busy || Number(count) === group.Count }, 'Scale'),
    errorText(action),
  );
}

/** The allocations table, shared with the node page (which shows the job instead of the node). */
export function AllocTable({ list, by = 'node' }: { list: AllocListStub[]; by?: 'node' | 'job' }) {
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
    (a) => a.ID,
  );
}

export function DeploymentBlock({ ctx, d }: { ctx: ViewContext; d: Deployment | null }) {
  const action = useAction(ctx, 'deployment');
  if (!d) return h('p', { class: 'empty' }, 'No deployments.');
  const groups = Object.entries(d.TaskGroups ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const active = d.Status === 'running' || d.Status === 'paused';
  const canaries = groups.some(([, s]) => s.DesiredCanaries > 0 && !s.Promoted);
  const post = (what: string, body: Record<string, unknown>) =>
    void action.run((signal) =>
      ctx.api.request('POST', `/v1/deployment/${what}/${seg(d.ID)}`, { DeploymentID: d.ID, ...body }, signal),
    );
  const fail = () => {
    if (window.confirm(`Mark deployment ${shortId(d.ID)} failed? Its job may be reverted (auto_revert).`))
      post('fail', {});
  };
  return h(
    'div',
    null,
    facts([
      ['ID', h('code', null, shortId(d.ID))],
      ['Job version', String(d.JobVersion)],
      ['Status', badge(d.Status)],
      ['Description', d.StatusDescription || '–'],
    ]),
    active
      ? h(
          'div',
          { class: 'actions' },
          canaries
            ? h(
                'button',
                { type: 'button', onClick: () => post('promote', { All: true }), disabled: action.busy },
                'Promote canaries',
              )
            : null,
          h(
            'button',
            { type: 'button', onClick: () => post('pause', { Pause: d.Status !== 'paused' }), disabled: action.busy },
            d.Status === 'paused' ? 'Resume deployment' : 'Pause deployment',
          ),
          h('button', { type: 'button', class: 'danger', onClick: fail, disabled: action.busy }, 'Fail deployment'),
          errorText(action),
        )
      : null,
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
        {
          title: 'Canaries',
          cell: ([, s]) =>
            s.DesiredCanaries
              ? `${(s.PlacedCanaries ?? []).length} of ${s.DesiredCanaries}${s.Promoted ? ', promoted' : ''}`
              : '–',
        },
        { title: 'Placed', cell: ([, s]) => s.PlacedAllocs, numeric: true },
        { title: 'Healthy', cell: ([, s]) => s.HealthyAllocs, numeric: true },
        { title: 'Unhealthy', cell: ([, s]) => s.UnhealthyAllocs, numeric: true },
      ],
      groups,
      'None.',
      ([name]) => name,
    ),
  );
}

/** Versions newest first, each with its diff against the one before; revert to any but the current. */
function Versions({ ctx, job, base, q }: { ctx: ViewContext; job: Job; base: string; q: string }) {
  const [versions, setVersions] = useState<JobVersions | undefined>(undefined);
  const action = useAction(ctx, 'revert');
  useEffect(() => {
    const path = `${base}/versions?${q}&diffs=true`;
    ctx.api.get<JobVersions>(path, ctx.signal).then(
      ({ value }) => {
        ctx.report('versions', undefined);
        setVersions(value);
      },
      (e: unknown) => {
        if (!ctx.signal.aborted) ctx.report('versions', asApiError(e, 'GET', path));
      },
    );
  }, [ctx, base, q, job.Version, job.JobModifyIndex]);
  if (!versions) return loading('Loading…');
  const list = (versions.Versions ?? []).map((v, i) => ({ v, diff: versions.Diffs?.[i] }));
  list.sort((a, b) => b.v.Version - a.v.Version);
  const revert = (version: number) => {
    if (!window.confirm(`Revert job "${job.ID}" to version ${version}? Its allocations will be replaced.`)) return;
    void action.run((signal) =>
      ctx.api.request(
        'POST',
        `${base}/revert?${q}`,
        { JobID: job.ID, JobVersion: version, EnforcePriorVersion: job.Version },
        signal,
      ),
    );
  };
  return h(
    'div',
    null,
    errorText(action),
    table(
      'Versions',
      [
        { title: 'Version', cell: ({ v }) => v.Version, numeric: true },
        { title: 'Stable', cell: ({ v }) => (v.Stable ? 'yes' : 'no') },
        { title: 'Submitted', cell: ({ v }) => time(v.SubmitTime) },
        {
          title: 'Changes',
          cell: ({ v, diff }) =>
            v.Version === 0 || !diff ? '–' : h('details', null, h('summary', null, diffSummary(diff)), diffView(diff)),
        },
        {
          title: 'Revert',
          cell: ({ v }) =>
            v.Version === job.Version
              ? 'current'
              : h(
                  'button',
                  {
                    type: 'button',
                    onClick: () => revert(v.Version),
                    disabled: action.busy,
                    'aria-label': `Revert to version ${v.Version}`,
                  },
                  'Revert',
                ),
        },
      ],
      list,
      'None.',
      ({ v }) => String(v.Version),
    ),
  );
}
