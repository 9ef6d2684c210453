/** `drover eval status [-verbose] ID`: an evaluation, and why placements failed if they did. */
import type { Evaluation } from '../../structs/index.js';
import { command, bool, type CommandContext, verboseOption } from '../command.js';
import { orNone, shortId } from '../format.js';
import { formatFailedPlacements } from '../placement.js';
import { querying, resolveEval, when } from './common.js';

export function evalPairs(ev: Evaluation, ctx: CommandContext, verbose: boolean): [string, string][] {
  const failed = Object.keys(ev.FailedTGAllocs ?? {}).length > 0;
  const pairs: [string, string][] = [
    ['ID', shortId(ev.ID, verbose)],
    ['Create Time', when(ev.CreateTime, ctx, verbose)],
    ['Modify Time', when(ev.ModifyTime, ctx, verbose)],
    ['Status', ev.Status],
    ['Status Description', orNone(ev.StatusDescription)],
    ['Type', ev.Type],
    ['TriggeredBy', ev.TriggeredBy],
  ];
  if (ev.JobID) pairs.push(['Job ID', ev.JobID]);
  if (ev.NodeID) pairs.push(['Node ID', shortId(ev.NodeID, verbose)]);
  if (ev.DeploymentID) pairs.push(['Deployment ID', shortId(ev.DeploymentID, verbose)]);
  pairs.push(['Namespace', ev.Namespace], ['Priority', String(ev.Priority)], ['Placement Failures', String(failed)]);
  if (verbose) {
    pairs.push(
      ['Previous Eval', orNone(ev.PreviousEval)],
      ['Next Eval', orNone(ev.NextEval)],
      ['Blocked Eval', orNone(ev.BlockedEval)],
    );
  }
  return pairs;
}

export const evalStatus = command('eval status <id>', {
  summary: 'Show an evaluation and explain its placement failures',
  options: [verboseOption('full IDs, absolute times, related evaluations')],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const verbose = bool(opts.verbose);
    const stub = await resolveEval(ctx, client, id!, verbose);
    const ev = (await querying('evaluation', client.evaluations.get(stub.ID, { signal: ctx.signal }))).value;
    if (ctx.out.json) {
      ctx.out.printJSON(ev);
      return 0;
    }
    ctx.out.kv(evalPairs(ev, ctx, verbose));
    const failures = formatFailedPlacements(ev.FailedTGAllocs);
    if (failures.length > 0) {
      ctx.out.section('Failed Placements', failures.join('\n'));
      if (ev.BlockedEval)
        ctx.out.section(
          '',
          `Evaluation "${shortId(ev.BlockedEval, verbose)}" waiting for additional capacity to place remainder`,
        );
    }
    return 0;
  },
});
