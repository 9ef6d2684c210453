/**
 * `drover event stream [-topic Topic:key]... [-index N]`: prints the agent's event stream, one JSON batch
 * (`{"Index", "Events"}`) per line, until Ctrl-C. When the agent goes away (a restart) it reconnects every second
 * and resumes after the last index it printed, so nothing held in the agent's buffer is missed or repeated.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { command, int } from '../command.js';

const RETRY_MS = 1000;

export const eventStream = command('event stream', {
  summary: 'Follow the event stream (NDJSON), resuming across agent restarts',
  options: [
    {
      flags: '--topic <Topic:key>',
      description: 'topic and key to follow, e.g. Job:web or Allocation:* (repeatable; default every topic)',
      repeatable: true,
    },
    { flags: '--index <n>', description: 'start at this index (events the agent still holds)', int: true },
  ],
  async run(ctx, _args, opts) {
    const client = ctx.client();
    const topics = (opts.topic as string[] | undefined) ?? [];
    let next = int(opts.index) ?? 0;
    let reported = false;
    while (!ctx.signal.aborted) {
      try {
        for await (const batch of client.events.stream({ topics, index: next, signal: ctx.signal })) {
          ctx.out.raw(JSON.stringify(batch) + '\n');
          next = batch.Index + 1;
          reported = false;
        }
      } catch (e) {
        if (ctx.signal.aborted) break;
        // A refused stream (a bad topic) will not get better by retrying.
        if ((e as { httpStatus?: number }).httpStatus === 400) throw e;
        if (!reported)
          ctx.out.error(`event stream interrupted (${(e as Error).message}); reconnecting from index ${next}`);
        reported = true;
      }
      await sleep(RETRY_MS, undefined, { signal: ctx.signal }).catch(() => undefined);
    }
    return 0;
  },
});
