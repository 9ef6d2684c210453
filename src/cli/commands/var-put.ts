/** `drover var put [-force] [-check-index N] PATH k=v [k=@file] ...`: writes a variable's items. */
import { command, bool, int, UsageError, type CommandContext } from '../command.js';
import { formatVariable } from './var-common.js';

/** `k=v` pairs; `k=@file` reads the value from a file, `k=-` is not supported (no stdin here). */
export async function parseItems(
  ctx: Pick<CommandContext, 'readFile'>,
  args: string[],
): Promise<Record<string, string>> {
  const items: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`Error: item "${a}" is not of the form key=value`);
    const key = a.slice(0, eq);
    const value = a.slice(eq + 1);
    items[key] = value.startsWith('@') ? await ctx.readFile(value.slice(1)) : value;
  }
  return items;
}

export const varPut = command('var put <path> [items...]', {
  summary: 'Create or update a variable',
  options: [
    { flags: '--force', description: 'write regardless of the current modify index' },
    {
      flags: '--check-index <index>',
      description: 'write only if the modify index matches (0: must not exist)',
      int: true,
    },
  ],
  async run(ctx, args, opts) {
    const [path, ...rest] = args as [string, ...unknown[]];
    const pairs = rest.flat().map(String);
    if (pairs.length === 0) throw new UsageError('Error: give at least one item as key=value');
    const items = await parseItems(ctx, pairs);
    const cas = bool(opts.force) ? undefined : int(opts.checkIndex);
    const res = await ctx.client().variables.put(path, items, { cas, signal: ctx.signal });
    if (!res.ok) {
      ctx.out.error(`Check-and-Set conflict\n\n${formatVariable(res.conflict)}`);
      return 1;
    }
    const v = res.variable!;
    ctx.out.result(v, () => `Created variable "${v.Path}" with modify index ${v.ModifyIndex}`);
    return 0;
  },
});
