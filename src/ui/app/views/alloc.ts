/**
 * One allocation: its facts, CPU and memory charts (from `/v1/client/allocation/:id/stats`, sampled while the
 * page is open), task states and events (live); a Logs tab that follows a task's stdout or stderr through
 * `/v1/client/fs/logs/:alloc?follow=true&plain=true`; a Files tab over `alloc fs`; an Exec tab with a terminal
 * (views/exec.ts). The tabs are links, so a log or a file can be bookmarked and the back button works.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { abortableSleep, ApiError, retryDelayMs } from '../api.js';
import { Chart, pushSample, type Sample } from '../chart.js';
import { badge, facts, h, heading, link, loading, section, table, time } from '../dom.js';
import { formatBytes, keepTail, shortId } from '../format.js';
import { clientHref, jobHref, toHash, type Route } from '../routes.js';
import type { AllocStats, Allocation, FileInfo, TaskEvent, TaskState } from '../types.js';
import { asApiError, seg, useViewTitle, useWatch, type ViewContext, type ViewProps } from './context.js';
import { ExecTab } from './exec.js';

type AllocRoute = Extract<Route, { view: 'alloc' }>;

/** How much of a log is fetched when the tab opens, and how much the page keeps as it follows. */
const LOG_TAIL_BYTES = 64 * 1024;
const LOG_KEEP_CHARS = 512 * 1024;
/** Stats sampling: every 2 s, the last 60 samples (two minutes) drawn. */
const STATS_EVERY_MS = 2_000;
const STATS_KEEP = 60;

export function AllocView({ ctx, route }: ViewProps & { route: AllocRoute }) {
  useViewTitle(ctx, `Allocation ${shortId(route.id)}`);
  const alloc = useWatch<Allocation>(ctx, 'allocation', `/v1/allocation/${seg(route.id)}`);
  const a = alloc.value;
  const tab = (which: AllocRoute['tab'], label: string) =>
    link(toHash({ view: 'alloc', id: route.id, tab: which }), label, {
      class: 'tab',
      'aria-current': route.tab === which ? 'page' : undefined,
    });
  let body;
  if (!a)
    body =
      alloc.error?.status === 404
        ? h('p', { class: 'empty' }, `No allocation "${route.id}".`)
        : loading('Loading allocation…');
  else if (route.tab === 'overview') body = h(Overview, { ctx, a });
  else if (route.tab === 'logs') body = h(LogsTab, { ctx, route, a });
  else if (route.tab === 'exec')
    body = h(ExecTab, { ctx, allocId: a.ID, tasks: taskNames(a), initialTask: route.task });
  else body = h(FilesTab, { ctx, route, a });
  return h(
    'div',
    null,
    a ? heading(`Allocation ${a.Name}`, ' ', badge(a.ClientStatus)) : heading(`Allocation ${shortId(route.id)}`),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'Allocation' },
      tab('overview', 'Overview'),
      tab('logs', 'Logs'),
      tab('files', 'Files'),
      tab('exec', 'Exec'),
    ),
    body,
  );
}

function Overview({ ctx, a }: { ctx: ViewContext; a: Allocation }) {
  const states = Object.entries(a.TaskStates ?? {}).sort(([x], [y]) => x.localeCompare(y));
  const running = a.ClientStatus === 'running';
  return h(
    'div',
    null,
    facts([
      ['ID', h('code', null, a.ID)],
      ['Job', link(jobHref(a.JobID, a.Namespace), a.JobID)],
      ['Task group', a.TaskGroup],
      ['Node', a.NodeID ? link(clientHref(a.NodeID), a.NodeName || shortId(a.NodeID)) : '–'],
      ['Desired', a.DesiredStatus + (a.DesiredDescription ? ` (${a.DesiredDescription})` : '')],
      ['Client status', a.ClientStatus + (a.ClientDescription ? ` (${a.ClientDescription})` : '')],
      ['Created', time(a.CreateTime)],
      ['Modified', time(a.ModifyTime)],
    ]),
    running ? h(StatsCharts, { ctx, id: a.ID }) : null,
    section(
      'Tasks',
      table(
        'Task states',
        [
          { title: 'Task', cell: ([name]) => name },
          { title: 'State', cell: ([, s]) => badge(s.State) },
          { title: 'Failed', cell: ([, s]) => (s.Failed ? 'yes' : 'no') },
          { title: 'Restarts', cell: ([, s]) => s.Restarts, numeric: true },
          { title: 'Started', cell: ([, s]) => time(s.StartedAt) },
          { title: 'Finished', cell: ([, s]) => time(s.FinishedAt) },
        ],
        states,
        'No task has started yet.',
        ([name]) => name,
      ),
    ),
    states.map(([name, s]) => taskEvents(name, s)),
  );
}

/** Samples the allocation's stats while shown; the charts keep the last two minutes. */
function StatsCharts({ ctx, id }: { ctx: ViewContext; id: string }) {
  const [cpu, setCpu] = useState<Sample[]>([]);
  const [mem, setMem] = useState<Sample[]>([]);
  useEffect(() => {
    const ac = new AbortController();
    const stop = () => ac.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    const path = `/v1/client/allocation/${seg(id)}/stats`;
    const loop = async () => {
      let failures = 0;
      while (!ac.signal.aborted) {
        try {
          const { value } = await ctx.api.get<AllocStats>(path, ac.signal);
          failures = 0;
          ctx.report('stats', undefined);
          const t = Math.round((value.Timestamp || Date.now() * 1e6) / 1e6);
          setCpu((s) => pushSample(s, { t, v: value.ResourceUsage.CpuStats.Percent }, STATS_KEEP));
          const m = value.ResourceUsage.MemoryStats;
          setMem((s) => pushSample(s, { t, v: (m.RSS || m.Usage) / (1024 * 1024) }, STATS_KEEP));
          await abortableSleep(STATS_EVERY_MS, ac.signal);
        } catch (e) {
          if (ac.signal.aborted) return;
          const err = asApiError(e, 'GET', path);
          ctx.report('stats', err);
          await abortableSleep(retryDelayMs(err, ++failures), ac.signal);
        }
      }
    };
    void loop();
    return () => {
      ctx.signal.removeEventListener('abort', stop);
      ac.abort();
    };
  }, [ctx, id]);
  return section(
    'Resource use',
    h(
      'div',
      { class: 'charts' },
      h(Chart, { title: 'CPU', unit: '%', samples: cpu }),
      h(Chart, { title: 'Memory', unit: 'MiB', samples: mem }),
    ),
  );
}

function taskEvents(name: string, s: TaskState) {
  const events = [...(s.Events ?? [])].sort((x, y) => y.Time - x.Time);
  return h(
    'div',
    { key: name },
    section(
      `Events of task ${name}`,
      table<TaskEvent>(
        `Events of task ${name}, newest first`,
        [
          { title: 'Time', cell: (e) => time(e.Time) },
          { title: 'Type', cell: (e) => e.Type },
          { title: 'Message', cell: (e) => e.DisplayMessage || e.Message || '' },
        ],
        events,
        'No events.',
        (e, i) => `${e.Time}-${e.Type}-${i}`,
      ),
    ),
  );
}

function taskNames(a: Allocation): string[] {
  const names = new Set(Object.keys(a.TaskStates ?? {}));
  for (const t of a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup)?.Tasks ?? []) names.add(t.Name);
  return [...names].sort();
}

function LogsTab({ ctx, route, a }: { ctx: ViewContext; route: AllocRoute; a: Allocation }) {
  const tasks = taskNames(a);
  const task = route.task && tasks.includes(route.task) ? route.task : tasks[0];
  const type = route.type ?? 'stdout';
  const pre = useRef<HTMLPreElement>(null);
  const [status, setStatus] = useState(`Waiting for ${type} of task ${task ?? ''}…`);
  useEffect(() => {
    const el = pre.current;
    if (!task || !el) return;
    const ac = new AbortController();
    const stop = () => ac.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    // The log text lives outside Preact's tree: chunks are appended to one text node as they arrive.
    const text = document.createTextNode('');
    el.replaceChildren(text);
    const append = (chunk: string) => {
      const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
      text.appendData(chunk);
      if (text.length > LOG_KEEP_CHARS) text.data = keepTail(text.data, LOG_KEEP_CHARS).text;
      if (atBottom) el.scrollTop = el.scrollHeight;
    };
    void followLog(ctx, ac.signal, `/v1/client/fs/logs/${seg(a.ID)}`, task, type, append, setStatus);
    return () => {
      ctx.signal.removeEventListener('abort', stop);
      ac.abort();
    };
    // The stream starts once per task and type; later allocation updates leave it running.
  }, [ctx, a.ID, task, type]);
  if (!task) return h('p', { class: 'empty' }, 'This allocation has no tasks.');
  const go = (t: string, ty: string) => {
    location.hash = toHash({
      view: 'alloc',
      id: route.id,
      tab: 'logs',
      task: t,
      type: ty === 'stderr' ? 'stderr' : 'stdout',
    });
  };
  return h(
    'div',
    null,
    h(
      'div',
      { class: 'log-controls' },
      h('label', { for: 'log-task' }, 'Task '),
      h(
        'select',
        { id: 'log-task', value: task, onChange: (e: Event) => go((e.target as HTMLSelectElement).value, type) },
        tasks.map((t) => h('option', { value: t, key: t }, t)),
      ),
      ' ',
      h('label', { for: 'log-type' }, 'Stream '),
      h(
        'select',
        { id: 'log-type', value: type, onChange: (e: Event) => go(task, (e.target as HTMLSelectElement).value) },
        ['stdout', 'stderr'].map((t) => h('option', { value: t, key: t }, t)),
      ),
    ),
    h('p', { class: 'log-status', role: 'status' }, status),
    h('pre', { ref: pre, class: 'logs', tabIndex: 0, 'aria-label': `${type} of task ${task}` }),
  );
}

/**
 * Follows a task log until `signal` aborts. A broken connection (no answer, the network changed) is
 * retried; a refusal from the API (unknown task, no client here) stops with the API's text.
 */
async function followLog(
  ctx: ViewContext,
  signal: AbortSignal,
  path: string,
  task: string,
  type: string,
  append: (text: string) => void,
  say: (msg: string) => void,
): Promise<void> {
  let received = false;
  let failures = 0;
  while (!signal.aborted) {
    // The first request starts a tail's worth from the end; after a break only what comes next is wanted.
    const params = { task, type, follow: 'true', plain: 'true', origin: 'end', offset: received ? 0 : LOG_TAIL_BYTES };
    const resumed = failures > 0;
    try {
      await ctx.api.stream(path, params, signal, (chunk) => {
        received = true;
        failures = 0;
        ctx.report('logs', undefined);
        say(
          resumed
            ? `Following ${type} of task ${task} again; lines written while disconnected may be missing.`
            : `Following ${type} of task ${task}.`,
        );
        append(chunk);
      });
      if (!signal.aborted) say(`The ${type} stream of task ${task} ended.`);
      return;
    } catch (e) {
      if (signal.aborted) return;
      const err = e instanceof ApiError ? e : new ApiError('GET', path, 0, String(e), 'Internal');
      ctx.report('logs', err);
      if (err.status !== 0) {
        say(`The ${type} stream of task ${task} stopped: ${err.text}`);
        return;
      }
      failures++;
      say(`The connection to the ${type} stream broke; reconnecting…`);
      await abortableSleep(retryDelayMs(err, failures), signal);
    }
  }
}

/** The allocation directory (`alloc fs ls` / `cat`): directories are links, a file shows its text. */
function FilesTab({ ctx, route, a }: { ctx: ViewContext; route: AllocRoute; a: Allocation }) {
  const path = route.path || '/';
  const [entries, setEntries] = useState<FileInfo[] | undefined>(undefined);
  const [content, setContent] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    setEntries(undefined);
    setContent(undefined);
    setError(undefined);
    const ls = `/v1/client/fs/ls/${seg(a.ID)}`;
    const cat = `/v1/client/fs/cat/${seg(a.ID)}`;
    const load = async () => {
      try {
        const list = (await ctx.api.get<FileInfo[] | FileInfo>(`${ls}?path=${encodeURIComponent(path)}`, ctx.signal))
          .value;
        setEntries(Array.isArray(list) ? list : [list]);
      } catch (e) {
        if (ctx.signal.aborted) return;
        // Not a directory: show it as a file.
        if (e instanceof ApiError && e.status === 400) {
          try {
            setContent(await ctx.api.text(cat, { path }, ctx.signal));
          } catch (e2) {
            if (!ctx.signal.aborted) setError(asApiError(e2, 'GET', cat).message);
          }
        } else setError(asApiError(e, 'GET', ls).message);
      }
    };
    void load();
  }, [ctx, a.ID, path]);
  const href = (p: string) => toHash({ view: 'alloc', id: a.ID, tab: 'files', path: p });
  const parts = path.split('/').filter(Boolean);
  const crumbs = h(
    'nav',
    { class: 'crumbs', 'aria-label': 'Path' },
    link(href('/'), 'alloc dir'),
    parts.map((p, i) => [' / ', link(href('/' + parts.slice(0, i + 1).join('/')), p)]),
  );
  if (error) return h('div', null, crumbs, h('p', { class: 'action-error', role: 'status' }, error));
  if (content !== undefined)
    return h('div', null, crumbs, h('pre', { class: 'logs file', tabIndex: 0, 'aria-label': `File ${path}` }, content));
  if (!entries) return h('div', null, crumbs, loading('Loading…'));
  const sorted = [...entries].sort((x, y) => Number(y.IsDir) - Number(x.IsDir) || x.Name.localeCompare(y.Name));
  return h(
    'div',
    null,
    crumbs,
    table(
      `Files in ${path}`,
      [
        {
          title: 'Name',
          cell: (f) => link(href(`${path === '/' ? '' : path}/${f.Name}`), f.IsDir ? `${f.Name}/` : f.Name),
        },
        { title: 'Size', cell: (f) => (f.IsDir ? '–' : formatBytes(f.Size)), numeric: true },
        { title: 'Mode', cell: (f) => h('code', null, f.FileMode) },
        { title: 'Modified', cell: (f) => time(f.ModTime) },
      ],
      sorted,
      'Empty directory.',
      (f) => f.Name,
    ),
  );
}
