/** `drover job scaling-events [-verbose] JOB`: the recent scaling events of each group, newest first (as nomad). */
import { command, bool, verboseOption } from '../command.js';
import { formatTable, formatTime, nsToMs } from '../format.js';
import { querying, resolveJob } from './common.js';

export const jobScalingEvents = command('job scaling-events <id>', {
  summary: "Show a job's recent scaling events",
  options: [verboseOption('show full eval IDs and the event meta')],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const stub = await resolveJob(ctx, client, id!);
    const st = (
      await querying(
        'job',
        client.jobs.scaleStatus(stub.ID, { namespace: stub.Namespace || undefined, signal: ctx.signal }),
      )
    ).value;
    if (ctx.out.json) {
      ctx.out.printJSON(st);
      return 0;
    }
    const verbose = bool(opts.verbose);
    const rows: string[][] = [
      ['Task Group', 'Count', 'PrevCount', 'Error', 'Date', 'Eval ID', 'Message', ...(verbose ? ['Meta'] : [])],
    ];
    for (const [group, g] of Object.entries(st.TaskGroups).sort(([a], [b]) => a.localeCompare(b))) {
      for (const e of g.Events ?? []) {
        const evalID = e.EvalID ? (verbose ? e.EvalID : e.EvalID.slice(0, 8)) : '<none>';
        rows.push([
          group,
          e.Count == null ? '<none>' : String(e.Count),
          String(e.PreviousCount),
          String(e.Error),
          formatTime(nsToMs(e.Time)),
          evalID,
          e.Message,
          ...(verbose ? [JSON.stringify(e.Meta ?? {})] : []),
        ]);
      }
    }
    if (rows.length === 1) ctx.out.line(`No events found for job "${st.JobID}"`);
    else ctx.out.line(formatTable(rows));
    return 0;
  },
});
