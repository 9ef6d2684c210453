/**
 * `drover node drain -enable|-disable [-deadline 1h] [-force] [-no-deadline] [-ignore-system] NODE`: moves a
 * node's allocations elsewhere (per each group's migrate block) and stops new placements on it. Following the
 * drain to its end (`-monitor`) comes with the drainer.
 */
import type { DrainSpec } from '../../api/index.js';
import { bool, str, UsageError, type CommandSpec } from '../command.js';
import { parseGoDuration } from '../format.js';
import { enableFlag, resolveNode } from './node-eligibility.js';

const DEFAULT_DEADLINE_NS = 3600e9;

export function drainSpec(opts: Record<string, unknown>): DrainSpec {
  let deadline = DEFAULT_DEADLINE_NS;
  // Commander reads `--no-deadline` as the negation of `--deadline`: it sets `deadline` to false.
  const noDeadline = opts.deadline === false;
  const text = str(opts.deadline);
  if (text !== undefined) {
    const d = parseGoDuration(text);
    if (d === undefined) throw new UsageError(`Error: invalid -deadline "${text}": expected a duration such as 30m or 1h`);
    deadline = d;
  }
  if (bool(opts.force)) deadline = -1;
  else if (noDeadline) deadline = 0;
  return { Deadline: deadline, IgnoreSystemJobs: bool(opts.ignoreSystem) };
}

export const nodeDrain: CommandSpec = {
  path: ['node', 'drain'],
  summary: "Start or stop draining a node's allocations",
  args: ['<node>'],
  options: [
    { flags: '--enable', description: 'start draining' },
    { flags: '--disable', description: 'stop draining' },
    { flags: '--deadline <duration>', description: 'force the remaining allocations off after this long (default 1h)' },
    { flags: '--force', description: 'stop every allocation now' },
    { flags: '--no-deadline', description: 'never force; wait for allocations to migrate' },
    { flags: '--ignore-system', description: 'leave system jobs running' },
    { flags: '--keep-ineligible', description: 'with -disable: keep the node ineligible' },
    { flags: '-y, --yes', description: 'accepted for nomad compatibility; no question is asked' },
  ],
  async run(ctx, [id], opts) {
    const enable = enableFlag(opts);
    const client = ctx.client();
    const node = await resolveNode(ctx, client, id!);
    const spec = enable ? drainSpec(opts) : null;
    const res = await client.nodes.drain(node.ID, spec, { markEligible: !enable && !bool(opts.keepIneligible), signal: ctx.signal });
    if (ctx.out.json) ctx.out.printJSON(res);
    else ctx.out.line(enable ? `Node "${node.ID}" drain strategy set` : `Node "${node.ID}" drain strategy unset`);
    return 0;
  },
};
