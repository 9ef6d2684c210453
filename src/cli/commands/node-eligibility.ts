/** `drover node eligibility -enable|-disable NODE`: whether the scheduler may place new work on a node. */
import type { DroverClient } from '../../api/index.js';
import type { NodeListStub } from '../../structs/index.js';
import { bool, UsageError, type CommandContext, type CommandSpec } from '../command.js';
import { resolvePrefix } from '../resolve.js';
import { nodeListRows } from './node-status.js';

export function resolveNode(ctx: CommandContext, client: DroverClient, id: string): Promise<NodeListStub> {
  return resolvePrefix(
    ctx.out,
    'node',
    id,
    async (prefix) => (await client.nodes.list({ prefix, signal: ctx.signal })).value ?? [],
    (nodes) => nodeListRows(nodes, false),
  );
}

/** Exactly one of -enable / -disable. */
export function enableFlag(opts: Record<string, unknown>): boolean {
  const enable = bool(opts.enable);
  if (enable === bool(opts.disable)) throw new UsageError('Error: exactly one of -enable or -disable is required');
  return enable;
}

export const nodeEligibility: CommandSpec = {
  path: ['node', 'eligibility'],
  summary: 'Allow or forbid new placements on a node',
  args: ['<node>'],
  options: [
    { flags: '--enable', description: 'the node may receive new allocations' },
    { flags: '--disable', description: 'no new allocations; existing ones keep running' },
  ],
  async run(ctx, [id], opts) {
    const enable = enableFlag(opts);
    const client = ctx.client();
    const node = await resolveNode(ctx, client, id!);
    const res = await client.nodes.eligibility(node.ID, enable, { signal: ctx.signal });
    if (ctx.out.json) ctx.out.printJSON(res);
    else
      ctx.out.line(
        `Node "${node.ID}" scheduling eligibility set: ${enable ? 'eligible' : 'ineligible'} for scheduling`,
      );
    return 0;
  },
};
