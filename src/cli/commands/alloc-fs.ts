/**
 * `drover alloc fs [-f] [-stat] ALLOC [PATH]`: the allocation's files, as `nomad alloc fs`. A directory is
 * listed (mode, size, modified, name), a file printed; `-stat` shows the entry instead, `-f` follows a file
 * until Ctrl-C. PATH is relative to the allocation directory (`/` is its root).
 */
import type { AllocFileInfo } from '../../api/types.js';
import { command, bool, VERBOSE_OPTION, FOLLOW_OPTION } from '../command.js';
import { binaryUnits } from '../format.js';
import { resolveAlloc } from './common.js';

/** Always one decimal above 1 KiB: "1.0 KiB", "12.5 MiB". */
function humanSize(n: number): string {
  const { value, unit, scaled } = binaryUnits(n);
  return scaled ? `${value.toFixed(1)} ${unit}` : `${n} B`;
}

function row(f: AllocFileInfo): string[] {
  return [f.FileMode, humanSize(f.Size), f.ModTime, f.IsDir ? `${f.Name}/` : f.Name];
}

export const allocFs = command('alloc fs <id> [path]', {
  summary: "List or print an allocation's files",
  options: [
    FOLLOW_OPTION,
    { flags: '--stat', description: 'show the file information instead of the contents' },
    VERBOSE_OPTION,
  ],
  async run(ctx, [id, pathArg], opts) {
    const client = ctx.client();
    const stub = await resolveAlloc(ctx, client, id!, bool(opts.verbose));
    const path = pathArg ?? '/';
    const info = await client.allocations.fsStat(stub.ID, path, { signal: ctx.signal });
    if (bool(opts.stat)) {
      if (ctx.out.json) ctx.out.printJSON(info);
      else ctx.out.table([['Mode', 'Size', 'Modified Time', 'Name'], row(info)]);
      return 0;
    }
    if (info.IsDir) {
      const list = await client.allocations.fsList(stub.ID, path, { signal: ctx.signal });
      if (ctx.out.json) ctx.out.printJSON(list);
      else ctx.out.table([['Mode', 'Size', 'Modified Time', 'Name'], ...list.map(row)]);
      return 0;
    }
    try {
      for await (const chunk of client.allocations.fsRead(stub.ID, path, {
        follow: bool(opts.follow),
        signal: ctx.signal,
      }))
        ctx.out.raw(chunk);
    } catch (e) {
      if (ctx.signal.aborted) return 0;
      throw e;
    }
    return 0;
  },
});
