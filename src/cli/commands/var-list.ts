/** `drover var list [PREFIX]`: the variables under a prefix, without their items. */
import { command } from '../command.js';
import { formatTime, nsToMs } from '../format.js';

export const varList = command('var list [prefix]', {
  summary: 'List variables',
  async run(ctx, [prefix]) {
    const list = (await ctx.client().variables.list({ prefix: prefix || undefined, signal: ctx.signal })).value ?? [];
    ctx.out.list(list, 'No variables found', (vs) => [
      ['Namespace', 'Path', 'Last Updated'],
      ...vs.map((v) => [v.Namespace, v.Path, formatTime(nsToMs(v.ModifyTime))]),
    ]);
    return 0;
  },
});
