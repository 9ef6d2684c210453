/**
 * `drover node drain -enable|-disable [-deadline 1h] [-force] [-no-deadline] [-ignore-system] NODE`: moves a
 * node's allocations elsewhere (per each group's migrate block) and stops new placements on it. Without -detach
 * it follows the drain to its end, as nomad does; `-monitor` follows a drain already under way.
 */
import type { DrainSpec, DroverClient } from '../../api/index.js';
import { command, bool, str, UsageError, type CommandContext, enableDisableOptions } from '../command.js';
import { readGoDuration } from '../../lib/duration.js';
import { enableFlag } from './node-eligibility.js';
import { resolveNode } from './common.js';

const DEFAULT_DEADLINE_NS = 3600e9;

export function drainSpec(opts: Record<string, unknown>): DrainSpec {
  let deadline = DEFAULT_DEADLINE_NS;
  // Commander reads `--no-deadline` as the negation of `--deadline`: it sets `deadline` to false.
  const noDeadline = opts.deadline === false;
  const text = str(opts.deadline);
  if (text !== undefined) {
    const d = readGoDuration(text.trim(), { allowNegative: false });
    if (!d.ok) throw new UsageError(`Error: invalid -deadline "${text}": expected a duration such as 30m or 1h`);
    deadline = d.ns;
  }
  if (bool(opts.force)) deadline = -1;
  else if (noDeadline) deadline = 0;
  return { Deadline: deadline, IgnoreSystemJobs: bool(opts.ignoreSystem) };
}

export const nodeDrain = command('node drain <node>', {
  summary: "Start or stop draining a node's allocations",
  options: [
    ...enableDisableOptions('start draining', 'stop draining'),
    { flags: '--deadline <duration>', description: 'force the remaining allocations off after this long (default 1h)' },
    { flags: '--force', description: 'stop every allocation now' },
    { flags: '--no-deadline', description: 'never force; wait for allocations to migrate' },
    { flags: '--ignore-system', description: 'leave system jobs running' },
    { flags: '--keep-ineligible', description: 'with -disable: keep the node ineligible' },
    { flags: '--detach', description: 'return once the drain strategy is set, without following the drain' },
    { flags: '--monitor', description: 'follow a drain already under way until it completes' },
    { flags: '-y, --yes', description: 'accepted for nomad compatibility; no question is asked' },
  ],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    if (bool(opts.monitor) && !bool(opts.enable) && !bool(opts.disable)) {
      const node = await resolveNode(ctx, client, id!);
      return monitorDrain(ctx, client, node.ID);
    }
    const enable = enableFlag(opts);
    const node = await resolveNode(ctx, client, id!);
    const spec = enable ? drainSpec(opts) : null;
    const res = await client.nodes.drain(node.ID, spec, {
      markEligible: !enable && !bool(opts.keepIneligible),
      signal: ctx.signal,
    });
    ctx.out.result(res, () =>
      enable ? `Node "${node.ID}" drain strategy set` : `Node "${node.ID}" drain strategy unset`,
    );
    if (!enable || ctx.out.json || bool(opts.detach)) return 0;
    return monitorDrain(ctx, client, node.ID);
  },
});

/** Waits (blocking queries on the node) until its drain strategy is cleared, printing the node's drain events. */
export async function monitorDrain(ctx: CommandContext, client: DroverClient, nodeID: string): Promise<number> {
  let index = 0;
  let seen = -1;
  for (;;) {
    const r = await client.nodes.get(nodeID, { index, wait: '30s', signal: ctx.signal });
    index = r.index;
    for (const ev of r.value.Events ?? []) {
      if (ev.CreateIndex <= seen || ev.Subsystem !== 'Drain') continue;
      ctx.out.line(`${ev.Timestamp}: ${ev.Message}`);
    }
    seen = Math.max(seen, ...(r.value.Events ?? []).map((e) => e.CreateIndex));
    if (r.value.DrainStrategy == null) {
      ctx.out.line(`${new Date(ctx.now()).toISOString()}: Drain complete for node ${nodeID}`);
      return 0;
    }
    if (ctx.signal.aborted) return 1;
  }
}
