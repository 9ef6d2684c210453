/** `drover var get [-item KEY] PATH`: one variable, formatted as nomad's, or one item's bare value. */
import { isNotFound } from '../../api/index.js';
import { command, str, UsageError } from '../command.js';
import { formatVariable } from './var-common.js';

export const varGet = command('var get <path>', {
  summary: 'Read a variable',
  options: [{ flags: '--item <key>', description: "print only this item's value" }],
  async run(ctx, [path], opts) {
    let v;
    try {
      v = (await ctx.client().variables.get(path!, { signal: ctx.signal })).value;
    } catch (e) {
      if (isNotFound(e)) throw new UsageError(`Error retrieving variable: variable not found`);
      throw e;
    }
    const item = str(opts.item);
    if (item !== undefined) {
      const value = Object.prototype.hasOwnProperty.call(v.Items, item) ? v.Items[item] : undefined;
      if (value === undefined) throw new UsageError(`Error: variable "${v.Path}" has no item "${item}"`);
      ctx.out.line(value);
      return 0;
    }
    ctx.out.result(v, () => formatVariable(v));
    return 0;
  },
});
