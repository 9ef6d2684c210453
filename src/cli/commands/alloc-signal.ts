/**
 * `drover alloc signal [-s SIGNAL] [-task T] [-verbose] ALLOC [TASK]`: sends a signal to one task of an
 * allocation, or to every running task when none is named (SIGKILL unless `-s` says otherwise, as nomad).
 */
import { command, bool, str, UsageError, VERBOSE_OPTION, taskOption } from '../command.js';
import { querying, resolveAlloc } from './common.js';
import { taskArgument } from './alloc-restart.js';

export const allocSignal = command('alloc signal <alloc> [task]', {
  summary: "Send a signal to an allocation's tasks",
  options: [
    { flags: '-s <signal>', description: 'the signal to send (default SIGKILL)' },
    taskOption('signal'),
    VERBOSE_OPTION,
  ],
  async run(ctx, [id, taskArg], opts) {
    const signal = str(opts.s) ?? 'SIGKILL';
    if (!/^(SIG)?[A-Z0-9+-]+$/i.test(signal)) throw new UsageError(`Error: invalid signal "${signal}"`);
    const client = ctx.client();
    const stub = await resolveAlloc(ctx, client, id!, bool(opts.verbose));
    const alloc = (await querying('allocation', client.allocations.get(stub.ID, { signal: ctx.signal }))).value;
    const task = taskArgument(alloc, str(opts.task), taskArg);
    try {
      await client.allocations.signal(alloc.ID, signal.toUpperCase(), task, { signal: ctx.signal });
    } catch (e) {
      ctx.out.error(`Error signalling allocation: ${(e as Error).message}`);
      return 1;
    }
    return 0;
  },
});
