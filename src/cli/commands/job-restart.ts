/**
 * `drover job restart [flags] JOB`, as nomad 1.5+: restarts the running allocations of a job batch by batch,
 * in place (`alloc restart`, IDs kept, restart policy untouched) or with `-reschedule` through the scheduler
 * (`alloc stop`, replacements placed). Each batch waits until its allocations run again before the next one.
 * The batching, waits and questions are in job-restart-batches.ts; this file talks to the API.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DroverClient } from '../../api/index.js';
import type { AllocListStub, Allocation, Job } from '../../structs/index.js';
import { command, bool, str, strs, UsageError, type CommandContext, VERBOSE_OPTION } from '../command.js';
import { formatDurationShort } from '../format.js';
import { querying, resolveJob } from './common.js';
import { restartPlan, runRestartBatches, type RestartPlan } from './job-restart-batches.js';

/** How long one allocation may take to run again after its restart or stop. */
const RUNNING_AGAIN_TIMEOUT_MS = 5 * 60_000;
/** One blocking query's wait while following an allocation. */
const WAIT_MS = 5_000;

const terminal = (a: Pick<AllocListStub, 'DesiredStatus' | 'ClientStatus'>) =>
  a.DesiredStatus !== 'run' ||
  a.ClientStatus === 'complete' ||
  a.ClientStatus === 'failed' ||
  a.ClientStatus === 'lost';

/** -group and -task must name groups and tasks of the job (a task: of one of the chosen groups). */
function checkNames(job: Job, plan: RestartPlan): void {
  const groups = job.TaskGroups.map((g) => g.Name);
  for (const g of plan.groups)
    if (!groups.includes(g))
      throw new UsageError(`Error: group "${g}" not found in job "${job.ID}" (groups: ${groups.join(', ')})`);
  const chosen = job.TaskGroups.filter((g) => plan.groups.length === 0 || plan.groups.includes(g.Name));
  const tasks = new Set(chosen.flatMap((g) => g.Tasks.map((t) => t.Name)));
  for (const t of plan.tasks)
    if (!tasks.has(t))
      throw new UsageError(
        `Error: task "${t}" not found in ${plan.groups.length > 0 ? 'the chosen groups of ' : ''}job "${job.ID}"`,
      );
}

/** Follows one allocation with blocking queries until `done` holds; throws when it ends or takes too long. */
async function followAlloc(
  ctx: CommandContext,
  client: DroverClient,
  id: string,
  done: (a: Allocation) => boolean,
  what: string,
): Promise<void> {
  const until = Date.now() + RUNNING_AGAIN_TIMEOUT_MS;
  let index = 0;
  for (;;) {
    const r = await client.allocations.get(id, { index, wait: WAIT_MS, signal: ctx.signal });
    index = r.index;
    if (done(r.value)) return;
    if (terminal(r.value))
      throw new Error(
        `allocation stopped (desired status "${r.value.DesiredStatus}", client status "${r.value.ClientStatus}")`,
      );
    if (Date.now() > until)
      throw new Error(`${what} did not happen within ${formatDurationShort(RUNNING_AGAIN_TIMEOUT_MS)}`);
  }
}

/** In place: the restart call, then every restarted task running again with a higher restart count. */
async function restartInPlace(
  ctx: CommandContext,
  client: DroverClient,
  plan: RestartPlan,
  stub: AllocListStub,
): Promise<void> {
  const before = (await client.allocations.get(stub.ID, { signal: ctx.signal })).value;
  const states = before.TaskStates ?? {};
  const own = new Set(
    before.Job?.TaskGroups?.find((g) => g.Name === before.TaskGroup)?.Tasks.map((t) => t.Name) ?? Object.keys(states),
  );
  const named = plan.tasks.filter((t) => own.has(t));
  if (plan.tasks.length > 0 && named.length === 0) return;
  const watched = (named.length > 0 ? named : Object.keys(states)).filter((t) => states[t]?.State === 'running');
  const restarts = new Map(watched.map((t) => [t, states[t]?.Restarts ?? 0]));
  if (named.length > 0) for (const t of named) await client.allocations.restart(stub.ID, t, { signal: ctx.signal });
  else await client.allocations.restart(stub.ID, undefined, { allTasks: plan.allTasks, signal: ctx.signal });
  await followAlloc(
    ctx,
    client,
    stub.ID,
    (a) =>
      watched.every((t) => {
        const s = a.TaskStates?.[t];
        if (s?.State === 'dead') throw new Error(`task "${t}" did not start again${s.Failed ? ' (failed)' : ''}`);
        return s?.State === 'running' && s.Restarts > restarts.get(t)!;
      }),
    'the restart',
  );
}

/** Through the scheduler: stop, then wait for the replacement (same name, newer) to run. */
async function reschedule(ctx: CommandContext, client: DroverClient, stub: AllocListStub): Promise<void> {
  await client.allocations.stop(stub.ID, { signal: ctx.signal });
  const until = Date.now() + RUNNING_AGAIN_TIMEOUT_MS;
  let index = 0;
  for (;;) {
    const r = await client.jobs.allocations(stub.JobID, {
      index,
      wait: WAIT_MS,
      namespace: stub.Namespace,
      signal: ctx.signal,
    });
    index = r.index;
    const next = r.value.find(
      (x) => x.Name === stub.Name && x.ID !== stub.ID && x.CreateIndex > stub.CreateIndex && x.DesiredStatus === 'run',
    );
    if (next?.ClientStatus === 'running') return;
    if (next && terminal(next))
      throw new Error(
        `replacement allocation "${next.ID.slice(0, 8)}" ended with client status "${next.ClientStatus}"`,
      );
    if (Date.now() > until)
      throw new Error(`no replacement was running within ${formatDurationShort(RUNNING_AGAIN_TIMEOUT_MS)}`);
  }
}

export const jobRestart = command('job restart <job>', {
  summary: 'Restart or reschedule the allocations of a job, batch by batch',
  options: [
    { flags: '--batch-size <n>', description: 'allocations restarted at once: a number or a percentage (default 1)' },
    { flags: '--batch-wait <duration>', description: 'wait between batches, or "ask" (default 0)' },
    { flags: '--group <group>', description: 'only allocations of this group (repeatable)', repeatable: true },
    {
      flags: '--task <task>',
      description: 'only this task (repeatable); default: the running tasks',
      repeatable: true,
    },
    { flags: '--all-tasks', description: 'restart every task, finished prestart and poststart tasks included' },
    { flags: '--reschedule', description: 'stop the allocations and let the scheduler place replacements' },
    {
      flags: '--on-error <ask|fail>',
      description: 'after a failed batch: ask (default; fails without a terminal) or fail',
    },
    { flags: '-y, --yes', description: 'answer yes to questions: go on after errors and between batches' },
    VERBOSE_OPTION,
  ],
  async run(ctx, [id], opts) {
    const plan = restartPlan({
      batchSize: str(opts.batchSize),
      batchWait: str(opts.batchWait),
      groups: strs(opts.group),
      tasks: strs(opts.task),
      allTasks: bool(opts.allTasks),
      reschedule: bool(opts.reschedule),
      onError: str(opts.onError),
      yes: bool(opts.yes),
      verbose: bool(opts.verbose),
    });
    if (plan.batchWait === 'ask' && !plan.yes && !ctx.ask)
      throw new UsageError('Error: -batch-wait=ask needs a terminal to answer on; give a duration or -yes');
    const client = ctx.client();
    const stub = await resolveJob(ctx, client, id!);
    const ns = stub.Namespace || undefined;
    const job = (await querying('job', client.jobs.get(stub.ID, { namespace: ns, signal: ctx.signal }))).value;
    checkNames(job, plan);
    const allocs = ((await client.jobs.allocations(job.ID, { namespace: ns, signal: ctx.signal })).value ?? [])
      .filter((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running')
      .filter((a) => plan.groups.length === 0 || plan.groups.includes(a.TaskGroup))
      .sort((a, b) => a.CreateIndex - b.CreateIndex || a.ID.localeCompare(b.ID));
    return runRestartBatches(allocs, plan, {
      out: ctx.out,
      now: ctx.now,
      restartOne: (a) => (plan.reschedule ? reschedule(ctx, client, a) : restartInPlace(ctx, client, plan, a)),
      current: async (a) => {
        try {
          return (await client.allocations.get(a.ID, { signal: ctx.signal })).value;
        } catch {
          return undefined;
        }
      },
      sleep: (ms) => sleep(ms, undefined, { signal: ctx.signal }),
      ask: ctx.ask,
    });
  },
});
