/**
 * Evaluation garbage collection: the evaluations part of Nomad's core scheduler (`eval_gc_threshold`).
 * Every register, deregister, node update and allocation stop adds an evaluation, and without this they
 * stayed forever, in memory and on disk (the soak benchmark saw the agent grow with them).
 *
 *   every intervalMs on the leader: for each evaluation, delete it when
 *     terminal (complete, failed, canceled) ─► last modified before now − thresholdMs
 *     ─► no allocation names it (allocations keep their evaluation, as Nomad reaps them together)
 *     ─► not the newest evaluation of a job that still exists (its status and `job status` read it)
 *   in batches of BATCH per write, so one pass never makes one huge transaction.
 */
import { evalTerminal, type Evaluation } from '../structs/index.js';
import type { StateView } from '../state/index.js';
import { sleepOrAborted } from '../lib/sleep.js';
import { nowNs, type ServerContext } from './context.js';

/** Nomad's default `eval_gc_threshold`. */
export const DEFAULT_EVAL_GC_THRESHOLD_MS = 60 * 60 * 1000;
const BATCH = 1000;

/** How often the collector looks: a quarter of the threshold, between 1 s and Nomad's 5-minute GC interval. */
export function evalGCIntervalMs(thresholdMs: number): number {
  return Math.min(5 * 60 * 1000, Math.max(1000, Math.floor(thresholdMs / 4)));
}

/** IDs of the evaluations that may go now (see the file comment), at most `max`. */
export function collectableEvals(view: StateView, cutoffNs: number, max = BATCH): string[] {
  const out: string[] = [];
  const newest = new Map<string, Evaluation>();
  for (const e of view.evals()) {
    const key = `${e.Namespace}\u0000${e.JobID}`;
    const n = newest.get(key);
    if (n === undefined || e.CreateIndex > n.CreateIndex) newest.set(key, e);
  }
  for (const e of view.evals()) {
    if (out.length >= max) break;
    if (!evalTerminal(e) || (e.ModifyTime ?? 0) >= cutoffNs) continue;
    if (view.allocsByEval(e.ID).length > 0) continue;
    if (newest.get(`${e.Namespace}\u0000${e.JobID}`) === e && view.jobByID(e.Namespace, e.JobID) !== undefined)
      continue;
    out.push(e.ID);
  }
  return out;
}

/** One pass: deletes every collectable evaluation older than `thresholdMs`; returns how many went. */
export async function collectEvals(ctx: Pick<ServerContext, 'store' | 'clock'>, thresholdMs: number): Promise<number> {
  const cutoffNs = nowNs(ctx) - thresholdMs * 1e6;
  let total = 0;
  for (;;) {
    const { result } = await ctx.store.write((txn) => {
      const ids = collectableEvals(txn, cutoffNs);
      for (const id of ids) txn.delete('evals', id);
      return ids.length;
    });
    total += result;
    if (result < BATCH) return total;
  }
}

/** The leader's collector loop, until `signal` aborts. */
export async function runEvalGC(
  ctx: Pick<ServerContext, 'store' | 'clock' | 'logger'>,
  thresholdMs: number,
  signal: AbortSignal,
): Promise<void> {
  const every = evalGCIntervalMs(thresholdMs);
  while (!signal.aborted) {
    await sleepOrAborted(every, signal);
    if (signal.aborted) return;
    try {
      const n = await collectEvals(ctx, thresholdMs);
      if (n > 0) ctx.logger.debug('evaluations garbage collected', { count: n, threshold_ms: thresholdMs });
    } catch (e) {
      ctx.logger.warn('evaluation garbage collection failed', { error: e instanceof Error ? e.message : String(e) });
    }
  }
}
