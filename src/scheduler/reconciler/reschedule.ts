/**
 * Rescheduling failed allocations: is another attempt allowed under the group's reschedule policy,
 * and when (now, or later with a follow-up eval)? Delay functions: constant, exponential (doubling)
 * and fibonacci, capped by max_delay. Times here are Unix milliseconds; tracker fields are
 * nanoseconds as in Nomad's JSON.
 */
import type { Allocation, Job, ReschedulePolicy, RescheduleEvent, TaskGroup } from '../../structs/index.js';
import { JobTypeBatch, NS_PER_MS, NS_PER_S } from '../../structs/index.js';

/** Allocations due within this window count as due now. */
export const RescheduleWindowMs = 1000;
/** Follow-up evals for failures this close together are batched into one. */
export const RescheduleBatchWindowMs = 5000;

const hour = 3600 * NS_PER_S;

export function reschedulePolicyFor(job: Job, tg: TaskGroup): ReschedulePolicy {
  if (tg.ReschedulePolicy) return tg.ReschedulePolicy;
  if (job.Reschedule) return job.Reschedule;
  if (job.Type === JobTypeBatch) {
    return {
      Attempts: 1,
      Interval: 24 * hour,
      Delay: 5 * NS_PER_S,
      DelayFunction: 'constant',
      MaxDelay: 0,
      Unlimited: false,
    };
  }
  return {
    Attempts: 0,
    Interval: 0,
    Delay: 30 * NS_PER_S,
    DelayFunction: 'exponential',
    MaxDelay: hour,
    Unlimited: true,
  };
}

/** When the allocation failed: the latest task FinishedAt, else its ModifyTime. Unix ms. */
export function failureTimeMs(a: Allocation): number {
  let latest = 0;
  for (const s of Object.values(a.TaskStates ?? {})) {
    const f = s.FinishedAt;
    if (f) {
      const t = Date.parse(f);
      if (Number.isFinite(t) && t > latest) latest = t;
    }
  }
  return latest > 0 ? latest : Math.floor((a.ModifyTime ?? 0) / NS_PER_MS);
}

function events(a: Allocation): RescheduleEvent[] {
  return a.RescheduleTracker?.Events ?? [];
}

/** The delay (ns) before the next attempt, from the policy and the attempts so far. */
export function nextDelayNs(p: ReschedulePolicy, a: Allocation): number {
  const ev = events(a);
  const last = ev[ev.length - 1];
  const beforeLast = ev[ev.length - 2];
  let d: number;
  switch (p.DelayFunction) {
    case 'exponential':
      d = last === undefined ? p.Delay : last.Delay * 2;
      break;
    case 'fibonacci':
      d = last === undefined || beforeLast === undefined ? p.Delay : last.Delay + beforeLast.Delay;
      break;
    default:
      d = p.Delay;
  }
  if (p.MaxDelay > 0 && d > p.MaxDelay) d = p.MaxDelay;
  return d;
}

/** Attempts left within the interval? */
export function rescheduleAllowed(p: ReschedulePolicy, a: Allocation, nowMs: number): boolean {
  if (p.Unlimited) return true;
  if (p.Attempts <= 0) return false;
  const since = (nowMs - p.Interval / NS_PER_MS) * NS_PER_MS;
  let attempted = 0;
  for (const e of events(a)) if (e.RescheduleTime > since) attempted++;
  return attempted < p.Attempts;
}

export type RescheduleDecision =
  { kind: 'now'; delayNs: number } | { kind: 'later'; atMs: number; delayNs: number } | { kind: 'never' };

export function rescheduleDecision(job: Job, tg: TaskGroup, a: Allocation, nowMs: number): RescheduleDecision {
  if (a.DesiredTransition?.ForceReschedule) return { kind: 'now', delayNs: 0 };
  const p = reschedulePolicyFor(job, tg);
  if (!rescheduleAllowed(p, a, nowMs)) return { kind: 'never' };
  const delayNs = nextDelayNs(p, a);
  const atMs = failureTimeMs(a) + delayNs / NS_PER_MS;
  if (atMs <= nowMs + RescheduleWindowMs) return { kind: 'now', delayNs };
  return { kind: 'later', atMs, delayNs };
}

/** The replacement's tracker: the previous events still inside the interval, plus this attempt. */
export function nextRescheduleTracker(job: Job, tg: TaskGroup, prev: Allocation, nowMs: number, delayNs: number) {
  const p = reschedulePolicyFor(job, tg);
  const sinceNs = (nowMs - p.Interval / NS_PER_MS) * NS_PER_MS;
  const kept = events(prev).filter((e) => p.Unlimited || p.Interval <= 0 || e.RescheduleTime > sinceNs);
  const capped = p.Unlimited ? kept.slice(-10) : kept;
  capped.push({ RescheduleTime: nowMs * NS_PER_MS, PrevAllocID: prev.ID, PrevNodeID: prev.NodeID, Delay: delayNs });
  return { Events: capped };
}
