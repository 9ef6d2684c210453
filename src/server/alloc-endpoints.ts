/**
 * Allocation writes: `alloc stop` (Nomad's Alloc.Stop). The server does not stop the allocation itself: it
 * marks it for migration and asks the scheduler, which stops it and places a replacement, as a node drain does.
 *
 *   POST /v1/allocation/:id/stop ─► DesiredTransition.Migrate = true (+ NoShutdownDelay) and an `alloc-stop`
 *     eval, in one write ─► reconciler's migrate bucket: stop + place elsewhere (the node is only penalised for
 *     reschedules, so a one-node cluster places the replacement on the same node)
 */
import { allocTerminalStatus, EvalTriggerAllocStop, type Allocation } from '../structs/index.js';
import { upsertAllocs, upsertEvals } from '../state/index.js';
import { allocNotFound, badRequest } from '../errors/index.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';
import type { AllocStopResult } from './types.js';

export interface AllocStopOptions {
  /** `?no_shutdown_delay=true`: skip the group's and tasks' shutdown_delay. */
  noShutdownDelay?: boolean;
}

/** Marks one allocation for migration and creates the `alloc-stop` evaluation that replaces it. */
export async function allocStop(
  ctx: ServerContext,
  allocID: string,
  opts: AllocStopOptions = {},
): Promise<AllocStopResult> {
  const { result: ev, index } = await ctx.store.write((txn) => {
    const a = txn.allocByID(allocID);
    if (a == null) throw allocNotFound(allocID);
    if (allocTerminalStatus(a)) {
      throw badRequest(
        `allocation "${allocID}" is already terminal (desired status "${a.DesiredStatus}", client status "${a.ClientStatus}")`,
      );
    }
    const job = txn.jobByID(a.Namespace, a.JobID) ?? a.Job;
    const marked: Allocation = {
      ...a,
      DesiredTransition: {
        ...a.DesiredTransition,
        Migrate: true,
        ...(opts.noShutdownDelay ? { NoShutdownDelay: true } : {}),
      },
    };
    upsertAllocs(txn, [marked], nowNs(ctx));
    const [stored] = upsertEvals(txn, [newEval(ctx, job, EvalTriggerAllocStop)], nowNs(ctx));
    return stored!;
  });
  routeEval(ctx, ev);
  ctx.logger.info('allocation stop requested', { alloc_id: allocID, eval_id: ev.ID });
  return { EvalID: ev.ID, Index: index };
}
