/**
 * One allocation: its facts, task states and events (live), and a Logs tab that follows a task's stdout or
 * stderr through `/v1/client/fs/logs/:alloc?follow=true&plain=true`. The tabs are links (`.../logs?task=`),
 * so a log view can be bookmarked and the back button works.
 */
import { abortableSleep, ApiError, retryDelayMs } from '../api.js';
import { badge, facts, h, heading, link, render, section, table, time } from '../dom.js';
import { keepTail, shortId } from '../format.js';
import { clientHref, jobHref, toHash, type Route } from '../routes.js';
import type { Allocation, TaskEvent, TaskState } from '../types.js';
import { seg, type ViewContext } from './context.js';

type AllocRoute = Extract<Route, { view: 'alloc' }>;

/** How much of a log is fetched when the tab opens, and how much the page keeps as it follows. */
const LOG_TAIL_BYTES = 64 * 1024;
const LOG_KEEP_CHARS = 512 * 1024;

export function allocView(ctx: ViewContext, route: AllocRoute): void {
  ctx.title(`Allocation ${shortId(route.id)}`);
  const head = h('div', null, heading(`Allocation ${shortId(route.id)}`));
  const tab = (which: AllocRoute['tab'], label: string) =>
    link(toHash({ view: 'alloc', id: route.id, tab: which }), label, {
      class: 'tab',
      'aria-current': route.tab === which ? 'page' : null,
    });
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Allocation' },
    tab('overview', 'Overview'),
    tab('logs', 'Logs'),
  );
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading allocation…'));
  render(ctx.main, head, tabs, body);
  ctx.ready();

  let logsStarted = false;
  let loaded = false;
  const onAlloc = (a: Allocation) => {
    loaded = true;
    render(head, heading(`Allocation ${a.Name}`, ' ', badge(a.ClientStatus)));
    if (route.tab === 'overview') render(body, overview(a));
    else if (!logsStarted) {
      // The log stream starts once, when the tasks are known; later updates leave it running.
      logsStarted = true;
      logsTab(ctx, route, a, body);
    }
  };
  const onAllocError = (err: ApiError) => {
    if (err.status === 404 && !loaded) render(body, h('p', { class: 'empty' }, `No allocation "${route.id}".`));
  };
  ctx.watch<Allocation>('allocation', `/v1/allocation/${seg(route.id)}`, onAlloc, onAllocError);
}

function overview(a: Allocation): HTMLElement {
  const states = Object.entries(a.TaskStates ?? {}).sort(([x], [y]) => x.localeCompare(y));
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
      ),
    ),
    states.map(([name, s]) => taskEvents(name, s)),
  );
}

function taskEvents(name: string, s: TaskState): HTMLElement {
  const events = [...(s.Events ?? [])].sort((x, y) => y.Time - x.Time);
  return section(
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
    ),
  );
}

function taskNames(a: Allocation): string[] {
  const names = new Set(Object.keys(a.TaskStates ?? {}));
  for (const t of a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup)?.Tasks ?? []) names.add(t.Name);
  return [...names].sort();
}

function logsTab(ctx: ViewContext, route: AllocRoute, a: Allocation, into: HTMLElement): void {
  const tasks = taskNames(a);
  const task = route.task && tasks.includes(route.task) ? route.task : tasks[0];
  const type = route.type ?? 'stdout';
  if (!task) {
    render(into, h('p', { class: 'empty' }, 'This allocation has no tasks.'));
    return;
  }
  const go = (t: string, ty: string) => {
    location.hash = toHash({
      view: 'alloc',
      id: route.id,
      tab: 'logs',
      task: t,
      type: ty === 'stderr' ? 'stderr' : 'stdout',
    });
  };
  const taskSelect = h(
    'select',
    { id: 'log-task', onchange: (e) => go((e.target as HTMLSelectElement).value, type) },
    tasks.map((t) => h('option', { value: t, selected: t === task }, t)),
  );
  const typeSelect = h(
    'select',
    { id: 'log-type', onchange: (e) => go(task, (e.target as HTMLSelectElement).value) },
    ['stdout', 'stderr'].map((t) => h('option', { value: t, selected: t === type }, t)),
  );
  const status = h('p', { class: 'log-status', role: 'status' }, `Waiting for ${type} of task ${task}…`);
  const text = document.createTextNode('');
  const pre = h('pre', { class: 'logs', tabindex: '0', 'aria-label': `${type} of task ${task}` }, text);
  render(
    into,
    h(
      'div',
      { class: 'log-controls' },
      h('label', { for: 'log-task' }, 'Task '),
      taskSelect,
      ' ',
      h('label', { for: 'log-type' }, 'Stream '),
      typeSelect,
    ),
    status,
    pre,
  );

  const append = (chunk: string) => {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    text.appendData(chunk);
    if (text.length > LOG_KEEP_CHARS) text.data = keepTail(text.data, LOG_KEEP_CHARS).text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  };
  const say = (msg: string) => {
    if (status.textContent !== msg) status.textContent = msg;
  };
  void followLog(ctx, `/v1/client/fs/logs/${seg(a.ID)}`, task, type, append, say);
}

/**
 * Follows a task log until the view goes away. A broken connection (no answer, the network changed) is
 * retried; a refusal from the API (unknown task, no client here) stops with the API's text.
 */
async function followLog(
  ctx: ViewContext,
  path: string,
  task: string,
  type: string,
  append: (text: string) => void,
  say: (msg: string) => void,
): Promise<void> {
  let received = false;
  let failures = 0;
  while (!ctx.signal.aborted) {
    // The first request starts a tail's worth from the end; after a break only what comes next is wanted.
    const params = { task, type, follow: 'true', plain: 'true', origin: 'end', offset: received ? 0 : LOG_TAIL_BYTES };
    const resumed = failures > 0;
    try {
      await ctx.api.stream(path, params, ctx.signal, (chunk) => {
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
      if (!ctx.signal.aborted) say(`The ${type} stream of task ${task} ended.`);
      return;
    } catch (e) {
      if (ctx.signal.aborted) return;
      const err = e instanceof ApiError ? e : new ApiError('GET', path, 0, String(e), 'Internal');
      ctx.report('logs', err);
      if (err.status !== 0) {
        say(`The ${type} stream of task ${task} stopped: ${err.text}`);
        return;
      }
      failures++;
      say(`The connection to the ${type} stream broke; reconnecting…`);
      await abortableSleep(retryDelayMs(err, failures), ctx.signal);
    }
  }
}
