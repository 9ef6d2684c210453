/**
 * The rolling part of `job restart`, free of HTTP: flags → a plan, allocations → batches, and the batch loop
 * with nomad's progress lines, waits, questions and error policy. The command (job-restart.ts) supplies how one
 * allocation is restarted or rescheduled, so the loop is tested with fakes.
 *
 *   batch 1 ─► restart every alloc of the batch at once, each waits until its tasks run again ─► errors?
 *      │                                                       on-error fail (or no terminal) ─► canceled, exit 1
 *      │                                                       on-error ask ─► "y" goes on, anything else cancels
 *      ▼                                                       -yes ─► noted, goes on
 *   batch-wait: duration ─► sleep │ ask ─► y / n / a new duration for the remaining batches ─► batch 2 ...
 */
import type { AllocListStub } from '../../structs/index.js';
import { UsageError } from '../command.js';
import { readGoDuration } from '../../lib/duration.js';
import { formatDurationShort, formatTime, shortId } from '../format.js';
import type { Output } from '../output.js';

export interface RestartPlan {
  batchSize: { count: number } | { percent: number };
  /** Milliseconds between batches, or 'ask'. */
  batchWait: number | 'ask';
  groups: string[];
  tasks: string[];
  allTasks: boolean;
  reschedule: boolean;
  /** Undefined when not given: ask (fail without a terminal; go on with -yes). */
  onError: 'ask' | 'fail' | undefined;
  yes: boolean;
  verbose: boolean;
}

export interface RestartFlags {
  batchSize?: string;
  batchWait?: string;
  groups?: string[];
  tasks?: string[];
  allTasks?: boolean;
  reschedule?: boolean;
  onError?: string;
  yes?: boolean;
  verbose?: boolean;
}

/** `-batch-size N|N%`: a positive count, or a percentage of the allocations to restart (1 to 100). */
export function parseBatchSize(text: string): RestartPlan['batchSize'] {
  const m = /^(\d+)(%?)$/.exec(text.trim());
  if (!m)
    throw new UsageError(
      `Invalid -batch-size value "${text}": expected a number of allocations or a percentage such as 25%`,
    );
  const n = Number(m[1]);
  if (n <= 0) throw new UsageError(`Invalid -batch-size value "${text}": it must be greater than zero`);
  if (m[2] === '%') {
    if (n > 100) throw new UsageError(`Invalid -batch-size value "${text}": a percentage must be at most 100%`);
    return { percent: n };
  }
  return { count: n };
}

/** `-batch-wait DURATION|ask`. */
export function parseBatchWait(text: string): number | 'ask' {
  if (text.trim().toLowerCase() === 'ask') return 'ask';
  const r = readGoDuration(text.trim(), { allowNegative: false });
  if (!r.ok) throw new UsageError(`Invalid -batch-wait value "${text}": expected a duration such as 10s or "ask"`);
  return r.ns / 1e6;
}

/** The flags, checked together as nomad does. */
export function restartPlan(f: RestartFlags): RestartPlan {
  const tasks = f.tasks ?? [];
  if (f.allTasks && tasks.length > 0) throw new UsageError('The -all-tasks option cannot be used with -task');
  if (f.reschedule && tasks.length > 0) throw new UsageError('The -reschedule option cannot be used with -task');
  if (f.reschedule && f.allTasks) throw new UsageError('The -reschedule option cannot be used with -all-tasks');
  const onError = f.onError === undefined ? undefined : f.onError.toLowerCase();
  if (onError !== undefined && onError !== 'ask' && onError !== 'fail')
    throw new UsageError(`Invalid -on-error value "${f.onError}": expected "ask" or "fail"`);
  return {
    batchSize: parseBatchSize(f.batchSize ?? '1'),
    batchWait: parseBatchWait(f.batchWait ?? '0'),
    groups: f.groups ?? [],
    tasks,
    allTasks: f.allTasks ?? false,
    reschedule: f.reschedule ?? false,
    onError,
    yes: f.yes ?? false,
    verbose: f.verbose ?? false,
  };
}

/** How many allocations one batch holds; percentages round up, as nomad's. */
export function batchCount(size: RestartPlan['batchSize'], total: number): number {
  if ('count' in size) return size.count;
  return Math.max(1, Math.ceil((total * size.percent) / 100));
}

export function toBatches<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st... */
export function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What the loop needs from the outside world. */
export interface BatchDeps {
  out: Output;
  now(): number;
  /** Restarts (or reschedules) one allocation and resolves when it runs again; rejects with the reason. */
  restartOne(a: AllocListStub): Promise<void>;
  /** The allocation as it is now, to skip those that stopped meanwhile; undefined when it is gone. */
  current(a: AllocListStub): Promise<Pick<AllocListStub, 'DesiredStatus' | 'ClientStatus'> | undefined>;
  sleep(ms: number): Promise<void>;
  /** Asks a question on the terminal; undefined when there is none (stdin is not interactive). */
  ask?(question: string): Promise<string | undefined>;
}

/** One progress line, as nomad prints them: `==> <time>: text` for steps, indented for allocations. */
function say(d: BatchDeps, text: string, step = true): void {
  d.out.line(`${step ? '==>' : '   '} ${formatTime(d.now())}: ${text}`);
}

function describe(a: AllocListStub, plan: RestartPlan): string {
  const id = shortId(a.ID, plan.verbose);
  if (plan.reschedule) return `Rescheduling allocation "${id}" for group "${a.TaskGroup}"`;
  if (plan.allTasks) return `Restarting all tasks in allocation "${id}" for group "${a.TaskGroup}"`;
  if (plan.tasks.length > 0)
    return `Restarting ${plan.tasks.length === 1 ? 'task' : 'tasks'} ${plan.tasks.map((t) => `"${t}"`).join(', ')} in allocation "${id}" for group "${a.TaskGroup}"`;
  return `Restarting running tasks in allocation "${id}" for group "${a.TaskGroup}"`;
}

/** Runs one batch; returns the failures as lines. */
async function runBatch(batch: AllocListStub[], plan: RestartPlan, d: BatchDeps): Promise<string[]> {
  const live: AllocListStub[] = [];
  for (const a of batch) {
    const now = await d.current(a);
    if (!now || now.DesiredStatus !== 'run' || now.ClientStatus !== 'running') {
      say(d, `Skipping allocation "${shortId(a.ID, plan.verbose)}": it is no longer running`, false);
      continue;
    }
    live.push(a);
  }
  for (const a of live) say(d, describe(a, plan), false);
  const results = await Promise.allSettled(live.map((a) => d.restartOne(a)));
  const failures: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'rejected') {
      const why = r.reason instanceof Error ? r.reason.message : String(r.reason);
      failures.push(
        `Error ${plan.reschedule ? 'rescheduling' : 'restarting'} allocation "${shortId(live[i]!.ID, plan.verbose)}": ${why}`,
      );
    }
  });
  return failures;
}

/** After a failed batch: go on (true) or stop (false), by -on-error, -yes and the answer. */
async function goOnAfterErrors(plan: RestartPlan, d: BatchDeps): Promise<boolean> {
  if (plan.onError === 'fail') return false;
  if (plan.onError === undefined && plan.yes) return true;
  const answer = await d.ask?.(
    `==> ${formatTime(d.now())}: Restart failed. Proceed with the remaining batches? [y/N] `,
  );
  return answer !== undefined && /^y(es)?$/i.test(answer.trim());
}

/** The wait between batches; returns the wait to use for the next ones, or 'cancel'. */
async function betweenBatches(
  wait: number | 'ask',
  plan: RestartPlan,
  d: BatchDeps,
): Promise<number | 'ask' | 'cancel'> {
  if (wait === 'ask') {
    if (plan.yes) return wait;
    const answer = (
      await d.ask?.(`==> ${formatTime(d.now())}: Proceed with the next batch? [Y/n/<duration>] `)
    )?.trim();
    if (answer === undefined) return 'cancel';
    if (answer === '' || /^y(es)?$/i.test(answer)) return wait;
    const r = readGoDuration(answer, { allowNegative: false });
    if (!r.ok) return 'cancel';
    const ns = r.ns;
    say(d, `Proceeding restarts with new wait time of ${formatDurationShort(ns / 1e6)}`);
    await d.sleep(ns / 1e6);
    return ns / 1e6;
  }
  if (wait > 0) {
    say(d, `Waiting ${formatDurationShort(wait)} before restarting the next batch`);
    await d.sleep(wait);
  }
  return wait;
}

/** Restarts `allocs` batch by batch; returns the exit code. */
export async function runRestartBatches(allocs: AllocListStub[], plan: RestartPlan, d: BatchDeps): Promise<number> {
  if (allocs.length === 0) {
    d.out.line('No allocations to restart');
    return 0;
  }
  const size = batchCount(plan.batchSize, allocs.length);
  const batches = toBatches(allocs, size);
  say(d, `Restarting ${plural(allocs.length, 'allocation')}`);
  let wait = plan.batchWait;
  const failed: string[] = [];
  for (const [i, batch] of batches.entries()) {
    if (batches.length > 1) say(d, `Restarting ${ordinal(i + 1)} batch of ${plural(batch.length, 'allocation')}`);
    const failures = await runBatch(batch, plan, d);
    for (const f of failures) d.out.error(`    ${formatTime(d.now())}: ${f}`);
    failed.push(...failures);
    const last = i === batches.length - 1;
    if (failures.length > 0 && !last && !(await goOnAfterErrors(plan, d))) return canceled(d, failed);
    if (last) break;
    const next = await betweenBatches(wait, plan, d);
    if (next === 'cancel') return canceled(d, failed);
    wait = next;
  }
  say(d, 'Finished job restart');
  if (failed.length > 0) {
    d.out.error(
      `\n${plural(failed.length, 'allocation')} failed to restart:\n${failed.map((f) => `  ${f}`).join('\n')}`,
    );
    return 1;
  }
  d.out.line('');
  d.out.line('All allocations restarted successfully!');
  return 0;
}

function canceled(d: BatchDeps, failed: string[]): number {
  say(d, 'Job restart canceled');
  if (failed.length > 0)
    d.out.error(
      `\nJob restart canceled after ${plural(failed.length, 'error')}:\n${failed.map((f) => `  ${f}`).join('\n')}`,
    );
  return 1;
}
