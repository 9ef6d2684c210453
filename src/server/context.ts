/**
 * What the endpoint modules share: the state store, the broker, blocked evals, the plan applier and
 * heartbeats, plus the eval plumbing (write evals, route them, cancel or fail them).
 */
import {
  EvalStatusBlocked,
  EvalStatusCancelled,
  EvalStatusFailed,
  EvalStatusPending,
  EvalTriggerFailedFollowUp,
  type Evaluation,
  type Job,
  type Node,
  newJobEvaluation,
} from '../structs/index.js';
import { upsertEvals, type StateStore } from '../state/index.js';
import type { Keyring } from './keyring.js';
import type { Logger } from '../logging/index.js';
import type { Clock, SchedulerConfiguration } from '../scheduler/types.js';
import type { BlockedEvals } from './blocked-evals.js';
import type { EvalBroker } from './eval-broker.js';
import type { HeartbeatTimers } from './heartbeats.js';
import type { PlanApplier } from './plan-applier.js';
import type { AllocsFitFn } from './plan-fit.js';
import type { NewSchedulerFn } from './worker.js';

export interface ServerContext {
  store: StateStore;
  broker: EvalBroker;
  blocked: BlockedEvals;
  plans: PlanApplier;
  heartbeats: HeartbeatTimers;
  logger: Logger;
  clock: Clock;
  region: string;
  datacenter: string;
  jobTrackedVersions: number;
  newScheduler: NewSchedulerFn;
  allocsFit: AllocsFitFn;
  computeNodeClass(node: Node): string;
  schedulerConfig(): SchedulerConfiguration;
  /** Tracks a background task so `stop` can wait for it; its failure is logged, never lost. */
  background(what: string, p: Promise<unknown>): void;
  /** Keys that seal variables at rest. */
  keyring: Keyring;
}

export function nowNs(ctx: Pick<ServerContext, 'clock'>): number {
  return ctx.clock.now() * 1e6;
}

/** A new pending evaluation for `job`, as the server creates them. */
export function newEval(
  ctx: Pick<ServerContext, 'clock'>,
  job: Pick<Job, 'Namespace' | 'ID' | 'Priority' | 'Type' | 'JobModifyIndex'>,
  triggeredBy: string,
  extra: Partial<Evaluation> = {},
): Evaluation {
  return newJobEvaluation(job, triggeredBy, nowNs(ctx), extra);
}

export async function writeEvals(ctx: ServerContext, evals: Evaluation[]): Promise<Evaluation[]> {
  if (evals.length === 0) return [];
  const { result } = await ctx.store.write((txn) => upsertEvals(txn, evals, nowNs(ctx)));
  return result;
}

/** Sends a stored eval where it belongs by status. */
export function routeEval(ctx: ServerContext, ev: Evaluation): void {
  if (ev.Status === EvalStatusPending) ctx.broker.enqueue(ev);
  else if (ev.Status === EvalStatusBlocked) ctx.blocked.block(ev);
}

/** Cancellations waiting for the next turn of the event loop, per server. */
interface PendingCancels {
  why: Map<string, string>;
}
const pendingCancels = new WeakMap<ServerContext, PendingCancels>();

/**
 * Marks evals cancelled in state (superseded by a newer eval of the same job). Under a stream of registers
 * every one of them supersedes an eval: the cancellations of one turn of the event loop are written together,
 * in one transaction, instead of one write (and one commit to the backend) each.
 */
export function cancelEvals(ctx: ServerContext, evals: Evaluation[], why: string): void {
  if (evals.length === 0) return;
  let pending = pendingCancels.get(ctx);
  if (pending === undefined) {
    const batch: PendingCancels = { why: new Map() };
    pendingCancels.set(ctx, (pending = batch));
    const flush = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      pendingCancels.delete(ctx);
      return ctx.store.write((txn) => {
        const cur: Evaluation[] = [];
        for (const [id, reason] of batch.why) {
          const e = txn.evalByID(id);
          if (e != null && (e.Status === EvalStatusPending || e.Status === EvalStatusBlocked))
            cur.push({ ...e, Status: EvalStatusCancelled, StatusDescription: reason });
        }
        upsertEvals(txn, cur, nowNs(ctx));
      });
    });
    ctx.background('cancel evals', flush);
  }
  for (const e of evals) pending.why.set(e.ID, why);
}

/**
 * Marks an eval failed (delivery limit reached) and, as Nomad does, creates a follow-up eval for the
 * job that waits `followUpDelayMs` first, so a transient fault does not leave the job unscheduled.
 */
export function failEval(ctx: ServerContext, ev: Evaluation, why: string, followUpDelayMs: number): void {
  const write = ctx.store.write((txn) => {
    const cur = txn.evalByID(ev.ID) ?? ev;
    const followUp =
      cur.JobID !== '' && txn.jobByID(cur.Namespace, cur.JobID) != null
        ? newEval(ctx, { ...cur, ID: cur.JobID }, EvalTriggerFailedFollowUp, {
            PreviousEval: cur.ID,
            WaitUntil: new Date(ctx.clock.now() + followUpDelayMs).toISOString(),
          })
        : undefined;
    const [, stored] = upsertEvals(
      txn,
      followUp
        ? [{ ...cur, Status: EvalStatusFailed, StatusDescription: why, NextEval: followUp.ID }, followUp]
        : [{ ...cur, Status: EvalStatusFailed, StatusDescription: why }],
      nowNs(ctx),
    );
    return stored;
  });
  ctx.background(
    'fail eval',
    write.then(({ result }) => {
      if (result) routeEval(ctx, result);
    }),
  );
}
