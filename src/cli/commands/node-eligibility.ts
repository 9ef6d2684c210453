/** `drover node eligibility -enable|-disable NODE`: whether the scheduler may place new work on a node. */
import { command, bool, UsageError, enableDisableOptions } from '../command.js';
import { resolveNode } from './common.js';

/** Exactly one of -enable / -disable. */
export function enableFlag(opts: Record<string, unknown>): boolean {
  const enable = bool(opts.enable);
  if (enable === bool(opts.disable)) throw new UsageError('Error: exactly one of -enable or -disable is required');
  return enable;
}

export const nodeEligibility = command('node eligibility <node>', {
  summary: 'Allow or forbid new placements on a node',
  options: [
    ...enableDisableOptions('the node may receive new allocations', 'no new allocations; existing ones keep running'),
  ],
  async run(ctx, [id], opts) {
    const enable = enableFlag(opts);
    const client = ctx.client();
    const node = await resolveNode(ctx, client, id!);
    const res = await client.nodes.eligibility(node.ID, enable, { signal: ctx.signal });
    ctx.out.result(
      res,
      () => `Node "${node.ID}" scheduling eligibility set: ${enable ? 'eligible' : 'ineligible'} for scheduling`,
    );
    return 0;
  },
});
