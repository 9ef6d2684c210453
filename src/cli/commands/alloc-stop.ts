/**
 * `drover alloc stop [-detach] [-no-shutdown-delay] [-verbose] ALLOC`: stops one allocation; the scheduler places
 * a replacement (the allocation is migrated, as nomad does). Monitors the evaluation unless `-detach`.
 */
import { command, bool, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { monitorEval } from '../monitor.js';
import { resolveAlloc } from './common.js';

export const allocStop = command('alloc stop <alloc>', {
  summary: 'Stop an allocation; the scheduler replaces it',
  options: [
    DETACH_OPTION,
    { flags: '--no-shutdown-delay', description: "ignore the group's and tasks' shutdown_delay" },
    VERBOSE_OPTION,
  ],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const verbose = bool(opts.verbose);
    const stub = await resolveAlloc(ctx, client, id!, verbose);
    let res;
    try {
      // commander turns `--no-shutdown-delay` into `shutdownDelay: false`.
      res = await client.allocations.stop(stub.ID, {
        noShutdownDelay: opts.shutdownDelay === false,
        signal: ctx.signal,
      });
    } catch (e) {
      ctx.out.error(`Error stopping allocation: ${(e as Error).message}`);
      return 1;
    }
    if (ctx.out.json) {
      ctx.out.printJSON(res);
      return 0;
    }
    if (bool(opts.detach)) {
      ctx.out.line(res.EvalID);
      return 0;
    }
    return monitorEval(client, ctx.out, res.EvalID, { verbose, signal: ctx.signal });
  },
});
