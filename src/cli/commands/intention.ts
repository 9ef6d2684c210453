/**
 * `drover intention create -allow|-deny SRC DST`, `list`, `get SRC DST`, `delete SRC DST | ID`: Consul's
 * intention commands, for the mesh's sidecars (they apply to the next connection, without a restart).
 */
import { command, UsageError } from '../command.js';

export const intentionCreate = command('intention create <source> <destination>', {
  summary: 'Allow or deny calls from one service to another through the mesh',
  options: [
    { flags: '--allow', description: 'allow the calls (the default)' },
    { flags: '--deny', description: 'deny the calls' },
    { flags: '--replace', description: 'replace the intention of the same pair if one exists' },
    { flags: '--description <text>', description: 'why the intention exists' },
  ],
  async run(ctx, [source, destination], opts) {
    if (opts.allow && opts.deny) throw new UsageError('Error: -allow and -deny cannot both be given');
    const action = opts.deny ? 'deny' : 'allow';
    const id = await ctx.client().intentions.create(
      {
        SourceName: source!,
        DestinationName: destination!,
        Action: action,
        Description: typeof opts.description === 'string' ? opts.description : '',
      },
      { signal: ctx.signal, replace: opts.replace === true },
    );
    ctx.out.result({ ID: id }, () => `Created: ${source} => ${destination} (${action})`);
    return 0;
  },
});

export const intentionList = command('intention list', {
  summary: 'List the mesh intentions',
  async run(ctx) {
    const list = await ctx.client().intentions.list({ signal: ctx.signal });
    ctx.out.list(list, 'No intentions (every call gets the default action)', (is) => [
      ['ID', 'Source', 'Action', 'Destination'],
      ...is.map((i) => [i.ID, i.SourceName, i.Action, i.DestinationName]),
    ]);
    return 0;
  },
});

export const intentionGet = command('intention get <source> <destination>', {
  summary: 'Show the intention from one service to another',
  async run(ctx, [source, destination]) {
    const i = await ctx.client().intentions.exact(source!, destination!, { signal: ctx.signal });
    ctx.out.result(i, () => `${i.SourceName} => ${i.DestinationName} (${i.Action})  ID ${i.ID}`);
    return 0;
  },
});

export const intentionDelete = command('intention delete <source-or-id> [destination]', {
  summary: 'Delete an intention, by source and destination or by ID',
  async run(ctx, [first, destination]) {
    const api = ctx.client().intentions;
    if (destination) await api.deleteExact(first!, destination, { signal: ctx.signal });
    else await api.delete(first!, { signal: ctx.signal });
    ctx.out.line('Intention deleted.');
    return 0;
  },
});

export const INTENTION_COMMANDS = [intentionCreate, intentionList, intentionGet, intentionDelete];
